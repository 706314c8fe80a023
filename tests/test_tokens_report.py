"""The token report: spans per model with disagreements marked, exact reasons, escaping, no scripts; and in Chromium."""

from __future__ import annotations

import re

import pytest

from bert2sk.tokens.report import build_token_report_data, pick_documents, render_token_report, span_segments
from bert2sk.tokens.student import LinearTokenStudent

from .test_tokens_fixtures import tagged_sentences

EVIL = '<script>alert("x")</script>'
RTL = "שלום"


def _report(tmp_path):
    train = tagged_sentences(80, seed=1)
    student = LinearTokenStudent().fit(train.tokens, train.tags)
    sents = [["w1", EVIL, "in", "w12"], [RTL, "w3", "w4", "and", "w21"], ["the", "w15", "film"]]
    gold = [["B-PER", "O", "O", "B-LOC"], ["O", "B-PER", "I-PER", "O", "B-ORG"], ["O", "B-LOC", "O"]]
    teacher = [["B-PER", "O", "O", "B-LOC"], ["O", "B-PER", "I-PER", "O", "B-ORG"], ["O", "B-ORG", "O"]]
    pred = student.predict(sents)
    pred[1] = ["O", "B-PER", "O", "O", "B-ORG"]  # a student that cuts the teacher's PER span short
    e = student.explain_word(sents[0], 3, top=5)
    rows = [{"model": "teacher <b>", "regime": "all", "kind": "teacher", "entity_f1": 0.8, "f1_PER": 0.9,
             "size_mb": 90.0, "latency_ms": 12.0},
            {"model": "student", "regime": "all", "kind": "distilled", "setting": "alpha=1.0", "entity_f1": 0.7,
             "word_fidelity": 0.95, "size_mb": 1.2, "latency_ms": None}]
    data = build_token_report_data(
        title="BTC <study>", scenario="scenario & more", rows=rows, types=["LOC", "ORG", "PER"], sentences=sents,
        gold=gold, predictions={"teacher": teacher, "ridge <student>": pred}, teacher="teacher",
        explanations=[{**e, "model": "ridge <student>", "sentence": sents[0]}], doc_indices=[0, 1, 2],
        notes=["a <note>"])
    return render_token_report(data, tmp_path / "tokens.html"), e


def test_segments_mark_disagreements():
    segs = span_segments(["a", "Leon", "Derczynski", "x"], ["O", "B-PER", "O", "O"], ["O", "B-PER", "I-PER", "O"])
    assert [(s["text"], s["type"], s["differs"]) for s in segs] == [
        ("a", None, False), ("Leon", "PER", True), ("Derczynski", None, True), ("x", None, False)]
    same = span_segments(["Leon", "x"], ["B-PER", "O"], ["B-PER", "O"])
    assert not any(s["differs"] for s in same)


def test_pick_documents_prefers_disagreement():
    gold = [["B-PER", "O"], ["B-PER", "O"], ["O", "O"]]
    preds = {"a": [["B-PER", "O"], ["B-PER", "O"], ["O", "O"]], "b": [["B-PER", "O"], ["O", "O"], ["O", "O"]]}
    assert pick_documents(gold, preds, n=2) == [1, 0]  # no gold entity in 2: not shown


def test_report_is_escaped_and_script_free(tmp_path):
    path, e = _report(tmp_path)
    html = path.read_text(encoding="utf-8")
    assert "<script" not in html.lower() and "javascript:" not in html.lower()
    assert "&lt;script&gt;" in html and "BTC &lt;study&gt;" in html and "ridge &lt;student&gt;" in html
    assert "teacher &lt;b&gt;" in html and "a &lt;note&gt;" in html and RTL in html
    assert not re.search(r"(src|href)=", html)  # self-contained: nothing to fetch
    # the cut-short PER span is outlined for the student, and its dropped word underlined
    assert 'class="ent PER differs">w3<sub>' in html and 'class="plain differs">w4' in html
    # the teacher's own line is never marked
    teacher_line = html.split('<div class="who">teacher</div>')[2].split("</div></div>")[0]
    assert "differs" not in teacher_line
    assert e["word"] == "w12" and html.count('class="feat"') == len(e["contributions"])
    assert e["contributions"][0][0] in html.replace("&lt;", "<").replace("&gt;", ">")


@pytest.mark.browser
def test_token_report_opens_offline_in_chromium(tmp_path):
    from .test_report_browser import _need_browser, _not_blank, _open

    _need_browser()
    path, _ = _report(tmp_path)
    text, png = _open(path, tmp_path)
    assert "Results on the test split" in text and "Why the scikit-learn student" in text
    assert EVIL in text  # shown as text, not run
    _not_blank(png)
