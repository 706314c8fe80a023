"""What an explainer needs to know about a model: its task, classes, features and weights.

Students come in a handful of shapes (distilled regressors, soft-target
classifiers, plain or calibrated or one-vs-rest baselines). This module
reduces each to either a linear decision ``x @ W[c] + b[c]`` per class or a
tree with a known output column, so the explainers never branch on types.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.multiclass import OneVsRestClassifier
from sklearn.multioutput import MultiOutputRegressor
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from ..errors import InputError
from ..features import StaticFeatures
from ..students import DistilledClassifier, SoftTargetClassifier


@dataclass
class ModelView:
    """A text->proba model seen from the outside."""

    name: str
    predict_proba: Callable[[Sequence[str]], np.ndarray]
    task: str | None
    class_names: list[str] | None
    vectorizer: Any = None  # a fitted TfidfVectorizer when the first step is one
    student: Any = None  # the estimator behind the vectorizer
    features: Any = None  # the first step of a (features, student) pipeline, whatever it is


def _is_tfidf(step: Any) -> bool:
    return hasattr(step, "vocabulary_") and hasattr(step, "build_tokenizer") and getattr(step, "analyzer", "") == "word"


def student_task(student: Any) -> str | None:
    """``binary``/``multiclass``/``multilabel`` of a fitted student, ``None`` when unknown."""
    task = getattr(student, "task_", None)
    if task:
        return task
    if isinstance(student, OneVsRestClassifier):
        return "multilabel" if getattr(student, "multilabel_", False) else "multiclass"
    classes = getattr(student, "classes_", None)
    if classes is not None:
        return "binary" if len(classes) == 2 else "multiclass"
    return None


def view(model: Any, name: str | None = None, class_names: Sequence[str] | None = None,
         task: str | None = None) -> ModelView:
    """Wrap a ModelEntry, a fitted text Pipeline, an estimator with predict_proba or a callable."""
    entry_name = getattr(model, "name", None) if hasattr(model, "scorer") and hasattr(model, "role") else None
    if entry_name is not None:  # a ModelEntry
        if model.scorer is None:
            raise InputError(
                f"model {entry_name!r} has no scorer to explain; for the teacher pass result.teacher_scorer"
            )
        model = model.scorer
        name = name or entry_name
    steps = getattr(model, "steps", None)
    vec = student = feats = None
    if steps:
        vec = steps[0][1] if _is_tfidf(steps[0][1]) and len(steps) == 2 else None
        feats = steps[0][1] if len(steps) == 2 else None
        student = steps[-1][1]
    if hasattr(model, "predict_proba"):
        fn = model.predict_proba
    elif callable(model):
        fn = model
    else:
        raise InputError(
            f"cannot explain a {type(model).__name__}: pass a fitted Pipeline(features, student), a ModelEntry, "
            "or a function that maps a list of texts to class probabilities"
        )
    if student is not None:
        task = task or student_task(student)
        if class_names is None and getattr(student, "classes_", None) is not None and task != "multilabel":
            class_names = [str(c) for c in student.classes_]
    return ModelView(name or type(model).__name__, fn, task, list(class_names) if class_names else None, vec,
                     student, feats)


def proba_row(fn: Callable, text: str) -> np.ndarray:
    p = np.asarray(fn([text]), dtype=np.float64)
    if p.ndim == 1:
        p = p[None, :]
    return p[0]


def infer_task(p: np.ndarray) -> str:
    if p.shape[0] == 2 and abs(p.sum() - 1) < 1e-6:
        return "binary"
    return "multiclass" if abs(p.sum() - 1) < 1e-6 else "multilabel"


# --------------------------------------------------------------------------- linear


def _coef(est: Any) -> tuple[np.ndarray, np.ndarray] | None:
    if hasattr(est, "coef_") and hasattr(est, "intercept_"):
        w = np.atleast_2d(np.asarray(est.coef_.toarray() if hasattr(est.coef_, "toarray") else est.coef_,
                                     dtype=np.float64))
        return w, np.atleast_1d(np.asarray(est.intercept_, dtype=np.float64))
    if isinstance(est, CalibratedClassifierCV):
        # calibration is monotone per fold; the averaged folds' SVM margin is the linear part it calibrates
        parts = [_coef(c.estimator) for c in getattr(est, "calibrated_classifiers_", [])]
        if not parts or any(p is None for p in parts):
            return None
        return np.mean([p[0] for p in parts], axis=0), np.mean([p[1] for p in parts], axis=0)
    return None


def _margin_rows(w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Binary margin -> one row per class (class 0 explains ``-margin``)."""
    return np.vstack([-w[0], w[0]]), np.array([-b[0], b[0]])


