"""Exact explanations of linear students on static token features: one contribution per token.

A static student's features are the (normalised) mean of its tokens'
vectors, ``x = sum_t v_t / (n * s)`` with ``s`` the mean's norm (1 when not
normalised). A linear head's decision ``x @ w + b`` is therefore
``b + sum_t (v_t @ w) / (n * s)``: every token occurrence contributes one
number, and the numbers add up to the decision minus the intercept. This
module computes them (:func:`explain_static`) and the whole-model view of
which tokens push each class (:func:`static_terms`); it draws nothing.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from ..features import StaticFeatures
from ._models import linear_decision, view
from .attribution import Attribution, tokenize
from .methods import _labels_for, _predicted, _setup

__all__ = ["explain_static", "static_terms", "token_contributions"]

_WORDLIKE_MIN = 2  # tokens shorter than this (single letters, punctuation) are left out of term lists


def _static_parts(mv: Any) -> tuple[StaticFeatures, np.ndarray, np.ndarray, str]:
    feats = mv.features
    if not isinstance(feats, StaticFeatures):
        raise InputError(f"static-exact needs a Pipeline of fitted StaticFeatures and a linear student; {mv.name!r} "
                         "is not one. Use method='auto'")
    parts = linear_decision(mv.student)
    if parts is None:
        raise InputError(f"{type(mv.student).__name__} in {mv.name!r} is not a linear model; use method='auto'")
    return feats, *parts


def token_contributions(features: StaticFeatures, text: str, w: np.ndarray) -> tuple[
        list[str], list[tuple[int, int]], np.ndarray]:
    """Each token occurrence of ``text`` and its contribution to ``x @ w`` (``w`` of shape ``(d,)`` or ``(d, k)``).

    Returns the tokens, their character spans in ``text`` and the
    contributions (``(n_tokens,)`` or ``(n_tokens, k)``), which sum to
    ``features.transform([text])[0] @ w``.
    """
    pieces, ids, spans = features.tokenize(text)
    if not ids:
        return [], [], np.zeros((0,) + np.shape(w)[1:])
    vecs = features.table()[np.asarray(ids)]
    scale = 1.0 / len(ids)
    if features.normalize:
        scale /= max(float(np.linalg.norm(vecs.sum(axis=0) * scale)), 1e-12)
    return pieces, spans, (vecs @ np.asarray(w, dtype=np.float64)) * scale


def _to_words(text: str, spans: list[tuple[int, int]], contrib: np.ndarray) -> tuple[
        list[str], list[tuple[int, int]], list[float], float]:
    """Token contributions summed onto the words of :func:`tokenize` (subwords join their word).

    Tokens outside every word (punctuation) are returned as ``unmapped``.
    """
    words, wspans = tokenize(text)
    starts = [s for s, _ in wspans]
    weights = np.zeros(len(words))
    unmapped = 0.0
    for (s, _), v in zip(spans, contrib.tolist(), strict=True):
        i = bisect.bisect_right(starts, s) - 1
        if i >= 0 and s < wspans[i][1]:
            weights[i] += v
        else:
            unmapped += v
    return words, wspans, weights.tolist(), unmapped


def _terms(pieces: list[str], contrib: np.ndarray) -> tuple[list[str], list[float]]:
    """Contributions per distinct token, in order of first appearance."""
    summed: dict[str, float] = {}
    for p, v in zip(pieces, contrib.tolist(), strict=True):
        summed[p] = summed.get(p, 0.0) + v
    return list(summed), list(summed.values())


def explain_static(model: Any, text: str, *, label: int | str | None = None, labels: Sequence[int] | None = None,
                   name: str | None = None, class_names: Sequence[str] | None = None) -> list[Attribution]:
    """Exact per-token attribution of a linear student on :class:`~bert2sk.features.StaticFeatures`.

    ``terms`` are the text's tokens (subwords, punctuation included) and
    ``term_weights`` their contributions: ``base_value + sum(term_weights)``
    equals the explained decision (``output``) to rounding. ``weights`` sum
    the contributions onto whole words; what falls outside words
    (punctuation) is ``settings["unmapped"]``.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.linear_model import LogisticRegression
    >>> feats = StaticFeatures(pca_dims=32)  # the packaged encoder; fitting distils its table  # doctest: +SKIP
    >>> pipe = make_pipeline(feats, LogisticRegression()).fit(["a good film", "a bad film"], [1, 0])  # doctest: +SKIP
    >>> [a] = explain_static(pipe, "A good film!")  # doctest: +SKIP
    >>> a.terms, a.method  # doctest: +SKIP
    (['a', 'good', 'film', '!'], 'static-exact')
    """
    mv, p = _setup(model, text, name, class_names, None)
    feats, w_all, b_all, what = _static_parts(mv)
    cls = list(labels) if labels is not None else _labels_for(p, mv.task, label, mv.class_names)
    pieces, spans, contrib = token_contributions(feats, text, w_all[cls].T)
    out = []
    for j, c in enumerate(cls):
        col = contrib[:, j] if contrib.size else np.zeros(0)
        words, wspans, weights, unmapped = _to_words(text, spans, col)
        terms, term_weights = _terms(pieces, col)
        settings = {"output": what, "unmapped": unmapped, "terms": "tokens of the student's tokenizer",
                    "normalize": bool(feats.normalize)}
        out.append(Attribution(text, words, wspans, weights, _predicted(p, mv.task, c), c, mv.class_names,
                               "static-exact", settings, mv.name, float(b_all[c]), float(b_all[c] + col.sum()),
                               terms, term_weights))
    return out


def _wordlike(token: str) -> bool:
    return len(token) >= _WORDLIKE_MIN and not token.startswith("##") and token.isalpha()


def static_terms(model: Any, k: int = 10, class_names: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Tokens that push each class hardest in a linear static student, as :func:`linear_terms` gives them.

    A token's value is the decision (minus the intercept) of a text made of
    that token alone; whole-word tokens only (no subword pieces, no
    punctuation or single letters), so the lists read as words.

    Returns
    -------
    list of dict
        ``{"class": name, "positive": [(token, value), ...], "negative": [...], "output": what}``
    """
    mv = view(model, class_names=class_names)
    feats, w, _, what = _static_parts(mv)
    every = feats.token_names()
    ids = [i for i, t in enumerate(every) if _wordlike(t)]
    names = [every[i] for i in ids]
    vecs = feats.table()[ids]
    if feats.normalize:
        vecs = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
    cnames = list(class_names or mv.class_names or [f"class {i}" for i in range(w.shape[0])])
    rows = [1] if w.shape[0] == 2 and mv.task == "binary" else range(w.shape[0])
    out = []
    for c in rows:
        score = vecs @ w[c]
        order = np.argsort(score)
        pos = [(names[j], float(score[j])) for j in order[::-1][:k] if score[j] > 0]
        neg = [(names[j], float(score[j])) for j in order[:k] if score[j] < 0]
        out.append({"class": cnames[c] if c < len(cnames) else f"class {c}", "positive": pos, "negative": neg,
                    "output": f"{what}, for a text of that token alone"})
    return out
