"""A fine-tuning process killed outright (SIGKILL) leaves no litter once a resumed run has finished."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bert2sk.teacher.checkpoints import sweep_stale_checkpoints
from bert2sk.teacher.trainer import train_teacher

from .conftest import build_tiny_bert
from .test_trainer import _weights, binary_corpus, fast_args

ROOT = Path(__file__).resolve().parents[1]

# The child kills itself from inside the second checkpoint write: the staging folder holds the
# weights and optimiser state, the swap into checkpoint-last has not happened yet.
CHILD = """
import os, signal, sys
from pathlib import Path
from bert2sk.teacher import Callback, train_teacher
from tests.test_trainer import binary_corpus, fast_args
from tests.test_trainer_crash import RUN

class KillInsideCheckpoint(Callback):
    def __init__(self, nth):
        self.nth, self.seen = nth, 0

    def on_checkpoint(self, state, folder):
        self.seen += 1
        if self.seen == self.nth:
            assert (folder / "model.safetensors").is_file() and (folder / "trainer_state.pt").is_file()
            os.kill(os.getpid(), signal.SIGKILL)

out, base = Path(sys.argv[1]), Path(sys.argv[2])
train_teacher(binary_corpus(160), fast_args(out, base, **RUN), callbacks=[KillInsideCheckpoint(2)])
raise SystemExit("the run finished: it should have been killed")
"""

RUN = dict(epochs=2, save_every_steps=2, early_stopping_patience=None)


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-crash-base"))


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_sigkill_during_checkpoint_write_then_resume_leaves_only_the_teacher(base, tmp_path):
    out = tmp_path / "cut"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    child = subprocess.run([sys.executable, "-c", CHILD, str(out), str(base)], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=300)
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    litter = [p.name for p in out.iterdir() if p.name.startswith(".checkpoint-last.tmp-")]
    assert litter, _names(out)  # the kill really struck mid-write
    assert json.loads((out / "checkpoint-last" / "trainer_state.json").read_text())["step"] == 2

    resumed = train_teacher(binary_corpus(160), fast_args(out, base, **RUN), resume=True)
    full = train_teacher(binary_corpus(160), fast_args(tmp_path / "full", base, **RUN))
    assert _names(out) == _names(tmp_path / "full")  # the teacher's files, nothing hidden, no checkpoints
    assert all((out / name).is_file() and not name.startswith(".") for name in _names(out))
    assert resumed.steps == full.steps
    a, b = _weights(out), _weights(tmp_path / "full")
    for key in a:
        np.testing.assert_allclose(a[key], b[key], atol=1e-5, err_msg=key)


def test_sweep_removes_staging_folders_and_keeps_everything_else(tmp_path):
    for name in (".checkpoint-last.tmp-abc", ".checkpoint-best.tmp-x1", ".final.tmp-9", ".checkpoint-last.old-77"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.safetensors").write_bytes(b"half")
    (tmp_path / "checkpoint-last").mkdir()
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / ".notes").write_text("the user's")
    removed = sweep_stale_checkpoints(tmp_path)
    assert removed == [".checkpoint-best.tmp-x1", ".checkpoint-last.old-77", ".checkpoint-last.tmp-abc", ".final.tmp-9"]
    assert _names(tmp_path) == [".notes", "checkpoint-last", "config.json"]
    assert sweep_stale_checkpoints(tmp_path / "missing") == []


def test_sweep_puts_back_a_checkpoint_caught_between_its_two_renames(tmp_path):
    # killed after checkpoint-last -> .old and before .tmp -> checkpoint-last: the old one is complete
    (tmp_path / ".checkpoint-last.old-123").mkdir()
    (tmp_path / ".checkpoint-last.old-123" / "trainer_state.json").write_text('{"step": 4}')
    (tmp_path / ".checkpoint-last.tmp-zz").mkdir()
    sweep_stale_checkpoints(tmp_path)
    assert _names(tmp_path) == ["checkpoint-last"]
    assert json.loads((tmp_path / "checkpoint-last" / "trainer_state.json").read_text()) == {"step": 4}
