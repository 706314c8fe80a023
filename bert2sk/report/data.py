"""Everything the HTML report shows, as plain data: a StudyResult and its explanations, formatted.

Explanations are computed by :func:`bert2sk.explain.explain_study`; this
module only lays numbers, texts and figures out for the template: numbers
arrive formatted, figures arrive as SVG strings, and texts arrive as
segments of the *original* characters with a highlight level, so the
template never has to mark user text safe.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Sequence
from pathlib import Path, PureWindowsPath
from typing import Any

import numpy as np

from ..explain import (
    BR_PATTERN,
    AgreementResult,
    Attribution,
    DocumentExplanations,
    GlobalView,
    StudyExplanations,
    explain_study,
    pick_documents,
)
from ..metrics import per_class_scores, top_confusions
from . import plots

__all__ = ["build_report_data", "highlight_segments", "teacher_name"]

_FEATURE_ORDER = {"text": 0, "tfidf": 1, "embeddings": 2}
_FAMILY_ORDER = {"transformer": 0, "linear": 1, "tree": 2, "svm": 3}
_ROLE_ORDER = {"teacher": 0, "baseline": 1, "distilled": 2}
# (column, label, higher is better?, decimals)
_METRICS = [
    ("accuracy", "Accuracy", True, 3), ("f1_macro", "F1 (macro)", True, 3), ("roc_auc", "ROC-AUC", True, 3),
    ("fidelity", "Fidelity", True, 3), ("ece", "ECE", False, 3), ("size_mb", "Size (MB)", False, 2),
    ("latency_ms", "Latency (ms)", False, 2),
]
_MULTILABEL_METRICS = [("accuracy", "Exact match", True, 3), ("f1_micro", "F1 (micro)", True, 3),
                       *_METRICS[1:4], ("fidelity_sets", "Fidelity (sets)", True, 3), *_METRICS[4:]]
_LEVELS = 5
_MAX_CLASSES_SHOWN = 8


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _fmt(v: float | None, d: int) -> str:
    return "–" if v is None else f"{v:,.{d}f}"


def _short(name: str) -> str:
    return (name.replace("baseline · ", "base · ").replace("distilled · ", "dist · ")
            .replace("logit regression", "logit").replace("soft targets", "soft"))


def _sort_key(m: Any) -> tuple:
    return (_FEATURE_ORDER.get(m.features, 9), _FAMILY_ORDER.get(m.family, 9), _ROLE_ORDER.get(m.role, 9), m.kind)


def _metrics(task: str) -> list[tuple[str, str, bool, int]]:
    # multilabel accuracy is exact-match over all labels, so micro-F1 is the headline figure there
    return _MULTILABEL_METRICS if task == "multilabel" else _METRICS


def _summary_rows(result: Any) -> list[dict[str, Any]]:
    table = result.table
    metrics = _metrics(result.task)
    models = sorted(result.models.values(), key=lambda m: (m.role != "teacher", *_sort_key(m)))
    rows = []
    for m in models:
        rec = table.loc[m.name] if m.name in table.index else {}
        row: dict[str, Any] = {"name": m.name, "short": _short(m.name), "role": m.role, "family": m.family,
                               "kind": m.kind, "features": m.features}
        deferred = _num(rec.get("deferred")) if hasattr(rec, "get") else None
        if m.family == "cascade" and deferred is not None:  # what share of texts paid for the slow part
            row["kind"] = f"{m.kind}; deferred {deferred:.1%} of the test texts"
        for col, *_ in metrics:
            row[col] = _num(rec.get(col)) if hasattr(rec, "get") else None
        row["latency_std_ms"] = _num(rec.get("latency_std_ms")) if hasattr(rec, "get") else None
        rows.append(row)
    for col, _, higher, d in metrics:
        # the teacher's fidelity to itself is 1 by definition; it must not win that column
        self_fid = col.startswith("fidelity")
        pool = [r[col] for r in rows if r[col] is not None and not (self_fid and r["role"] == "teacher")]
        best = (max(pool) if higher else min(pool)) if pool else None
        for r in rows:
            v = r[col]
            r[f"{col}_fmt"] = _fmt(v, d)
            r[f"{col}_best"] = best is not None and v is not None and round(v, d) == round(best, d) \
                and not (self_fid and r["role"] == "teacher")
    for r in rows:
        if r["latency_std_ms"] is not None and r["latency_ms"] is not None:
            r["latency_ms_fmt"] += f" ± {r['latency_std_ms']:.2f}"
    return rows


def _group_rows(rows: list[dict]) -> list[dict]:
    """Rows grouped under headings: the teacher, then each feature kind."""
    groups: list[dict] = []
    for r in rows:
        title = "teacher" if r["role"] == "teacher" else f"students on {r['features']}"
        if not groups or groups[-1]["title"] != title:
            groups.append({"title": title, "rows": []})
        groups[-1]["rows"].append(r)
    return groups



# --------------------------------------------------------------------------- highlighting


def highlight_segments(attr: Attribution, limit: int | None = None, scale: float | None = None) -> list[dict]:
    """The text cut into segments of original characters, each with a signed highlight level.

    Level ``+1..+5`` supports the explained class, ``-1..-5`` speaks against
    it, ``0`` is plain text. ``parts`` splits a segment at ``<br />`` tags so a
    template can join escaped parts with line breaks.

    Examples
    --------
    >>> a = Attribution("Good, bad<br />ok", ["Good", "bad", "ok"], [(0, 4), (6, 9), (15, 17)],
    ...                 [1.0, -0.5, 0.0], 1, 1, ["n", "p"], "lime")
    >>> [(s["parts"], s["level"]) for s in highlight_segments(a)]
    [(['Good'], 5), ([', '], 0), (['bad'], -3), (['', 'ok'], 0)]
    """
    text = attr.text if limit is None else attr.text[:limit]
    m = scale if scale else max((abs(w) for w in attr.weights), default=0.0)
    segs: list[dict] = []

    def add(s: str, level: int, weight: float | None) -> None:
        if not s:
            return
        if level == 0 and segs and segs[-1]["level"] == 0:
            segs[-1]["text"] += s
        else:
            segs.append({"text": s, "level": level, "weight": weight})

    pos = 0
    for (s, e), w in zip(attr.spans, attr.weights, strict=True):
        if s >= len(text):
            break
        add(text[pos:s], 0, None)
        r = abs(w) / m if m > 0 else 0.0
        # words under 15% of the strongest weight stay plain: the eye finds the few that matter
        level = 0 if r < 0.15 else min(_LEVELS, 1 + int(r * _LEVELS))
        add(text[s:e], int(math.copysign(level, w)) if level else 0, w if level else None)
        pos = e
    add(text[pos:], 0, None)
    for seg in segs:
        seg["parts"] = BR_PATTERN.split(seg.pop("text"))
        seg["title"] = None if seg["weight"] is None else f"{seg['weight']:+.4g}"
        del seg["weight"]
    return segs


def _prediction(result: Any, proba_row: np.ndarray, thresholds: np.ndarray | float = 0.5) -> tuple[str, float]:
    names = list(result.label_names)
    if result.task == "multilabel":
        on = [names[j] for j in np.flatnonzero(proba_row >= thresholds)]
        return (", ".join(on) if on else "(no label)"), float(proba_row.max())
    j = int(proba_row.argmax())
    return names[j], float(proba_row[j])


def _true_label(result: Any, i: int) -> str:
    names = [str(n) for n in result.label_names]
    truth = result.y_test[i]
    if result.task == "multilabel":
        on = [names[j] for j in np.flatnonzero(np.asarray(truth) == 1)]
        return ", ".join(on) if on else "(no label)"
    return names[int(truth)]


def _panel(attr: Attribution, role: str, limit: int) -> dict:
    return {
        "model": attr.model, "short": _short(attr.model), "role": role,
        "method": attr.method, "explained": attr.explained_name,
        "segments": highlight_segments(attr, limit),
        "top": [(w, f"{v:+.3g}") for w, v in attr.top(5)],
        "empty": not attr.tokens,
        "exact": _exact_sum(attr),
    }


def _exact_sum(attr: Attribution) -> str:
    """The per-token split of a static student's decision, in one line (empty for other methods)."""
    if attr.method != "static-exact":
        return ""
    return (f"intercept {attr.base_value:+.3f} + {len(attr.terms)} token contributions "
            f"{sum(attr.term_weights):+.3f} = {attr.output:+.3f} ({attr.settings.get('output', 'decision')})")


