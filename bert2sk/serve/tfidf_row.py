"""One text's TF-IDF row, computed the way the fitted vectorizer computes it, without its per-call overhead.

``TfidfVectorizer.transform([text])`` spends about a millisecond on input
checks and sparse-matrix bookkeeping for a ten-word text. This module keeps
the vectorizer's own analyzer (so the terms are exactly its terms) and redoes
the arithmetic on the few non-zero entries in the vectorizer's precision and
order: counts, ``1 + log(tf)``, ``* idf``, then the row norm accumulated in
double as scikit-learn's Cython loop does. The values are bit-identical to
the vectorizer's, which is what lets a compiled student match the pipeline to
1e-9 instead of to float32 rounding.
"""

from __future__ import annotations

import math
from array import array
from typing import Any

import numpy as np

from ..errors import InputError

__all__ = ["TfidfRow"]

_TF_TABLE = 256  # term frequencies up to this are looked up, not recomputed


class TfidfRow:
    """The non-zero TF-IDF entries of one text for a fitted ``TfidfVectorizer`` (or ``TfidfFeatures``).

    Plain Python on the few entries of one text: NumPy costs about a
    microsecond per operation on arrays this small, more than the arithmetic.
    Float32 rounding is done by ``array("f", ...)``, which rounds a double to
    the nearest float exactly as a float32 operation would (the product of two
    floats is exact in a double, so rounding it once gives the float product).

    Parameters
    ----------
    vectorizer : fitted TfidfVectorizer
        Word analyzer, any preprocessor/tokenizer, ``norm`` in ``{"l2", "l1", None}``.

    Examples
    --------
    >>> from bert2sk.features import TfidfFeatures
    >>> vec = TfidfFeatures(min_df=1).fit(["a good film", "a bad film", "good fun"])
    >>> cols, vals = TfidfRow(vec)("A good, GOOD film")
    >>> vals == vec.transform(["A good, GOOD film"]).data.tolist()
    True
    """

    def __init__(self, vectorizer: Any) -> None:
        if getattr(vectorizer, "norm", None) not in ("l2", "l1", None):
            raise InputError(f"norm={vectorizer.norm!r} has no compiled path; use norm='l2', 'l1' or None")
        self.analyze = vectorizer.build_analyzer()
        # plain ints: the fitted vocabulary holds NumPy integers, slower to hash and to index with
        self.vocabulary = {term: int(col) for term, col in vectorizer.vocabulary_.items()}
        self.dtype = np.dtype(getattr(vectorizer, "dtype", np.float64))
        if self.dtype not in (np.float32, np.float64):
            raise InputError(f"dtype={self.dtype} has no compiled path; use float32 or float64")
        self._code = "f" if self.dtype == np.float32 else "d"
        use_idf = getattr(vectorizer, "use_idf", True)
        self.idf = np.asarray(vectorizer.idf_, dtype=self.dtype).tolist() if use_idf else None
        self.sublinear = bool(getattr(vectorizer, "sublinear_tf", False))
        self.binary = bool(getattr(vectorizer, "binary", False))
        self.norm = vectorizer.norm
        self.n_features = len(self.vocabulary)
        self._tf = self._tf_table(_TF_TABLE)

    def _tf_table(self, n: int) -> list[float]:
        """Term frequency -> the value scikit-learn stores before idf (``1 + log(tf)`` in the vectorizer's dtype)."""
        tf = np.arange(n, dtype=self.dtype)
        if self.sublinear:
            with np.errstate(divide="ignore"):
                np.log(tf, out=tf)
            tf += 1.0
        return tf.tolist()

    def counts(self, text: str) -> dict[int, int]:
        """Column -> count of the text's in-vocabulary terms."""
        get = self.vocabulary.get
        counts: dict[int, int] = {}
        for term in self.analyze(text):
            col = get(term)
            if col is not None:
                counts[col] = counts.get(col, 0) + 1
        return counts

    def _tf_values(self, counts: dict[int, int], cols: list[int]) -> list[float]:
        if self.binary:
            return [1.0] * len(cols)
        tf = self._tf
        return [tf[n] if n < _TF_TABLE else self._tf_table(n + 1)[n] for n in map(counts.__getitem__, cols)]

    def __call__(self, text: str) -> tuple[list[int], list[float]]:
        """``(columns, values)``: ascending columns and their TF-IDF values, as the vectorizer stores them."""
        counts = self.counts(text)
        cols = sorted(counts)
        vals = self._tf_values(counts, cols)
        if self.idf is not None:
            idf = self.idf
            vals = array(self._code, [v * idf[c] for v, c in zip(vals, cols, strict=True)]).tolist()
        return cols, self._normalise(vals)

    def _normalise(self, vals: list[float]) -> list[float]:
        # scikit-learn sums the squares (or magnitudes) of the stored floats into a double, in column order,
        # then divides each stored float by that double norm: the same steps give the same floats
        if self.norm is None or not vals:
            return vals
        parts = array(self._code, [v * v for v in vals]).tolist() if self.norm == "l2" else [abs(v) for v in vals]
        total = 0.0
        for p in parts:  # left to right, as the Cython loop (sum() is compensated from Python 3.12 on)
            total += p
        if total == 0.0:
            return vals
        norm = math.sqrt(total) if self.norm == "l2" else total
        return array(self._code, [v / norm for v in vals]).tolist()
