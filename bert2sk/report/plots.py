"""The report's figures as inline SVG strings (matplotlib; text stays text, escaped by the SVG writer)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

ROLE_COLOURS = {"teacher": "#6a3d9a", "baseline": "#8c8c8c", "distilled": "#1f77b4", "published": "#d62728"}
_RC = {"svg.fonttype": "none", "font.size": 8, "font.family": "DejaVu Sans", "axes.spines.top": False,
       "axes.spines.right": False, "axes.grid": True, "grid.color": "#e6e6e6", "grid.linewidth": 0.6,
       "svg.hashsalt": "bert2sk"}


def _safe(s: object) -> str:
    # $ starts matplotlib mathtext; model and label names must print literally
    return str(s).replace("$", r"\$")


def _fig(w: float, h: float):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(w, h))


def figure_svg(fig: Any) -> str:
    """A matplotlib figure as an inline ``<svg>`` element: no XML prolog, DOCTYPE or metadata; closes the figure."""
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


def tree_svg(view: Any, max_depth: int = 3, width: float = 9.0, height: float = 4.2) -> str:
    """The top of a tree student (a :class:`~bert2sk.explain.TreeView`) drawn by ``sklearn.tree.plot_tree``."""
    import matplotlib.pyplot as plt
    from sklearn.tree import plot_tree

    tree = view.tree
    names = [_safe(view.feature_names.get(j, f"x[{j}]")) for j in range(tree.n_features_in_)]
    cn = None if view.class_names is None else [_safe(c) for c in view.class_names]
    with plt.rc_context({"svg.fonttype": "none", "font.size": 7}):
        fig, ax = _fig(width, height)
        plot_tree(tree, max_depth=max_depth, feature_names=names, class_names=cn, filled=True, rounded=True,
                  impurity=False, proportion=False, precision=2, fontsize=7, ax=ax)
        return figure_svg(fig)


def accuracy_latency_svg(rows: Sequence[dict], key: str = "accuracy", label: str = "test accuracy") -> str:
    """Quality (``rows[i][key]``, accuracy by default) against single-text latency (log x), bubble area ~ size."""
    import matplotlib.pyplot as plt

    with plt.rc_context(_RC):
        fig, ax = _fig(6.4, 3.9)
        sizes = np.array([max(r["size_mb"] or 0.0, 1e-3) for r in rows])
        area = 30 + 900 * np.sqrt(sizes / sizes.max())
        for i, (r, a) in enumerate(zip(rows, area, strict=True)):
            lat, acc = r["latency_ms"], r[key]
            if lat is None or acc is None or not np.isfinite(lat) or not np.isfinite(acc):
                continue
            ax.scatter(lat, acc, s=a, color=ROLE_COLOURS.get(r["role"], "#333"), alpha=0.45, edgecolor="white",
                       linewidth=0.8)
            ax.annotate(_safe(r["short"]), (lat, acc), xytext=(5, (4, -9, 12, -16)[i % 4]),
                        textcoords="offset points", fontsize=6.5, color="#333")
        ax.set_xscale("log")
        ax.set_xlabel("latency per text (ms, log scale)")
        ax.set_ylabel(_safe(label))
        for role, c in ROLE_COLOURS.items():
            if any(r["role"] == role for r in rows):
                ax.scatter([], [], s=40, color=c, alpha=0.6, label=role)
        ax.legend(loc="lower right", frameon=False, fontsize=7, title="bubble area ~ model size", title_fontsize=6.5)
        return figure_svg(fig)


def reliability_svg(curves: Sequence[dict], what: str) -> str:
    """Reliability diagram: mean predicted probability against observed frequency per bin."""
    import matplotlib.pyplot as plt

    with plt.rc_context(_RC):
        fig, ax = _fig(3.6, 3.3)
        ax.plot([0, 1], [0, 1], ls="--", color="#999", lw=0.8, label="perfect calibration")
        cmap = plt.get_cmap("tab10")
        for i, c in enumerate(curves):
            colour = ROLE_COLOURS["teacher"] if c["role"] == "teacher" else cmap(i % 10)
            ax.plot(c["x"], c["y"], marker="o", ms=2.5, lw=1.6 if c["role"] == "teacher" else 1.0,
                    ls="-" if c["role"] != "baseline" else ":", color=colour, label=_safe(c["short"]))
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel(_safe(f"mean predicted probability ({what})"))
        ax.set_ylabel("observed frequency")
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, fontsize=6, ncol=1)
        return figure_svg(fig)


def fidelity_svg(rows: Sequence[dict], key: str = "fidelity",
                 label: str = "fidelity (share of test texts where the student decides as the teacher)") -> str:
    """Horizontal bars: each student's agreement with the teacher's decisions (``rows[i][key]``)."""
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r["role"] != "teacher" and r[key] is not None and np.isfinite(r[key])]
    with plt.rc_context(_RC):
        fig, ax = _fig(5.2, 0.6 + 0.26 * max(len(rows), 1))
        y = np.arange(len(rows))[::-1]
        ax.barh(y, [r[key] for r in rows], color=[ROLE_COLOURS[r["role"]] for r in rows], height=0.65)
        for yi, r in zip(y, rows, strict=True):
            ax.text(min(r[key], 1.0) + 0.01, yi, f"{r[key]:.3f}", va="center", fontsize=6.5)
        ax.set_yticks(y, [_safe(r["short"]) for r in rows], fontsize=6.5)
        ax.set_xlim(0, 1.1)
        ax.set_xlabel(_safe(label))
        ax.grid(axis="y", visible=False)
        return figure_svg(fig)


def confusion_svg(matrix: np.ndarray, names: Sequence[str], title: str) -> str:
    """A confusion matrix (rows: true class, columns: predicted) as a heatmap with counts."""
    import matplotlib.pyplot as plt

    m = np.asarray(matrix)
    k = len(names)
    with plt.rc_context({**_RC, "axes.grid": False}):
        fig, ax = _fig(1.6 + 0.36 * k, 1.2 + 0.32 * k)
        ax.imshow(m, cmap="Blues", vmin=0, vmax=max(int(m.max()), 1))
        for i in range(k):
            for j in range(k):
                if m[i, j]:
                    ax.text(j, i, str(int(m[i, j])), ha="center", va="center", fontsize=6.5,
                            color="white" if m[i, j] > 0.6 * m.max() else "#222")
        labels = [_safe(n) for n in names]
        ax.set_xticks(range(k), labels, rotation=55, ha="right", fontsize=6.5)
        ax.set_yticks(range(k), labels, fontsize=6.5)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(_safe(title), fontsize=7.5)
        return figure_svg(fig)


def reliability_curve(proba: np.ndarray, y: np.ndarray, task: str, n_bins: int = 10) -> tuple[list, list, str]:
    """Points of a reliability diagram and what probability they use."""
    proba = np.asarray(proba, dtype=np.float64)
    y = np.asarray(y)
    if task == "binary":
        p, hit, what = proba[:, 1], (y == 1).astype(float), "positive class"
    elif task == "multiclass":
        p, hit, what = proba.max(axis=1), (proba.argmax(axis=1) == y).astype(float), "top class"
    else:
        p, hit, what = proba.ravel(), np.asarray(y, dtype=float).ravel(), "each label"
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    xs, ys = [], []
    for b in range(n_bins):
        m = bins == b
        if m.sum() >= 1:
            xs.append(float(p[m].mean()))
            ys.append(float(hit[m].mean()))
    return xs, ys, what
