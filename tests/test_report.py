"""The HTML report: adversarial texts and labels render inert and intact; no scripts, no network; size budget."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import numpy as np
import pytest

from bert2sk.data import Corpus
from bert2sk.report import build_report_data, plots, render_report, write_report
from bert2sk.report.data import teacher_name

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
    return run_study(teacher, train, test, features=("tfidf",), kinds=("regression",), latency_runs=5, progress=False,
                     scenario="Label-scarce <i>demo</i> {{ 7*7 }}")


@pytest.fixture(scope="module")
def report(tiny_bert, tmp_path_factory):
    big = ("a good film and a bad plot. " * 40_000)[:1_000_000]
    result = make_study(tiny_bert, [EVIL, RTL, EMPTY, big])
    assert len([m for m in result.models.values() if m.role != "teacher"]) == 6
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


def test_header_names_the_teacher_folder_not_the_machines_path(report):
    result, data, _, text = report
    source = Path(result.teacher_source)
    assert source.is_absolute() and str(source) not in text  # no home or cache path in committed HTML
    assert data["teacher_source"] == source.name and f">{source.name}<" in text
    assert result.teacher_fingerprint[:16] in text


def test_teacher_name_keeps_hub_ids_and_names_folders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "org" / "local-teacher").mkdir(parents=True)
    assert teacher_name("org/local-teacher") == "local-teacher"  # a folder that exists here
    assert teacher_name("org/bert-imdb") == "org/bert-imdb"  # a hub id
    assert teacher_name(".") == tmp_path.name and teacher_name("~/teachers/demo/") == "demo"
    assert teacher_name("stored teacher logits") == "stored teacher logits"


def test_tree_drawing_is_inline_svg_with_the_tree_terms():
    from sklearn.pipeline import make_pipeline
    from sklearn.tree import DecisionTreeClassifier

    from bert2sk.explain import tree_view
    from bert2sk.features import TfidfFeatures

    pipe = make_pipeline(TfidfFeatures(min_df=1), DecisionTreeClassifier(random_state=0))
    pipe.fit(["a good film", "a bad film", "good fun", "bad plot $x$"], [1, 0, 1, 0])
    svg = plots.tree_svg(tree_view(pipe, class_names=["{{n}}", "<p>"]))
    assert svg.startswith("<svg") and "<script" not in svg and "<metadata" not in svg
    assert "bad &lt;=" in svg and "{{n}}" in svg
    assert "&lt;p&gt;" in svg and "<p>" not in svg  # class names escaped by the SVG writer


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


def _many_class_study(path: Path, task: str):
    """A tiny multiclass (4 classes) or multilabel (3 labels) study whose gold labels follow the teacher."""
    from bert2sk.study import run_study
    from bert2sk.teacher import Teacher

    teacher = Teacher.from_pretrained(path, progress=False, max_length=32)
    texts, _ = sentiment_texts(260, seed=4)
    z = teacher.predict_logits(texts)
    # a random tiny teacher favours one class everywhere: standardise its logits so every class occurs
    zs = (z - z.mean(axis=0)) / z.std(axis=0)
    labels = zs.argmax(1) if task == "multiclass" else (zs > 0).astype(int)
    corpus = Corpus(texts, labels, teacher.label_names, task)
    rest, test = corpus.split(70, seed=0)
    train, dev = rest.split(50, seed=1)
    return run_study(teacher, train, test, dev=dev if task == "multilabel" else None, features=("tfidf",),
                     families=("linear", "tree"), latency_runs=3, progress=False)


@pytest.fixture(scope="module")
def multiclass_result(tiny_bert_multiclass):
    return _many_class_study(tiny_bert_multiclass, "multiclass")


@pytest.fixture(scope="module")
def multilabel_result(tiny_bert_multilabel):
    return _many_class_study(tiny_bert_multilabel, "multilabel")


def test_multiclass_report_has_per_class_confusions_and_a_picked_class(multiclass_result, tmp_path):
    from bert2sk.errors import InputError
    from bert2sk.metrics import per_class_scores

    result = multiclass_result
    names = list(result.label_names)
    data = build_report_data(result, n_docs=5, teacher_docs=1, lime_samples=60, explain_class=names[2])
    json.dumps(data)
    pc = data["per_class"]
    assert [m["label"] for m in pc["models"]] == ["teacher", "best baseline", "best distilled"]
    assert {r["label"] for r in pc["rows"] + pc["more"]} == set(names)
    # the teacher's per-class F1 in the report is the one sklearn computes
    t = per_class_scores(result.models["teacher"].proba, result.y_test, "multiclass", names)
    row = pc["rows"][0]
    assert row["f1"][0] == f"{t.loc[row['label'], 'f1']:.3f}"
    # Δ sorted ascending: the classes where the student loses most come first
    deltas = [float(r["delta"]) for r in pc["rows"]]
    assert deltas == sorted(deltas)
    conf = data["confusion"]
    assert conf["all_classes"] and len(conf["lists"]) == 3
    for c in conf["lists"]:
        assert all(a != b and n > 0 for a, b, n in c["pairs"])
    # every explained student panel row holds the predicted class and the picked one
    for d in data["docs"]:
        for row in d["rows"]:
            explained = {p["explained"] for p in row}
            assert names[2] in explained
    assert "picked class" in data["explained"]
    html_text = render_report(data, tmp_path / "mc.html").read_text(encoding="utf-8")
    assert "Per class" in html_text and "Confusions" in html_text and html_text.count("<svg") >= 4
    with pytest.raises(InputError, match="not a class of this study"):
        build_report_data(result, n_docs=2, teacher_docs=0, explain_class="no-such-class")


def test_multilabel_report_uses_each_models_thresholds(multilabel_result, tmp_path):
    result = multilabel_result
    names = list(result.label_names)
    data = build_report_data(result, n_docs=6, teacher_docs=1, lime_samples=60)
    assert data["confusion"] is None and "confusion" not in data["figures"]
    assert {r["label"] for r in data["per_class"]["rows"]} == set(names)
    for d in data["docs"]:
        i = d["index"]
        for p in d["preds"]:
            entry = next(m for m in result.models.values() if p["short"] in (m.name, _short_name(m.name)))
            on = [names[j] for j in np.flatnonzero(entry.proba[i] >= entry.thresholds)]
            assert p["pred"] == (", ".join(on) if on else "(no label)")
    text = render_report(data, tmp_path / "ml.html").read_text(encoding="utf-8")
    assert "Per class" in text and "own per-label thresholds" in text
    # the headline figures of a multilabel task: micro-F1 on the plot, set fidelity in the bars, labels not classes
    assert "test micro-F1" in data["figures"]["accuracy_latency"]
    assert "whole label set" in data["figures"]["fidelity"]
    assert f"{len(names)} labels:" in text and "Fidelity (sets)" in text


def _short_name(name: str) -> str:
    from bert2sk.report.data import _short

    return _short(name)
