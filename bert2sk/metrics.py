"""Quality and faithfulness: accuracy, F1, ROC-AUC, fidelity, calibration.

Every figure is computed from probabilities, so teacher, baselines and
distilled students are measured the same way. *Fidelity* is the share of
decisions a model makes that match the teacher's; no peer reports it for
linear or tree students, bert2sk reports it for every model.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np

from .errors import InputError
from .targets import decisions, logits_to_proba, tune_thresholds

__all__ = ["expected_calibration_error", "fidelity", "score", "evaluate", "proba_to_logits", "per_class_scores",
           "top_confusions", "tune_thresholds", "METRIC_COLUMNS"]

METRIC_COLUMNS = ("accuracy", "f1_macro", "f1_micro", "roc_auc", "fidelity", "fidelity_sets", "logit_mse",
                  "kl_to_teacher", "ece")
_CLIP = 1e-7


def proba_to_logits(proba: np.ndarray, task: str) -> np.ndarray:
    """Logits (centred for softmax tasks) that reproduce ``proba``."""
    p = np.clip(np.asarray(proba, dtype=np.float64), _CLIP, 1 - _CLIP)
    if task == "multilabel":
        return np.log(p) - np.log1p(-p)
    z = np.log(p)
    return z - z.mean(axis=1, keepdims=True)


def expected_calibration_error(proba: np.ndarray, y: np.ndarray, task: str = "binary", n_bins: int = 15) -> float:
    """Expected calibration error with equal-width confidence bins.

    Binary and multiclass: the confidence of the predicted class against
    whether it is right. Multilabel: every (text, label) probability against
    its 0/1 truth.

    Examples
    --------
    >>> p = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    >>> round(expected_calibration_error(p, np.array([1, 0, 1, 1])), 3)
    0.3
    """
    proba = np.asarray(proba, dtype=np.float64)
    y = np.asarray(y)
    if task == "multilabel":
        # reliability of P(label = 1): mean prediction against frequency, per bin
        conf, outcome = proba.ravel(), y.ravel().astype(float)
    else:
        conf, outcome = proba.max(axis=1), (proba.argmax(axis=1) == y).astype(float)
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        m = bins == b
        if m.any():
            ece += m.mean() * abs(conf[m].mean() - outcome[m].mean())
    return float(ece)


def fidelity(proba: np.ndarray, teacher_proba: np.ndarray, task: str = "binary",
             thresholds: np.ndarray | float = 0.5, teacher_thresholds: np.ndarray | float | None = None,
             sets: bool = False) -> float:
    """Share of decisions that agree with the teacher's (per label for multilabel).

    For multilabel each side decides with its own per-label thresholds
    (``teacher_thresholds`` defaults to ``thresholds``), and the figure is
    the share of (text, label) decisions that agree. Most of those are "no"
    on both sides, so it sits near 1 for any sensible model; ``sets=True``
    gives the share of texts whose whole label set matches the teacher's
    (the exact match of fidelity).

    Examples
    --------
    >>> fidelity(np.array([[0.2, 0.8], [0.6, 0.4]]), np.array([[0.1, 0.9], [0.3, 0.7]]))
    0.5
    >>> student, teacher = np.array([[0.9, 0.1, 0.1], [0.9, 0.8, 0.1]]), np.array([[0.9, 0.1, 0.1], [0.9, 0.1, 0.1]])
    >>> round(fidelity(student, teacher, "multilabel"), 3), fidelity(student, teacher, "multilabel", sets=True)
    (0.833, 0.5)
    """
    a = decisions(proba, task, thresholds)
    b = decisions(teacher_proba, task, thresholds if teacher_thresholds is None else teacher_thresholds)
    if sets and task == "multilabel":
        return float((a == b).all(axis=1).mean())
    return float((a == b).mean())


def _roc_auc(proba: np.ndarray, y: np.ndarray, task: str) -> float:
    from sklearn.metrics import roc_auc_score

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if task == "binary":
                return float(roc_auc_score(y, proba[:, 1]))
            if task == "multilabel":
                keep = [j for j in range(y.shape[1]) if 0 < y[:, j].sum() < len(y)]
                return float(roc_auc_score(y[:, keep], proba[:, keep], average="macro")) if keep else float("nan")
            present = np.unique(y)
            if len(present) < 2:
                return float("nan")
            p = proba[:, present] / np.clip(proba[:, present].sum(axis=1, keepdims=True), _CLIP, None)
            return float(roc_auc_score(y, p, multi_class="ovr", average="macro", labels=present))
    except ValueError:
        return float("nan")


def score(proba: np.ndarray, y: np.ndarray | None, task: str, teacher_logits: np.ndarray | None = None,
          thresholds: np.ndarray | float = 0.5,
          teacher_thresholds: np.ndarray | float | None = None) -> dict[str, float]:
    """All quality and fidelity figures for one model's probabilities.

    ``y`` are true labels (codes, or a 0/1 matrix for multilabel); without
    them only the teacher-relative figures are computed. Missing figures are
    ``nan``. ``thresholds`` are this model's per-label decision thresholds
    (multilabel), ``teacher_thresholds`` the teacher's, for fidelity.

    Examples
    --------
    >>> p = np.array([[0.2, 0.8], [0.7, 0.3], [0.4, 0.6]])
    >>> s = score(p, np.array([1, 0, 0]), "binary", teacher_logits=np.array([[0, 2.0], [1, 0], [0, 1]]))
    >>> round(s["accuracy"], 3), s["fidelity"]
    (0.667, 1.0)
    """
    from sklearn.metrics import accuracy_score, f1_score

    proba = np.asarray(proba, dtype=np.float64)
    out = dict.fromkeys(METRIC_COLUMNS, float("nan"))
    if y is not None:
        y = np.asarray(y)
        if len(y) != len(proba):
            raise InputError(f"{len(y)} labels for {len(proba)} predictions; pass one label per text")
        pred = decisions(proba, task, thresholds)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out["accuracy"] = float(accuracy_score(y, pred))
            out["f1_macro"] = float(f1_score(y, pred, average="macro", zero_division=0))
            if task == "multilabel":
                out["f1_micro"] = float(f1_score(y, pred, average="micro", zero_division=0))
        out["roc_auc"] = _roc_auc(proba, y, task)
        out["ece"] = expected_calibration_error(proba, y, task)
    if teacher_logits is not None:
        tz = np.asarray(teacher_logits, dtype=np.float64)
        if tz.shape != proba.shape:
            raise InputError(f"teacher_logits have shape {tz.shape} but the predictions {proba.shape}")
        tp = logits_to_proba(tz, task)
        out["fidelity"] = fidelity(proba, tp, task, thresholds, teacher_thresholds)
        if task == "multilabel":
            out["fidelity_sets"] = fidelity(proba, tp, task, thresholds, teacher_thresholds, sets=True)
        out["logit_mse"] = float(np.mean((proba_to_logits(proba, task) - proba_to_logits(tp, task)) ** 2))
        p = np.clip(proba, _CLIP, 1 - _CLIP)
        q = np.clip(tp, _CLIP, 1 - _CLIP)
        if task == "multilabel":
            kl = q * np.log(q / p) + (1 - q) * np.log((1 - q) / (1 - p))
            out["kl_to_teacher"] = float(kl.sum(axis=1).mean())
        else:
            out["kl_to_teacher"] = float((q * np.log(q / p)).sum(axis=1).mean())
    return out


def evaluate(probas: Mapping[str, np.ndarray], y: np.ndarray | None, task: str,
             teacher_logits: np.ndarray | None = None, extra: Mapping[str, Mapping[str, object]] | None = None,
             thresholds: Mapping[str, np.ndarray | float] | None = None,
             teacher_thresholds: np.ndarray | float | None = None):
    """A tidy table (pandas DataFrame, one row per model) of :func:`score` figures.

    ``extra`` adds columns per model (e.g. ``kind``, ``features``, size, latency);
    ``thresholds`` maps a model to its multilabel decision thresholds (0.5
    where absent).

    Examples
    --------
    >>> t = np.array([[0.0, 2.0], [1.0, 0.0]])
    >>> table = evaluate({"a": np.array([[0.3, 0.7], [0.6, 0.4]])}, np.array([1, 0]), "binary", t)
    >>> table.loc["a", ["accuracy", "fidelity"]].tolist()
    [1.0, 1.0]
    """
    import pandas as pd

    rows = {}
    for name, proba in probas.items():
        row = dict((extra or {}).get(name, {}))
        th = (thresholds or {}).get(name, 0.5)
        row.update(score(proba, y, task, teacher_logits, th, teacher_thresholds))
        rows[name] = row
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "model"
    return df


def per_class_scores(proba: np.ndarray, y: np.ndarray, task: str, label_names, thresholds: np.ndarray | float = 0.5,
                     teacher_proba: np.ndarray | None = None,
                     teacher_thresholds: np.ndarray | float | None = None):
    """Precision, recall, F1 and support per class (or label), with per-class fidelity.

    Fidelity of a class: for multilabel, the share of texts on which the
    model and the teacher take the same decision for that label; otherwise,
    the share of the texts the teacher puts in that class that the model
    puts there too.

    Returns
    -------
    pandas.DataFrame
        Indexed by label name.

    Examples
    --------
    >>> p = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    >>> df = per_class_scores(p, np.array([0, 1, 1]), "binary", ["neg", "pos"])
    >>> df.loc["pos", ["precision", "recall", "support"]].tolist()
    [1.0, 0.5, 2.0]
    """
    import pandas as pd
    from sklearn.metrics import precision_recall_fscore_support

    names = [str(n) for n in label_names]
    k = len(names)
    pred = decisions(proba, task, thresholds)
    y = np.asarray(y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if task == "multilabel":
            prec, rec, f1, sup = precision_recall_fscore_support(y, pred, average=None, zero_division=0)
        else:
            prec, rec, f1, sup = precision_recall_fscore_support(y, pred, labels=np.arange(k), average=None,
                                                                 zero_division=0)
    df = pd.DataFrame({"precision": prec, "recall": rec, "f1": f1, "support": sup.astype(float)}, index=names)
    if task == "multilabel":
        df["predicted"] = pred.sum(axis=0).astype(float)
    else:
        df["predicted"] = np.bincount(pred, minlength=k)[:k].astype(float)
    if teacher_proba is not None:
        tdec = decisions(teacher_proba, task, thresholds if teacher_thresholds is None else teacher_thresholds)
        if task == "multilabel":
            df["fidelity"] = (pred == tdec).mean(axis=0)
        else:
            fid = np.full(k, np.nan)
            for c in range(k):
                mask = tdec == c
                if mask.any():
                    fid[c] = float((pred[mask] == c).mean())
            df["fidelity"] = fid
    df.index.name = "label"
    return df


def top_confusions(y: np.ndarray, pred: np.ndarray, label_names, top: int = 15) -> list[tuple[str, str, int]]:
    """The most frequent (true class, predicted class, count) mistakes, largest first.

    Examples
    --------
    >>> top_confusions(np.array([0, 0, 1, 2, 2]), np.array([1, 1, 1, 0, 2]), ["a", "b", "c"])
    [('a', 'b', 2), ('c', 'a', 1)]
    """
    names = [str(n) for n in label_names]
    y = np.asarray(y, dtype=np.int64)
    pred = np.asarray(pred, dtype=np.int64)
    wrong = y != pred
    if not wrong.any():
        return []
    pairs, counts = np.unique(np.c_[y[wrong], pred[wrong]], axis=0, return_counts=True)
    order = np.lexsort((pairs[:, 1], pairs[:, 0], -counts))[:top]
    return [(names[pairs[i, 0]], names[pairs[i, 1]], int(counts[i])) for i in order]