def _panel_rows(panels: list[list[dict]], shown: list[Any]) -> list[list[dict]]:
    """Panels laid out one row per (features, family): the baseline next to its distilled students."""
    rows: list[list[dict]] = []
    key = None
    flat = [p for group in panels for p in group]
    for p in flat:
        m = next(m for m in shown if m.name == p["model"])
        k = (m.features, m.family)
        if k != key:
            rows.append([])
            key = k
        rows[-1].append(p)
    return rows


def _document(result: Any, doc: DocumentExplanations, n: int, shown: list[Any], max_chars: int) -> dict:
    """One explained document: every model's prediction, the teacher's panels, the students' panels in rows."""
    i = doc.index
    teacher = result.models["teacher"]
    tname, tprob = _prediction(result, teacher.proba[i], teacher.thresholds)
    preds = [{"short": "teacher", "role": "teacher", "pred": tname, "prob": f"{tprob:.2f}", "differs": False}]
    for m in shown:
        pname, pprob = _prediction(result, m.proba[i], m.thresholds)
        preds.append({"short": _short(m.name), "role": m.role, "pred": pname, "prob": f"{pprob:.2f}",
                      "differs": pname != tname})
    panels = [[_panel(a, m.role, max_chars) for a in doc.students[m.name]] for m in shown if m.name in doc.students]
    return {
        "index": i, "n": n, "true": _true_label(result, i), "preds": preds,
        "disagree": len({p["pred"] for p in preds}) > 1, "truncated": doc.truncated,
        "n_chars": len(result.test_texts[i]),
        "teacher": [_panel(a, "teacher", max_chars) for a in doc.teacher] if doc.teacher else None,
        "rows": _panel_rows(panels, shown),
    }


