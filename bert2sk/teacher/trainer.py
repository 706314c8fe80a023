"""Fine-tune a BERT-family encoder into a teacher, in plain torch, resumably.

The loop is the standard recipe (AdamW, linear warm-up then decay, gradient
accumulation, optional bf16 autocast) plus what a 2-core CPU needs: batches
are bucketed by token length so little compute is spent on padding, and a
resumable checkpoint (weights, optimiser, schedule, RNG states, position) is
written atomically every ``save_every_steps`` optimiser steps and at each
epoch end, so a run killed after an hour resumes instead of restarting.

The result is an ordinary Hugging Face model directory (safetensors, config
with ``id2label``, tokenizer) that ``transformers`` loads on its own and
:meth:`Teacher.from_pretrained` loads as a teacher. A multilabel teacher
also carries per-label decision thresholds tuned on the held-out split in
its config as ``bert2sk_thresholds``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import json
import math
import os
import random
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError, ModelFileError
from ..runtime import DTYPES, resolve_dtype
from ..targets import sigmoid, tune_thresholds
from .model import TRUNCATIONS, Teacher, encode_texts, load_tokenizer_and_model

__all__ = ["TrainingArguments", "TrainResult", "train_teacher", "ENCODER_MODEL_TYPES"]

CHECKPOINT = "checkpoint-last"
BEST = "checkpoint-best"
MARKER = "bert2sk_training.json"
STATE_JSON = "trainer_state.json"
STATE_PT = "trainer_state.pt"

# Text encoders with a sequence-classification head. Decoders (GPT-2, Llama…)
# also have one in transformers, but are not what a bert2sk teacher is.
ENCODER_MODEL_TYPES = frozenset({
    "bert", "roberta", "distilbert", "albert", "electra", "deberta", "deberta-v2", "xlm-roberta",
    "xlm-roberta-xl", "camembert", "mpnet", "ernie", "modernbert", "xlm", "longformer", "big_bird",
    "convbert", "funnel", "mobilebert", "squeezebert", "nystromformer", "megatron-bert", "rembert",
    "roformer", "layoutlm", "canine", "data2vec-text", "ibert", "luke", "markuplm", "nezha", "xmod",
    "flaubert", "esm", "mra", "yoso", "jina_bert", "neobert", "eurobert",
})


@dataclass
class TrainingArguments:
    """Settings of a fine-tuning run.

    Parameters
    ----------
    output_dir : str
        Where the finished teacher (a Hugging Face directory), its
        ``bert2sk_training.json`` record and the resumable checkpoints go.
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
        Seeds Python, NumPy and torch; the batch order of epoch ``e`` depends only on ``(seed, e)``.
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


@dataclass
class TrainResult:
    """What a fine-tuning run produced.

    Attributes
    ----------
    output_dir : str
        The finished teacher directory (load it with :meth:`teacher`).
    history : list of dict
        One row per epoch: ``epoch``, ``train_loss``, ``eval_loss``, ``eval_accuracy``, ``eval_f1``
        (macro-F1 for multiclass, F1 of the positive class for binary, micro-F1 for multilabel),
        ``seconds``, ``steps``.
    best_epoch : int
        The epoch whose weights were kept (1-based).
    metric : str
        The held-out score that chose it.
    seconds : float
        Wall time of the whole run (all sessions of a resumed run).
    thresholds : list of float or None
        Per-label decision thresholds of a multilabel teacher.
    """

    output_dir: str
    history: list[dict]
    best_epoch: int
    metric: str
    seconds: float
    n_train: int
    n_eval: int
    steps: int
    stopped_early: bool = False
    thresholds: list[float] | None = None
    label_names: tuple[str, ...] = field(default_factory=tuple)
    task: str = "binary"

    def teacher(self, **kwargs) -> Teacher:
        """Load the trained teacher (keyword arguments go to :meth:`Teacher.from_pretrained`)."""
        return Teacher.from_pretrained(self.output_dir, **kwargs)


