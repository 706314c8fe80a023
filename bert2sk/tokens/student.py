"""The scikit-learn token student: a linear model over per-word features, distilled from a teacher's word logits.

*Distilled*: a ridge regressor learns the teacher's per-word logits (centred
per word; a word with a gold tag can also be pulled towards it, weight
``hard_weight``). *Baseline*: the same model fit on gold tags alone, coded
as logits (``hard_margin`` for the gold tag, 0 for the others, centred), or
a logistic regression on the gold tags (``head="logistic"``). Either way the
predicted word scores are decoded to valid IOB2 spans by
:func:`~bert2sk.tokens.decode.decode_iob2`.

Its explanation of a word's tag is exact: the score of tag ``t`` is
``intercept[t] + sum(weight[t, f] * value[f])`` over the word's (binary)
features, so the contributions to the margin between two tags add up to
that margin.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ..errors import InputError
from .decode import decode_iob2
from .features import TokenFeatures, check_sentences

__all__ = ["LinearTokenStudent"]

HEADS = ("ridge", "logistic")
FORMAT = "bert2sk-linear-token-student/1"


class LinearTokenStudent(BaseEstimator):
    """A linear tagger over :class:`~bert2sk.tokens.features.TokenFeatures`, trained on teacher logits or gold tags.

    Parameters
    ----------
    tag_names : tuple of str or None
        The tags, ``O`` first (the teacher's order). ``None``: taken from the gold tags at fit.
    head : {"ridge", "logistic"}
        ``ridge`` regresses word logits (teacher's, or gold coded as logits); ``logistic`` is a
        multinomial logistic regression on gold tags (a baseline; it ignores teacher logits).
    alpha : float
        Ridge penalty.
    C : float
        Inverse penalty of the logistic head.
    hard_weight : float in [0, 1]
        For words with both a gold tag and teacher logits: the target is
        ``(1 - hard_weight) * teacher + hard_weight * gold``; 0 is pure distillation.
    hard_margin : float
        A gold tag coded as logits: ``hard_margin`` for the tag, 0 for the others (then centred).
    window, affixes, min_count : feature settings (see :class:`TokenFeatures`).

    Attributes
    ----------
    features_ : TokenFeatures
    coef_ : ndarray of shape (n_tags, n_features)
    intercept_ : ndarray of shape (n_tags,)
    tag_names_ : tuple of str
    n_words_ : int
        Training words.
    size_bytes_ : int
        Weights (float32) plus the feature vocabulary's UTF-8 names.

    Notes
    -----
    ``X`` is a list of sentences (lists of words) and ``y`` a list of tag
    lists, not arrays, so ``parametrize_with_checks`` (numeric 2-D input)
    does not apply; the tests check ``get_params``, ``clone`` and the
    not-fitted error by hand.

    Examples
    --------
    >>> X = [["Leon", "lives", "in", "Sheffield"], ["Kalina", "likes", "Leeds"]] * 5
    >>> y = [["B-PER", "O", "O", "B-LOC"], ["B-PER", "O", "B-LOC"]] * 5
    >>> s = LinearTokenStudent(alpha=0.1).fit(X, y)
    >>> s.predict([["Leon", "likes", "Sheffield"]])
    [['B-PER', 'O', 'B-LOC']]
    """

    def __init__(self, tag_names: tuple[str, ...] | None = None, head: str = "ridge", alpha: float = 1.0,
                 C: float = 1.0, hard_weight: float = 0.0, hard_margin: float = 4.0, window: int = 2,
                 affixes: int = 3, min_count: int = 1) -> None:
        self.tag_names = tag_names
        self.head = head
        self.alpha = alpha
        self.C = C
        self.hard_weight = hard_weight
        self.hard_margin = hard_margin
        self.window = window
        self.affixes = affixes
        self.min_count = min_count

    # -- fitting -------------------------------------------------------------------------
    def _tags(self, y) -> tuple[str, ...]:
        if self.tag_names is not None:
            return tuple(self.tag_names)
        if y is None:
            raise InputError("give tag_names= (the teacher's tags) when fitting on teacher logits alone")
        from .data import tag_names_for

        return tag_names_for({t[2:] for s in y if s is not None for t in s if t != "O"})

    def _gold_codes(self, y, sentences, names) -> list[np.ndarray | None]:
        if y is None:
            return [None] * len(sentences)
        if len(y) != len(sentences):
            raise InputError(f"y has {len(y)} tag lists for {len(sentences)} sentences; give one per sentence "
                             "(None for an unlabelled one)")
        index = {t: i for i, t in enumerate(names)}
        out = []
        for i, (s, t) in enumerate(zip(sentences, y, strict=True)):
            if t is None:
                out.append(None)
                continue
            if len(t) != len(s):
                raise InputError(f"sentence {i} has {len(s)} words but {len(t)} tags; give one tag per word")
            bad = [x for x in t if x not in index]
            if bad:
                raise InputError(f"sentence {i} has tag {bad[0]!r}, not one of {list(names)}")
            out.append(np.array([index[x] for x in t], dtype=np.int64))
        return out

    def fit(self, X: Sequence[Sequence[str]], y: Sequence[Sequence[str] | None] | None = None,
            teacher_logits: Sequence[np.ndarray | None] | None = None) -> LinearTokenStudent:
        """Learn from teacher word logits (distilled), gold tags (baseline), or both.

        Parameters
        ----------
        X : list of list of str
        y : list of (list of str or None), optional
            Gold tags; ``None`` for a sentence without them.
        teacher_logits : list of (ndarray (n_words, n_tags) or None), optional
            The teacher's word logits; ``None`` for a sentence it did not score.

        Only words with a target (teacher logits or a gold tag) are used.
        """
        from scipy import sparse

        sentences = check_sentences(X)
        if self.head not in HEADS:
            raise InputError(f"head must be one of {HEADS}, got {self.head!r}")
        if not 0 <= self.hard_weight <= 1:
            raise InputError(f"hard_weight must be in [0, 1], got {self.hard_weight}")
        names = self._tags(y)
        k = len(names)
        gold = self._gold_codes(y, sentences, names)
        if teacher_logits is not None and len(teacher_logits) != len(sentences):
            raise InputError(f"teacher_logits has {len(teacher_logits)} arrays for {len(sentences)} sentences")
        keep, targets, codes = [], [], []
        for i, s in enumerate(sentences):
            z = None if teacher_logits is None else teacher_logits[i]
            g = gold[i]
            if z is not None:
                z = np.asarray(z, dtype=np.float64)
                if z.shape != (len(s), k):
                    raise InputError(f"teacher_logits[{i}] has shape {z.shape}; sentence {i} needs ({len(s)}, {k})")
            if self.head == "logistic":
                if g is None:
                    continue
                keep.append(i)
                codes.append(g)
                continue
            hard = None if g is None else self.hard_margin * np.eye(k)[g]
            if z is None and hard is None:
                continue
            if z is None:
                t = hard
            elif hard is None:
                t = z
            else:
                t = (1 - self.hard_weight) * z + self.hard_weight * hard
            keep.append(i)
            targets.append(t - t.mean(axis=1, keepdims=True))  # softmax ignores a shift; the ridge need not fit it
        if not keep:
            raise InputError("no sentence has a target: give gold tags (y) or teacher_logits"
                             + (" (the logistic head needs gold tags)" if self.head == "logistic" else ""))
        used = [sentences[i] for i in keep]
        self.features_ = TokenFeatures(self.window, self.affixes, self.min_count).fit(used)
        Xw = sparse.csr_matrix(self.features_.transform(used))
        if self.head == "logistic":
            from sklearn.linear_model import LogisticRegression

            yw = np.concatenate(codes)
            lr = LogisticRegression(C=self.C, max_iter=1000)
            lr.fit(Xw, yw)
            coef = np.zeros((k, Xw.shape[1]))
            icpt = np.full(k, -30.0)  # a tag never seen in training is never predicted
            coef[lr.classes_] = lr.coef_ if len(lr.classes_) > 2 else np.vstack([-lr.coef_, lr.coef_]) / 2
            icpt[lr.classes_] = lr.intercept_ if len(lr.classes_) > 2 else np.r_[-lr.intercept_, lr.intercept_] / 2
        else:
            from sklearn.linear_model import Ridge

            T = np.concatenate(targets)
            # lsqr at tol 1e-3 fits BTC's 100k words in a third of sparse_cg's time; decisions do not move
            reg = Ridge(alpha=self.alpha, solver="lsqr", fit_intercept=True, tol=1e-3)
            reg.fit(Xw, T)
            coef, icpt = np.atleast_2d(reg.coef_), np.atleast_1d(reg.intercept_)
        self.coef_ = coef.astype(np.float32)
        self.intercept_ = icpt.astype(np.float32)
        self._coef_t = np.ascontiguousarray(self.coef_.T)
        self.tag_names_ = tuple(names)
        self.n_words_ = int(Xw.shape[0])
        vocab_bytes = sum(len(n.encode()) for n in self.features_.feature_names_)
        self.size_bytes_ = int(self.coef_.nbytes + self.intercept_.nbytes + vocab_bytes)
        return self

    # -- predicting ----------------------------------------------------------------------
    def _sentence_logits(self, sentence: list[str]) -> np.ndarray:
        ct = getattr(self, "_coef_t", None)
        if ct is None:
            ct = self._coef_t = np.ascontiguousarray(self.coef_.T)
        if not sentence:
            return np.empty((0, len(self.intercept_)), dtype=np.float32)
        cols, starts = self.features_.sentence_indices(sentence)
        return self.intercept_ + np.add.reduceat(ct[cols], starts, axis=0)

    def predict_word_logits(self, X: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """Word scores ``(n_words, n_tags)`` per sentence (the teacher's logits, for a distilled student)."""
        check_is_fitted(self, "coef_")
        return [self._sentence_logits(s) for s in check_sentences(X)]

    def predict(self, X: Sequence[Sequence[str]]) -> list[list[str]]:
        """Valid IOB2 tags per sentence."""
        return [decode_iob2(z, self.tag_names_) for z in self.predict_word_logits(X)]

    # -- explaining ----------------------------------------------------------------------
    def explain_word(self, sentence: Sequence[str], i: int, tag: str | None = None, against: str | None = None,
                     top: int | None = 10) -> dict[str, Any]:
        """Exact reasons for word ``i``'s tag: each feature's weight x value on the margin between two tags.

        Parameters
        ----------
        sentence : list of str
        i : int
            Word position.
        tag : str, optional
            The tag to explain (default: the decoded tag of the word).
        against : str, optional
            The tag it is compared with (default: the word's best-scoring other tag).
        top : int or None
            How many contributions to list (largest magnitude first); ``None`` lists all.

        Returns
        -------
        dict
            ``word``, ``tag``, ``against``, ``margin`` (score of ``tag`` minus ``against``),
            ``intercept`` (its part of the margin) and ``contributions``: ``(feature, value,
            contribution)`` with ``sum(contributions) + intercept == margin`` when all are listed.
        """
        check_is_fitted(self, "coef_")
        sent = check_sentences([sentence])[0]
        if not 0 <= i < len(sent):
            raise InputError(f"word index {i} is outside the sentence (0..{len(sent) - 1})")
        names = self.tag_names_
        z = self._sentence_logits(sent)
        tag = tag or decode_iob2(z, names)[i]
        if tag not in names or (against is not None and against not in names):
            raise InputError(f"tags must be among {list(names)}")
        a = names.index(tag)
        if against is None:
            order = [j for j in np.argsort(-z[i]) if j != a]
            b = int(order[0])
        else:
            b = names.index(against)
        cols = self.features_.word_indices(sent)[i]
        diff = (self.coef_[a, cols] - self.coef_[b, cols]).astype(np.float64)
        feats = self.features_.feature_names_[cols]
        order = np.argsort(-np.abs(diff), kind="stable")
        if top is not None:
            order = order[:top]
        return {"word": sent[i], "position": i, "tag": tag, "against": names[b],
                "margin": float(z[i, a] - z[i, b]), "intercept": float(self.intercept_[a] - self.intercept_[b]),
                "contributions": [(str(feats[j]), 1.0, float(diff[j])) for j in order]}

    # -- saving (no pickle: weights in npz, features and settings in JSON) -------------------
    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``student.json`` (settings, tags, feature names) and ``weights.npz`` into ``directory``, atomically."""
        from .._io import atomic_dir

        check_is_fitted(self, "coef_")
        meta = {"format": FORMAT, "params": {k: (list(v) if isinstance(v, tuple) else v)
                                             for k, v in self.get_params().items()},
                "tag_names": list(self.tag_names_), "n_words": self.n_words_,
                "features": self.features_.feature_names_.tolist()}

        def write(tmp: Path) -> None:
            buf = io.BytesIO()
            np.savez_compressed(buf, coef=self.coef_, intercept=self.intercept_)
            (tmp / "weights.npz").write_bytes(buf.getvalue())
            (tmp / "student.json").write_text(json.dumps(meta), encoding="utf-8")

        return atomic_dir(directory, write)

    @classmethod
    def load(cls, directory: str | os.PathLike) -> LinearTokenStudent:
        """A fitted student from a folder written by :meth:`save`."""
        from sklearn.feature_extraction import DictVectorizer

        from ..errors import ModelFileError

        root = Path(directory)
        try:
            meta = json.loads((root / "student.json").read_text(encoding="utf-8"))
            with np.load(root / "weights.npz", allow_pickle=False) as npz:
                coef, icpt = npz["coef"], npz["intercept"]
        except (OSError, ValueError, KeyError) as exc:
            raise ModelFileError(f"{root} holds no readable linear token student ({type(exc).__name__}); "
                                 "save one with LinearTokenStudent.save") from None
        if meta.get("format") != FORMAT:
            raise ModelFileError(f"{root} is not a {FORMAT} folder (format {meta.get('format')!r})")
        params = dict(meta["params"])
        if params.get("tag_names") is not None:
            params["tag_names"] = tuple(params["tag_names"])
        est = cls(**params)
        feats = TokenFeatures(est.window, est.affixes, est.min_count)
        vec = DictVectorizer(dtype=np.float32)
        vec.feature_names_ = list(meta["features"])
        vec.vocabulary_ = {n: i for i, n in enumerate(vec.feature_names_)}
        feats.vectorizer_ = vec
        feats.feature_names_ = np.asarray(vec.feature_names_)
        est.features_ = feats
        est.coef_, est.intercept_ = coef.astype(np.float32), icpt.astype(np.float32)
        est._coef_t = np.ascontiguousarray(est.coef_.T)
        est.tag_names_ = tuple(meta["tag_names"])
        est.n_words_ = int(meta["n_words"])
        est.size_bytes_ = int(coef.nbytes + icpt.nbytes + sum(len(n.encode()) for n in vec.feature_names_))
        return est