# --------------------------------------------------------------------------- agreement and global views


def _agreement_rows(result: Any, found: list[AgreementResult]) -> list[dict]:
    """Rows of the agreement table: pairs of students first, then each student against the teacher."""
    order = sorted(found, key=lambda r: (r.other == "teacher", *_sort_key(result.models[r.model])))
    rows = []
    for r in order:
        rows.append({"a": _short(r.model), "b": _short(r.other), "how": r.methods, "n_docs": r.scores["n_docs"],
                     "jaccard": _fmt(_num(r.scores["jaccard"]), 2), "spearman": _fmt(_num(r.scores["spearman"]), 2),
                     "kendall": _fmt(_num(r.scores["kendall"]), 2)})
    return rows


def _global_panel(entry: Any, gv: GlobalView) -> dict:
    out: dict[str, Any] = {"model": entry.name, "short": _short(entry.name), "role": entry.role, "kind": gv.kind}
    if gv.kind in ("linear", "static") and gv.terms is not None:  # static: tokens, scored alone
        classes = [{**c, "positive": [(t, f"{v:+.3f}") for t, v in c["positive"]],
                    "negative": [(t, f"{v:+.3f}") for t, v in c["negative"]]} for c in gv.terms[:_MAX_CLASSES_SHOWN]]
        out.update(classes=classes, more_classes=max(0, len(gv.terms) - _MAX_CLASSES_SHOWN))
    elif gv.kind == "tree" and gv.tree is not None:
        out.update(rules=gv.tree.rules, svg=plots.tree_svg(gv.tree, max_depth=3))
    out["summary"] = [(w, f"{v:.3g}", c) for w, v, c in gv.summary]
    out["summary_method"] = gv.summary_method
    return out


def _global_groups(students: list[Any], views: dict[str, GlobalView]) -> list[dict]:
    """One group per (family, features): the baseline next to its distilled students."""
    groups: dict[tuple, list] = {}
    for m in students:
        groups.setdefault((m.features, m.family), []).append(m)
    return [{"title": f"{fam} · {feat}", "models": [_global_panel(m, views[m.name]) for m in members]}
            for (feat, fam), members in groups.items()]


# --------------------------------------------------------------------------- figures and header


def _figures(result: Any, rows: list[dict]) -> dict[str, str]:
    curves = []
    what = ""
    for m in sorted(result.models.values(), key=lambda m: (m.role != "teacher", *_sort_key(m))):
        xs, ys, what = plots.reliability_curve(m.proba, result.y_test, result.task)
        curves.append({"short": _short(m.name), "role": m.role, "x": xs, "y": ys})
    # multilabel: micro-F1 is the headline, and per-label fidelity is near 1 for every model
    multi = result.task == "multilabel"
    return {
        "accuracy_latency": plots.accuracy_latency_svg(rows, *(("f1_micro", "test micro-F1") if multi else ())),
        "reliability": plots.reliability_svg(curves[:11], what),
        "fidelity": plots.fidelity_svg(rows, *(("fidelity_sets", "fidelity (sets): share of test texts whose "
                                                "whole label set is the teacher's") if multi else ())),
    }


