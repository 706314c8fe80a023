"""Folders written all at once: resumable checkpoints, the published model, and what a crash leaves behind.

Every folder is written into a hidden sibling (``.NAME.tmp-*``) and renamed
into place, so a crash or a full disk leaves the previous folder, never a
half-written one. A process killed outright (SIGKILL, power loss) cannot
clean up its staging folder, so each run starts by sweeping them
(:func:`sweep_stale_checkpoints`), and so does publishing.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import random
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .._io import atomic_dir as _atomic_dir
from ..errors import ModelFileError

__all__ = [
    "BEST", "CHECKPOINT", "atomic_dir", "load_weights", "publish_model", "read_checkpoint_state",
    "remove_checkpoints", "restore_checkpoint", "save_hf", "sweep_stale_checkpoints", "write_checkpoint",
]

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint-last"
BEST = "checkpoint-best"
STATE_JSON = "trainer_state.json"
STATE_PT = "trainer_state.pt"
PUBLISH_STAGING = ".final.tmp-"


def disk_full(exc: OSError, where: Path) -> ModelFileError:
    """The error a full disk becomes: what happened, and that resume=True picks up the last checkpoint."""
    return ModelFileError(
        f"disk full while writing {where} ({exc.strerror or exc}); free some space or choose an output_dir "
        "on another disk, then rerun with resume=True (the last complete checkpoint, if any, is intact)"
    )


@contextlib.contextmanager
def removed_on_failure(tmp: Path, where: Path):
    """Delete the staging folder ``tmp`` if the block fails; a full disk becomes a clear error."""
    try:
        yield
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if exc.errno == errno.ENOSPC:
            raise disk_full(exc, where) from None
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _checkpoint_os_error(exc: OSError, where: Path) -> BaseException:
    return disk_full(exc, where) if exc.errno == errno.ENOSPC else exc


def atomic_dir(final: Path, write: Callable[[Path], None]) -> None:
    """Write a directory via ``write(tmp_dir)`` into a sibling temp dir, then swap it in.

    A crash or a full disk leaves the old directory (or none), never a half-written one; a full
    disk says that ``resume=True`` picks up the last complete checkpoint.
    """
    _atomic_dir(final, write, on_os_error=_checkpoint_os_error)


def sweep_stale_checkpoints(out: Path) -> list[str]:
    """Remove the staging folders a killed run left in ``out``; put back a checkpoint caught mid-swap.

    A run killed while writing a checkpoint or publishing leaves hidden
    ``.checkpoint-*.tmp-*`` / ``.final.tmp-*`` folders (half-written, never
    read). One killed between the two renames of :func:`atomic_dir` leaves
    the previous checkpoint as ``.checkpoint-*.old-*`` and none in place:
    that one is complete, so it is moved back. Two runs must not share an
    output folder at the same time.

    Returns
    -------
    list of str
        Names of the folders removed.
    """
    out = Path(out)
    if not out.is_dir():
        return []
    for name in (CHECKPOINT, BEST):
        olds = sorted(out.glob(f".{name}.old-*"), key=lambda p: p.stat().st_mtime)
        if olds and not (out / name).exists():
            os.replace(olds[-1], out / name)
            log.info("restored %s from %s, left by an interrupted run", name, olds[-1].name)
    stale = [p for pattern in (f".{CHECKPOINT}.*-*", f".{BEST}.*-*", f"{PUBLISH_STAGING}*") for p in out.glob(pattern)]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    if stale:
        log.info("removed %d stale temporary folder(s) from %s: %s", len(stale), out, sorted(p.name for p in stale))
    return sorted(p.name for p in stale)


def save_hf(model, tokenizer, path: Path) -> None:
    """save_pretrained for model (safetensors) and tokenizer, without a progress bar per save."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(path)
        tokenizer.save_pretrained(path)
    finally:
        hf_logging.enable_progress_bar()


