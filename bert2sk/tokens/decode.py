"""From per-word scores to tags that form valid IOB2 spans (the same decoder for every model)."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from ..errors import InputError

__all__ = ["allowed_transitions", "decode_iob2", "log_softmax"]


def log_softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax of ``z`` (float64)."""
    z = np.asarray(z, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def allowed_transitions(tag_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(start_ok, trans_ok)``: which tags may open a sentence and which may follow which in IOB2.

    ``I-X`` may only follow ``B-X`` or ``I-X``; everything else may follow anything.
    """
    start, trans = _allowed(tuple(tag_names))
    return start.copy(), trans.copy()


@functools.lru_cache(maxsize=64)
def _allowed(tag_names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    k = len(tag_names)
    start = np.array([not t.startswith("I-") for t in tag_names])
    trans = np.ones((k, k), dtype=bool)
    for j, t in enumerate(tag_names):
        if t.startswith("I-"):
            trans[:, j] = [p in (f"B-{t[2:]}", t) for p in tag_names]
    return start, trans


def decode_iob2(scores: np.ndarray, tag_names: Sequence[str]) -> list[str]:
    """The valid IOB2 tag sequence with the highest sum of per-word log-probabilities (Viterbi).

    Parameters
    ----------
    scores : array of shape (n_words, n_tags)
        Logits (or log-probabilities) per word.
    tag_names : sequence of str

    Returns
    -------
    list of str
        Equal to the per-word argmax whenever that is already valid IOB2; otherwise the best valid
        sequence (a lone ``I-X`` after ``O`` becomes ``B-X`` or ``O``, whichever the scores prefer).

    Examples
    --------
    >>> names = ("O", "B-PER", "I-PER")
    >>> decode_iob2(np.log([[0.9, 0.05, 0.05], [0.1, 0.2, 0.7]]), names)
    ['O', 'B-PER']
    >>> decode_iob2(np.log([[0.1, 0.8, 0.1], [0.1, 0.2, 0.7]]), names)
    ['B-PER', 'I-PER']
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2 or s.shape[1] != len(tag_names):
        raise InputError(f"scores must have shape (n_words, {len(tag_names)}), got {s.shape}")
    if len(s) == 0:
        return []
    start_ok, trans_ok = _allowed(tuple(tag_names))
    first = s.argmax(axis=1)
    # the per-word argmax is the best sequence of all; when it is valid IOB2 it is the answer
    if start_ok[first[0]] and trans_ok[first[:-1], first[1:]].all():
        return [tag_names[j] for j in first]
    lp = log_softmax(s)
    penalty = np.where(trans_ok, 0.0, -np.inf)
    best = np.where(start_ok, lp[0], -np.inf)
    back = np.zeros(s.shape, dtype=np.int64)
    for i in range(1, len(s)):
        cand = best[:, None] + penalty
        back[i] = cand.argmax(axis=0)
        best = cand.max(axis=0) + lp[i]
    path = [int(best.argmax())]
    for i in range(len(s) - 1, 0, -1):
        path.append(int(back[i, path[-1]]))
    return [tag_names[j] for j in reversed(path)]
