"""The HTML report: adversarial texts and labels render inert and intact; no scripts, no network; size budget."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import numpy as np
import pytest

from bert2sk.data import Corpus
from bert2sk.report import build_report_data, render_report, write_report

from .conftest import sentiment_texts

EVIL = "</script><img src=x onerror=alert(1)> {{ 7*7 }} {% raw %} good"
RTL = "\u202egood film\u202c reversed <br /><br />second line"
EMPTY = "!!! ..."
LABELS = ("<b>pos</b>", "{{x}}")  # class 0 and class 1


def make_study(tiny_bert: Path, extra: list[str]):
    from bert2sk.study import run_study
    from bert2sk.teacher import Teacher

    teacher = Teacher.from_pretrained(tiny_bert, progress=False, max_length=32)
    texts, y = sentiment_texts(260, seed=3)
    train = Corpus(texts[:160], y[:160], LABELS, "binary").keep_labels(60)
    test_texts = extra + texts[160:]
    test_y = np.r_[np.arange(len(extra)) % 2, y[160:]]
    test = Corpus(test_texts, test_y, LABELS, "binary")
    return run_study(teacher, train, test, features=("tfidf",), kinds=("regression",), latency_runs=5,
                     log=lambda *a: None, progress=False,
                     scenario="Label-scarce <i>demo</i> {{ 7*7 }}")


@pytest.fixture(scope="module")
def report(tiny_bert, tmp_path_factory):
    big = ("a good film and a bad plot. " * 40_000)[:1_000_000]
    result = make_study(tiny_bert, [EVIL, RTL, EMPTY, big])
    assert len([m for m in result.entries() if m.role != "teacher"]) == 6
    data = build_report_data(result, n_docs=20, doc_indices=[0, 1, 2, 3, *range(4, 20)], teacher_docs=3,
                             lime_samples=100, seed=0)
    path = render_report(data, tmp_path_factory.mktemp("report") / "report.html")
    return result, data, path, path.read_text(encoding="utf-8")


def test_report_is_self_contained_and_script_free(report):
    _, _, path, text = report
    assert text.startswith("<!DOCTYPE html>")
    assert "<script" not in text.lower()
    tags = re.findall(r"<[^>]*>", text)  # escaped user text has no "<", so this is markup only
    assert not [t for t in tags if re.search(r"\son\w+\s*=", t, re.I)], "no inline event handlers"
    assert not [t for t in tags if re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", t, re.I)], \
        "no remote resources"
    assert not re.search(r"url\(\s*['\"]?(?:https?:)?//", text, re.I)
    assert "<link" not in text.lower() and "@import" not in text
    assert path.stat().st_size < 3_000_000


def test_adversarial_text_renders_inert_and_intact(report):
    _, _, _, text = report
    assert "<img" not in text
    assert html.escape("</script><img src=x onerror=alert(1)>", quote=False) in text.replace("&#34;", '"') \
        or "&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in text
    assert "{{ 7*7 }}" in text and "49" not in re.sub(r"[\d.]+49|49[\d.]+", "", text.split("<h2 id=\"docs\"")[1])
    assert "{% raw %}" in text
    assert "\u202egood" in text or "\u202e" in text  # the RTL override survives, isolated by dir=auto
    assert "second line" in text
    # IMDB line breaks become real <br>, never the escaped markup
    assert "&lt;br /&gt;" not in text


def test_adversarial_labels_render_inert(report):
    _, _, _, text = report
    assert "<b>pos</b>" not in text
    assert "&lt;b&gt;pos&lt;/b&gt;" in text
    assert "{{x}}" in text
    assert "Label-scarce &lt;i&gt;demo&lt;/i&gt; {{ 7*7 }}" in text


def test_long_and_empty_documents(report):
    _, data, _, _ = report
    docs = {d["index"]: d for d in data["docs"]}
    assert docs[3]["truncated"] and docs[3]["n_chars"] == 1_000_000
    empty_panels = [p for row in docs[2]["rows"] for p in row]
    assert empty_panels and all(p["empty"] for p in empty_panels)


def test_report_data_is_json_and_has_every_section(report):
    result, data, _, text = report
    json.dumps(data)  # serialisable
    assert len(data["docs"]) == 20
    assert data["docs"][0]["teacher"] is not None and data["docs"][5]["teacher"] is None
    assert {r["b"] for r in data["agreement"]} >= {"teacher"}
    assert any(r["how"].startswith("linear-exact") for r in data["agreement"])
    for sec in ("Results on the test set", "Global explanations", "Explanation agreement", "Documents"):
        assert sec in text
    assert text.count("<svg") >= 3 + 2  # three plots and two tree drawings
    assert {g["title"] for g in data["global"]} == {"linear · tfidf", "tree · tfidf", "svm · tfidf"}


def test_doc_sampling_prefers_disagreement_and_write_report_is_atomic(tiny_bert, tmp_path):
    result = make_study(tiny_bert, [])
    data = build_report_data(result, n_docs=6, teacher_docs=0, seed=1)
    assert len(data["docs"]) == 6
    again = build_report_data(result, n_docs=6, teacher_docs=0, seed=1)
    assert [d["index"] for d in again["docs"]] == [d["index"] for d in data["docs"]]
    n_dis = sum(d["disagree"] for d in data["docs"])
    assert n_dis >= min(3, sum(1 for _ in data["docs"]))
    out = write_report(result, tmp_path / "sub" / "r.html", n_docs=2, teacher_docs=0)
    assert out.exists() and not list(out.parent.glob("*.tmp"))
