"""What the training loop tells the outside: its state, and the callbacks it calls.

A callback is any object with some of the methods of :class:`Callback`; the
loop calls the ones it finds. The progress bar is one
(:class:`ProgressBar`), and tests that simulate a crash are others, so the
loop itself holds no seam for them.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Callback", "ProgressBar", "TrainerState"]

# The counters a checkpoint stores; the names are those of trainer_state.json since bert2sk 0.1.
_SAVED = ("step", "epoch", "step_in_epoch", "total_steps", "history", "best_score", "best_epoch", "bad_epochs",
          "stopped_early", "epoch_loss_sum", "epoch_loss_n")


@dataclass
class TrainerState:
    """Where a run stands. The loop updates it; callbacks read it.

    Attributes
    ----------
    epochs, steps_per_epoch, total_steps : int
        The run's length in epochs and optimiser steps.
    output_dir : Path
        The run's folder (checkpoints live in ``checkpoint-last`` and ``checkpoint-best`` under it).
    step : int
        Optimiser steps done, over all sessions of a resumed run.
    epoch : int
        Epochs finished (so the current epoch is ``epoch + 1``).
    step_in_epoch : int
        Optimiser steps done in the current epoch.
    history : list of dict
        One row per finished epoch (``epoch``, ``steps``, ``train_loss``, ``eval_*``, ``seconds``).
    best_score, best_epoch, bad_epochs : float, int, int
        The best held-out score so far, its epoch (1-based) and the epochs since it.
    stopped_early : bool
        Early stopping has ended the run.
    epoch_loss_sum, epoch_loss_n : float, int
        Running training loss of the current epoch (sum of row losses, rows).
    """

    epochs: int
    steps_per_epoch: int
    total_steps: int
    output_dir: Path
    step: int = 0
    epoch: int = 0
    step_in_epoch: int = 0
    history: list[dict] = field(default_factory=list)
    best_score: float = -math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    stopped_early: bool = False
    epoch_loss_sum: float = 0.0
    epoch_loss_n: int = 0
    prior_seconds: float = 0.0
    prior_epoch_seconds: float = 0.0
    session_start: float = field(default_factory=time.perf_counter, repr=False)
    epoch_start: float = field(default_factory=time.perf_counter, repr=False)

    @property
    def seconds(self) -> float:
        """Wall time of the run so far, earlier sessions included."""
        return self.prior_seconds + time.perf_counter() - self.session_start

    @property
    def epoch_seconds(self) -> float:
        """Wall time of the current epoch so far, earlier sessions included."""
        return self.prior_epoch_seconds + time.perf_counter() - self.epoch_start

    @property
    def train_loss(self) -> float:
        """Mean training loss per row in the current epoch."""
        return self.epoch_loss_sum / max(self.epoch_loss_n, 1)

    @property
    def finished(self) -> bool:
        return self.epoch >= self.epochs or self.stopped_early

    def start_epoch(self) -> None:
        """Reset the per-epoch loss and clock (after an epoch ends)."""
        self.epoch_loss_sum, self.epoch_loss_n, self.prior_epoch_seconds = 0.0, 0, 0.0
        self.epoch_start = time.perf_counter()

    def to_json(self) -> dict:
        """The counters a checkpoint keeps (JSON-ready)."""
        out = {name: getattr(self, name) for name in _SAVED}
        out["seconds"], out["epoch_seconds"] = self.seconds, self.epoch_seconds
        return out

    def load_json(self, saved: dict) -> None:
        """Continue from counters written by :meth:`to_json` in an earlier session."""
        for name in _SAVED:
            if name in saved and name != "total_steps":
                setattr(self, name, saved[name])
        self.prior_seconds, self.prior_epoch_seconds = saved["seconds"], saved["epoch_seconds"]
        self.session_start = self.epoch_start = time.perf_counter()


class Callback:
    """Hooks the training loop calls; subclass and override the ones you need.

    Every method here does nothing. Any object with some of these methods
    works as a callback too: the loop calls those it finds, in the order the
    callbacks were given. An exception raised by a callback ends the run as
    a crash would (the last checkpoint stays, ``resume=True`` continues).
    """

    def on_train_begin(self, state: TrainerState) -> None:
        """Before the first step of this session (after a resumed state is restored)."""

    def on_step_end(self, state: TrainerState) -> None:
        """After each optimiser step, and after the mid-epoch checkpoint it may have written."""

    def on_epoch_end(self, state: TrainerState) -> None:
        """After an epoch's evaluation, best-weights save and checkpoint; ``state.history[-1]`` is its row."""

    def on_checkpoint(self, state: TrainerState, folder: Path) -> None:
        """While a checkpoint is written: ``folder`` is the staging folder, already holding the model,
        optimiser and trainer state, that then replaces ``checkpoint-last`` in one rename.

        Write files into ``folder`` to keep them with the checkpoint; read
        them back from ``state.output_dir / "checkpoint-last"`` on resume.
        """

    def on_train_end(self, state: TrainerState) -> None:
        """When the loop ends, also when it ends with an exception."""


class ProgressBar(Callback):
    """A bar over optimiser steps with the running loss and an ETA; prints each epoch's row.

    It is :func:`bert2sk.runtime.progress_bar`: into a log file it writes a line every
    :data:`~bert2sk.runtime.LOG_REDRAW_SECONDS` at most, each epoch's row, and a final summary line.
    """

    def __init__(self, desc: str = "fine-tuning") -> None:
        self.desc = desc
        self.bar = None

    def _describe(self, state: TrainerState) -> None:
        # no redraw of its own: a log file gets the new epoch with the next timed line
        self.bar.set_description(f"{self.desc} (epoch {min(state.epoch + 1, state.epochs)}/{state.epochs})",
                                 refresh=False)

    def on_train_begin(self, state: TrainerState) -> None:
        from ..runtime import progress_bar

        self.bar = progress_bar(state.total_steps, self.desc, unit="step")
        # a resumed run starts part-way; as tqdm's own ``initial``, so rate and ETA count this session's steps
        self.bar.initial = self.bar.n = self.bar.last_print_n = state.step
        self._describe(state)

    def on_step_end(self, state: TrainerState) -> None:
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{state.train_loss:.4f}", refresh=False)

    def on_epoch_end(self, state: TrainerState) -> None:
        row = state.history[-1]
        shown = {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}
        self._describe(state)  # before the row: a log file's bar line after it names the next epoch
        self.bar.write(f"epoch {row['epoch']}: {shown}")

    def on_train_end(self, state: TrainerState) -> None:
        if self.bar is not None:
            self.bar.close()