# -- helpers -------------------------------------------------------------------------------
def _after_step(step: int) -> None:
    """Called after every optimiser step and its checkpoint; a seam for tests that simulate a crash."""


def _seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def corpus_fingerprint(corpus) -> str:
    """sha256 of a corpus's texts, labels, label names and task (recorded with the teacher)."""
    h = hashlib.sha256()
    h.update(corpus.task.encode())
    h.update(json.dumps(list(corpus.label_names)).encode())
    for t in corpus.texts:
        h.update(hashlib.sha256(t.encode("utf-8")).digest())
    if corpus.labels is not None:
        h.update(np.ascontiguousarray(corpus.labels, dtype=np.int64).tobytes())
    return h.hexdigest()


def _disk_full(exc: OSError, where: Path) -> ModelFileError:
    return ModelFileError(
        f"disk full while writing {where} ({exc.strerror or exc}); free some space or choose an output_dir "
        "on another disk, then rerun with resume=True (the last complete checkpoint, if any, is intact)"
    )


@contextlib.contextmanager
def _removed_on_failure(tmp: Path, where: Path):
    """Delete the staging folder ``tmp`` if the block fails; a full disk becomes a clear error."""
    try:
        yield
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if exc.errno == errno.ENOSPC:
            raise _disk_full(exc, where) from None
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _atomic_dir(final: Path, write) -> None:
    """Write a directory via ``write(tmp_dir)`` into a sibling temp dir, then swap it in.

    A crash or a full disk leaves the old directory (or none), never a half-written one.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    with _removed_on_failure(tmp, final):
        write(tmp)
        old = None
        if final.exists():
            old = final.with_name(f".{final.name}.old-{os.getpid()}")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
        os.replace(tmp, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def _save_hf(model, tokenizer, path: Path) -> None:
    """save_pretrained for model (safetensors) and tokenizer, without a progress bar per save."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(path)
        tokenizer.save_pretrained(path)
    finally:
        hf_logging.enable_progress_bar()


