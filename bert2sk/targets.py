"""Logits, probabilities and distillation targets for the three tasks.

One place decides how a task turns scores into probabilities and decisions
(sigmoid of the margin, softmax, per-label sigmoids) and how teacher logits
and hard labels mix into a student's targets, so the teacher, the students
and the metrics all agree.
"""

from __future__ import annotations

import numpy as np

from .errors import InputError

__all__ = ["softmax", "sigmoid", "logits_to_proba", "decisions", "tune_thresholds", "soft_targets",
           "regression_targets"]

_EPS = 1e-4


def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def sigmoid(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # tanh form never overflows


def logits_to_proba(logits: np.ndarray, task: str) -> np.ndarray:
    """Probabilities from logits: softmax (binary, multiclass) or sigmoids (multilabel)."""
    logits = np.asarray(logits, dtype=np.float64)
    if task == "multilabel":
        return sigmoid(logits)
    return softmax(logits, axis=1)


def decisions(proba: np.ndarray, task: str, thresholds: np.ndarray | float = 0.5) -> np.ndarray:
    """Class codes (argmax) or a 0/1 label matrix (per-label thresholds)."""
    if task == "multilabel":
        return (np.asarray(proba) >= thresholds).astype(np.int64)
    return np.asarray(proba).argmax(axis=1)


def tune_thresholds(proba: np.ndarray, labels: np.ndarray, min_lift: float = 2.0) -> np.ndarray:
    """Per-label decision thresholds that maximise each label's F1 on held-out rows.

    Every distinct held-out score is a candidate (``precision_recall_curve``),
    not a fixed grid: a model whose scores sit in a narrow band (a linear SVM's
    squashed margins sit within a few hundredths of 0.5) still gets a threshold
    that separates them. Tune on a validation split, never on the test split.

    A candidate's precision must beat the label's base rate by ``min_lift``
    in odds (twice the base rate for rare labels, still reachable for a label
    on most rows). For a label the model cannot separate, F1 is maximised
    by flagging every row (Lipton et al., 2014, "Thresholding classifiers to
    maximize F1"): that wins a few points of that label's F1 and sets a wrong
    label on nearly every document, which ruins exact match and the per-label
    precision a user reads. Labels with no positive held-out example, or no
    candidate that clears the lift, keep 0.5.

    Examples
    --------
    >>> p = np.array([[0.3, 0.51], [0.2, 0.49], [0.1, 0.505]])
    >>> y = np.array([[1, 1], [0, 0], [0, 1]])
    >>> tune_thresholds(p, y, min_lift=1.0).tolist()
    [0.3, 0.505]

    A label whose scores carry no signal is not switched on for every row:

    >>> noise = np.array([[0.2], [0.1], [0.3], [0.15]])
    >>> tune_thresholds(noise, np.array([[0], [0], [0], [1]])).tolist()
    [0.5]
    """
    from sklearn.metrics import precision_recall_curve

    proba = np.asarray(proba, dtype=np.float64)
    labels = np.asarray(labels)
    if proba.shape != labels.shape:
        raise InputError(f"probabilities {proba.shape} and labels {labels.shape} differ in shape")
    out = np.full(labels.shape[1], 0.5)
    for j in range(labels.shape[1]):
        base_rate = labels[:, j].mean()
        if base_rate == 0:
            continue
        prec, rec, thr = precision_recall_curve(labels[:, j], proba[:, j])
        prec, rec = prec[:-1], rec[:-1]
        f1 = np.divide(2 * prec * rec, prec + rec, out=np.zeros_like(prec), where=(prec + rec) > 0)
        # odds(precision) >= min_lift * odds(base rate), without dividing by zero
        f1[prec * (1 - base_rate) < min_lift * base_rate * (1 - prec)] = -1.0
        if f1.max() > 0:
            out[j] = float(thr[int(np.argmax(f1))])
    return out

def _check_logits(teacher_logits: np.ndarray, n: int, task: str) -> np.ndarray:
    z = np.asarray(teacher_logits, dtype=np.float64)
    if z.ndim != 2 or z.shape[0] != n:
        raise InputError(f"teacher_logits must have shape (n_samples={n}, n_classes), got {z.shape}")
    if task != "multilabel" and z.shape[1] < 2:
        raise InputError("teacher_logits need one column per class (at least two) for binary/multiclass tasks")
    if not np.isfinite(z).all():
        raise InputError("teacher_logits contain NaN or infinity; re-score those texts")
    return z


def _check_settings(temperature: float, alpha: float) -> None:
    if not temperature > 0:
        raise InputError(f"temperature must be positive, got {temperature}")
    if not 0.0 <= alpha <= 1.0:
        raise InputError(f"alpha must lie in [0, 1], got {alpha}")


def soft_targets(
    teacher_logits: np.ndarray | None,
    y: np.ndarray | None,
    task: str,
    n_outputs: int,
    temperature: float = 1.0,
    alpha: float = 0.0,
) -> np.ndarray:
    """Target probabilities ``(n, n_outputs)`` for a student.

    Teacher probabilities at ``temperature`` are mixed with one-hot hard
    labels by ``alpha`` where a label exists (``y == -1`` marks none). With
    no teacher logits the hard labels alone are the target.

    Examples
    --------
    >>> soft_targets(np.array([[0.0, 2.0]]), np.array([0]), "binary", 2, alpha=0.5).round(3)
    array([[0.56, 0.44]])
    """
    _check_settings(temperature, alpha)
    n = len(teacher_logits) if teacher_logits is not None else len(y)
    hard = None
    if y is not None:
        y = np.asarray(y)
        if task == "multilabel":
            labelled = ~(y == -1).all(axis=1)
            hard = y.astype(np.float64)
        else:
            labelled = y != -1
            hard = np.zeros((n, n_outputs))
            hard[np.flatnonzero(labelled), y[labelled].astype(int)] = 1.0
    if teacher_logits is None:
        if hard is None or not labelled.all():
            raise InputError(
                "without teacher_logits every sample needs a label; pass teacher_logits for unlabelled texts"
            )
        return hard
    z = _check_logits(teacher_logits, n, task)
    if z.shape[1] != n_outputs:
        raise InputError(f"teacher_logits have {z.shape[1]} columns but the task has {n_outputs} classes/labels")
    p = logits_to_proba(z / temperature, task)
    if hard is not None and alpha > 0:
        w = np.where(labelled, alpha, 0.0)[:, None]
        p = (1 - w) * p + w * hard
    return p


def regression_targets(
    teacher_logits: np.ndarray | None,
    y: np.ndarray | None,
    task: str,
    n_outputs: int,
    temperature: float = 1.0,
    alpha: float = 0.0,
    label_smoothing: float = 0.05,
) -> np.ndarray:
    """Logit targets a regressor learns: ``(n,)`` margin for binary, ``(n, k)`` otherwise.

    Where no hard label is mixed in, the target is the teacher's logit divided
    by ``temperature`` exactly (centred per row for multiclass, since softmax
    ignores a shift). Where one is, teacher and label probabilities are mixed
    as in :func:`soft_targets` and mapped back to logits; pure hard labels are
    smoothed by ``label_smoothing`` so their logits stay finite.
    """
    _check_settings(temperature, alpha)
    n = len(teacher_logits) if teacher_logits is not None else len(y)
    if teacher_logits is not None and (alpha == 0 or y is None):
        z = _check_logits(teacher_logits, n, task) / temperature
        if z.shape[1] != n_outputs:
            raise InputError(f"teacher_logits have {z.shape[1]} columns but the task has {n_outputs} classes/labels")
    else:
        p = soft_targets(teacher_logits, y, task, n_outputs, temperature, alpha)
        eps = max(label_smoothing / max(n_outputs, 2), _EPS)
        if task == "multilabel":
            p = np.clip(p, eps, 1 - eps)
            z = np.log(p) - np.log1p(-p)
        else:
            p = (1 - label_smoothing) * p + label_smoothing / n_outputs
            z = np.log(np.clip(p, _EPS, 1.0))
    if task == "binary":
        return z[:, 1] - z[:, 0]
    if task == "multiclass":
        return z - z.mean(axis=1, keepdims=True)
    return z
