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
import hashlib
import itertools
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
from .losses import TASKS, classification_loss
from .model import encode_texts, task_from_config

__all__ = ["FitResult", "eval_scores", "fit_classifier", "predict_logits", "seed_everything"]

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


@dataclass
class _Examples:
    """Token ids with their hard labels and soft targets (either may be None)."""

    ids: list[list[int]]
    labels: np.ndarray | None = None
    targets: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @functools.cached_property
    def lengths(self) -> np.ndarray:
        return np.array([len(x) for x in self.ids])


def _token_ids(tokenizer, texts: Sequence, args: TrainingArguments, what: str) -> list[list[int]]:
    """Token ids of ``texts``: tokenised here when they are strings, taken as they are when already ids."""
    if len(texts) == 0:
        raise InputError(f"{what} is empty; the loop needs at least one text")
    if all(isinstance(t, str) for t in texts):
        return encode_texts(tokenizer, list(texts), args.max_length, args.truncation)
    try:
        ids = [[int(i) for i in row] for row in texts]
    except (TypeError, ValueError):
        raise InputError(f"{what} must be strings or lists of token ids (one per text)") from None
    if min(len(row) for row in ids) == 0:
        raise InputError(f"{what} has a text with no token ids; tokenise with special tokens (e.g. [CLS] [SEP])")
    return ids


def _check_labels(labels, n: int, k: int, task: str, what: str) -> np.ndarray:
    labels = np.asarray(labels)
    shape = (n, k) if task == "multilabel" else (n,)
    if labels.shape != shape:
        raise InputError(f"{what} has shape {labels.shape}; {task} needs {shape} (texts x labels the model has)")
    if labels.dtype.kind == "f" and not np.array_equal(labels, np.round(labels)):
        raise InputError(f"{what} must hold class codes (or 0/1 for multilabel), not fractions; "
                         "soft scores go in targets=")
    hi = 1 if task == "multilabel" else k - 1
    if labels.size and (labels.min() < -1 or labels.max() > hi):
        raise InputError(f"{what} must lie in [-1, {hi}] (-1 = unlabelled), got [{labels.min()}, {labels.max()}]")
    return labels.astype(np.int64)


def _examples(tokenizer, texts, args, labels, targets, k: int, task: str, what: str) -> _Examples:
    """Tokenise and check the texts, labels and targets of one split."""
    ids = _token_ids(tokenizer, texts, args, what)
    n = len(ids)
    if labels is None and targets is None:
        raise InputError(f"{what} needs labels= (hard labels), targets= (a teacher's logits) or both")
    if labels is not None:
        labels = _check_labels(labels, n, k, task, f"labels of {what}")
    if targets is not None:
        targets = np.asarray(targets, dtype=np.float32)
        if targets.shape != (n, k) or not np.isfinite(targets).all():
            raise InputError(f"targets of {what} must be finite logits of shape {(n, k)}, got shape {targets.shape}")
    return _Examples(ids, labels, targets)