def load_weights(model, folder: Path) -> None:
    """Copy the weights saved in ``folder`` (by :func:`save_hf`) into ``model``, in place."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        # from_pretrained knows every weight layout (shards, tied weights); the copy keeps the caller's object
        saved = type(model).from_pretrained(str(folder))
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"cannot read the weights in {folder} ({exc}); rerun with resume=False") from None
    finally:
        hf_logging.set_verbosity(verbosity)
        hf_logging.enable_progress_bar()
    model.load_state_dict(saved.state_dict())


def _rng_state() -> dict:
    np_state = np.random.get_state()
    return {"numpy_rng": [np_state[0], np_state[1].tolist(), *np_state[2:]], "python_rng": list(random.getstate())}


def _set_rng_state(meta: dict, torch_rng) -> None:
    import torch

    torch.set_rng_state(torch_rng)
    ns = meta["numpy_rng"]
    np.random.set_state((ns[0], np.asarray(ns[1], dtype=np.uint32), *ns[2:]))
    py = meta["python_rng"]
    random.setstate((py[0], tuple(py[1]), py[2]))


def write_checkpoint(out: Path, model, tokenizer, optimizer, scheduler, meta: dict,
                     extra: Callable[[Path], None] | None = None) -> None:
    """Write ``out/checkpoint-last`` at once: weights, tokenizer, optimiser, schedule, RNG states and ``meta``.

    ``extra(staging_folder)`` runs after those files are written and before
    the folder is swapped in (callbacks add their own files there).
    """
    import torch

    meta = {**meta, **_rng_state()}

    def write(tmp: Path) -> None:
        save_hf(model, tokenizer, tmp)
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "torch_rng": torch.get_rng_state()}, tmp / STATE_PT)
        if extra is not None:
            extra(tmp)
        (tmp / STATE_JSON).write_text(json.dumps(meta))

    atomic_dir(Path(out) / CHECKPOINT, write)


def read_checkpoint_state(out: Path) -> dict | None:
    """The trainer state of ``out/checkpoint-last`` (counters, run identity, settings), or None if there is none."""
    path = Path(out) / CHECKPOINT / STATE_JSON
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path} is unreadable ({exc}); rerun with resume=False to start again") from None


def restore_checkpoint(out: Path, model, optimizer, scheduler) -> dict:
    """Load ``out/checkpoint-last`` into ``model``, ``optimizer`` and ``scheduler``, set the RNGs; return its state."""
    import torch

    ckpt = Path(out) / CHECKPOINT
    meta = read_checkpoint_state(out)
    load_weights(model, ckpt)
    blob = torch.load(ckpt / STATE_PT, weights_only=True)
    optimizer.load_state_dict(blob["optimizer"])
    scheduler.load_state_dict(blob["scheduler"])
    _set_rng_state(meta, blob["torch_rng"])  # last: loading weights may draw random numbers
    return meta


def remove_checkpoints(out: Path, keep_last: bool = False) -> None:
    """Delete ``checkpoint-best`` and, unless ``keep_last``, ``checkpoint-last`` (after publishing)."""
    if not keep_last:
        shutil.rmtree(Path(out) / CHECKPOINT, ignore_errors=True)
    shutil.rmtree(Path(out) / BEST, ignore_errors=True)


def publish_model(out: Path, model, tokenizer, marker_name: str, marker: dict) -> None:
    """Write a model's files into ``out`` all at once, or not at all.

    Stale staging folders of killed runs are swept first. Files are written
    into a temporary folder (where a full disk can strike) and then renamed
    into ``out`` (which cannot run out of space); the marker file goes last,
    so its presence means the model is complete.
    """
    out = Path(out)
    sweep_stale_checkpoints(out)
    staging = Path(tempfile.mkdtemp(prefix=PUBLISH_STAGING, dir=out))
    with removed_on_failure(staging, out):
        save_hf(model, tokenizer, staging)
        (staging / marker_name).write_text(json.dumps(marker, indent=2, default=str))
    names = sorted(p.name for p in staging.iterdir())
    names.remove(marker_name)
    for name in [*names, marker_name]:
        os.replace(staging / name, out / name)
    shutil.rmtree(staging, ignore_errors=True)
