"""The training loop: a built classifier learns from texts, hard labels and/or soft targets, resumably.

The loop is the standard recipe (AdamW, linear warm-up then decay, gradient
accumulation, optional bf16 autocast) plus what a 2-core CPU needs: batches
are bucketed by token length so little compute is spent on padding, and a
resumable checkpoint (weights, optimiser, schedule, RNG states, position) is
written atomically every ``save_every_steps`` optimiser steps and at each
epoch end, so a run killed after an hour resumes instead of restarting.

It knows nothing of teachers or students: :func:`train_teacher` calls it
with hard labels and cross-entropy, a distilled transformer student with a
teacher's logits as targets and :func:`distillation_loss`.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import json
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..runtime import resolve_dtype
from .arguments import TrainingArguments
from .callbacks import Callback, ProgressBar, TrainerState
from .checkpoints import (
    BEST,
    CHECKPOINT,
    atomic_dir,
    disk_full,
    load_weights,
    read_checkpoint_state,
    remove_checkpoints,
    restore_checkpoint,
    save_hf,
    sweep_stale_checkpoints,
    write_checkpoint,
)
from .evaluation import eval_scores, evaluate
from .examples import Examples, all_labelled, collate, epoch_batches, fingerprint, make_examples, pad_token_id
from .losses import TASKS, classification_loss
from .model import task_from_config

__all__ = ["FitResult", "fit_classifier", "seed_everything", "TrainingRun", "prepare_output", "run_to_best"]

#: ``loss(logits, targets, labels) -> scalar tensor``: the mean over the batch's rows.
LossFn = Callable[..., Any]


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global RNGs (call it before building the model)."""
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


@dataclass
class FitResult:
    """What :func:`fit_classifier` did; the model it was given now holds the best epoch's weights.

    Attributes
    ----------
    history : list of dict
        One row per epoch: ``epoch``, ``steps``, ``train_loss`` and, with eval texts, ``eval_loss``
        (hard-label cross-entropy), ``eval_accuracy``, ``eval_f1``; then ``seconds``.
    best_epoch : int
        The epoch whose weights were kept (1-based).
    best_score : float
        Its held-out score (accuracy; micro-F1 for multilabel), or the epoch index with no eval texts.
    steps : int
        Optimiser steps, all sessions of a resumed run.
    seconds : float
        Wall time, all sessions.
    stopped_early : bool
    n_train, n_eval : int
    resumed_from_step : int
        The step this session started from (0 for a fresh run).
    """

    history: list[dict]
    best_epoch: int
    best_score: float
    steps: int
    seconds: float
    stopped_early: bool
    n_train: int
    n_eval: int
    resumed_from_step: int = 0


def _optimizer(model, args: TrainingArguments, total_steps: int):
    """AdamW (no decay on biases and norms) with linear warm-up then linear decay to 0."""
    import torch

    warmup = int(round(args.warmup_ratio * total_steps))
    no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")
    groups = [
        {"params": [p for n, p in model.named_parameters() if not any(k in n for k in no_decay)],
         "weight_decay": args.weight_decay},
        {"params": [p for n, p in model.named_parameters() if any(k in n for k in no_decay)], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=args.learning_rate)

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)


