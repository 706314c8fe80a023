"""Classic per-word features for a linear tagger, vectorised by scikit-learn's DictVectorizer.

Each word becomes a set of named binary features (value 1): its lower-cased
form, its shape (``Xxxxx``, ``dd``, ``@xxx``), prefixes and suffixes,
capitalisation, Twitter marks (``@``, ``#``, URL), and the lower-cased form,
shape and capitalisation of its neighbours within ``window`` words (with
sentence-start and -end markers). Binary features keep a linear model's
explanation exact and readable: a word's score for a tag is the intercept
plus the weights of the features it has.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction import DictVectorizer
from sklearn.utils.validation import check_is_fitted

from ..errors import InputError

__all__ = ["TokenFeatures", "word_shape", "word_features", "sentence_features"]

_URL = re.compile(r"^(https?:|www\.|\S+\.(com|co|org|net|ly)/)", re.I)


def word_shape(word: str, collapse: bool = True) -> str:
    """Letters to ``X``/``x``, digits to ``d``, other characters kept; runs collapsed to one.

    Examples
    --------
    >>> word_shape("McDonald's"), word_shape("2016"), word_shape("@BBCNews", collapse=False)
    ("XxXx'x", 'd', '@XXXXxxx')
    """
    out = []
    for ch in word:
        c = "X" if ch.isupper() else "x" if ch.isalpha() else "d" if ch.isdigit() else ch
        if not collapse or not out or out[-1] != c:
            out.append(c)
    return "".join(out) or "<empty>"


# a word's own features and its view as a neighbour depend on the word alone; tweets repeat words heavily, so
# a bounded cache makes single-tweet tagging several times cheaper (the functions are pure; results are read-only)
@functools.lru_cache(maxsize=1 << 16)
def _own(word: str, affixes: int) -> tuple[str, ...]:
    low = word.lower()
    f = [f"w={low}", f"shape={word_shape(word)}", f"shape_full={word_shape(word, False)[:12]}"]
    core = low.lstrip("@#")
    for n in range(1, affixes + 1):
        if len(core) >= n:
            f += [f"pre{n}={core[:n]}", f"suf{n}={core[-n:]}"]
    if word[:1].isupper():
        f.append("is_title" if word[1:].islower() or len(word) == 1 else "starts_upper")
    if word.isupper() and any(c.isalpha() for c in word):
        f.append("all_upper")
    if word.islower():
        f.append("all_lower")
    if any(c.isdigit() for c in word):
        f.append("has_digit")
    if word and not any(c.isalnum() for c in word):
        f.append("punct")
    if word.startswith("@") and len(word) > 1:
        f.append("mention")
    if word.startswith("#") and len(word) > 1:
        f.append("hashtag")
    if _URL.match(word):
        f.append("url")
    return tuple(f)


def word_features(sentence: Sequence[str], i: int, window: int = 2, affixes: int = 3) -> list[str]:
    """Names of the binary features word ``i`` of ``sentence`` has.

    Examples
    --------
    >>> word_features(["Leon", "in", "Sheffield"], 0, window=1, affixes=1)
    ['bias', 'w=leon', 'shape=Xx', 'shape_full=Xxxx', 'pre1=l', 'suf1=n', 'is_title', '-1:<s>', '+1:w=in', \
'+1:shape=x', '+1:lower']
    """
    return sentence_features(sentence, window, affixes)[i]


@functools.lru_cache(maxsize=1 << 16)
def _neighbour(w: str) -> tuple[str, str, str | None]:
    return w.lower(), word_shape(w), "upper_initial" if w[:1].isupper() else "lower" if w.islower() else None


def sentence_features(sentence: Sequence[str], window: int = 2, affixes: int = 3) -> list[list[str]]:
    """:func:`word_features` of every word, each word's own parts computed once."""
    n = len(sentence)
    own = [_own(w, affixes) for w in sentence]
    nb = [_neighbour(w) for w in sentence]
    out = []
    for i in range(n):
        f = ["bias", *own[i]]
        for off in range(-window, window + 1):
            if off == 0:
                continue
            j = i + off
            tag = f"{off:+d}"
            if j < 0 or j >= n:
                if j == -1:
                    f.append(f"{tag}:<s>")
                elif j == n:
                    f.append(f"{tag}:</s>")
                continue
            low, shape, case = nb[j]
            f += [f"{tag}:w={low}", f"{tag}:shape={shape}"]
            if case:
                f.append(f"{tag}:{case}")
        out.append(f)
    return out


