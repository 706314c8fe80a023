"""The token report: results table, tweets with entity spans per model (disagreements marked), exact reasons.

Report *data* (a JSON-ready dict, :func:`build_token_report_data`) is kept
apart from its rendering (:func:`render_token_report`: Jinja2 with autoescape,
one self-contained HTML file, no JavaScript). Every text (words, model names,
feature names) is escaped by the template; nothing is marked safe.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .._io import atomic_write_bytes
from .metrics import entity_spans

__all__ = ["build_token_report_data", "render_token_report", "span_segments", "pick_documents"]

_TEMPLATE = "tokens_report.html.j2"
TABLE_COLUMNS = (("entity_f1", "entity F1"), ("entity_precision", "P"), ("entity_recall", "R"),
                 ("token_accuracy", "token acc."), ("word_fidelity", "word fidelity"),
                 ("span_fidelity", "span fidelity"))


def span_segments(words: Sequence[str], tags: Sequence[str], reference: Sequence[str] | None = None
                  ) -> list[dict[str, Any]]:
    """Words grouped into plain runs and entity spans; a span (or word) that differs from ``reference`` is marked.

    Examples
    --------
    >>> segs = span_segments(["Leon", "in", "New", "York"], ["B-PER", "O", "B-LOC", "I-LOC"],
    ...                      ["B-PER", "O", "B-LOC", "O"])
    >>> [(s["text"], s["type"], s["differs"]) for s in segs]
    [('Leon', 'PER', False), ('in', None, False), ('New York', 'LOC', True)]
    """
    spans = {(start, end): typ for _, typ, start, end in entity_spans([tags])}
    ref = {(s, e): t for _, t, s, e in entity_spans([reference])} if reference is not None else None
    starts = {s: (e, t) for (s, e), t in spans.items()}
    out: list[dict[str, Any]] = []
    i = 0
    while i < len(words):
        if i in starts:
            end, typ = starts[i]
            differs = ref is not None and ref.get((i, end)) != typ
            out.append({"text": " ".join(words[i:end + 1]), "type": typ, "differs": differs})
            i = end + 1
            continue
        # a plain word that the reference puts inside an entity also differs
        differs = ref is not None and any(s <= i <= e for (s, e) in ref)
        if out and out[-1]["type"] is None and out[-1]["differs"] == differs:
            out[-1]["text"] += " " + words[i]
        else:
            out.append({"text": words[i], "type": None, "differs": differs})
        i += 1
    return out


def pick_documents(gold: Sequence[Sequence[str]], predictions: Mapping[str, Sequence[Sequence[str]]],
                   n: int = 8, max_words: int = 40) -> list[int]:
    """Sentences worth showing: the most model disagreements first (ties: more gold entities), short enough to read."""
    scored = []
    for i, g in enumerate(gold):
        if len(g) > max_words or not any(t != "O" for t in g):
            continue
        variants = {tuple(p[i]) for p in predictions.values()}
        scored.append((-len(variants), -sum(t.startswith("B-") for t in g), i))
    return [i for _, _, i in sorted(scored)[:n]]


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def build_token_report_data(*, title: str, scenario: str, rows: Sequence[Mapping[str, Any]], types: Sequence[str],
                            sentences: Sequence[Sequence[str]], gold: Sequence[Sequence[str]],
                            predictions: Mapping[str, Sequence[Sequence[str]]], teacher: str,
                            explanations: Sequence[Mapping[str, Any]] = (), doc_indices: Sequence[int] | None = None,
                            notes: Sequence[str] = ()) -> dict[str, Any]:
    """JSON-ready data of the token report.

    Parameters
    ----------
    rows : mappings with ``model``, ``regime``, ``kind`` and the figures of
        :meth:`~bert2sk.tokens.study.TokenStudyRow.flat` (``entity_f1``, ``f1_<TYPE>``, ``size_mb``,
        ``latency_ms``...).
    types : entity types (columns of per-type F1).
    sentences, gold : the test sentences and their gold tags.
    predictions : model name -> tags per sentence (the teacher's among them, named ``teacher``).
    explanations : outputs of :meth:`~bert2sk.tokens.student.LinearTokenStudent.explain_word` plus ``model``
        and ``sentence`` (the words), shown as the features that drove the decision.
    doc_indices : which sentences to show (default: :func:`pick_documents`).
    """
    table = []
    for r in rows:
        cells = [_fmt(r.get(k)) for k, _ in TABLE_COLUMNS]
        cells += [_fmt(r.get(f"f1_{t}")) for t in types]
        lat = r.get("latency_ms")
        cells += [_fmt(r.get("size_mb"), 2), "n/a" if lat is None else f"{lat:.2f}"]
        table.append({"model": str(r["model"]), "regime": str(r["regime"]), "kind": str(r["kind"]),
                      "setting": str(r.get("setting") or ""), "cells": cells})
    header = [h for _, h in TABLE_COLUMNS] + [f"F1 {t}" for t in types] + ["size MB", "ms / tweet"]
    idx = list(doc_indices) if doc_indices is not None else pick_documents(gold, predictions)
    t_pred = predictions[teacher]
    docs = []
    for i in idx:
        lines = [{"model": "gold", "role": "gold", "segments": span_segments(sentences[i], gold[i])}]
        for name, pred in predictions.items():
            lines.append({"model": name, "role": "teacher" if name == teacher else "student",
                          "segments": span_segments(sentences[i], pred[i], None if name == teacher else t_pred[i])})
        docs.append({"index": int(i), "lines": lines})
    expl = []
    for e in explanations:
        total = max([abs(c) for _, _, c in e["contributions"]] + [1e-9])
        expl.append({
            "model": str(e["model"]), "word": str(e["word"]), "tag": str(e["tag"]), "against": str(e["against"]),
            "margin": f"{e['margin']:+.3f}", "intercept": f"{e['intercept']:+.3f}",
            "context": " ".join(e["sentence"]), "position": int(e["position"]),
            "features": [{"name": str(n), "value": f"{v:g}", "contribution": f"{c:+.3f}", "positive": c >= 0,
                          "width": int(round(100 * abs(c) / total))} for n, v, c in e["contributions"]]})
    return {"title": title, "scenario": scenario, "header": header, "table": table, "types": list(types),
            "docs": docs, "explanations": expl, "notes": list(notes), "teacher": teacher}


def _env():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    return Environment(loader=FileSystemLoader(str(Path(__file__).parent / "templates")), autoescape=True,
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render_token_report(data: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Write the report to ``path`` atomically (a crash leaves the old file, never half a page).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = build_token_report_data(title="<b>", scenario="s", rows=[], types=["PER"], sentences=[["<i>"]],
    ...                             gold=[["B-PER"]], predictions={"teacher": [["B-PER"]]}, teacher="teacher")
    >>> html = render_token_report(d, pathlib.Path(tempfile.mkdtemp()) / "r.html").read_text()
    >>> "&lt;i&gt;" in html and "<script" not in html and "<i>" not in html
    True
    """
    html = _env().get_template(_TEMPLATE).render(**data)
    path = Path(path)
    atomic_write_bytes(path, html.encode("utf-8"))
    return path