def _classifier_rows(est: Any, k: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-class decision rows of a linear classifier; multiclass rows are centred (softmax ignores shifts)."""
    cw = _coef(est)
    classes = getattr(est, "classes_", None)
    if cw is None or classes is None:
        return None
    w, b = cw
    if len(classes) == 2 and w.shape[0] == 1:
        if k != 2:
            return None
        return _margin_rows(w, b)
    if w.shape[0] != k or len(classes) != k:
        return None
    return w - w.mean(axis=0), b - b.mean()


def _positive_rows(estimators: list[Any]) -> tuple[np.ndarray, np.ndarray] | None:
    """One row per binary estimator: its decision towards the positive label (one-vs-rest, per-label students)."""
    rows = [_classifier_rows(e, 2) for e in estimators]
    if any(r is None for r in rows):
        return None
    return np.vstack([r[0][1] for r in rows]), np.array([r[1][1] for r in rows])


def _distilled_linear(student: DistilledClassifier, task: str | None) -> tuple[np.ndarray, np.ndarray, str] | None:
    inner = student.estimator_
    t = float(student.temperature)
    if isinstance(inner, MultiOutputRegressor):
        parts = [_coef(e) for e in inner.estimators_]
        if any(p is None for p in parts):
            return None
        w = np.vstack([p[0] for p in parts])
        b = np.concatenate([p[1] for p in parts])
    else:
        cw = _coef(inner)
        if cw is None:
            return None
        w, b = cw
    if task == "binary":
        w, b = _margin_rows(w, b)
        return w * t, b * t, "the teacher-logit margin the student predicts (class 0: its negative)"
    what = ("the teacher logit the student predicts for the class (centred)" if task == "multiclass"
            else "the teacher logit the student predicts for the label")
    return w * t, b * t, what


def _soft_linear(student: SoftTargetClassifier, task: str | None) -> tuple[np.ndarray, np.ndarray, str] | None:
    if task == "multilabel":
        rows = _positive_rows(list(student.estimator_))
        return None if rows is None else (*rows, "the label's log-odds")
    rows = _classifier_rows(student.estimator_, len(student.classes_))
    if rows is None:
        return None
    return rows[0], rows[1], "the class log-odds" if task == "binary" else "the class's centred logit"


def _plain_linear(student: Any) -> tuple[np.ndarray, np.ndarray, str] | None:
    classes = getattr(student, "classes_", None)
    if classes is None:
        return None
    rows = _classifier_rows(student, len(classes))
    if rows is None:
        return None
    if len(classes) > 2:
        what = "the class's centred decision value"
    elif isinstance(student, CalibratedClassifierCV):
        what = "the averaged SVM margin (before calibration)"
    else:
        what = "the class log-odds"
    return rows[0], rows[1], what


def linear_decision(student: Any, k: int | None = None) -> tuple[np.ndarray, np.ndarray, str] | None:
    """``(W, b, what)`` with the explained output of class ``c`` equal to ``x @ W[c] + b[c]``, or ``None``.

    ``what`` says in words which output that is (shown in reports).
    """
    task = student_task(student)
    if isinstance(student, DistilledClassifier):
        return _distilled_linear(student, task)
    if isinstance(student, SoftTargetClassifier):
        return _soft_linear(student, task)
    if isinstance(student, OneVsRestClassifier):
        if task != "multilabel":
            return None
        rows = _positive_rows(list(student.estimators_))
        return None if rows is None else (*rows, "the label's decision value")
    return _plain_linear(student)


# --------------------------------------------------------------------------- trees


def _is_tree(est: Any) -> bool:
    return isinstance(est, (DecisionTreeRegressor, DecisionTreeClassifier))


def _class_column(est: Any, cls: int) -> int | None:
    """Column of class ``cls`` in a tree classifier's output, ``None`` when it is not a tree or lacks the class."""
    if not _is_tree(est):
        return None
    classes = list(np.asarray(getattr(est, "classes_", [])).tolist())
    return classes.index(cls) if cls in classes else None


def _column_spec(est: Any, cls: int, what: str) -> tuple[Any, int | None, float, str] | None:
    col = _class_column(est, cls)
    return None if col is None else (est, col, 1.0, what)


def tree_output(student: Any, c: int) -> tuple[Any, int | None, float, str] | None:
    """``(tree, column, scale, what)``: the explained output of class ``c`` is ``scale * tree_out[column]``.

    ``column`` is ``None`` for a single-output regressor; a negative scale
    flips a binary margin for class 0.
    """
    task = student_task(student)
    if isinstance(student, DistilledClassifier):
        inner = student.estimator_
        if not _is_tree(inner):
            return None
        t = float(student.temperature)
        if task == "binary":
            return inner, None, (t if c == 1 else -t), "the teacher-logit margin the student predicts"
        return inner, c, t, "the teacher logit the student predicts"
    if isinstance(student, SoftTargetClassifier):
        if task == "multilabel":
            return _column_spec(student.estimator_[c], 1, "the label probability")
        return _column_spec(student.estimator_, c, "the class probability")
    if isinstance(student, OneVsRestClassifier):
        return _column_spec(student.estimators_[c], 1, "the label probability") if task == "multilabel" else None
    if isinstance(student, DecisionTreeClassifier):
        return _column_spec(student, c, "the class probability")
    return None


# --------------------------------------------------------------------------- what kind of model


def model_kind(model: Any) -> str | None:
    """``"linear"`` or ``"tree"`` for a TF-IDF student with an exact explainer, ``"static"`` for a linear
    student on static token features (exact per token), else ``None``.

    ``model`` is anything :func:`~bert2sk.explain.explain_text` takes (a
    ModelEntry, a fitted Pipeline, a callable). Nothing is run: the answer
    comes from the fitted estimators alone, so asking is free even for models
    whose encoder is missing.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.linear_model import LogisticRegression
    >>> from bert2sk.features import TfidfFeatures
    >>> pipe = make_pipeline(TfidfFeatures(min_df=1), LogisticRegression())
    >>> model_kind(pipe.fit(["a good film", "a bad film"], [1, 0])), model_kind(lambda texts: None)
    ('linear', None)
    """
    try:
        mv = view(model)
    except InputError:
        return None
    if isinstance(mv.features, StaticFeatures) and mv.student is not None:
        return "static" if linear_decision(mv.student) is not None else None
    if mv.vectorizer is None or mv.student is None:
        return None
    if linear_decision(mv.student) is not None:
        return "linear"
    try:
        if tree_output(mv.student, 1 if mv.task == "binary" else 0) is not None:
            return "tree"
    except (AttributeError, IndexError, TypeError):  # an unfitted or unusual ensemble: no exact tree view
        pass
    return None
