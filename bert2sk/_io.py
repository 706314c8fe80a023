"""Atomic file writes: a crash or a full disk leaves the old file (or none), never half a file."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from .errors import Bert2skError


def publish(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Give ``tmp`` ordinary permissions and rename it over ``path`` in one step."""
    # mkstemp creates 0600 files; a saved model or report should read like any other file
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        publish(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise Bert2skError(
            f"could not write {path}: {exc.strerror or exc}; check free space and permissions"
        ) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_dir(final: str | os.PathLike, write: Callable[[Path], object],
               on_os_error: Callable[[OSError, Path], BaseException] | None = None) -> Path:
    """Build a folder through ``write(tmp)`` in a sibling temporary folder, then swap it in.

    A crash or a full disk leaves the old folder (or none), never a half-written one. An ``OSError``
    becomes ``on_os_error(exc, final)`` (default: a :class:`Bert2skError` naming the folder).
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        write(tmp)
        old = None
        if final.exists():
            old = final.with_name(f".{final.name}.old-{os.getpid()}")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
        os.replace(tmp, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if on_os_error is not None:
            raise on_os_error(exc, final) from None
        raise Bert2skError(f"could not write {final}: {exc.strerror or exc}; check free space and permissions") \
            from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def json_default(obj: object) -> object:
    """``json.dumps(default=...)`` for what bert2sk writes: numpy scalars and arrays, paths."""
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")