class TrainingRun:
    """One session of the loop: model, optimiser, schedule, data and state, checkpointed as it goes.

    Shared by every loop bert2sk has: a task with its own batches and evaluation (token tagging) subclasses
    it and overrides what differs, so resuming, checkpoints and early stopping stay one implementation.
    """

    def __init__(self, model, tokenizer, args: TrainingArguments, train: Examples, ev: Examples | None,
                 loss: LossFn, task: str, callbacks: Sequence, run_info: dict) -> None:
        self.model, self.tokenizer, self.args = model, tokenizer, args
        self.train, self.ev, self.loss, self.task = train, ev, loss, task
        self.callbacks = list(callbacks)
        try:  # through JSON, so values compare equal to what a checkpoint read back holds (tuples become lists)
            self.run_info = json.loads(json.dumps({**run_info, "data_fingerprint": fingerprint(train, task)}))
        except (TypeError, ValueError) as exc:
            raise InputError(f"run_info must hold JSON values (str, numbers, lists, dicts): {exc}") from None
        self.out = Path(args.output_dir).expanduser()
        self.pad_id = pad_token_id(tokenizer)
        self.bf16 = resolve_dtype(args.dtype) == "bf16"
        if args.freeze_embeddings:
            # no gradient, so AdamW skips them (decay included); the optimiser's groups stay as without freezing
            model.get_input_embeddings().requires_grad_(False)
        per_epoch = math.ceil(math.ceil(len(train) / args.batch_size) / args.grad_accum)
        self.state = TrainerState(args.epochs, per_epoch, per_epoch * args.epochs, self.out)
        self.optimizer, self.scheduler = _optimizer(model, args, self.state.total_steps)

    def restore(self) -> None:
        """Continue from ``checkpoint-last`` if there is one and it belongs to this run."""
        saved = read_checkpoint_state(self.out)
        if saved is None:
            return
        ckpt = self.out / CHECKPOINT
        if saved.get("total_steps") != self.state.total_steps:
            raise InputError(f"cannot resume {ckpt}: epochs/batch_size/grad_accum differ from the interrupted run's "
                             f"({saved.get('args')}); use the same settings or resume=False")
        for key, value in self.run_info.items():
            if key in saved and saved[key] != value:
                raise InputError(f"cannot resume {ckpt}: its {key} differs from this run's (data_fingerprint: the "
                                 "token ids, labels and targets); pass the same, or resume=False to start again")
        restore_checkpoint(self.out, self.model, self.optimizer, self.scheduler)
        self.state.load_json(saved)

    def _emit(self, hook: str, *extra) -> None:
        for callback in self.callbacks:
            method = getattr(callback, hook, None)
            if method is not None:
                method(self.state, *extra)

    def run(self) -> None:
        import torch

        old_threads = torch.get_num_threads()
        if self.args.threads:
            torch.set_num_threads(self.args.threads)
        try:
            self._emit("on_train_begin")
            while not self.state.finished:
                self._epoch()
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise disk_full(exc, self.out) from None
            raise
        finally:
            self._emit("on_train_end")
            if self.args.threads:
                torch.set_num_threads(old_threads)

    def _epoch(self) -> None:
        st, args = self.state, self.args
        batches = epoch_batches(self.train.lengths, args.batch_size, args.seed, st.epoch)
        self.model.train()
        for s in range(st.step_in_epoch, st.steps_per_epoch):
            self._optimizer_step(batches[s * args.grad_accum:(s + 1) * args.grad_accum])
            st.step += 1
            st.step_in_epoch = s + 1
            mid_epoch = st.step_in_epoch < st.steps_per_epoch
            if args.save_every_steps and st.step % args.save_every_steps == 0 and mid_epoch:
                self._checkpoint()
            self._emit("on_step_end")
        self._end_epoch()

    def _batch(self, idx: np.ndarray) -> tuple:
        import torch

        targets = None if self.train.targets is None else torch.as_tensor(self.train.targets[idx])
        labels = None if self.train.labels is None else torch.as_tensor(self.train.labels[idx])
        return targets, labels

    def _optimizer_step(self, group: list[np.ndarray]) -> None:
        import torch

        n_group = sum(len(b) for b in group)
        self.optimizer.zero_grad(set_to_none=True)
        for idx in group:
            input_ids, mask = collate(self.train.ids, idx, self.pad_id)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
                logits = self.model(input_ids=input_ids, attention_mask=mask).logits
            # weight by rows so a short last batch counts for what it holds
            loss = self.loss(logits, *self._batch(idx)) * (len(idx) / n_group)
            loss.backward()
            self.state.epoch_loss_sum += float(loss.detach()) * n_group
            self.state.epoch_loss_n += len(idx)
        if self.args.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.args.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()

    def _epoch_row(self) -> tuple[dict, float]:
        """The finished epoch's history row and its held-out score."""
        st = self.state
        row = {"epoch": st.epoch + 1, "steps": st.step, "train_loss": st.train_loss}
        if self.ev is None:
            score = float(st.epoch)  # nothing held out: the latest epoch is the best we know
        else:
            z, row["eval_loss"] = evaluate(self.model, self.ev.ids, self.ev.labels, self.args.batch_size,
                                            self.pad_id, self.bf16, self.task)
            row.update(eval_scores(z, self.ev.labels, self.task))
            score = row["eval_f1"] if self.task == "multilabel" else row["eval_accuracy"]
        row["seconds"] = st.epoch_seconds
        return row, score

    def _end_epoch(self) -> None:
        """Evaluate, keep the best weights, maybe stop early, checkpoint."""
        st = self.state
        row, score = self._epoch_row()
        st.history.append(row)
        st.epoch += 1
        st.step_in_epoch = 0
        if score > st.best_score:
            st.best_score, st.best_epoch, st.bad_epochs = score, st.epoch, 0
            atomic_dir(self.out / BEST, lambda tmp: save_hf(self.model, self.tokenizer, tmp))
        else:
            st.bad_epochs += 1
            patience = self.args.early_stopping_patience
            if patience and st.bad_epochs >= patience and self.ev is not None:
                st.stopped_early = True
        st.start_epoch()
        self._checkpoint()
        self._emit("on_epoch_end")

    def _checkpoint(self) -> None:
        meta = {**self.run_info, **self.state.to_json(), "args": dataclasses.asdict(self.args)}
        write_checkpoint(self.out, self.model, self.tokenizer, self.optimizer, self.scheduler, meta,
                         extra=lambda folder: self._emit("on_checkpoint", folder))


