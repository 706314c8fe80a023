"""A cascade: a fast student answers, and hands the texts it is unsure of to a slower, more faithful one.

Most texts are easy: a TF-IDF student decides them as the teacher does, in a
millisecond. The texts where it parts from the teacher are mostly the ones it
is least sure of, so deferring only those to a transformer student buys most
of the transformer's fidelity at a fraction of its cost per text. Every
answer is still explained by the model that gave it (exactly, for a linear
fast student).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils import get_tags
from sklearn.utils.validation import check_is_fitted, validate_data

from .._io import atomic_dir, atomic_write_bytes, json_default
from ..errors import InputError, ModelFileError
from .bundle import CARD_FILE, read_card

__all__ = ["CascadeClassifier", "CASCADE_FORMAT", "top_two_margin", "margin_for_rate"]

#: the card format of a saved cascade folder
CASCADE_FORMAT = "bert2sk-cascade/1"
_PARTS = ("fast", "fallback")


def top_two_margin(proba: np.ndarray) -> np.ndarray:
    """How sure a single-label model is: its top probability minus the runner-up's, per row.

    Examples
    --------
    >>> top_two_margin(np.array([[0.7, 0.2, 0.1], [0.4, 0.5, 0.1], [0.5, 0.3, 0.2]])).round(2).tolist()
    [0.5, 0.1, 0.2]
    """
    p = np.sort(np.asarray(proba, dtype=np.float64), axis=1)
    return p[:, -1] - p[:, -2]


def margin_for_rate(margins: np.ndarray, rate: float) -> float:
    """The threshold that defers the share ``rate`` of inputs with these margins (those strictly below it).

    Inputs tied at the quantile defer together or not at all: whichever lands nearer the asked share.

    Examples
    --------
    >>> m = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    >>> t = margin_for_rate(m, 0.3)
    >>> float(t), float(np.mean(m < t))
    (0.4, 0.3)
    """
    if rate <= 0.0:
        return 0.0
    t = float(np.quantile(margins, rate, method="higher"))
    if abs(np.mean(margins <= t) - rate) < abs(np.mean(margins < t) - rate):
        t = float(np.nextafter(t, np.inf))
    return t


def _rows(X: Any, idx: np.ndarray) -> Any:
    """The rows of ``X`` at ``idx``: a list of texts stays a list; frames, sparse and dense arrays are indexed."""
    import scipy.sparse as sp

    if isinstance(X, (list, tuple)):
        return [X[i] for i in idx]
    if sp.issparse(X):
        return X.tocsr()[idx]
    if hasattr(X, "iloc"):
        return X.iloc[idx]
    return np.asarray(X)[idx]


class CascadeClassifier(ClassifierMixin, BaseEstimator):
    """A fast student that defers the inputs it is least sure of to a fallback student.

    Each input goes to ``fast`` first; where its top-two probability margin
    is below ``threshold_``, the input is scored again by ``fallback`` and
    that answer is kept. Both parts take the same inputs (raw texts for
    saved students, or any feature matrix) and share the classes.

    Parameters
    ----------
    fast, fallback : estimators with ``predict_proba``
        The first model asked and the one asked where it is unsure.
    defer_rate : float in [0, 1]
        Share of the calibration inputs (those passed to :meth:`fit`) to
        defer: ``threshold_`` is that quantile of ``fast``'s margins there.
        Calibrate on inputs ``fast`` was not fitted on (a validation slice);
        on its own training inputs its margins are too large, and fewer
        inputs are deferred later than asked.
    margin : float or None
        A fixed threshold instead (``defer_rate`` is then ignored): defer
        where the margin is below it.
    prefit : bool
        ``True``: ``fast`` and ``fallback`` are already fitted and :meth:`fit`
        only calibrates; ``False``: :meth:`fit` fits clones of both on its
        inputs first (fit parameters such as ``teacher_logits`` go to both).

    Attributes
    ----------
    fast_, fallback_ : the fitted parts
    threshold_ : float
        Inputs with a margin below it are deferred.
    classes_ : ndarray
    calibration_defer_rate_ : float
        Share of the calibration inputs the threshold defers (nan when a
        fixed margin was set without inputs).

    Notes
    -----
    For binary and multiclass models: the margin between the two most
    probable classes says how sure a single-label model is, and has no
    meaning for per-label (multilabel) probabilities.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> X = np.linspace(-3, 3, 60).reshape(-1, 1)
    >>> y = (X[:, 0] > 0).astype(int)
    >>> cascade = CascadeClassifier(LogisticRegression(C=0.01), DecisionTreeClassifier(), defer_rate=0.2).fit(X, y)
    >>> round(float(cascade.deferred(X).mean()), 1), cascade.score(X, y)
    (0.2, 1.0)
    """

    def __init__(self, fast: Any = None, fallback: Any = None, *, defer_rate: float = 0.1,
                 margin: float | None = None, prefit: bool = False) -> None:
        self.fast = fast
        self.fallback = fallback
        self.defer_rate = defer_rate
        self.margin = margin
        self.prefit = prefit

    def _check_params(self) -> None:
        for part in _PARTS:
            model = getattr(self, part)
            if model is None or not hasattr(model, "predict_proba"):
                raise InputError(f"the cascade's {part} model must be an estimator with predict_proba, "
                                 f"not {type(model).__name__}; pass a fitted student or a classifier")
        if not 0.0 <= float(self.defer_rate) <= 1.0:
            raise InputError(f"defer_rate must be a share between 0 and 1, not {self.defer_rate}")
        if self.margin is not None and not 0.0 <= float(self.margin) <= 1.0:
            raise InputError(f"margin is a difference of two probabilities, between 0 and 1, not {self.margin}")

    def fit(self, X: Any, y: Any = None, **fit_params: Any) -> CascadeClassifier:
        """Fit both parts (unless ``prefit``), then set the threshold on ``X``.

        ``X`` may be None with ``prefit`` and a fixed ``margin``: nothing is left to learn.
        """
        self._check_params()
        if X is None and not (self.prefit and self.margin is not None):
            raise InputError("a cascade learns its threshold from inputs; pass them, or prefit=True with a margin")
        if X is not None:
            # numeric inputs: remember their width (and names) to refuse others later; a list of texts has none
            validate_data(self, X, skip_check_array=True)
        if self.prefit:
            self.fast_, self.fallback_ = self.fast, self.fallback
        else:
            self.fast_ = clone(self.fast).fit(X, y, **fit_params)
            self.fallback_ = clone(self.fallback).fit(X, y, **fit_params)
        # a part without classes_ (e.g. a compiled scorer) takes the other's
        back_classes = np.asarray(getattr(self.fallback_, "classes_", []))
        fast_classes = np.asarray(getattr(self.fast_, "classes_", back_classes))
        back_classes = back_classes if back_classes.size else fast_classes
        if fast_classes.shape != back_classes.shape or not np.array_equal(fast_classes, back_classes):
            raise InputError("the cascade's fast and fallback models know different classes "
                             f"({fast_classes.tolist()} and {back_classes.tolist()}); fit both on the same labels")
        self.classes_ = fast_classes
        if X is None:  # a fixed margin on prefit parts: nothing to calibrate on
            self.threshold_, self.calibration_defer_rate_ = float(self.margin), float("nan")
            return self
        margins = top_two_margin(self.fast_.predict_proba(X))
        if self.margin is not None:
            self.threshold_ = float(self.margin)
        else:
            self.threshold_ = margin_for_rate(margins, float(self.defer_rate))
        self.calibration_defer_rate_ = float(np.mean(margins < self.threshold_))
        return self

    def _check_inputs(self, X: Any) -> Any:
        """Numeric inputs as wide as those fitted on; texts as they are (the parts check them)."""
        if not hasattr(self, "n_features_in_"):
            return X
        return validate_data(self, X, reset=False, accept_sparse=True, ensure_all_finite=False, dtype=None)

    def deferred(self, X: Any) -> np.ndarray:
        """Boolean mask: which inputs the fast model hands to the fallback."""
        check_is_fitted(self, "threshold_")
        X = self._check_inputs(X)
        return top_two_margin(self.fast_.predict_proba(X)) < self.threshold_

    def predict_proba(self, X: Any) -> np.ndarray:
        """The fast model's probabilities, replaced by the fallback's where the fast one is unsure."""
        check_is_fitted(self, "threshold_")
        X = self._check_inputs(X)
        proba = np.asarray(self.fast_.predict_proba(X), dtype=np.float64).copy()
        idx = np.flatnonzero(top_two_margin(proba) < self.threshold_)
        if idx.size:
            proba[idx] = np.asarray(self.fallback_.predict_proba(_rows(X, idx)), dtype=np.float64)
        return proba

    def predict(self, X: Any) -> np.ndarray:
        """The class of highest probability."""
        check_is_fitted(self, "threshold_")
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    @property
    def size_bytes_(self) -> int:
        """Bytes of both parts as saved."""
        from ..bench import serialized_size

        check_is_fitted(self, "threshold_")
        return int(sum(getattr(m, "size_bytes_", None) or serialized_size(m) for m in (self.fast_, self.fallback_)))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        parts = [get_tags(m) for m in (self.fast, self.fallback) if m is not None and hasattr(m, "fit")]
        # the parts read the inputs: the cascade takes what both take
        tags.input_tags.sparse = bool(parts) and all(t.input_tags.sparse for t in parts)
        tags.input_tags.string = bool(parts) and all(t.input_tags.string for t in parts)
        return tags

    # -- a folder of its own, both parts inside ------------------------------------------------------------
    def save_bundle(self, directory: str | os.PathLike, card: dict[str, Any] | None = None) -> Path:
        """Write a folder holding both parts (each saved as bert2sk saves a student) and the threshold."""
        from ..persistence import save_student

        check_is_fitted(self, "threshold_")
        rate = self.calibration_defer_rate_
        meta = {**(card or {}), "format": CASCADE_FORMAT, "threshold": self.threshold_,
                "calibration_defer_rate": rate if np.isfinite(rate) else None}

        def write(tmp: Path) -> None:
            for part in _PARTS:
                saved = save_student(tmp / part, getattr(self, f"{part}_"), {"cascade_part": part})
                meta[part] = saved.relative_to(tmp).as_posix()
            atomic_write_bytes(tmp / CARD_FILE, json.dumps(meta, indent=2, default=json_default).encode())

        return atomic_dir(directory, write)

    @classmethod
    def load_bundle(cls, directory: str | os.PathLike) -> tuple[CascadeClassifier, dict[str, Any]]:
        """``(cascade, card)`` from a folder written by :meth:`save_bundle`."""
        from ..persistence import load_student

        root = Path(directory)
        card = read_card(root, CASCADE_FORMAT)
        parts = {}
        for part in _PARTS:
            rel = card.get(part)
            if not isinstance(rel, str) or Path(rel).is_absolute() or ".." in Path(rel).parts:
                raise ModelFileError(f"{root / CARD_FILE} does not name its {part} model inside the folder; "
                                     "save the cascade again")
            parts[part], _ = load_student(root / rel)
        try:
            threshold = float(card["threshold"])
        except (KeyError, TypeError, ValueError):
            raise ModelFileError(f"{root / CARD_FILE} has no threshold; save the cascade again") from None
        model = cls(parts["fast"], parts["fallback"], margin=threshold, prefit=True)
        model.fast_, model.fallback_, model.threshold_ = parts["fast"], parts["fallback"], threshold
        model.classes_ = np.asarray(getattr(parts["fast"], "classes_", np.arange(len(card.get("label_names", [])))))
        rate = card.get("calibration_defer_rate")
        model.calibration_defer_rate_ = float("nan") if rate is None else float(rate)
        return model, card
