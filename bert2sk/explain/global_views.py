"""Whole-model views: strongest terms of a linear student, rules of a tree, SHAP summaries.

All return plain data (lists, dicts, strings, :class:`TreeView`); drawing
them is the report's job (:mod:`bert2sk.report.plots`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError
from ._models import linear_decision, tree_output, view
from .attribution import Attribution

__all__ = ["linear_terms", "tree_rules", "tree_view", "TreeView", "shap_summary"]


def linear_terms(model: Any, k: int = 10, class_names: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Strongest positive and negative TF-IDF terms of a linear student, per class.

    Binary models give one entry (the positive class); multiclass and
    multilabel give one per class or label.

    Returns
    -------
    list of dict
        ``{"class": name, "positive": [(term, coef), ...], "negative": [...], "output": what}``

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.linear_model import LogisticRegression
    >>> from bert2sk.features import TfidfFeatures
    >>> pipe = make_pipeline(TfidfFeatures(min_df=1), LogisticRegression())
    >>> _ = pipe.fit(["a good film", "a bad film", "good fun", "bad plot"], [1, 0, 1, 0])
    >>> view = linear_terms(pipe, k=1, class_names=["neg", "pos"])
    >>> view[0]["class"], view[0]["positive"][0][0], view[0]["negative"][0][0]
    ('pos', 'good', 'bad')
    """
    mv = view(model, class_names=class_names)
    if mv.vectorizer is None:
        raise InputError(f"{mv.name!r} is not a TF-IDF pipeline; linear terms need named features")
    parts = linear_decision(mv.student)
    if parts is None:
        raise InputError(f"{type(mv.student).__name__} is not a linear student")
    w, _, what = parts
    names = mv.vectorizer.get_feature_names_out()
    cnames = list(class_names or mv.class_names or [f"class {i}" for i in range(w.shape[0])])
    rows = [1] if w.shape[0] == 2 and mv.task == "binary" else range(w.shape[0])
    out = []
    for c in rows:
        order = np.argsort(w[c])
        pos = [(str(names[j]), float(w[c, j])) for j in order[::-1][:k] if w[c, j] > 0]
        neg = [(str(names[j]), float(w[c, j])) for j in order[:k] if w[c, j] < 0]
        out.append({"class": cnames[c] if c < len(cnames) else f"class {c}", "positive": pos, "negative": neg,
                    "output": what})
    return out


def _tree_of(model: Any):
    mv = view(model)
    if mv.vectorizer is None:
        raise InputError(f"{mv.name!r} is not a TF-IDF pipeline; tree rules need named features")
    spec = tree_output(mv.student, 1 if mv.task == "binary" else 0)
    if spec is None:
        raise InputError(f"{type(mv.student).__name__} is not a tree student")
    return mv, spec[0]


def tree_rules(model: Any, max_depth: int = 4) -> str:
    """The tree's rules as indented text (``sklearn.tree.export_text``), depth-limited.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from bert2sk.features import TfidfFeatures
    >>> pipe = make_pipeline(TfidfFeatures(min_df=1), DecisionTreeClassifier(random_state=0))
    >>> _ = pipe.fit(["a good film", "a bad film", "good fun", "bad plot"], [1, 0, 1, 0])
    >>> print(tree_rules(pipe).splitlines()[0])
    |--- bad <= 0.24
    """
    from sklearn.tree import export_text

    mv, tree = _tree_of(model)
    names = [str(n) for n in mv.vectorizer.get_feature_names_out()]
    return export_text(tree, feature_names=names, max_depth=max_depth, decimals=2)


@dataclass
class TreeView:
    """The top of a tree student as data: its rules as text, and what a drawing of it needs.

    Attributes
    ----------
    rules : str
        ``sklearn.tree.export_text`` of the tree, depth-limited.
    feature_names : dict of int to str
        The TF-IDF term of every feature the tree splits on.
    class_names : list of str or None
        Names of the tree's output columns when it is a classifier over the
        study's classes, else ``None``.
    output : str
        What the tree predicts, in words.
    tree : DecisionTreeRegressor or DecisionTreeClassifier
        The fitted tree itself (a reference, for plotting; not serialised).
    """

    rules: str
    feature_names: dict[int, str]
    class_names: list[str] | None
    output: str
    tree: Any = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (without the tree object)."""
        return {"rules": self.rules, "feature_names": {str(k): v for k, v in self.feature_names.items()},
                "class_names": self.class_names, "output": self.output}


def tree_view(model: Any, max_depth: int = 4, class_names: Sequence[str] | None = None) -> TreeView:
    """The rules of a tree student and the names a drawing of its top needs.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from bert2sk.features import TfidfFeatures
    >>> pipe = make_pipeline(TfidfFeatures(min_df=1), DecisionTreeClassifier(random_state=0))
    >>> _ = pipe.fit(["a good film", "a bad film", "good fun", "bad plot"], [1, 0, 1, 0])
    >>> tv = tree_view(pipe, class_names=["neg", "pos"])
    >>> sorted(tv.feature_names.values()), tv.class_names
    (['bad'], ['neg', 'pos'])
    """
    mv, tree = _tree_of(model)
    names = mv.vectorizer.get_feature_names_out()
    used = np.unique(tree.tree_.feature[tree.tree_.feature >= 0])
    cn = None
    if hasattr(tree, "classes_") and class_names is not None and len(tree.classes_) == len(class_names):
        cn = [str(c) for c in class_names]
    spec = tree_output(mv.student, 1 if mv.task == "binary" else 0)
    return TreeView(tree_rules(model, max_depth=max_depth), {int(j): str(names[j]) for j in used}, cn, spec[3],
                    tree)


def shap_summary(attributions: Iterable[Attribution], k: int = 15) -> list[tuple[str, float, int]]:
    """Mean ``|attribution|`` per word over the explained documents, strongest first.

    Returns ``(word, mean |weight| over the documents, number of documents containing it)``.

    Examples
    --------
    >>> a = Attribution("good film", ["good", "film"], [(0, 4), (5, 9)], [0.8, -0.1], 1, 1, ["n", "p"], "lime")
    >>> b = Attribution("bad film", ["bad", "film"], [(0, 3), (4, 8)], [-0.6, 0.1], 0, 1, ["n", "p"], "lime")
    >>> shap_summary([a, b], k=2)
    [('good', 0.4, 1), ('bad', 0.3, 1)]
    """
    totals: dict[str, float] = {}
    counts: dict[str, int] = {}
    n = 0
    for a in attributions:
        n += 1
        for word, w in a.word_scores().items():
            totals[word] = totals.get(word, 0.0) + abs(w)
            counts[word] = counts.get(word, 0) + 1
    if n == 0:
        return []
    items = sorted(((w, t / n, counts[w]) for w, t in totals.items()), key=lambda x: (-x[1], x[0]))
    return [(w, round(v, 12), c) for w, v, c in items[:k]]