def _train_loss(loss: LossFn | None, train: Examples, task: str) -> LossFn:
    """The loss to minimise: the caller's, or cross-entropy on hard labels (which then every text needs)."""
    if loss is not None:
        return loss
    if train.labels is None or not all_labelled(train.labels):
        raise InputError("without a loss= the loop learns from hard labels, so every text needs one; drop the "
                         "unlabelled texts (-1), or give targets= and a loss= that uses them (distillation_loss)")
    return functools.partial(classification_loss, task=task)


def fit_classifier(model, tokenizer, texts: Sequence, args: TrainingArguments, *, targets=None, labels=None,
                   loss: LossFn | None = None, task: str | None = None, eval_texts: Sequence | None = None,
                   eval_labels=None, callbacks: Sequence[Callback] = (), run_info: dict | None = None,
                   resume: bool = False, desc: str = "fine-tuning") -> FitResult:
    """Train a built sequence classifier in place, resumably, and leave it holding its best epoch's weights.

    The one training loop of bert2sk: :func:`train_teacher` runs it with hard
    labels and cross-entropy; a distilled transformer student runs it with
    a teacher's logits as ``targets`` and :func:`distillation_loss`.

    Parameters
    ----------
    model : transformers ``...ForSequenceClassification``
        Already built, with ``config.num_labels`` outputs (and the ``id2label`` you want saved).
        Seed first (:func:`seed_everything` with ``args.seed``) for a repeatable run: dropout draws
        from torch's global RNG, which checkpoints save and resume restores.
    tokenizer : its tokenizer
        Saved with every checkpoint; tokenises ``texts`` when they are strings.
    texts : sequence of str, or of lists of token ids
        Training texts, tokenised with ``args.max_length`` and ``args.truncation`` when strings.
    args : TrainingArguments
        Epochs, optimiser, schedule, batching, precision, early stopping, seed, threads, progress and
        checkpointing; checkpoints go to ``args.output_dir/checkpoint-last`` and ``checkpoint-best``.
    targets : array of shape (n, k), optional
        Soft targets per text, e.g. a teacher's logits; handed to ``loss`` batch by batch.
    labels : array of shape (n,) or (n, k) for multilabel, optional
        Hard labels, ``-1`` (a row of ``-1`` for multilabel) where a text has none.
    loss : callable, optional
        ``loss(logits, targets, labels) -> scalar tensor``, the *mean over the batch's rows*
        (``targets``/``labels`` are the batch's rows as tensors, or None when not given).
        Default: cross-entropy on ``labels`` (every text must be labelled).
        For distillation: ``functools.partial(distillation_loss, task=task, alpha=0.5, temperature=2.0)``.
    task : {"binary", "multiclass", "multilabel"}, optional
        Default: from ``model.config`` (``problem_type`` and ``num_labels``).
    eval_texts, eval_labels : optional
        Held-out texts with hard labels (every one labelled), scored after each epoch; the best epoch
        (accuracy; micro-F1 for multilabel) is kept and ``args.early_stopping_patience`` applies.
        Without them every epoch is "better" and the last one is kept. A student early-stops on
        fidelity by passing the teacher's decisions as ``eval_labels``.
    callbacks : sequence of Callback
        Objects with some of :class:`Callback`'s methods, called in order (after the progress bar).
    run_info : dict, optional
        JSON-ready identity of the run stored in each checkpoint; resuming a checkpoint whose values
        differ is refused. The loop adds ``data_fingerprint`` (token ids, labels, targets).
    resume : bool
        Continue from ``checkpoint-last`` when there is one (same data, epochs, batch size and
        accumulation required). ``False`` deletes earlier checkpoints in ``args.output_dir``.
        Stale staging folders of killed runs are swept either way.
    desc : str
        Progress bar label.

    Returns
    -------
    FitResult
        ``model`` now holds the best epoch's weights. The checkpoints stay (a crash before you
        publish the model must be resumable): call :func:`remove_checkpoints` once it is saved.

    Raises
    ------
    InputError
        Bad arguments or shapes, unlabelled texts without a loss that uses targets, or a
        checkpoint that belongs to another run.
    ModelFileError
        A full disk (the last complete checkpoint stays) or an unreadable checkpoint.

    Examples
    --------
    A transformer student distilled from a teacher's logits ``z_t`` on texts
    ``x`` (labels ``y``, ``-1`` where unknown)::

        seed_everything(args.seed)
        tokenizer, student = load_tokenizer_and_model(path, num_labels=k)
        loss = functools.partial(distillation_loss, task="binary", alpha=0.5, temperature=2.0)
        fit = fit_classifier(student, tokenizer, x, args, targets=z_t, labels=y, loss=loss,
                             eval_texts=x_dev, eval_labels=y_dev, resume=True,
                             run_info={"teacher": teacher_fingerprint}, desc="distilling student")
        publish_model(args.output_dir, student, tokenizer, "bert2sk_student.json", {...})
        remove_checkpoints(args.output_dir)

    (``load_tokenizer_and_model`` is in :mod:`bert2sk.teacher.model`; ``publish_model`` and
    ``remove_checkpoints`` in :mod:`bert2sk.teacher.checkpoints`.)
    """
    args.validate()
    task = task or task_from_config(model.config)
    if task not in TASKS:
        raise InputError(f"task must be one of {TASKS}, got {task!r}")
    k = model.config.num_labels
    train = make_examples(tokenizer, texts, args, labels, targets, k, task, "texts")
    loss = _train_loss(loss, train, task)
    ev = None
    if eval_texts is not None:
        ev = make_examples(tokenizer, eval_texts, args, eval_labels, None, k, task, "eval_texts")
        if ev.labels is None or not all_labelled(ev.labels):
            raise InputError("eval_labels must give every eval text a label (no -1); drop the unlabelled ones")
    out = prepare_output(args, resume)
    progress = [ProgressBar(desc)] if args.progress else []
    run = TrainingRun(model, tokenizer, args, train, ev, loss, task, [*progress, *callbacks], run_info or {})
    return run_to_best(run, model, out, resume, n_train=len(train), n_eval=0 if ev is None else len(ev))


def prepare_output(args: TrainingArguments, resume: bool) -> Path:
    """The run's output folder, with stale staging folders swept and, unless resuming, old checkpoints gone."""
    out = Path(args.output_dir).expanduser()
    sweep_stale_checkpoints(out)
    if not resume:
        remove_checkpoints(out)  # a fresh run must not pick up an older run's optimiser state
    return out


def run_to_best(run: TrainingRun, model: Any, out: Path, resume: bool, *, n_train: int, n_eval: int) -> FitResult:
    """Run (or resume) the loop, leave ``model`` holding the best epoch's weights, and say what happened."""
    if resume:
        run.restore()
    start = run.state.step
    run.run()
    load_weights(model, out / BEST)
    model.eval()
    st = run.state
    return FitResult(history=st.history, best_epoch=st.best_epoch, best_score=st.best_score, steps=st.step,
                     seconds=st.seconds, stopped_early=st.stopped_early, n_train=n_train, n_eval=n_eval,
                     resumed_from_step=start)
