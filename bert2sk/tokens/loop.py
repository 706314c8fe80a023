"""bert2sk's training loop, run on word-tagged chunks: one output per word piece instead of one per text.

The loop itself (:mod:`bert2sk.teacher.loop`: AdamW with warm-up and decay,
length-bucketed batches, bf16 autocast, atomic resumable checkpoints, best
epoch kept, early stopping, callbacks) is reused as it is. Two things
differ for tokens, and only those are overridden here: the labels and
targets of a batch are per piece (``(b, width)`` and ``(b, width, k)``, cut
to the batch's width), and an epoch is scored by a caller's function (entity
F1 for a teacher, agreement with the teacher for a student) instead of by
text accuracy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..teacher.arguments import TrainingArguments
from ..teacher.examples import Examples
from ..teacher.loop import FitResult, TrainingRun, prepare_output, run_to_best
from .encoding import IGNORE, Chunk, chunk_labels, chunk_targets

__all__ = ["fit_token_classifier", "token_ce_loss", "token_distillation_loss", "word_rows"]


def word_rows(logits, labels):
    """The rows of ``logits`` ``(b, width, k)`` at words' first pieces, and their labels (``-1`` = none)."""
    labels = labels[:, : logits.shape[1]]
    mask = labels != IGNORE
    return logits[mask], labels[mask]


def token_ce_loss(logits, targets, labels):
    """Cross-entropy on gold tags at words' first pieces (a teacher's loss)."""
    from ..teacher.losses import classification_loss

    z, y = word_rows(logits, labels)
    return classification_loss(z, None, y, "multiclass")


def token_distillation_loss(logits, targets, labels, alpha: float = 0.5, temperature: float = 2.0):
    """The seed loss ``alpha * CE + (1 - alpha) * T^2 * KL``, per word (a student's loss).

    Words are the rows of :func:`bert2sk.teacher.distillation_loss`; a word without a gold tag
    (``-1``) learns from the teacher alone.
    """
    from ..teacher.losses import distillation_loss

    width = logits.shape[1]
    mask = labels[:, :width] != IGNORE
    return distillation_loss(logits[mask], targets[:, :width][mask], labels[:, :width][mask], "multiclass",
                             alpha=alpha, temperature=temperature)


class _TokenRun(TrainingRun):
    """The loop's run with per-piece batches and a caller's epoch score."""

    score_fn: Callable[[object], dict] | None = None

    def _batch(self, idx: np.ndarray) -> tuple:
        import torch

        targets = None if self.train.targets is None else torch.as_tensor(self.train.targets[idx])
        return targets, torch.as_tensor(self.train.labels[idx])

    def _epoch_row(self) -> tuple[dict, float]:
        st = self.state
        row = {"epoch": st.epoch + 1, "steps": st.step, "train_loss": st.train_loss}
        score = float(st.epoch)
        if self.score_fn is not None:
            scores = self.score_fn(self.model)
            self.model.train()
            row.update(scores)
            score = float(scores["eval_score"])
        row["seconds"] = st.epoch_seconds
        return row, score


def fit_token_classifier(model, tokenizer, chunks: Sequence[Chunk], args: TrainingArguments, *,
                         word_labels: Sequence[np.ndarray] | None = None,
                         word_logits: Sequence[np.ndarray] | None = None, loss=token_ce_loss,
                         score_fn: Callable[[object], dict] | None = None, run_info: dict | None = None,
                         resume: bool = False, desc: str = "fine-tuning") -> FitResult:
    """Train a token classifier in place through bert2sk's loop; it ends holding its best epoch's weights.

    Parameters
    ----------
    model : transformers ``...ForTokenClassification``
    tokenizer : its tokenizer
    chunks : sequence of Chunk
        From :func:`~bert2sk.tokens.encoding.encode_words`.
    args : TrainingArguments
    word_labels : per sentence, int arrays of tag codes (``-1`` = no gold tag), optional
    word_logits : per sentence, ``(n_words, k)`` teacher logits, optional (a student's targets)
    loss : callable ``(logits, targets, labels) -> scalar``
        :func:`token_ce_loss` (default) or :func:`token_distillation_loss`.
    score_fn : callable ``model -> dict`` with ``eval_score`` (higher is better), optional
        Scores each epoch (the loop keeps the best); without it the last epoch is kept.
    run_info, resume, desc : as in :func:`bert2sk.teacher.fit_classifier`

    Returns
    -------
    FitResult
    """
    from ..teacher.callbacks import ProgressBar

    args.validate()
    width = max(len(c.ids) for c in chunks)
    labels = chunk_labels(chunks, word_labels, width)
    k = model.config.num_labels
    targets = None if word_logits is None else chunk_targets(chunks, word_logits, width, k)
    train = Examples([c.ids for c in chunks], labels, targets)
    out = prepare_output(args, resume)
    progress = [ProgressBar(desc)] if args.progress else []
    # the token data are fingerprinted by the loop itself (ids, labels, targets)
    run = _TokenRun(model, tokenizer, args, train, None, loss, "multiclass", progress, run_info or {})
    run.score_fn = score_fn
    if score_fn is not None:
        run.ev = train  # the loop stops early only when something is held out; our score_fn holds it
    return run_to_best(run, model, out, resume, n_train=len(train), n_eval=0)
