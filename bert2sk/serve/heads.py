"""A fitted student reduced to what scores one TF-IDF row: a linear map or trees, and a link to probabilities.

The explainers already reduce each student to per-class linear rows
(:func:`~bert2sk.explain.linear_decision`) or trees with a known output
(:func:`~bert2sk.explain.tree_output`); the reasons a head gives are built
from exactly those, so they are the exact attribution's. The probabilities
need one more fact, how the student turns its decision into probabilities
(the link); :func:`bert2sk.serve.compile_scorer` checks that fact against the
pipeline itself before it hands a head out.
"""

from __future__ import annotations

import copy
import math
from array import array
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.multiclass import OneVsRestClassifier
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from ..explain import linear_decision, tree_output
from ..students import DistilledClassifier, SoftTargetClassifier

__all__ = ["LinearHead", "TreeHead", "TreeReasons", "Tree", "Unit", "linear_head", "tree_head", "sigmoid", "softmax"]


def sigmoid(z: float) -> float:
    """The logistic function of one float, without overflow."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def _link(d: np.ndarray, task: str) -> np.ndarray:
    """Probabilities from float64 decisions: binary takes the margin ``d[-1]``."""
    if task == "binary":
        s = sigmoid(float(d[-1]))
        return np.array([1.0 - s, s])
    if task == "multilabel":
        return np.array([sigmoid(float(v)) for v in d.tolist()])
    return softmax(d)


class Unit:
    """One linear model's ``decision_function`` on one sparse row, in the precision scikit-learn computes it.

    A model fitted on float32 TF-IDF keeps float32 weights (logistic
    regression, ridge), and scipy then sums the row's products in float32, in
    column order, before adding the intercept. Summing the same float32
    products in the same order gives the same floats; a float64 sum would
    differ by float32 rounding (about 1e-8 in a probability). A one-output
    model (binary) is summed in plain Python, rounding each step through a
    one-float ``array("f")``: NumPy's per-call cost would dominate.
    """

    def __init__(self, estimator: Any, x_dtype: np.dtype) -> None:
        coef = np.asarray(estimator.coef_)
        self.dtype = np.result_type(x_dtype, coef.dtype)
        self.coef_t = np.ascontiguousarray(np.atleast_2d(coef).T, dtype=self.dtype)  # (n_features, n_outputs)
        self.intercept = estimator.intercept_  # kept as is: NumPy's promotion with it is part of the result
        self.out_dtype = (np.zeros(self.coef_t.shape[1], dtype=self.dtype) + self.intercept).dtype
        single = self.coef_t.shape[1] == 1
        self._w = self.coef_t[:, 0].tolist() if single else None
        self._b = float(np.asarray(self.intercept, dtype=np.float64).reshape(-1)[0]) if single else 0.0
        self._f32 = self.dtype == np.float32
        self._out_f32 = self.out_dtype == np.float32

    def __call__(self, cols: list[int], vals: list[float]) -> np.ndarray:
        if self._w is not None:
            return np.array([self.scalar(cols, vals)], dtype=self.out_dtype)
        if cols:
            products = np.asarray(vals, dtype=self.dtype)[:, None] * self.coef_t[cols]
            acc = np.add.accumulate(products, axis=0)[-1]  # left to right, as scipy's CSR product
        else:
            acc = np.zeros(self.coef_t.shape[1], dtype=self.dtype)
        return acc + self.intercept

    def scalar(self, cols: list[int], vals: list[float]) -> float:
        """The decision of a one-output model as a Python float (holding a float32 where scikit-learn's is one)."""
        w = self._w
        if not self._f32:
            acc = 0.0
            for c, v in zip(cols, vals, strict=True):
                acc += v * w[c]
            return acc + self._b
        buf = array("f", [0.0])
        products = array("f", [v * w[c] for c, v in zip(cols, vals, strict=True)])  # exact float products
        acc = 0.0
        for p in products:
            buf[0] = acc + p  # the exact sum of two floats, rounded to a float, as a float32 addition
            acc = buf[0]
        if self._out_f32:
            buf[0] = acc + self._b
            return buf[0]
        return acc + self._b


def _logistic(d: np.ndarray) -> np.ndarray:
    """``LogisticRegression.predict_proba`` of one decision row, in its own precision."""
    from scipy.special import expit
    from sklearn.utils.extmath import softmax as sk_softmax

    if d.shape[0] == 1:
        p = expit(d)
        return np.concatenate([1 - p, p])
    return sk_softmax(d.reshape(1, -1).copy(), copy=False)[0]


@dataclass
class LinearHead:
    """Exact probabilities from linear units, and the rows the exact attribution explains.

    ``weights_t[:, c]`` and ``intercept[c]`` are the decision of class ``c``
    as :func:`~bert2sk.explain.linear_decision` gives it, so
    ``intercept[c] + sum(contributions)`` is the explained output.
    ``units`` and ``post`` reproduce ``predict_proba``: ``post`` maps the
    units' decisions to probabilities as the student does.
    """

    weights_t: np.ndarray  # (n_features, n_classes) float64
    intercept: np.ndarray  # (n_classes,)
    task: str
    output: str  # what the explained decision is, in words
    units: list[Unit]
    post: Any  # callable: list of decision arrays -> probabilities
    direct: Any = None  # callable: (cols, vals) -> probabilities, where one plain-Python path does it all

    def __post_init__(self) -> None:
        n = self.weights_t.shape[0]
        # binary reasons read two rows as plain floats: a NumPy fancy index costs more than the products
        self._rows = ([self.weights_t[:, 0].tolist(), self.weights_t[:, 1].tolist()]
                      if self.weights_t.shape[1] == 2 and n else None)

    def proba(self, cols: list[int], vals: list[float]) -> np.ndarray:
        if self.direct is not None:
            return self.direct(cols, vals)
        return np.asarray(self.post([u(cols, vals) for u in self.units]), dtype=np.float64)

    def contributions(self, cols: list[int], vals: list[float], c: int) -> list[float]:
        """Each term's share of class ``c``'s decision: ``tfidf * W[c, term]`` (the exact attribution)."""
        if not cols:
            return []
        if self._rows is not None:
            w = self._rows[c]
            return [v * w[col] for col, v in zip(cols, vals, strict=True)]
        return (np.asarray(vals, dtype=np.float64) * self.weights_t[cols, c]).tolist()

    def base(self, c: int) -> float:
        return float(self.intercept[c])


def _is_linear(est: Any) -> bool:
    return hasattr(est, "coef_") and hasattr(est, "intercept_") and not hasattr(est.coef_, "toarray")


def _distilled_units(student: DistilledClassifier, task: str, x_dtype: np.dtype) -> tuple | None:
    inner = student.estimator_
    ests = list(inner.estimators_) if hasattr(inner, "estimators_") else [inner]
    if not all(_is_linear(e) for e in ests):
        return None
    t = float(student.temperature)
    units = [Unit(e, x_dtype) for e in ests]
    if task == "binary" and len(units) == 1 and units[0]._w is not None:
        unit = units[0]

        def margin(cols: list[int], vals: list[float]) -> np.ndarray:
            s = sigmoid(unit.scalar(cols, vals) * t)
            return np.array([1.0 - s, s])

        return units, None, margin

    def post(ds: list[np.ndarray]) -> np.ndarray:
        d = np.concatenate([np.atleast_1d(np.asarray(x, dtype=np.float64)) for x in ds]) * t
        return _link(d, task)

    return units, post, None


def _classifier_post(est: Any, n_classes: int) -> Any:
    """How a linear classifier's decision becomes ``SoftTargetClassifier._full_proba``'s row."""
    columns = np.asarray(est.classes_, dtype=int)
    has_proba = hasattr(est, "predict_proba")

    def post(d: np.ndarray) -> np.ndarray:
        if has_proba:
            part = _logistic(d)
        else:
            part = softmax(np.r_[-d[0], d[0]] / 2 if d.shape[0] == 1 else np.asarray(d, dtype=np.float64))
        out = np.zeros(n_classes)
        out[columns] = part
        return out

    return post


def _linear_units(student: Any, task: str, n_classes: int, x_dtype: np.dtype) -> tuple | None:
    """``(units, post, direct)`` reproducing the student's ``predict_proba``, or ``None`` for a student without one."""
    from sklearn.linear_model import LogisticRegression

    if isinstance(student, DistilledClassifier):
        return _distilled_units(student, task, x_dtype)
    if isinstance(student, SoftTargetClassifier):
        ests = list(student.estimator_) if task == "multilabel" else [student.estimator_]
        if not all(_is_linear(e) for e in ests):
            return None
        if task == "multilabel":
            posts = [_classifier_post(e, 2) for e in ests]
            units = [Unit(e, x_dtype) for e in ests]
            return units, lambda ds: np.array([f(d)[1] for f, d in zip(posts, ds, strict=True)]), None
        f = _classifier_post(ests[0], n_classes)
        return [Unit(ests[0], x_dtype)], lambda ds: f(ds[0]), None
    if isinstance(student, OneVsRestClassifier) and task == "multilabel":
        ests = list(student.estimators_)
        if not all(isinstance(e, LogisticRegression) for e in ests):
            return None
        return [Unit(e, x_dtype) for e in ests], lambda ds: np.array([_logistic(d)[1] for d in ds]), None
    if isinstance(student, LogisticRegression):
        return [Unit(student, x_dtype)], lambda ds: _logistic(ds[0]), None
    return None


def linear_head(student: Any, task: str, n_classes: int, x_dtype: Any = np.float64) -> LinearHead | None:
    """The linear head of a fitted student, or ``None`` when it has no linear decision bert2sk compiles."""
    parts = linear_decision(student, n_classes)
    units = _linear_units(student, task, n_classes, np.dtype(x_dtype))
    if parts is None or units is None:
        return None
    w, b, what = parts
    return LinearHead(np.ascontiguousarray(np.asarray(w, dtype=np.float64).T), np.asarray(b, dtype=np.float64),
                      task, what, *units)


# --------------------------------------------------------------------------- trees


class Tree:
    """A fitted scikit-learn tree as plain lists: one text walks it in a few microseconds.

    A missing column is 0.0, as in a sparse TF-IDF row; the comparison is
    scikit-learn's, ``x[feature] <= threshold`` with ``x`` the stored float.
    """

    def __init__(self, estimator: Any) -> None:
        t = estimator.tree_
        self.left = t.children_left.tolist()
        self.right = t.children_right.tolist()
        self.feature = t.feature.tolist()
        self.threshold = t.threshold.tolist()
        self.value = np.asarray(t.value, dtype=np.float64)

    def leaf(self, row: dict[int, float]) -> int:
        node = 0
        left, right, feature, threshold = self.left, self.right, self.feature, self.threshold
        while left[node] != -1:
            node = left[node] if row.get(feature[node], 0.0) <= threshold[node] else right[node]
        return node


def _class_fractions(tree: Tree, leaf: int, n_classes: int) -> np.ndarray:
    """``DecisionTreeClassifier.predict_proba`` of one leaf: the leaf's class weights, normalised."""
    p = tree.value[leaf, 0, :n_classes].copy()
    total = p.sum()
    return p / (total if total != 0.0 else 1.0)


@dataclass
class TreeHead:
    """Trees and how their leaves become probabilities.

    ``mode`` is ``"regression"`` (one regressor of teacher logits, scaled by
    ``temperature``, then the task's link), ``"classifier"`` (one tree's class
    fractions, placed at ``columns``) or ``"per-label"`` (one binary tree per
    label; the probability of its class ``1``).
    """

    trees: list[Tree]
    mode: str
    task: str
    n_classes: int
    temperature: float = 1.0
    columns: list[int] | None = None  # classifier: the class index of each of the tree's outputs
    positive: list[int | None] | None = None  # per-label: where class 1 sits in each tree's classes, if anywhere

    def proba(self, cols: list[int], vals: list[float]) -> np.ndarray:
        row = dict(zip(cols, vals, strict=True))
        if self.mode == "regression":
            tree = self.trees[0]
            d = tree.value[tree.leaf(row), :, 0] * self.temperature
            return _link(d, self.task)
        if self.mode == "classifier":
            tree = self.trees[0]
            out = np.zeros(self.n_classes)
            out[self.columns] = _class_fractions(tree, tree.leaf(row), len(self.columns))
            return out
        out = np.zeros(self.n_classes)
        for j, (tree, pos) in enumerate(zip(self.trees, self.positive, strict=True)):
            if pos is not None:
                out[j] = _class_fractions(tree, tree.leaf(row), tree.value.shape[2])[pos]
        return out


def _classes_of(est: Any) -> list[int] | None:
    try:
        return [int(c) for c in np.asarray(est.classes_).tolist()]
    except (TypeError, ValueError):  # string class labels: not a student's integer codes
        return None


def _per_label(estimators: list[Any], task: str) -> TreeHead | None:
    if not all(isinstance(e, DecisionTreeClassifier) and e.n_outputs_ == 1 for e in estimators):
        return None
    classes = [_classes_of(e) for e in estimators]
    if any(c is None for c in classes):
        return None
    positive = [c.index(1) if 1 in c else None for c in classes]
    return TreeHead([Tree(e) for e in estimators], "per-label", task, len(estimators), positive=positive)


def _one_classifier(est: Any, task: str, n_classes: int) -> TreeHead | None:
    if not isinstance(est, DecisionTreeClassifier) or est.n_outputs_ != 1:
        return None
    columns = _classes_of(est)
    if columns is None or not all(0 <= c < n_classes for c in columns):
        columns = list(range(len(est.classes_))) if len(est.classes_) == n_classes else None
    if columns is None:
        return None
    return TreeHead([Tree(est)], "classifier", task, n_classes, columns=columns)


def tree_head(student: Any, task: str, n_classes: int) -> TreeHead | None:
    """The tree head of a fitted student, or ``None`` when it is not one of bert2sk's tree students."""
    if isinstance(student, DistilledClassifier):
        inner = student.estimator_
        if not isinstance(inner, DecisionTreeRegressor):
            return None
        return TreeHead([Tree(inner)], "regression", task, n_classes, temperature=float(student.temperature))
    if isinstance(student, SoftTargetClassifier):
        if task == "multilabel":
            return _per_label(list(student.estimator_), task)
        return _one_classifier(student.estimator_, task, n_classes)
    if isinstance(student, OneVsRestClassifier):
        return _per_label(list(student.estimators_), task) if task == "multilabel" else None
    if isinstance(student, DecisionTreeClassifier):
        return _one_classifier(student, task, n_classes)
    return None


# --------------------------------------------------------------------------- tree reasons


class TreeReasons:
    """Exact tree SHAP of one text for one class, as :func:`~bert2sk.explain.explain_tree` computes it.

    shap's TreeExplainer is built once per tree, on a copy whose features are
    renumbered to the few columns the tree splits on, so a text costs a row of
    that width instead of the whole vocabulary. TreeSHAP only reads the
    features a tree splits on, so the values are those of the full row.
    """

    def __init__(self, student: Any) -> None:
        self.student = student
        self._cache: dict[int, tuple[Any, np.ndarray]] = {}

    def _explainer(self, tree: Any) -> tuple[Any, np.ndarray]:
        key = id(tree)
        if key not in self._cache:
            import shap
            from sklearn.tree._tree import Tree as SkTree

            state = tree.tree_.__getstate__()
            nodes = state["nodes"].copy()
            used = np.unique(nodes["feature"][nodes["feature"] >= 0])
            used = used if used.size else np.array([0])
            remap = {int(f): i for i, f in enumerate(used.tolist())}
            nodes["feature"] = [remap.get(int(f), int(f)) for f in nodes["feature"].tolist()]
            small = SkTree(len(used), np.asarray(tree.tree_.n_classes, dtype=np.intp), tree.tree_.n_outputs)
            small.__setstate__({**state, "nodes": nodes})
            compact = copy.copy(tree)
            compact.tree_ = small
            compact.n_features_in_ = len(used)
            self._cache[key] = (shap.TreeExplainer(compact), used)
        return self._cache[key]

    def __call__(self, cols: list[int], vals: list[float], c: int) -> tuple[list[int], list[float], float] | None:
        """``(columns, weights, base)`` of class ``c``: the row's non-zero SHAP values, or ``None`` without a tree."""
        spec = tree_output(self.student, c)
        if spec is None:
            return None
        tree, col, scale, _ = spec
        explainer, used = self._explainer(tree)
        row = dict(zip(cols, vals, strict=True))
        dense = np.array([[row.get(int(f), 0.0) for f in used.tolist()]], dtype=np.float64)
        values, base = _shap_values(explainer, dense)
        if values.ndim == 2:
            j = col if col is not None else 0
            values, base0 = values[:, j], base[j]
        else:
            base0 = base[0]
        values = values * scale
        nz = np.flatnonzero(values)
        order = np.argsort(used[nz], kind="stable")
        return used[nz][order].tolist(), values[nz][order].tolist(), float(base0 * scale)


def _shap_values(explainer: Any, dense: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """TreeSHAP of one row; where shap's additivity check fails (very deep trees), its Saabas values.

    The same fallback as :func:`~bert2sk.explain.explain_tree`, so both give the same reasons.
    """
    import shap

    try:
        ex = explainer(dense)
        return np.asarray(ex.values)[0], np.asarray(ex.base_values).reshape(-1)
    except shap.utils._exceptions.ExplainerError:
        vals = np.asarray(explainer.shap_values(dense, approximate=True))
        vals = vals[0] if vals.ndim == 3 or (vals.ndim == 2 and vals.shape[0] == 1) else vals
        return vals, np.asarray(explainer.expected_value, dtype=np.float64).reshape(-1)