def _fingerprint(data: _Examples, task: str) -> str:
    """sha256 of token ids, labels and targets: a resumed run must see the same examples."""
    h = hashlib.sha256(task.encode())
    h.update(np.asarray(data.lengths, dtype=np.int64).tobytes())
    h.update(np.fromiter(itertools.chain.from_iterable(data.ids), dtype=np.int64).tobytes())
    for name, arr in (("labels", data.labels), ("targets", data.targets)):
        if arr is not None:
            h.update(name.encode())
            h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def _epoch_batches(lengths: np.ndarray, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    """Length-bucketed batches in an order that depends only on (seed, epoch).

    Texts are shuffled, cut into pools of 50 batches, sorted by length inside
    each pool (batches of similar lengths pad little), and the batches shuffled
    again so the model does not see lengths in order.
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    pool = batch_size * 50
    batches = []
    for start in range(0, len(order), pool):
        part = order[start:start + pool]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches.extend(part[i:i + batch_size] for i in range(0, len(part), batch_size))
    rng.shuffle(batches)
    return batches


def _collate(ids: list[list[int]], idx: np.ndarray, pad_id: int):
    import torch

    width = max(len(ids[i]) for i in idx)
    input_ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(idx), width), dtype=torch.long)
    for row, i in enumerate(idx):
        input_ids[row, : len(ids[i])] = torch.tensor(ids[i])
        mask[row, : len(ids[i])] = 1
    return input_ids, mask


def _pad_id(tokenizer) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0


def _evaluate(model, ids, labels, batch_size: int, pad_id: int, bf16: bool, task: str):
    """Logits of every text (in input order) and, given labels, the mean hard-label loss."""
    import torch

    model.eval()
    out = np.zeros((len(ids), model.config.num_labels), dtype=np.float32)
    total, n = 0.0, 0
    order = np.argsort([len(x) for x in ids], kind="stable")
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for start in range(0, len(order), batch_size * 2):
            idx = order[start:start + batch_size * 2]
            input_ids, mask = _collate(ids, idx, pad_id)
            z = model(input_ids=input_ids, attention_mask=mask).logits.float()
            if labels is not None:
                total += float(classification_loss(z, None, torch.as_tensor(labels[idx]), task)) * len(idx)
                n += len(idx)
            out[idx] = z.numpy()
    return out, (total / max(n, 1) if labels is not None else None)


def predict_logits(model, tokenizer, texts: Sequence, args: TrainingArguments) -> np.ndarray:
    """Logits of ``texts`` (strings or token ids) under the loop's tokenisation, batching and precision.

    Parameters
    ----------
    model : transformers sequence-classification model
    tokenizer : its tokenizer
    texts : sequence of str, or of lists of token ids
    args : TrainingArguments
        ``max_length``, ``truncation``, ``batch_size`` and ``dtype`` are used.

    Returns
    -------
    ndarray of shape (n_texts, num_labels), float32
    """
    ids = _token_ids(tokenizer, texts, args, "texts")
    bf16 = resolve_dtype(args.dtype) == "bf16"
    return _evaluate(model, ids, None, args.batch_size, _pad_id(tokenizer), bf16, "binary")[0]


def eval_scores(logits: np.ndarray, labels: np.ndarray, task: str, thresholds=None) -> dict:
    """``eval_accuracy`` and ``eval_f1`` (binary: positive class; multiclass: macro; multilabel: micro).

    Multilabel decisions are ``sigmoid(logit) >= threshold`` (0.5 unless ``thresholds`` is given)
    and accuracy is exact-set accuracy.
    """
    from sklearn.metrics import accuracy_score, f1_score

    if task == "multilabel":
        th = np.asarray(thresholds if thresholds is not None else [0.5] * labels.shape[1])
        pred = (1 / (1 + np.exp(-logits)) >= th).astype(int)
        return {"eval_accuracy": float(accuracy_score(labels, pred)),
                "eval_f1": float(f1_score(labels, pred, average="micro", zero_division=0))}
    pred = logits.argmax(1)
    avg = "binary" if task == "binary" else "macro"
    return {"eval_accuracy": float(accuracy_score(labels, pred)),
            "eval_f1": float(f1_score(labels, pred, average=avg, zero_division=0))}


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


class _Run:
    """One session of the loop: model, optimiser, schedule, data and state, checkpointed as it goes."""

    def __init__(self, model, tokenizer, args: TrainingArguments, train: _Examples, ev: _Examples | None,
                 loss: LossFn, task: str, callbacks: Sequence, run_info: dict) -> None:
        self.model, self.tokenizer, self.args = model, tokenizer, args
        self.train, self.ev, self.loss, self.task = train, ev, loss, task
        self.callbacks = list(callbacks)
        # through JSON, so values compare equal to what a checkpoint read back holds (tuples become lists)
        self.run_info = json.loads(json.dumps({**run_info, "data_fingerprint": _fingerprint(train, task)}))
        self.out = Path(args.output_dir).expanduser()
        self.pad_id = _pad_id(tokenizer)
        self.bf16 = resolve_dtype(args.dtype) == "bf16"
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
                raise InputError(f"cannot resume {ckpt}: its {key} differs from this run's (other texts, labels or "
                                 "targets); pass the same data, or resume=False to start again")
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
        batches = _epoch_batches(self.train.lengths, args.batch_size, args.seed, st.epoch)
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
            input_ids, mask = _collate(self.train.ids, idx, self.pad_id)
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
            z, row["eval_loss"] = _evaluate(self.model, self.ev.ids, self.ev.labels, self.args.batch_size,
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


def _train_loss(loss: LossFn | None, train: _Examples, task: str) -> LossFn:
    """The loss to minimise: the caller's, or cross-entropy on hard labels (which then every text needs)."""
    if loss is not None:
        return loss
    if train.labels is None or not _all_labelled(train.labels):
        raise InputError("without a loss= the loop learns from hard labels, so every text needs one; drop the "
                         "unlabelled texts (-1), or give targets= and a loss= that uses them (distillation_loss)")
    return functools.partial(classification_loss, task=task)


def _all_labelled(labels: np.ndarray) -> bool:
    return bool((labels >= 0).all())


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
                             eval_texts=x_dev, eval_labels=y_dev, resume=True)
        publish_model(out, student, tokenizer, "bert2sk_student.json", {...})
        remove_checkpoints(out)
    """
    args.validate()
    task = task or task_from_config(model.config)
    if task not in TASKS:
        raise InputError(f"task must be one of {TASKS}, got {task!r}")
    k = model.config.num_labels
    train = _examples(tokenizer, texts, args, labels, targets, k, task, "texts")
    loss = _train_loss(loss, train, task)
    ev = None
    if eval_texts is not None:
        ev = _examples(tokenizer, eval_texts, args, eval_labels, None, k, task, "eval_texts")
        if ev.labels is None or not _all_labelled(ev.labels):
            raise InputError("eval_labels must give every eval text a label (no -1); drop the unlabelled ones")
    out = Path(args.output_dir).expanduser()
    sweep_stale_checkpoints(out)
    if not resume:
        remove_checkpoints(out)  # a fresh run must not pick up an older run's optimiser state
    progress = [ProgressBar(desc)] if args.progress else []
    run = _Run(model, tokenizer, args, train, ev, loss, task, [*progress, *callbacks], run_info or {})
    if resume:
        run.restore()
    start = run.state.step
    run.run()
    load_weights(model, out / BEST)
    model.eval()
    st = run.state
    return FitResult(history=st.history, best_epoch=st.best_epoch, best_score=st.best_score, steps=st.step,
                     seconds=st.seconds, stopped_early=st.stopped_early, n_train=len(train),
                     n_eval=0 if ev is None else len(ev), resumed_from_step=start)