def _explained_sentence(task: str, names: list[str], picked: int | None) -> str:
    what = ("the positive class" if task == "binary" and picked is None else
            "each model's predicted class" if task == "multiclass" else
            "each active label (up to 3, at each model's own thresholds)" if task == "multilabel" else
            "the picked class")
    if picked is not None and task != "binary":
        what += f", and the picked class “{names[picked]}”"
    return what


def teacher_name(source: str) -> str:
    """The teacher as the report names it: a folder's name (never the machine's path), or the hub id as given.

    Examples
    --------
    >>> teacher_name("~/models/teachers/demo-minilm/"), teacher_name("org/bert-imdb")
    ('demo-minilm', 'org/bert-imdb')
    >>> teacher_name(r"C:\\Users\\me\\teacher"), teacher_name("all-MiniLM-L6-v2 (packaged)")
    ('teacher', 'all-MiniLM-L6-v2 (packaged)')
    """
    src = str(source)
    if PureWindowsPath(src).drive:
        return PureWindowsPath(src).name
    path = Path(src).expanduser()
    if os.path.isabs(src) or src.startswith(("~", ".")) or path.exists():
        return path.name or path.resolve().name  # "." and ".." have no name of their own
    return src


def _header(result: Any, expl: StudyExplanations, n_students: int) -> dict[str, Any]:
    names = [str(n) for n in result.label_names]
    task = result.task
    return {
        "title": result.title, "scenario": result.scenario, "task": task, "n_labels": len(names),
        "label_names": names if len(names) <= 12 else [*names[:12], f"… {len(names) - 12} more"],
        "teacher_source": teacher_name(result.teacher_source),
        "teacher_fingerprint": str(result.teacher_fingerprint),
        "counts": {"train": int(result.n_train), "labelled": int(result.n_labelled), "test": len(result.test_texts),
                   "students": n_students, "docs": len(expl.documents)},
        "explained": _explained_sentence(task, names, expl.picked_class),
        "positive_class": names[1] if task == "binary" else None,
        "settings": {"lime_samples": expl.settings["lime_samples"], "seed": expl.settings["seed"],
                     "teacher_docs": len(expl.teacher_indices), "max_chars": expl.settings["max_chars"]},
    }


# --------------------------------------------------------------------------- main entry


def build_report_data(result: Any, n_docs: int = 20, doc_indices: Sequence[int] | None = None,
                      teacher_docs: int = 3, lime_samples: int = 500, seed: int = 0, top_k: int = 10,
                      max_chars: int = 5000, explain_class: str | None = None,
                      log: Any = None) -> dict[str, Any]:
    """Compute the report's content (tables, SVG figures, explanations, agreement) as plain data.

    Parameters
    ----------
    result : StudyResult
    n_docs : int
        Test documents explained; sampled with ``seed``, half of them (when
        there are enough) among documents where the models disagree.
    doc_indices : sequence of int or None
        Explain exactly these test documents instead.
    teacher_docs : int
        The first this many documents also get LIME on the teacher (slow) and
        on every student, for the teacher-agreement figures.
    lime_samples : int
        LIME perturbations per explanation.
    top_k : int
        ``k`` of Jaccard@k and the length of term lists.
    max_chars : int
        Longer documents are explained and shown on their first ``max_chars``
        characters (predictions still use the whole text).
    explain_class : str or None
        A class (label) name to explain in every document as well as the
        predicted one, e.g. the intent a reviewer expected.
    log : None
        Deprecated and ignored: progress goes to the ``bert2sk.explain`` logger.

    Returns
    -------
    dict
        JSON-serialisable data for :func:`~bert2sk.report.render_report`.
    """
    if log is not None:
        warnings.warn("build_report_data(log=...) is deprecated and ignored; configure logging for 'bert2sk' instead",
                      DeprecationWarning, stacklevel=2)
    t_start = time.perf_counter()
    idx = pick_documents(result, n_docs, seed) if doc_indices is None else doc_indices
    expl = explain_study(result, idx, teacher_docs=teacher_docs, lime_samples=lime_samples, seed=seed,
                         explain_class=explain_class, max_chars=max_chars, top_k=top_k)
    students = sorted((result.models[name] for name in expl.global_views), key=_sort_key)
    shown = sorted((result.models[name] for name in expl.explained), key=_sort_key)
    rows = _summary_rows(result)
    figures = _figures(result, rows)
    per_class, confusion = _per_class_section(result)
    if confusion is not None:
        figures["confusion"] = confusion.pop("svg")
    return {
        **_header(result, expl, len(students)),
        "table": _group_rows(rows), "metrics": [(c, lbl, hi) for c, lbl, hi, _ in _metrics(result.task)],
        "figures": figures, "global": _global_groups(students, expl.global_views),
        "docs": [_document(result, d, n + 1, shown, max_chars) for n, d in enumerate(expl.documents)],
        "agreement": _agreement_rows(result, expl.agreement), "top_k": top_k,
        "per_class": per_class, "confusion": confusion,
        "timings": {k: f"{v:.1f}" for k, v in {**result.timings,
                                                   "report data": time.perf_counter() - t_start}.items()},
        "unexplained": [m.name for m in students if m.name in expl.unexplained],
    }


