"""Atomic file writes: a crash or a full disk leaves the old file (or none), never half a file."""

from __future__ import annotations

import os
import tempfile
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
