"""How much two explanations of the same documents agree.

Per document: Jaccard overlap of the top-``k`` words by ``|weight|`` and the
Spearman and Kendall rank correlations of the signed word weights over the
union of both top-``k`` sets (a word missing from one side counts as 0).
Figures are averaged over documents.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from ..errors import InputError
from .attribution import Attribution

__all__ = ["agreement", "pair_agreement"]


def pair_agreement(a: Attribution, b: Attribution, k: int = 10) -> dict[str, float]:
    """Jaccard@k, Spearman and Kendall for two attributions of the same text.

    Examples
    --------
    >>> t, toks, spans = "good bad film", ["good", "bad", "film"], [(0, 4), (5, 8), (9, 13)]
    >>> a = Attribution(t, toks, spans, [0.9, -0.5, 0.1], 1, 1, ["n", "p"], "lime")
    >>> b = Attribution(t, toks, spans, [0.7, -0.6, 0.0], 1, 1, ["n", "p"], "linear-exact")
    >>> pair_agreement(a, b, k=2)["jaccard"]
    1.0
    """
    from scipy.stats import kendalltau, spearmanr

    if a.text != b.text:
        raise InputError("agreement compares explanations of the same text; the two texts differ")
    sa, sb = a.word_scores(), b.word_scores()
    ta = {w for w, _ in a.top(k)}
    tb = {w for w, _ in b.top(k)}
    union = sorted(ta | tb)
    jac = len(ta & tb) / len(union) if union else float("nan")
    rho = tau = float("nan")
    if len(union) >= 2:
        xa = np.array([sa.get(w, 0.0) for w in union])
        xb = np.array([sb.get(w, 0.0) for w in union])
        if np.ptp(xa) > 0 and np.ptp(xb) > 0:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rho = float(spearmanr(xa, xb).statistic)
                tau = float(kendalltau(xa, xb).statistic)
    return {"jaccard": jac, "spearman": rho, "kendall": tau}


def agreement(attrs_a: Sequence[Attribution], attrs_b: Sequence[Attribution], k: int = 10) -> dict[str, float]:
    """Mean Jaccard@k, Spearman and Kendall over documents paired by position.

    Returns ``{"jaccard", "spearman", "kendall", "n_docs", "k"}``; a mean
    skips documents where a figure is undefined (fewer than two words).

    Examples
    --------
    >>> t, toks, spans = "good bad", ["good", "bad"], [(0, 4), (5, 8)]
    >>> a = Attribution(t, toks, spans, [0.9, -0.5], 1, 1, ["n", "p"], "lime")
    >>> agreement([a], [a], k=5)
    {'jaccard': 1.0, 'spearman': 1.0, 'kendall': 1.0, 'n_docs': 1, 'k': 5}
    """
    if len(attrs_a) != len(attrs_b):
        raise InputError(f"{len(attrs_a)} and {len(attrs_b)} explanations; pair one of each per document")
    rows = [pair_agreement(a, b, k) for a, b in zip(attrs_a, attrs_b, strict=True)]
    out: dict[str, float] = {}
    for key in ("jaccard", "spearman", "kendall"):
        vals = [r[key] for r in rows if np.isfinite(r[key])]
        out[key] = round(float(np.mean(vals)), 12) if vals else float("nan")
    out["n_docs"] = len(rows)
    out["k"] = k
    return out
