"""A smaller transformer distilled from the teacher: the seeds' DistilBERT route.

The student is the teacher's own architecture with fewer encoder layers,
each kept layer *copied* from the teacher (DistilBERT's initialisation:
every other layer), then trained on the transfer set with the seed loss
``alpha * CE(hard) + (1 - alpha) * T^2 * KL(teacher_T || student_T)``
through the one training loop bert2sk has (:func:`bert2sk.teacher.fit_classifier`).

When the teacher's weights are not at hand (its scores came from another
machine, a Ray labelling run or a stored ``teacher_logits.npz``), the
student can start from a *pretrained encoder* instead (``encoder=``, e.g. the
packaged all-MiniLM-L6-v2): the same kept layers, a new head with one output
per teacher logit, everything learnt from the teacher's scores. That is
DistilBERT's other half: a general-purpose small model, specialised by the
teacher alone.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from .._io import atomic_dir, atomic_write_bytes
from .._validation import check_same_length, check_texts
from ..errors import InputError
from ..targets import decisions
from .bundle import CARD_FILE, read_card

__all__ = ["TransformerStudent", "pick_layers", "cut_layers", "prune_vocabulary", "start_point", "TRANSFORMER_FORMAT"]

TRANSFORMER_FORMAT = "bert2sk-transformer-student/1"


def pick_layers(n_teacher: int, layers: int | Sequence[int] | None) -> list[int]:
    """Which teacher layers the student keeps.

    ``None`` keeps every other layer starting with the first (DistilBERT's
    choice: 0, 2, 4 of 6); an int ``n`` keeps ``n`` evenly spaced layers; a
    sequence names them.

    Examples
    --------
    >>> pick_layers(6, None), pick_layers(6, 2), pick_layers(12, [0, 11])
    ([0, 2, 4], [0, 3], [0, 11])
    >>> pick_layers(6, 7)
    Traceback (most recent call last):
    ...
    bert2sk.errors.InputError: the student can keep at most the teacher's 6 layers, asked for 7; ...
    """
    if layers is None:
        return list(range(0, n_teacher, 2))
    if isinstance(layers, (int, np.integer)):
        n = int(layers)
        if not 1 <= n <= n_teacher:
            raise InputError(f"the student can keep at most the teacher's {n_teacher} layers, asked for {n}; "
                             f"pick 1..{n_teacher}")
        return [int(i * n_teacher // n) for i in range(n)]
    picked = [int(i) for i in layers]
    if not picked or len(set(picked)) != len(picked) or not all(0 <= i < n_teacher for i in picked):
        raise InputError(f"layers {picked} must be distinct indices in 0..{n_teacher - 1}")
    return sorted(picked)


def _layer_holder(model: Any) -> tuple[Any, str]:
    """The module whose ``layer`` list is the encoder stack, and the config field counting it (BERT family)."""
    import torch

    base = getattr(model, "base_model", None)
    for holder in (getattr(base, "encoder", None), getattr(base, "transformer", None)):
        if isinstance(getattr(holder, "layer", None), torch.nn.ModuleList):
            field = "num_hidden_layers" if hasattr(model.config, "num_hidden_layers") else "n_layers"
            return holder, field
    raise InputError(f"the teacher is a {type(model).__name__} ({model.config.model_type}); a transformer student "
                     "is cut from a BERT-family encoder (BERT, RoBERTa, DistilBERT, ELECTRA, MiniLM)")


def cut_layers(teacher_model: Any, layers: int | Sequence[int] | None = None) -> tuple[Any, list[int]]:
    """A copy of ``teacher_model`` that keeps only some encoder layers, with the teacher's weights.

    Returns ``(student, kept_layer_indices)``; embeddings, pooler and head are copied whole.
    """
    import torch

    holder, field = _layer_holder(teacher_model)
    keep = pick_layers(len(holder.layer), layers)
    student = copy.deepcopy(teacher_model)
    holder, _ = _layer_holder(student)
    holder.layer = torch.nn.ModuleList([holder.layer[i] for i in keep])
    setattr(student.config, field, len(keep))
    return student, keep


def prune_vocabulary(model: Any, tokenizer: Any, texts: Sequence[str]) -> tuple[Any, Any, int]:
    """Keep only the word pieces ``texts`` use, plus special tokens and every one-character piece.

    A BERT-family model spends half its weights or more on the word-piece
    table (MiniLM-L6: 11.7M of 22.7M parameters), and a domain's texts use a
    small share of its 30,522 rows. Keeping every single-character piece
    (``x`` and ``##x``) means any later word still splits into known pieces,
    so nothing becomes ``[UNK]`` that was not before; words the transfer set
    never showed are read in smaller pieces. Returns ``(model, tokenizer,
    n_kept)``: the model is changed in place, the tokenizer is a new one with
    renumbered ids (the same WordPiece rules on the smaller vocabulary).
    """
    import torch
    from transformers import AutoTokenizer

    from ..errors import ModelFileError

    try:
        spec = json.loads(tokenizer.backend_tokenizer.to_str())
    except AttributeError as exc:
        raise ModelFileError("vocabulary='transfer' needs a fast (tokenizers) tokenizer") from exc
    if spec["model"].get("type") != "WordPiece":
        raise InputError(f"vocabulary='transfer' prunes WordPiece vocabularies (BERT family); this tokenizer is "
                         f"{spec['model'].get('type')}: use vocabulary='teacher'")
    vocab: dict[str, int] = tokenizer.get_vocab()
    used = {i for ids in tokenizer(list(texts), add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
            for i in ids}
    chars = {i for t, i in vocab.items() if len(t) == 1 or (t.startswith("##") and len(t) == 3)}
    keep = sorted(used | chars | set(tokenizer.all_special_ids))
    new_id = {old: new for new, old in enumerate(keep)}
    token_of = {i: t for t, i in vocab.items()}
    spec["model"]["vocab"] = {token_of[old]: new for new, old in enumerate(keep)}
    for added in spec.get("added_tokens", []):
        added["id"] = new_id[added["id"]]
    for special in (spec.get("post_processor") or {}).get("special_tokens", {}).values():
        special["ids"] = [new_id[i] for i in special["ids"]]
    with tempfile.TemporaryDirectory(prefix="bert2sk-vocab-") as tmp:
        tokenizer.save_pretrained(tmp)
        Path(tmp, "tokenizer.json").write_text(json.dumps(spec))
        pruned = AutoTokenizer.from_pretrained(tmp)
    old = model.get_input_embeddings()
    pad = model.config.pad_token_id
    table = torch.nn.Embedding(len(keep), old.embedding_dim, padding_idx=new_id.get(pad) if pad is not None else None)
    with torch.no_grad():
        table.weight.copy_(old.weight[torch.as_tensor(keep)])
    model.set_input_embeddings(table)
    model.config.vocab_size = len(keep)
    if pad is not None:
        model.config.pad_token_id = new_id[pad]
    return model, pruned, len(keep)


def start_point(encoder: str | os.PathLike) -> str:
    """The folder (or hub id) a student starts from: ``"packaged"`` is the packaged all-MiniLM-L6-v2.

    Examples
    --------
    >>> start_point("my-encoder")
    'my-encoder'
    """
    if str(encoder) == "packaged":
        from ..teacher.model import packaged_encoder_path

        return packaged_encoder_path()
    return str(encoder)


class TransformerStudent(ClassifierMixin, BaseEstimator):
    """A transformer with fewer layers, distilled from a fine-tuned teacher (raw texts in).

    Parameters
    ----------
    teacher : str or path
        The teacher's checkpoint folder (or hub id); the student starts as a copy of it.
    encoder : str, path or None
        Start from this pretrained encoder instead of the teacher (``"packaged"``
        names the packaged all-MiniLM-L6-v2): its kept layers and a new head of
        one output per teacher logit; ``teacher`` is then not needed. For
        teachers whose weights are not at hand, only their scores.
    task : {"binary", "multiclass", "multilabel"} or None
        With ``encoder``: the teacher's task (default: multilabel when ``y`` is
        a matrix, else binary for two logits and multiclass for more).
    layers : int, sequence of int or None
        Teacher layers to keep (see :func:`pick_layers`); ``None`` keeps every other one.
    vocabulary : {"teacher", "transfer"}
        ``"transfer"`` keeps only the word pieces the transfer set uses (and
        every one-character piece) — see :func:`prune_vocabulary`: a much
        smaller model when the texts come from one domain.
    alpha : float
        Weight of the hard labels against the teacher (seed: 0.5).
    temperature : float
        Softmax temperature of the soft term (seed: 2.0).
    epochs, learning_rate, batch_size : training settings
    max_length : int
        Tokens per text (use the teacher's).
    truncation : {"head+tail", "head", "tail"}
    dtype : {"auto", "fp32", "bf16"}
        Training and scoring precision; ``auto`` uses bf16 only where the CPU has it.
    eval_fraction : float
        Share of the transfer set held out to pick the best epoch by fidelity (agreement with the
        teacher's decisions); ``0`` keeps the last epoch.
    max_texts : int or None
        Train on a seeded sample of at most this many transfer texts (``None``: all). A transformer
        student costs per text what a scikit-learn student costs per thousand; on long texts this is
        what keeps its fit within a budget.
    early_stopping_patience : int or None
    seed : int
    threads : int or None
        Torch threads while training.
    progress : bool

    Attributes
    ----------
    model_, tokenizer_ : the fitted transformer and its tokenizer
    layers_ : list of int
        The teacher layers kept.
    vocabulary_size_ : int
        Word pieces in the student's table.
    task_ : str
    classes_ : ndarray
    history_ : list of dict
        Per-epoch training figures.
    size_bytes_ : int
        Bytes of the weights at fp32.

    Examples
    --------
    >>> TransformerStudent(layers=3).get_params()["layers"]
    3
    """

    def __init__(self, teacher: str | os.PathLike | None = None, layers: int | Sequence[int] | None = None,
                 vocabulary: str = "teacher", encoder: str | os.PathLike | None = None, task: str | None = None,
                 alpha: float = 0.5, temperature: float = 2.0, epochs: int = 2,
                 learning_rate: float = 1e-4,
                 batch_size: int = 32, max_length: int = 128, truncation: str = "head+tail", dtype: str = "auto",
                 eval_fraction: float = 0.1, max_texts: int | None = None,
                 early_stopping_patience: int | None = 1, seed: int = 0,
                 threads: int | None = None, progress: bool = False) -> None:
        self.teacher = teacher
        self.layers = layers
        self.vocabulary = vocabulary
        self.encoder = encoder
        self.task = task
        self.alpha = alpha
        self.temperature = temperature
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_length = max_length
        self.truncation = truncation
        self.dtype = dtype
        self.eval_fraction = eval_fraction
        self.max_texts = max_texts
        self.early_stopping_patience = early_stopping_patience
        self.seed = seed
        self.threads = threads
        self.progress = progress

    def _check_fit_input(self, X: Any, y: Any, teacher_logits: Any) -> tuple[list[str], np.ndarray, np.ndarray]:
        texts = check_texts(X, name="X")
        if teacher_logits is None:
            raise InputError("a transformer student learns from the teacher: pass teacher_logits (n_texts, n_labels)")
        z = np.asarray(teacher_logits, dtype=np.float32)
        check_same_length(len(texts), z, "teacher_logits", "X")
        if y is None:
            y = -np.ones(len(texts), dtype=np.int64)
        y = np.asarray(y)
        check_same_length(len(texts), y, "y", "X")
        if self.teacher is None and self.encoder is None:
            raise InputError("TransformerStudent needs teacher=<the teacher's checkpoint folder> to start from, "
                             "or encoder=<a pretrained encoder folder, or 'packaged'> when only its scores exist")
        if self.task not in (None, "binary", "multiclass", "multilabel"):
            raise InputError(f"task={self.task!r}: choose 'binary', 'multiclass' or 'multilabel'")
        if self.vocabulary not in ("teacher", "transfer"):
            raise InputError(f"vocabulary={self.vocabulary!r}: choose 'teacher' or 'transfer'")
        return texts, y, z

    def _split_eval(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Train and held-out rows; the held-out rows pick the epoch by fidelity to the teacher."""
        n_eval = int(round(self.eval_fraction * n)) if n >= 20 else 0
        order = np.random.default_rng(self.seed).permutation(n)
        return np.sort(order[n_eval:]), np.sort(order[:n_eval])

    def fit(self, X: Sequence[str], y: Any = None, teacher_logits: Any = None) -> TransformerStudent:
        """Cut the student from the teacher and train it on ``X`` against ``teacher_logits``.

        ``y`` holds hard labels where known (``-1`` elsewhere; a row of ``-1``
        for multilabel); they weigh ``alpha`` against the teacher.
        """
        from ..teacher import TrainingArguments, distillation_loss, fit_classifier, seed_everything
        from ..teacher.model import load_tokenizer_and_model, task_from_config

        texts, y, z = self._check_fit_input(X, y, teacher_logits)
        if self.max_texts is not None and len(texts) > self.max_texts:
            keep = np.sort(np.random.default_rng(self.seed).choice(len(texts), self.max_texts, replace=False))
            texts, y, z = [texts[i] for i in keep], y[keep], z[keep]
        seed_everything(self.seed)
        if self.encoder is not None:
            task = self.task or ("multilabel" if y.ndim == 2 else "binary" if z.shape[1] <= 2 else "multiclass")
            tokenizer, teacher_model = load_tokenizer_and_model(
                start_point(self.encoder), num_labels=z.shape[1],
                problem_type="multi_label_classification" if task == "multilabel" else "single_label_classification",
                ignore_mismatched_sizes=True)
        else:
            tokenizer, teacher_model = load_tokenizer_and_model(self.teacher)
            task = task_from_config(teacher_model.config)
            k = teacher_model.config.num_labels
            if z.shape[1] != k:
                raise InputError(f"teacher_logits have {z.shape[1]} columns but the teacher has {k} outputs; "
                                 "score the texts with this teacher")
        model, self.layers_ = cut_layers(teacher_model, self.layers)
        del teacher_model
        if self.vocabulary == "transfer":
            model, tokenizer, _ = prune_vocabulary(model, tokenizer, texts)
        tr, ev = self._split_eval(len(texts))
        decided = (z > 0).astype(np.int64) if task == "multilabel" else z.argmax(1)
        work = Path(tempfile.mkdtemp(prefix="bert2sk-student-"))
        try:
            args = TrainingArguments(
                output_dir=str(work), epochs=self.epochs, learning_rate=self.learning_rate,
                batch_size=self.batch_size, max_length=self.max_length, truncation=self.truncation,
                dtype=self.dtype, early_stopping_patience=self.early_stopping_patience if len(ev) else None,
                seed=self.seed, threads=self.threads, progress=self.progress)
            loss = functools.partial(distillation_loss, task=task, alpha=self.alpha, temperature=self.temperature)
            fit = fit_classifier(model, tokenizer, [texts[i] for i in tr], args, targets=z[tr], labels=y[tr],
                                 loss=loss, task=task, eval_texts=[texts[i] for i in ev] if len(ev) else None,
                                 eval_labels=decided[ev] if len(ev) else None, desc="distilling student")
        finally:
            shutil.rmtree(work, ignore_errors=True)
        self.history_ = list(fit.history)
        self._set_fitted(model.eval(), tokenizer, task)
        return self

    def _set_fitted(self, model: Any, tokenizer: Any, task: str) -> None:
        from ..teacher import Teacher
        from ..teacher.model import size_bytes

        self.model_ = model
        self.tokenizer_ = tokenizer
        self.task_ = task
        self.n_outputs_ = int(model.config.num_labels)
        self.vocabulary_size_ = int(model.config.vocab_size)
        self.classes_ = np.arange(max(self.n_outputs_, 2) if task != "multilabel" else self.n_outputs_)
        self.size_bytes_ = size_bytes(model)
        self.scorer_ = Teacher(model, tokenizer, max_length=self.max_length, truncation=self.truncation,
                               dtype=self.dtype, batch_size=self.batch_size, progress=False, source="student")

    def predict_logits(self, X: Sequence[str]) -> np.ndarray:
        """Logits ``(n, k)``."""
        check_is_fitted(self, "model_")
        return self.scorer_.predict_logits(check_texts(X, name="X"))

    def predict_proba(self, X: Sequence[str]) -> np.ndarray:
        """Class (or per-label) probabilities."""
        check_is_fitted(self, "model_")
        return self.scorer_.predict_proba(check_texts(X, name="X"))

    def predict(self, X: Sequence[str]) -> np.ndarray:
        """Class indices (binary, multiclass) or a 0/1 matrix at 0.5 (multilabel)."""
        return decisions(self.predict_proba(X), self.task_)

    # -- saving --------------------------------------------------------------------------
    def save_bundle(self, directory: str | os.PathLike, card: dict[str, Any] | None = None) -> Path:
        """Write a Hugging Face model folder (safetensors) with the student's card; :meth:`load_bundle` reads it."""
        from ..teacher.checkpoints import save_hf

        check_is_fitted(self, "model_")
        meta = {**(card or {}), "format": TRANSFORMER_FORMAT, "params": _jsonable(self.get_params()),
                "layers_kept": self.layers_, "task": self.task_, "history": self.history_}
        for key in ("teacher", "encoder"):  # names, never machine paths
            if meta["params"].get(key) is not None:
                meta["params"][key] = Path(str(meta["params"][key])).name

        def write(tmp: Path) -> None:
            save_hf(self.model_, self.tokenizer_, tmp)
            atomic_write_bytes(tmp / CARD_FILE, json.dumps(meta, indent=2).encode())

        return atomic_dir(directory, write)

    @classmethod
    def load_bundle(cls, directory: str | os.PathLike) -> tuple[TransformerStudent, dict[str, Any]]:
        """``(student, card)`` from a folder written by :meth:`save_bundle`."""
        from ..teacher.model import load_tokenizer_and_model

        root = Path(directory)
        card = read_card(root, TRANSFORMER_FORMAT)
        tokenizer, model = load_tokenizer_and_model(root)
        student = cls(**card["params"])
        student.layers_ = list(card.get("layers_kept", []))
        student.history_ = list(card.get("history", []))
        student._set_fitted(model.eval(), tokenizer, card["task"])
        return student, card

    def to_onnx(self, directory: str | os.PathLike, *, int8: bool = False, card: dict[str, Any] | None = None) -> Path:
        """Export to an ONNX student folder (see :func:`bert2sk.students.onnx.export_onnx`)."""
        from .onnx import export_onnx

        check_is_fitted(self, "model_")
        labels = card.get("label_names") if card else None
        meta = {"task": self.task_, "label_names": labels or [str(c) for c in self.classes_],
                "max_length": self.max_length, "truncation": self.truncation, **(card or {})}
        return export_onnx(self.model_, self.tokenizer_, directory, int8=int8, card=meta)


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in params.items():
        if isinstance(v, np.generic):
            v = v.item()
        elif isinstance(v, (tuple, np.ndarray)):
            v = list(np.asarray(v).tolist())
        elif isinstance(v, Path):
            v = str(v)
        out[k] = v
    return out
