"""The settings of a fine-tuning run, shared by the teacher trainer and the training loop."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InputError
from ..runtime import DTYPES
from .model import TRUNCATIONS

__all__ = ["TrainingArguments"]


@dataclass
class TrainingArguments:
    """Settings of a fine-tuning run.

    :func:`train_teacher` reads all of them; the loop itself
    (:func:`fit_classifier`) ignores ``base_model``, ``eval_fraction`` and
    ``keep_checkpoints``, which are about choosing the data and the model
    and about tidying up after publishing.

    Parameters
    ----------
    output_dir : str
        Where the finished teacher (a Hugging Face directory), its
        ``bert2sk_training.json`` record and the resumable checkpoints
        (``checkpoint-last``, ``checkpoint-best``) go.
    base_model : str or None
        Encoder to start from (local directory or hub id); ``None`` is the
        packaged all-MiniLM-L6-v2.
    epochs : int
    learning_rate : float
        Peak AdamW learning rate.
    batch_size : int
        Texts per forward pass.
    grad_accum : int
        Forward passes per optimiser step (effective batch = ``batch_size * grad_accum``).
    warmup_ratio : float
        Share of optimiser steps with a linearly rising learning rate; it then decays linearly to 0.
    weight_decay : float
        AdamW decay (not applied to biases and LayerNorm weights).
    max_length : int
        Tokens per text, special tokens included.
    truncation : {"head+tail", "head", "tail"}
        Which tokens of a long text to keep (as in :class:`Teacher`).
    dtype : {"auto", "fp32", "bf16"}
        ``bf16`` runs forward passes under CPU autocast (weights and optimiser
        stay fp32); ``auto`` picks it when the CPU has native bf16.
    eval_fraction : float
        Share of the labelled texts held out (stratified) to evaluate each
        epoch, when no ``eval_corpus`` is given. ``0`` trains on all and keeps the last epoch.
    early_stopping_patience : int or None
        Stop after this many epochs without a better held-out score; ``None`` never stops early.
    seed : int
        Seeds Python, NumPy and torch (:func:`seed_everything`, before the model is built); the batch
        order of epoch ``e`` depends only on ``(seed, e)``.
    threads : int or None
        Torch intra-op threads (``None`` keeps torch's setting).
    progress : bool
        Show a progress bar with an ETA.
    save_every_steps : int
        Write the resumable checkpoint every this many optimiser steps (and at every epoch end); 0 = epoch ends only.
    max_grad_norm : float or None
        Gradient-norm clip.
    keep_checkpoints : bool
        Keep ``checkpoint-last`` (with the optimiser state) after a finished run.
    freeze_embeddings : bool
        Keep the pretrained word embeddings as they are. They hold half of
        a MiniLM's weights, so a step skips their gradient and optimiser
        update (about 14% of a step on a 2-core CPU) and a small corpus
        cannot pull rare words' vectors away from where pretraining put them.
    """

    output_dir: str
    base_model: str | None = None
    epochs: int = 3
    learning_rate: float = 5e-5
    batch_size: int = 16
    grad_accum: int = 1
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_length: int = 256
    truncation: str = "head+tail"
    dtype: str = "auto"
    eval_fraction: float = 0.1
    early_stopping_patience: int | None = 2
    seed: int = 0
    threads: int | None = None
    progress: bool = True
    save_every_steps: int = 200
    max_grad_norm: float | None = 1.0
    keep_checkpoints: bool = False
    freeze_embeddings: bool = False

    def validate(self) -> None:
        """Raise :class:`InputError` for a setting that cannot work."""
        checks = [
            (self.epochs >= 1, f"epochs must be at least 1, got {self.epochs}"),
            (self.learning_rate > 0, f"learning_rate must be positive, got {self.learning_rate}"),
            (self.batch_size >= 1, f"batch_size must be positive, got {self.batch_size}"),
            (self.grad_accum >= 1, f"grad_accum must be positive, got {self.grad_accum}"),
            (0 <= self.warmup_ratio < 1, f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}"),
            (self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}"),
            (self.max_length >= 8, f"max_length must be at least 8 tokens, got {self.max_length}"),
            (self.truncation in TRUNCATIONS, f"truncation must be one of {TRUNCATIONS}, got {self.truncation!r}"),
            (self.dtype in DTYPES, f"dtype must be one of {DTYPES}, got {self.dtype!r}"),
            (0 <= self.eval_fraction < 1, f"eval_fraction must be in [0, 1), got {self.eval_fraction}"),
            (self.early_stopping_patience is None or self.early_stopping_patience >= 1,
             "early_stopping_patience must be None or at least 1"),
            (self.save_every_steps >= 0, "save_every_steps must be >= 0 (0 = save at epoch ends only)"),
        ]
        for ok, msg in checks:
            if not ok:
                raise InputError(msg)
