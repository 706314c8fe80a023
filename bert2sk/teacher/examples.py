"""Training examples for the loop: token ids with hard labels and/or soft targets, checked and batched."""

from __future__ import annotations

import functools
import hashlib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from .arguments import TrainingArguments
from .model import encode_texts

__all__ = ["Examples", "all_labelled", "collate", "epoch_batches", "fingerprint", "make_examples", "token_ids"]


@dataclass
class Examples:
    """Token ids with their hard labels and soft targets (either may be None)."""

    ids: list[list[int]]
    labels: np.ndarray | None = None
    targets: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @functools.cached_property
    def lengths(self) -> np.ndarray:
        return np.array([len(x) for x in self.ids])


def token_ids(tokenizer, texts: Sequence, args: TrainingArguments, what: str) -> list[list[int]]:
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


def check_labels(labels, n: int, k: int, task: str, what: str) -> np.ndarray:
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


def make_examples(tokenizer, texts, args, labels, targets, k: int, task: str, what: str) -> Examples:
    """Tokenise and check the texts, labels and targets of one split."""
    ids = token_ids(tokenizer, texts, args, what)
    n = len(ids)
    if labels is None and targets is None:
        raise InputError(f"{what} needs labels= (hard labels), targets= (a teacher's logits) or both")
    if labels is not None:
        labels = check_labels(labels, n, k, task, f"labels of {what}")
    if targets is not None:
        targets = np.asarray(targets, dtype=np.float32)
        if targets.shape != (n, k) or not np.isfinite(targets).all():
            raise InputError(f"targets of {what} must be finite logits of shape {(n, k)}, got shape {targets.shape}")
    return Examples(ids, labels, targets)


def fingerprint(data: Examples, task: str) -> str:
    """sha256 of token ids, labels and targets: a resumed run must see the same examples."""
    h = hashlib.sha256(task.encode())
    h.update(np.asarray(data.lengths, dtype=np.int64).tobytes())
    h.update(np.fromiter(itertools.chain.from_iterable(data.ids), dtype=np.int64).tobytes())
    for name, arr in (("labels", data.labels), ("targets", data.targets)):
        if arr is not None:
            h.update(name.encode())
            h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def epoch_batches(lengths: np.ndarray, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
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


def collate(ids: list[list[int]], idx: np.ndarray, pad_id: int):
    import torch

    width = max(len(ids[i]) for i in idx)
    input_ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(idx), width), dtype=torch.long)
    for row, i in enumerate(idx):
        input_ids[row, : len(ids[i])] = torch.tensor(ids[i])
        mask[row, : len(ids[i])] = 1
    return input_ids, mask


def pad_token_id(tokenizer) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0


def all_labelled(labels: np.ndarray) -> bool:
    return bool((labels >= 0).all())