def _check_encoder(src: str) -> None:
    """Refuse a base checkpoint that is not a text encoder, before loading its weights."""
    local = Path(src).expanduser()
    if not local.exists():
        return  # a hub id, or a bad path: load_tokenizer_and_model explains either
    if not local.is_dir() or not (local / "config.json").is_file():
        raise ModelFileError(
            f"{src} is not a Hugging Face model directory (no config.json); give base_model as a BERT-family "
            "encoder folder written by save_pretrained(), a hub id, or None for the packaged MiniLM"
        )
    try:
        cfg = json.loads((local / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelFileError(
            f"{local / 'config.json'} is not valid JSON ({exc}); restore or replace the file") from None
    model_type = str(cfg.get("model_type", ""))
    if cfg.get("is_encoder_decoder") or cfg.get("is_decoder") or (
            model_type not in ENCODER_MODEL_TYPES and not model_type.endswith("bert")):
        raise ModelFileError(
            f"{src} holds a {model_type or 'unknown'!r} model, which is not a BERT-family sequence encoder; "
            "fine-tune an encoder such as BERT, RoBERTa, DistilBERT, DeBERTa, MPNet or MiniLM (base_model=None)"
        )


def _split_eval(corpus, fraction: float, seed: int):
    """Stratified train/eval split of a labelled corpus, with a clear error when it is too small."""
    n = len(corpus)
    if fraction == 0:
        return corpus, None
    if corpus.task == "multilabel":
        n_eval = max(1, int(round(n * fraction)))
        if n < 4 or n - n_eval < 2:
            raise InputError(f"only {n} labelled texts: too few to hold out an eval split; "
                             "add labelled texts, pass eval_corpus=..., or set eval_fraction=0")
        rng = np.random.default_rng(seed)
        order = rng.permutation(n)
        return corpus.subset(np.sort(order[n_eval:])), corpus.subset(np.sort(order[:n_eval]))
    counts = np.bincount(corpus.labels, minlength=len(corpus.label_names))
    k = int((counts > 0).sum())
    rare = [corpus.label_names[i] for i in np.flatnonzero((counts > 0) & (counts < 2))]
    if rare:
        raise InputError(
            f"class(es) {rare[:5]} have a single labelled text: at least 2 per class are needed to hold out a "
            "stratified eval split; add labelled texts, pass eval_corpus=..., or set eval_fraction=0"
        )
    n_eval = max(k, int(round(n * fraction)))
    if n - n_eval < k:
        raise InputError(f"only {n} labelled texts for {k} classes: too few to split off an eval set of {n_eval}; "
                         "add labelled texts, pass eval_corpus=..., or set eval_fraction=0")
    from sklearn.model_selection import train_test_split

    tr, te = train_test_split(np.arange(n), test_size=n_eval, random_state=seed, stratify=corpus.labels)
    return corpus.subset(np.sort(tr)), corpus.subset(np.sort(te))


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


def _loss(logits, target, multilabel: bool):
    from torch.nn import functional

    if multilabel:
        return functional.binary_cross_entropy_with_logits(logits.float(), target.float())
    return functional.cross_entropy(logits.float(), target)


def _predict(model, ids, labels, batch_size, pad_id, bf16, multilabel) -> tuple[np.ndarray, float]:
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
            target = torch.as_tensor(labels[idx])
            total += float(_loss(z, target, multilabel)) * len(idx)
            n += len(idx)
            out[idx] = z.numpy()
    return out, total / max(n, 1)


def _scores(logits: np.ndarray, labels: np.ndarray, task: str, thresholds=None) -> dict:
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


def _label_config(model, corpus) -> None:
    names = list(corpus.label_names)
    model.config.id2label = dict(enumerate(names))
    model.config.label2id = {n: i for i, n in enumerate(names)}
    model.config.num_labels = len(names)
    model.config.problem_type = ("multi_label_classification" if corpus.task == "multilabel"
                                 else "single_label_classification")


def _args_dict(args: TrainingArguments) -> dict:
    return dataclasses.asdict(args)


# -- the loop ----------------------------------------------------------------------------
def train_teacher(train, args: TrainingArguments, eval_corpus=None, resume: bool = False) -> TrainResult:
    """Fine-tune an encoder on the labelled texts of ``train`` and save the teacher.

    Parameters
    ----------
    train : Corpus
        Only its labelled texts train (``Corpus.labelled()``); label codes
        and names become the model's ``id2label``.
    args : TrainingArguments
    eval_corpus : Corpus, optional
        Held-out texts scored after each epoch; by default a stratified
        ``args.eval_fraction`` of ``train`` is held out.
    resume : bool
        Continue an interrupted run from ``output_dir/checkpoint-last``
        (same data and label names required). A finished run is returned as is.

    Returns
    -------
    TrainResult

    Raises
    ------
    InputError
        Bad arguments, too few labelled texts to split, labels that differ from the checkpoint being resumed.
    ModelFileError
        A base model that is not a sequence encoder, or a full disk (no partial teacher is left behind).

    Examples
    --------
    >>> from bert2sk import load_demo_corpus  # doctest: +SKIP
    >>> res = train_teacher(load_demo_corpus(), TrainingArguments("teacher", epochs=2))  # doctest: +SKIP
    >>> res.teacher().predict_proba(["a fine film"])  # doctest: +SKIP
    """
    import torch

    args.validate()
    out = Path(args.output_dir).expanduser()
    ckpt = out / CHECKPOINT
    if train.n_labelled == 0:
        raise InputError(f"{train.name} has no labelled texts; a teacher needs labelled texts to learn from")
    labelled = train.labelled()
    task = train.task
    multilabel = task == "multilabel"
    if eval_corpus is not None:
        if tuple(eval_corpus.label_names) != tuple(train.label_names) or eval_corpus.task != task:
            raise InputError("eval_corpus must have the same task and label names as train "
                             f"({task}, {list(train.label_names)[:5]}...)")
        if eval_corpus.n_labelled == 0:
            raise InputError("eval_corpus has no labelled texts; label some or leave eval_corpus out")
        tr, ev = labelled, eval_corpus.labelled()
    else:
        tr, ev = _split_eval(labelled, args.eval_fraction, args.seed)
    if not multilabel and len(np.unique(tr.labels)) < 2:
        raise InputError("the training texts carry a single class; a classifier needs at least two")
    data_fp = corpus_fingerprint(labelled)

    # -- resume or start -------------------------------------------------------------------
    state = None
    if resume and (out / MARKER).is_file() and (out / "config.json").is_file():
        done = json.loads((out / MARKER).read_text())
        if done.get("label_names") != list(train.label_names):
            raise InputError(f"{out} holds a teacher for labels {done.get('label_names')}, not "
                             f"{list(train.label_names)}; use another output_dir or resume=False")
        if done.get("corpus_fingerprint") != data_fp:
            raise InputError(f"{out} holds a finished teacher trained on other texts or labels; "
                             "use another output_dir, or resume=False to train again here")
        return TrainResult(**done["result"])
    if resume and (ckpt / STATE_JSON).is_file():
        state = json.loads((ckpt / STATE_JSON).read_text())
        if state["label_names"] != list(train.label_names) or state["task"] != task:
            raise InputError(
                f"cannot resume {ckpt}: it was trained on labels {state['label_names'][:6]} ({state['task']}), "
                f"this corpus has {list(train.label_names)[:6]} ({task}); use the same corpus or resume=False"
            )
        if state["corpus_fingerprint"] != data_fp:
            raise InputError(f"cannot resume {ckpt}: the training texts or labels differ from the interrupted run's; "
                             "pass the same corpus, or resume=False to start again")
    elif not resume and ckpt.exists():
        shutil.rmtree(ckpt)  # a fresh run must not pick up an older run's optimiser state
    if not resume:
        shutil.rmtree(out / BEST, ignore_errors=True)
        (out / MARKER).unlink(missing_ok=True)

    _seed_everything(args.seed)
    base = args.base_model
    if base is None:
        from .model import packaged_encoder_path

        base = packaged_encoder_path()
    src = str(ckpt) if state is not None else str(base)
    _check_encoder(src)
    names = list(train.label_names)
    tokenizer, model = load_tokenizer_and_model(
        src, num_labels=len(names), id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)},
        problem_type="multi_label_classification" if multilabel else "single_label_classification",
        ignore_mismatched_sizes=True,
    )
    if getattr(model.config, "model_type", "") not in ENCODER_MODEL_TYPES and not str(
            getattr(model.config, "model_type", "")).endswith("bert"):
        raise ModelFileError(f"{src} is a {model.config.model_type!r} model, not a BERT-family sequence encoder; "
                             "fine-tune an encoder (base_model=None uses the packaged MiniLM)")
    _label_config(model, train)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    bf16 = resolve_dtype(args.dtype) == "bf16"

    train_ids = encode_texts(tokenizer, tr.texts, args.max_length, args.truncation)
    eval_ids = encode_texts(tokenizer, ev.texts, args.max_length, args.truncation) if ev is not None else None
    lengths = np.array([len(x) for x in train_ids])
    y_train = tr.labels.astype(np.float32) if multilabel else tr.labels
    n_batches = math.ceil(len(tr) / args.batch_size)
    steps_per_epoch = math.ceil(n_batches / args.grad_accum)
    total_steps = steps_per_epoch * args.epochs
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

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)

    history: list[dict] = []
    step = epoch = step_in_epoch = 0
    best_score, best_epoch, bad_epochs, prior_seconds = -math.inf, 0, 0, 0.0
    stopped_early = False
    epoch_loss_sum, epoch_loss_n, epoch_seconds = 0.0, 0, 0.0
    if state is not None:
        blob = torch.load(ckpt / STATE_PT, weights_only=True)
        optimizer.load_state_dict(blob["optimizer"])
        scheduler.load_state_dict(blob["scheduler"])
        torch.set_rng_state(blob["torch_rng"])
        ns = state["numpy_rng"]
        np.random.set_state((ns[0], np.asarray(ns[1], dtype=np.uint32), *ns[2:]))
        py = state["python_rng"]
        random.setstate((py[0], tuple(py[1]), py[2]))
        step, epoch, step_in_epoch = state["step"], state["epoch"], state["step_in_epoch"]
        history = state["history"]
        best_score, best_epoch, bad_epochs = state["best_score"], state["best_epoch"], state["bad_epochs"]
        prior_seconds = state["seconds"]
        epoch_loss_sum, epoch_loss_n, epoch_seconds = state["epoch_loss_sum"], state["epoch_loss_n"], state[
            "epoch_seconds"]
        stopped_early = state.get("stopped_early", False)
        if state.get("total_steps") != total_steps:
            raise InputError(f"cannot resume {ckpt}: epochs/batch_size/grad_accum differ from the interrupted run's "
                             f"({state.get('args')}); use the same settings or resume=False")
    session_start = time.perf_counter()

    def save_checkpoint() -> None:
        np_state = np.random.get_state()
        meta = {
            "step": step, "epoch": epoch, "step_in_epoch": step_in_epoch, "total_steps": total_steps,
            "history": history, "best_score": best_score, "best_epoch": best_epoch, "bad_epochs": bad_epochs,
            "seconds": prior_seconds + time.perf_counter() - session_start, "stopped_early": stopped_early,
            "epoch_loss_sum": epoch_loss_sum, "epoch_loss_n": epoch_loss_n,
            "epoch_seconds": epoch_seconds + time.perf_counter() - epoch_clock,
            "label_names": names, "task": task, "corpus_fingerprint": data_fp, "args": _args_dict(args),
            "numpy_rng": [np_state[0], np_state[1].tolist(), *np_state[2:]],
            "python_rng": list(random.getstate()),
        }

        def write(tmp: Path) -> None:
            _save_hf(model, tokenizer, tmp)
            torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                        "torch_rng": torch.get_rng_state()}, tmp / STATE_PT)
            (tmp / STATE_JSON).write_text(json.dumps(meta))

        _atomic_dir(ckpt, write)

    old_threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    from tqdm.auto import tqdm

    bar = tqdm(total=total_steps, initial=step, desc="fine-tuning teacher", unit="step",
               disable=not args.progress, dynamic_ncols=True)
    epoch_clock = time.perf_counter()
    try:
        while epoch < args.epochs and not stopped_early:
            batches = _epoch_batches(lengths, args.batch_size, args.seed, epoch)
            model.train()
            bar.set_description(f"fine-tuning teacher (epoch {epoch + 1}/{args.epochs})")
            for s in range(step_in_epoch, steps_per_epoch):
                group = batches[s * args.grad_accum:(s + 1) * args.grad_accum]
                n_group = sum(len(b) for b in group)
                optimizer.zero_grad(set_to_none=True)
                for idx in group:
                    input_ids, mask = _collate(train_ids, idx, pad_id)
                    target = torch.as_tensor(y_train[idx])
                    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                        logits = model(input_ids=input_ids, attention_mask=mask).logits
                    # weight by rows so a short last batch counts for what it holds
                    loss = _loss(logits, target, multilabel) * (len(idx) / n_group)
                    loss.backward()
                    epoch_loss_sum += float(loss.detach()) * n_group
                    epoch_loss_n += len(idx)
                if args.max_grad_norm:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), args.max_grad_norm)
                optimizer.step()
                scheduler.step()
                step += 1
                step_in_epoch = s + 1
                bar.update(1)
                bar.set_postfix(loss=f"{epoch_loss_sum / max(epoch_loss_n, 1):.4f}", refresh=False)
                if args.save_every_steps and step % args.save_every_steps == 0 and step_in_epoch < steps_per_epoch:
                    save_checkpoint()
                _after_step(step)

            # -- epoch end: evaluate, keep the best, maybe stop ---------------------------------
            row = {"epoch": epoch + 1, "steps": step, "train_loss": epoch_loss_sum / max(epoch_loss_n, 1)}
            if ev is not None:
                z, eval_loss = _predict(model, eval_ids, ev.labels, args.batch_size, pad_id, bf16, multilabel)
                row["eval_loss"] = eval_loss
                row.update(_scores(z, ev.labels, task))
                score = row["eval_f1"] if multilabel else row["eval_accuracy"]
            else:
                score = float(epoch)  # nothing held out: the latest epoch is the best we know
            row["seconds"] = epoch_seconds + time.perf_counter() - epoch_clock
            history.append(row)
            epoch += 1
            step_in_epoch = 0
            if score > best_score:
                best_score, best_epoch, bad_epochs = score, epoch, 0
                _atomic_dir(out / BEST, lambda tmp: _save_hf(model, tokenizer, tmp))
            else:
                bad_epochs += 1
                if args.early_stopping_patience and bad_epochs >= args.early_stopping_patience and ev is not None:
                    stopped_early = True
            epoch_loss_sum, epoch_loss_n, epoch_seconds = 0.0, 0, 0.0
            epoch_clock = time.perf_counter()
            save_checkpoint()
            if args.progress:
                shown = {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}
                bar.write(f"epoch {row['epoch']}: {shown}")
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise _disk_full(exc, out) from None
        raise
    finally:
        bar.close()
        if args.threads:
            torch.set_num_threads(old_threads)

    # -- the finished teacher: the best epoch's weights, with thresholds for multilabel -----------
    _, best_model = load_tokenizer_and_model(str(out / BEST))
    thresholds = None
    if multilabel:
        thresholds = [0.5] * len(names)
        if ev is not None:
            z, _ = _predict(best_model, eval_ids, ev.labels, args.batch_size, pad_id, bf16, multilabel)
            thresholds = tune_thresholds(sigmoid(z), ev.labels).tolist()
            history[best_epoch - 1]["eval_f1_tuned"] = _scores(z, ev.labels, task, thresholds)["eval_f1"]
        best_model.config.bert2sk_thresholds = thresholds
    seconds = prior_seconds + time.perf_counter() - session_start
    result = TrainResult(
        output_dir=str(out), history=history, best_epoch=best_epoch,
        metric="eval_f1 (micro)" if multilabel else ("eval_accuracy" if ev is not None else "last epoch"),
        seconds=seconds, n_train=len(tr), n_eval=0 if ev is None else len(ev), steps=step,
        stopped_early=stopped_early, thresholds=thresholds, label_names=tuple(names), task=task,
    )
    marker = {
        "bert2sk_version": _version(), "result": dataclasses.asdict(result), "args": _args_dict(args),
        "base_model": str(args.base_model or "all-MiniLM-L6-v2 (packaged)"), "label_names": names, "task": task,
        "corpus_name": train.name, "corpus_fingerprint": data_fp, "seconds": seconds,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    _publish_final(out, best_model, tokenizer, marker)
    if not args.keep_checkpoints:
        shutil.rmtree(ckpt, ignore_errors=True)
    shutil.rmtree(out / BEST, ignore_errors=True)
    return result


def _version() -> str:
    from .. import __version__

    return __version__


def _publish_final(out: Path, model, tokenizer, marker: dict) -> None:
    """Write the teacher files into ``out`` all at once, or not at all.

    Files are written into a temporary folder first (where a full disk can
    strike) and then renamed into ``out`` (which cannot run out of space);
    the marker goes last, so its presence means the teacher is complete.
    """
    staging = Path(tempfile.mkdtemp(prefix=".final.tmp-", dir=out))
    with _removed_on_failure(staging, out):
        _save_hf(model, tokenizer, staging)
        (staging / MARKER).write_text(json.dumps(marker, indent=2, default=str))
    names = sorted(p.name for p in staging.iterdir())
    names.remove(MARKER)
    for name in [*names, MARKER]:
        os.replace(staging / name, out / name)
    shutil.rmtree(staging, ignore_errors=True)
