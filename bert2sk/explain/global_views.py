"""Whole-model views: strongest terms of a linear student, rules of a tree, SHAP summaries.

All return plain data (lists, dicts, strings); the tree drawing is an SVG
string made by matplotlib, with text escaped by matplotlib's SVG writer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from ._models import linear_decision, tree_output, view
from .attribution import Attribution

__all__ = ["linear_terms", "tree_rules", "tree_svg", "shap_summary", "figure_svg"]


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


def _tex_safe(s: str) -> str:
    # matplotlib parses $...$ as mathtext; user label names must stay literal
    return str(s).replace("$", r"\$")


def figure_svg(fig: Any) -> str:
    """A matplotlib figure as an inline ``<svg>`` element: no XML prolog, DOCTYPE or metadata."""
    import io

    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None, "Format": None,
                                                                   "Type": None})
    plt.close(fig)
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.S)
    # a fixed pixel size would overflow narrow columns; the viewBox keeps the aspect ratio
    svg = re.sub(r'(<svg[^>]*?)\s+width="([^"]*)"\s+height="[^"]*"',
                 r'\1 style="width:100%;max-width:\2;height:auto"', svg, count=1)
    return svg


def tree_svg(model: Any, max_depth: int = 3, class_names: Sequence[str] | None = None,
             width: float = 9.0, height: float = 4.2) -> str:
    """The top of the tree drawn with ``sklearn.tree.plot_tree`` as an inline SVG string."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.tree import plot_tree

    mv, tree = _tree_of(model)
    names = [_tex_safe(n) for n in mv.vectorizer.get_feature_names_out()]
    cn = None
    if hasattr(tree, "classes_") and class_names is not None and len(tree.classes_) == len(class_names):
        cn = [_tex_safe(c) for c in class_names]
    with plt.rc_context({"svg.fonttype": "none", "font.size": 7}):
        fig, ax = plt.subplots(figsize=(width, height))
        plot_tree(tree, max_depth=max_depth, feature_names=names, class_names=cn, filled=True, rounded=True,
                  impurity=False, proportion=False, precision=2, fontsize=7, ax=ax)
        return figure_svg(fig)


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
