"""Everything the HTML report shows, computed from a StudyResult as plain data.

The template only lays this out: numbers arrive formatted, figures arrive
as SVG strings, and texts arrive as segments of the *original* characters
with a highlight level, so the template never has to mark user text safe.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from ..explain import (
    Attribution,
    agreement,
    explain_labels,
    explain_lime,
    linear_terms,
    shap_summary,
    tree_rules,
    tree_svg,
)
from ..explain._models import linear_decision, tree_output, view
from ..explain.attribution import BR_PATTERN
from ..metrics import per_class_scores, top_confusions
from ..targets import decisions
from . import plots

__all__ = ["build_report_data", "highlight_segments"]

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


def _cut(text: str, max_chars: int) -> tuple[str, bool]:
    if len(text) <= max_chars:
        return text, False
    cut = text.rfind(" ", 0, max_chars)
    return text[: cut if cut > max_chars // 2 else max_chars], True


def _pick_docs(result: Any, shown: list[Any], n_docs: int, seed: int) -> list[int]:
    n = len(result.test_texts)
    k = min(n_docs, n)
    preds = [decisions(m.proba, result.task, _thresholds(m)) for m in [result.models["teacher"], *shown]
             if m.proba is not None]
    if result.task == "multilabel":
        preds = [p.reshape(n, -1) for p in preds]
        disagree = np.array([any((p[i] != preds[0][i]).any() for p in preds) for i in range(n)])
    else:
        disagree = np.array([len({int(p[i]) for p in preds}) > 1 for i in range(n)])
    rng = np.random.default_rng(seed)
    hard = np.flatnonzero(disagree)
    easy = np.flatnonzero(~disagree)
    take = rng.permutation(hard)[: min(len(hard), max(k // 2, k - len(easy)))]
    rest = rng.permutation(easy)[: k - len(take)]
    return sorted(int(i) for i in np.concatenate([take, rest]))


def _thresholds(entry: Any) -> np.ndarray | float:
    return getattr(entry, "thresholds", 0.5)


def _prediction(result: Any, proba_row: np.ndarray, thresholds: np.ndarray | float = 0.5) -> tuple[str, float]:
    names = list(result.label_names)
    if result.task == "multilabel":
        on = [names[j] for j in np.flatnonzero(proba_row >= thresholds)]
        return (", ".join(on) if on else "(no label)"), float(proba_row.max())
    j = int(proba_row.argmax())
    return names[j], float(proba_row[j])


def _classes_to_explain(task: str, proba_row: np.ndarray, thresholds: np.ndarray | float,
                        picked: int | None) -> list[int]:
    """The predicted class (multilabel: up to three active labels), then the class the user picked.

    Binary always explains the positive class (unless another is picked), so blue means
    "towards the same class" in every panel.
    """
    if task == "binary":
        return [1 if picked is None else picked]
    if task == "multilabel":
        active = [int(j) for j in np.flatnonzero(proba_row >= thresholds)]
        out = sorted(active, key=lambda j: -proba_row[j])[:3] or [int(proba_row.argmax())]
    else:
        out = [int(proba_row.argmax())]
    return out + ([picked] if picked is not None and picked not in out else [])


def _panel(attr: Attribution, result: Any, limit: int, model: Any) -> dict:
    return {
        "model": attr.model, "short": _short(attr.model), "role": getattr(model, "role", "teacher"),
        "method": attr.method, "explained": attr.explained_name,
        "segments": highlight_segments(attr, limit),
        "top": [(w, f"{v:+.3g}") for w, v in attr.top(5)],
        "empty": not attr.tokens,
    }


# --------------------------------------------------------------------------- global views


def _global_view(entry: Any, label_names: Sequence[str], attrs: list[Attribution], k: int) -> dict:
    out: dict[str, Any] = {"model": entry.name, "short": _short(entry.name), "role": entry.role, "kind": None}
    try:
        mv = view(entry)
    except InputError:
        mv = None
    student = mv.student if mv is not None else None
    if mv is not None and mv.vectorizer is not None and linear_decision(student) is not None:
        terms = linear_terms(entry, k=k, class_names=label_names)
        out.update(kind="linear", classes=terms[:_MAX_CLASSES_SHOWN], more_classes=max(0, len(terms) -
                                                                                          _MAX_CLASSES_SHOWN))
        for c in out["classes"]:
            c["positive"] = [(t, f"{v:+.3f}") for t, v in c["positive"]]
            c["negative"] = [(t, f"{v:+.3f}") for t, v in c["negative"]]
    elif mv is not None and mv.vectorizer is not None and tree_output(student, 1 if mv.task == "binary" else 0):
        out.update(kind="tree", rules=tree_rules(entry, max_depth=4),
                   svg=tree_svg(entry, max_depth=3, class_names=label_names))
    summary = shap_summary(attrs, k=k) if attrs else []
    out["summary"] = [(w, f"{v:.3g}", c) for w, v, c in summary]
    out["summary_method"] = attrs[0].method if attrs else ""
    return out


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

    Returns
    -------
    dict
        JSON-serialisable data for :func:`~bert2sk.report.render_report`.
    """
    t_start = time.perf_counter()
    say = log or (lambda *a: None)
    names = [str(n) for n in result.label_names]
    task = result.task
    students = sorted([m for m in result.entries() if m.role != "teacher" and m.scorer is not None], key=_sort_key)
    tfidf = [m for m in students if m.features == "tfidf"]
    shown = tfidf or students
    n_test = len(result.test_texts)
    if doc_indices is not None:
        idx = [int(i) for i in doc_indices]
        bad = [i for i in idx if not 0 <= i < n_test]
        if bad:
            raise InputError(f"doc_indices {bad[:5]} are outside the {n_test} test texts; use 0..{n_test - 1}")
    else:
        idx = _pick_docs(result, shown, n_docs, seed)
    teacher_idx = idx[: max(0, teacher_docs)] if result.teacher_scorer is not None else []
    picked = None
    if explain_class is not None:
        if str(explain_class) not in names:
            close = [n for n in names if str(explain_class).lower() in n.lower()][:5]
            raise InputError(f"explain_class {explain_class!r} is not a class of this study"
                             + (f"; did you mean one of {close}?" if close else f"; the classes are {names[:20]}"))
        picked = names.index(str(explain_class))

    # per-document explanations: exact methods for TF-IDF students, LIME where nothing exact applies
    exact: dict[str, list[Attribution]] = {m.name: [] for m in shown}
    lime: dict[str, list[Attribution]] = {m.name: [] for m in [result.models["teacher"], *shown]}
    docs = []
    for n, i in enumerate(idx):
        full = result.test_texts[i]
        text, cut = _cut(full, max_chars)
        panels = []
        doc_preds = []
        teacher_entry = result.models["teacher"]
        tname, tprob = _prediction(result, teacher_entry.proba[i], _thresholds(teacher_entry))
        doc_preds.append({"short": "teacher", "role": "teacher", "pred": tname, "prob": f"{tprob:.2f}",
                          "differs": False})
        with_teacher = i in teacher_idx
        for m in shown:
            pname, pprob = _prediction(result, m.proba[i], _thresholds(m))
            doc_preds.append({"short": _short(m.name), "role": m.role, "pred": pname, "prob": f"{pprob:.2f}",
                              "differs": pname != tname})
            cls = _classes_to_explain(task, m.proba[i], _thresholds(m), picked)
            if m.features == "tfidf":
                attrs = explain_labels(m, text, labels=cls, name=m.name, class_names=names)
            elif with_teacher:
                attrs = explain_lime(m, text, labels=cls, num_samples=lime_samples, random_state=seed,
                                     name=m.name, class_names=names)
            else:
                continue
            exact[m.name].append(attrs[0])
            panels.append([_panel(a, result, max_chars, m) for a in attrs])
            if with_teacher:
                lime[m.name].append(attrs[0] if attrs[0].method == "lime" else explain_lime(
                    m, text, labels=[attrs[0].explained_class], num_samples=lime_samples, random_state=seed,
                    name=m.name, class_names=names)[0])
        teacher_panel = None
        if with_teacher:
            say(f"LIME on the teacher for document {i}")
            cls = _classes_to_explain(task, teacher_entry.proba[i], _thresholds(teacher_entry), picked)
            tl = explain_lime(result.teacher_scorer, text, labels=cls, num_samples=lime_samples, random_state=seed,
                              name="teacher", class_names=names, task=task)
            lime["teacher"].append(tl[0])
            teacher_panel = [_panel(a, result, max_chars, teacher_entry) for a in tl]
        preds = {p["pred"] for p in doc_preds}
        truth = result.y_test[i]
        if task == "multilabel":
            on = [names[j] for j in np.flatnonzero(np.asarray(truth) == 1)]
            true_name = ", ".join(on) if on else "(no label)"
        else:
            true_name = names[int(truth)]
        docs.append({
            "index": i, "n": n + 1, "true": true_name, "preds": doc_preds, "disagree": len(preds) > 1,
            "truncated": cut, "n_chars": len(full), "teacher": teacher_panel,
            "rows": _panel_rows(panels, shown),
        })

    # agreement: distilled vs baseline (exact, all docs), every student vs the teacher (LIME, teacher docs)
    agree_rows = []
    for m in shown:
        if m.role == "distilled":
            base = next((b for b in shown if b.role == "baseline" and b.family == m.family
                         and b.features == m.features), None)
            if base is not None and exact[m.name] and len(exact[base.name]) == len(exact[m.name]):
                agree_rows.append(_agree_row(m.name, base.name, exact[m.name], exact[base.name], top_k,
                                             exact[m.name][0].method + " vs " + exact[base.name][0].method))
    for m in shown:
        if lime["teacher"] and len(lime[m.name]) == len(lime["teacher"]):
            agree_rows.append(_agree_row(m.name, "teacher", lime[m.name], lime["teacher"], top_k, "LIME vs LIME"))

    # global views, one group per (family, features): baseline next to its distilled students
    groups: dict[tuple, list] = {}
    for m in students:
        groups.setdefault((m.features, m.family), []).append(m)
    global_groups = []
    for (feat, fam), members in groups.items():
        global_groups.append({
            "title": f"{fam} · {feat}",
            "models": [_global_view(m, names, exact.get(m.name, []), top_k) for m in members],
        })

    rows = _summary_rows(result)
    curves = []
    what = ""
    for m in sorted(result.models.values(), key=lambda m: (m.role != "teacher", *_sort_key(m))):
        xs, ys, what = plots.reliability_curve(m.proba, result.y_test, task)
        curves.append({"short": _short(m.name), "role": m.role, "x": xs, "y": ys})
    # multilabel: micro-F1 is the headline, and per-label fidelity is near 1 for every model
    multi = task == "multilabel"
    figures = {
        "accuracy_latency": plots.accuracy_latency_svg(rows, *(("f1_micro", "test micro-F1") if multi else ())),
        "reliability": plots.reliability_svg(curves[:11], what),
        "fidelity": plots.fidelity_svg(rows, *(("fidelity_sets", "fidelity (sets): share of test texts whose "
                                                "whole label set is the teacher's") if multi else ())),
    }
    per_class, confusion = _per_class_section(result, students)
    if confusion is not None:
        figures["confusion"] = confusion.pop("svg")
    shown_names = names if len(names) <= 12 else [*names[:12], f"… {len(names) - 12} more"]
    return {
        "title": result.title, "scenario": result.scenario, "task": task, "label_names": shown_names,
        "n_labels": len(names),
        "teacher_source": str(result.teacher_source), "teacher_fingerprint": str(result.teacher_fingerprint),
        "counts": {"train": int(result.n_train), "labelled": int(result.n_labelled), "test": n_test,
                   "students": len(students), "docs": len(docs)},
        "table": _group_rows(rows), "metrics": [(c, lbl, hi) for c, lbl, hi, _ in _metrics(task)],
        "figures": figures, "global": global_groups, "docs": docs, "agreement": agree_rows, "top_k": top_k,
        "per_class": per_class, "confusion": confusion,
        "explained": ("the positive class" if task == "binary" and picked is None else
                      "each model's predicted class" if task == "multiclass" else
                      "each active label (up to 3, at each model's own thresholds)" if task == "multilabel" else
                      "the picked class") + (f", and the picked class “{names[picked]}”" if picked is not None
                                             and task != "binary" else ""),
        "positive_class": names[1] if task == "binary" else None,
        "settings": {"lime_samples": lime_samples, "seed": seed, "teacher_docs": len(teacher_idx),
                     "max_chars": max_chars},
        "timings": {k: f"{v:.1f}" for k, v in {**result.timings,
                                                   "report data": time.perf_counter() - t_start}.items()},
        "unexplained": [m.name for m in students if m not in shown],
    }