# --------------------------------------------------------------------------- per-class view

_PER_CLASS_SHOWN = 15
_CONFUSION_CLASSES = 12


def _best(result: Any, role: str) -> Any | None:
    table = result.table
    pool = table[table["role"] == role]["f1_macro"].dropna()
    return result.models[pool.idxmax()] if len(pool) else None


def _per_class_section(result: Any) -> tuple[dict, dict | None]:
    """Per-class F1 of the teacher, the best baseline and the best distilled student; top confusions.

    With many classes the classes that matter come first: those where the best
    distilled student loses most F1 to the teacher; the rest fold away.
    """
    names = [str(n) for n in result.label_names]
    task = result.task
    teacher = result.models["teacher"]
    cols = [("teacher", teacher), ("best baseline", _best(result, "baseline")),
            ("best distilled", _best(result, "distilled"))]
    cols = [(lbl, m) for lbl, m in cols if m is not None]
    frames = {lbl: per_class_scores(m.proba, result.y_test, task, names, m.thresholds, teacher.proba,
                                    teacher.thresholds) for lbl, m in cols}
    t = frames["teacher"]
    ref = frames.get("best distilled", t)
    delta = (ref["f1"] - t["f1"]).to_numpy()
    order = np.lexsort((-t["support"].to_numpy(), delta))
    rows = []
    for j in order:
        row = {"label": names[j], "support": int(t["support"].iloc[j]),
               "f1": [f"{frames[lbl]['f1'].iloc[j]:.3f}" for lbl, _ in cols],
               "delta": f"{delta[j]:+.3f}", "worse": bool(delta[j] < -0.05)}
        fid = ref["fidelity"].iloc[j] if "fidelity" in ref else float("nan")
        row["fidelity"] = "–" if not np.isfinite(fid) else f"{fid:.3f}"
        rows.append(row)
    per_class = {"models": [{"label": lbl, "name": m.name, "short": _short(m.name), "role": m.role}
                            for lbl, m in cols],
                 "rows": rows[:_PER_CLASS_SHOWN], "more": rows[_PER_CLASS_SHOWN:],
                 "fidelity_note": ("same decision as the teacher on this label" if task == "multilabel" else
                                   "share of the texts the teacher puts in this class that the student puts there")}
    return per_class, (None if task == "multilabel" else _confusions(result, cols))


def _confusions(result: Any, cols: list[tuple[str, Any]]) -> dict:
    """Each column model's most frequent mistakes, and the last one's confusion matrix (the classes involved)."""
    from sklearn.metrics import confusion_matrix

    names = [str(n) for n in result.label_names]
    lists = [{"label": lbl, "short": _short(m.name), "role": m.role,
              "pairs": top_confusions(result.y_test, m.proba.argmax(axis=1), names, top=10)} for lbl, m in cols]
    focus = cols[-1][1]
    pred = focus.proba.argmax(axis=1)
    if len(names) <= _CONFUSION_CLASSES:
        keep = list(range(len(names)))
    else:
        keep = []
        for a, b, _ in top_confusions(result.y_test, pred, names, top=4 * _CONFUSION_CLASSES):
            for c in (names.index(a), names.index(b)):
                if c not in keep and len(keep) < _CONFUSION_CLASSES:
                    keep.append(c)
    mask = np.isin(result.y_test, keep) & np.isin(pred, keep)
    matrix = confusion_matrix(result.y_test[mask], pred[mask], labels=keep)
    title = (f"{_short(focus.name)}: " + ("all classes" if len(keep) == len(names) else
                                         f"the {len(keep)} classes in its most frequent mistakes"))
    return {"lists": lists, "svg": plots.confusion_svg(matrix, [names[c] for c in keep], title),
            "all_classes": len(keep) == len(names)}