class TokenFeatures(TransformerMixin, BaseEstimator):
    """Sentences (lists of words) to a sparse matrix with one row per word, through DictVectorizer.

    Parameters
    ----------
    window : int
        Neighbours on each side whose form, shape and capitalisation are features.
    affixes : int
        Longest prefix and suffix length.
    min_count : int
        Keep features seen on at least this many training words (rarer ones only add size).

    Attributes
    ----------
    vectorizer_ : DictVectorizer
    feature_names_ : ndarray of str

    Examples
    --------
    >>> tf = TokenFeatures(window=1).fit([["Leon", "in", "Sheffield"], ["hi", "Leon"]])
    >>> X = tf.transform([["Leon", "in", "Sheffield"]])
    >>> X.shape[0], bool(X[0, tf.vectorizer_.vocabulary_["w=leon"]])
    (3, True)

    Notes
    -----
    Input is a list of token lists, not a 2-D array, so scikit-learn's
    ``parametrize_with_checks`` (which feeds numeric arrays) does not apply;
    the tests check the contract by hand (``get_params``, ``clone``,
    not-fitted error).
    """

    def __init__(self, window: int = 2, affixes: int = 3, min_count: int = 1) -> None:
        self.window = window
        self.affixes = affixes
        self.min_count = min_count

    def _dicts(self, sentences: Sequence[Sequence[str]]) -> list[dict[str, float]]:
        return [dict.fromkeys(f, 1.0) for s in sentences for f in sentence_features(s, self.window, self.affixes)]

    def fit(self, X: Sequence[Sequence[str]], y=None) -> TokenFeatures:
        sentences = check_sentences(X)
        if self.window < 0 or self.affixes < 0 or self.min_count < 1:
            raise InputError("window and affixes must be >= 0 and min_count >= 1")
        dicts = self._dicts(sentences)
        if not dicts:
            raise InputError("no words to learn features from; give at least one non-empty sentence")
        vec = DictVectorizer(dtype=np.float32)
        vec.fit(dicts)
        if self.min_count > 1:
            counts = Counter(k for d in dicts for k in d)
            vec.restrict([counts[name] >= self.min_count for name in vec.feature_names_])
        self.vectorizer_ = vec
        self.feature_names_ = np.asarray(vec.get_feature_names_out())
        return self

    def transform(self, X: Sequence[Sequence[str]]):
        """CSR matrix ``(n_words, n_features)`` of 0/1 (what ``vectorizer_.transform`` gives, built directly).

        Every feature is binary, so the vectoriser's vocabulary is all a row needs; skipping the
        per-word dicts makes this several times faster than ``DictVectorizer.transform``.
        """
        from scipy import sparse

        check_is_fitted(self, "vectorizer_")
        rows = [cols for s in check_sentences(X) for cols in self.word_indices(s)]
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum([len(r) for r in rows])
        indices = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        data = np.ones(len(indices), dtype=np.float32)
        out = sparse.csr_matrix((data, indices, indptr), shape=(len(rows), len(self.feature_names_)))
        out.sort_indices()
        return out

    def word_indices(self, sentence: Sequence[str]) -> list[np.ndarray]:
        """Column indices of each word's features."""
        cols, starts = self.sentence_indices(sentence)
        return np.split(cols, starts[1:])

    def sentence_indices(self, sentence: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(cols, starts)``: every word's feature columns in one array, word ``i``'s from ``starts[i]``.

        The fast path of a linear model's predictions: one array for the whole sentence, so the
        per-word sums are one ``np.add.reduceat`` (every word has at least the ``bias`` feature).
        """
        check_is_fitted(self, "vectorizer_")
        get = self.vectorizer_.vocabulary_.get
        cols: list[int] = []
        starts = np.empty(len(sentence), dtype=np.int64)
        for i, names in enumerate(sentence_features(sentence, self.window, self.affixes)):
            starts[i] = len(cols)
            cols += [c for c in map(get, names) if c is not None]
        return np.asarray(cols, dtype=np.int64), starts


def check_sentences(X) -> list[list[str]]:
    """A list of sentences, each a list of str words (a one-line error otherwise)."""
    if isinstance(X, (str, bytes)) or not hasattr(X, "__len__"):
        raise InputError("X must be a list of sentences, each a list of words (str)")
    out = []
    for i, s in enumerate(X):
        if isinstance(s, (str, bytes)) or not hasattr(s, "__len__"):
            raise InputError(f"sentence {i} of X is not a list of words; split it into words first")
        out.append([str(w) for w in s])
    return out