# --------------------------------------------------------------------------- per-class view

_PER_CLASS_SHOWN = 15
_CONFUSION_CLASSES = 12


def _best(result: Any, role: str) -> Any | None:
    table = result.table
    pool = table[table["role"] == role]["f1_macro"].dropna()
    return result.models[pool.idxmax()] if len(pool) else None


def _per_class_section(result: Any, students: list[Any]) -> tuple[dict, dict | None]:
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
    frames = {lbl: per_class_scores(m.proba, result.y_test, task, names, _thresholds(m), teacher.proba,
                                    _thresholds(teacher)) for lbl, m in cols}
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
    if task == "multilabel":
        return per_class, None
    from sklearn.metrics import confusion_matrix

    lists = []
    for lbl, m in cols:
        pred = m.proba.argmax(axis=1)
        lists.append({"label": lbl, "short": _short(m.name), "role": m.role,
                      "pairs": top_confusions(result.y_test, pred, names, top=10)})
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
    return per_class, {"lists": lists, "svg": plots.confusion_svg(matrix, [names[c] for c in keep], title),
                       "all_classes": len(keep) == len(names)}


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


def _agree_row(a: str, b: str, xa: list, xb: list, k: int, how: str) -> dict:
    res = agreement(xa, xb, k=k)
    return {"a": _short(a), "b": _short(b), "how": how, "n_docs": res["n_docs"],
            "jaccard": _fmt(_num(res["jaccard"]), 2), "spearman": _fmt(_num(res["spearman"]), 2),
            "kendall": _fmt(_num(res["kendall"]), 2)}
