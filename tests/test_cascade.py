"""Cascades: a fast student that hands the texts it is unsure of to a more faithful one."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.estimator_checks import parametrize_with_checks

from bert2sk.errors import InputError, ModelFileError
from bert2sk.features import TfidfFeatures
from bert2sk.persistence import load_student, save_student
from bert2sk.students import CascadeClassifier, DistilledClassifier, SoftTargetClassifier, top_two_margin
from bert2sk.students.bundle import CARD_FILE
from bert2sk.students.cascade import margin_for_rate

from .conftest import sentiment_texts


@parametrize_with_checks([CascadeClassifier(LogisticRegression(), DecisionTreeClassifier(random_state=0)),
                          CascadeClassifier(LogisticRegression(), LogisticRegression(C=0.1), margin=0.3)])
def test_sklearn_contract(estimator, check):
    check(estimator)


def _xy(n: int = 300, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = (X[:, 0] + 0.5 * X[:, 1] ** 2 > 0.3).astype(int)
    return X, y


def test_deferred_inputs_get_the_fallbacks_answer_and_the_rest_the_fast_ones():
    X, y = _xy()
    fast = LogisticRegression().fit(X, y)
    slow = DecisionTreeClassifier(random_state=0).fit(X, y)
    cascade = CascadeClassifier(fast, slow, defer_rate=0.25, prefit=True).fit(X[:200])
    assert cascade.fast_ is fast and cascade.fallback_ is slow  # prefit: calibrated, not refitted
    # the threshold defers the asked share of the calibration inputs
    assert cascade.calibration_defer_rate_ == pytest.approx(0.25, abs=0.01)
    proba = cascade.predict_proba(X[200:])
    mask = cascade.deferred(X[200:])
    assert 0 < mask.sum() < len(mask)
    np.testing.assert_allclose(proba[mask], slow.predict_proba(X[200:][mask]))
    np.testing.assert_allclose(proba[~mask], fast.predict_proba(X[200:][~mask]))
    np.testing.assert_array_equal(mask, top_two_margin(fast.predict_proba(X[200:])) < cascade.threshold_)
    # the ends of the range: nothing deferred, everything deferred
    none = CascadeClassifier(fast, slow, defer_rate=0.0, prefit=True).fit(X)
    every = CascadeClassifier(fast, slow, defer_rate=1.0, prefit=True).fit(X)
    np.testing.assert_allclose(none.predict_proba(X), fast.predict_proba(X))
    np.testing.assert_allclose(every.predict_proba(X), slow.predict_proba(X))
    # a fixed margin wins over the rate
    fixed = CascadeClassifier(fast, slow, defer_rate=0.9, margin=0.2, prefit=True).fit(X)
    assert fixed.threshold_ == 0.2


def _text_cascade(n: int = 160):
    """A TF-IDF student deferring to a soft-target student: both on raw texts, as saved students are."""
    texts, y = sentiment_texts(n)
    z = np.c_[np.zeros(n), np.where(y == 1, 2.0, -2.0) + np.random.default_rng(0).normal(size=n)]
    fast = Pipeline([("features", TfidfFeatures()), ("student", DistilledClassifier())]).fit(
        texts, y, student__teacher_logits=z)
    slow = Pipeline([("features", TfidfFeatures(ngram_range=(1, 1))), ("student", SoftTargetClassifier())]).fit(
        texts, y, student__teacher_logits=z)
    return texts, CascadeClassifier(fast, slow, defer_rate=0.3, prefit=True).fit(texts)


def test_a_cascade_of_text_students_saves_as_one_folder_and_loads_the_same(tmp_path):
    texts, cascade = _text_cascade()
    path = save_student(tmp_path / "cascade", cascade, {"task": "binary", "label_names": ["neg", "pos"]})
    assert path.is_dir() and (path / "fast.skops").is_file() and (path / "fallback.skops").is_file()
    loaded, card = load_student(path)
    assert isinstance(loaded, CascadeClassifier) and card["task"] == "binary"
    assert loaded.threshold_ == cascade.threshold_
    np.testing.assert_allclose(loaded.predict_proba(texts), cascade.predict_proba(texts))
    assert loaded.size_bytes_ > 0 and loaded.predict(["a great film"]).shape == (1,)


def test_a_damaged_cascade_folder_is_refused_by_name(tmp_path):
    _, cascade = _text_cascade(80)
    path = save_student(tmp_path / "cascade", cascade, {"task": "binary"})
    card = json.loads((path / CARD_FILE).read_text())
    (path / CARD_FILE).write_text(json.dumps({**card, "fast": "../../elsewhere.skops"}))
    with pytest.raises(ModelFileError, match="inside the folder"):
        load_student(path)
    (path / CARD_FILE).write_text(json.dumps({k: v for k, v in card.items() if k != "threshold"}))
    with pytest.raises(ModelFileError, match="threshold"):
        load_student(path)
    (path / CARD_FILE).write_text("{not json")
    with pytest.raises(ModelFileError, match="not a saved student"):
        load_student(path)


def test_bad_settings_get_clear_errors():
    X, y = _xy(60)
    with pytest.raises(InputError, match="predict_proba"):
        CascadeClassifier(LogisticRegression(), object()).fit(X, y)
    with pytest.raises(InputError, match="between 0 and 1"):
        CascadeClassifier(LogisticRegression(), LogisticRegression(), defer_rate=1.5).fit(X, y)
    with pytest.raises(InputError, match="between 0 and 1"):
        CascadeClassifier(LogisticRegression(), LogisticRegression(), margin=-0.1).fit(X, y)
    other = LogisticRegression().fit(X, np.where(y == 1, 2, 0))
    with pytest.raises(InputError, match="different classes"):
        CascadeClassifier(LogisticRegression().fit(X, y), other, prefit=True).fit(X)


def _stored_study_inputs(n: int = 200):
    from bert2sk.data import Corpus
    from bert2sk.teacher import TeacherScores

    texts, y = sentiment_texts(n)
    rng = np.random.default_rng(1)
    z = np.c_[np.zeros(n), np.where(y == 1, 1.5, -1.5) + rng.normal(scale=1.5, size=n)]
    scores = TeacherScores(texts, z, ("neg", "pos"), "binary", source="stored")
    corpus = Corpus(texts, y, ("neg", "pos"), "binary")
    train, rest = corpus.split(n // 2)
    dev, test = rest.split(n // 4)
    return scores, train.keep_labels(20), dev, test


FAST = "distilled · linear · tfidf · logit regression"
SLOW = "distilled · linear · tfidf · soft targets"


def test_a_cascade_joins_the_study_table_and_survives_save_load_and_report(tmp_path):
    from bert2sk.report import write_report
    from bert2sk.study import load_study, run_study

    scores, train, dev, test = _stored_study_inputs()
    res = run_study(scores, train, test, dev=dev, features=("tfidf",), families=("linear",), latency_runs=3,
                    progress=False,
                    options={"cascades": [{"fast": FAST, "fallback": SLOW, "defer_rate": 0.4}]})
    name = "cascade · linear tfidf logit regression → linear tfidf soft targets"
    row = res.table.loc[name]
    entry = res.models[name]
    # its answers are the fast student's, except where that one is unsure: there they are the fallback's
    mask = top_two_margin(res.models[FAST].proba) < entry.scorer.threshold_
    np.testing.assert_allclose(entry.proba[mask], res.models[SLOW].proba[mask])
    np.testing.assert_allclose(entry.proba[~mask], res.models[FAST].proba[~mask])
    assert row["deferred"] == pytest.approx(mask.mean()) and 0 < mask.mean() < 1
    # calibrated on dev, the texts no student was fitted on, not on the training texts
    dev_margins = top_two_margin(res.models[FAST].scorer.predict_proba(dev.texts))
    assert entry.scorer.threshold_ == margin_for_rate(dev_margins, 0.4)
    assert entry.scorer.calibration_defer_rate_ == pytest.approx(0.4, abs=0.05)
    assert row["latency_ms"] > 0 and row["size_mb"] > 0 and np.isnan(res.table.loc[SLOW, "deferred"])
    again = load_study(res.save(tmp_path / "study"))
    assert isinstance(again.models[name].scorer, CascadeClassifier)
    np.testing.assert_allclose(again.models[name].scorer.predict_proba(test.texts), entry.proba)
    assert again.table.loc[name, "deferred"] == pytest.approx(row["deferred"])
    html = write_report(again, tmp_path / "report.html", n_docs=2).read_text()
    assert "cascade · linear tfidf logit regression" in html
    assert f"deferred {row['deferred']:.1%} of the test texts" in html
    assert "No global view" in html  # its panel says why it is empty


def test_a_cascade_is_added_to_a_saved_study_without_training(tmp_path):
    from bert2sk.study import add_cascade, load_study, run_study

    scores, train, _, test = _stored_study_inputs()
    res = run_study(scores, train, test, features=("tfidf",), families=("linear",), latency_runs=3, progress=False)
    again = load_study(res.save(tmp_path / "study"))
    entry = add_cascade(again, FAST, SLOW, margin=0.3, latency_runs=3)
    assert entry.scorer.threshold_ == 0.3 and entry.name in again.table.index
    fid = again.table.loc[entry.name, "fidelity"]
    assert fid == pytest.approx(float((entry.proba.argmax(1) == again.teacher_logits_test.argmax(1)).mean()))
    again.save(tmp_path / "study")
    assert load_study(tmp_path / "study").models[entry.name].scorer.threshold_ == 0.3
    with pytest.raises(InputError, match="already has a model"):
        add_cascade(again, FAST, SLOW, margin=0.3)
    with pytest.raises(InputError, match="not a student of this study"):
        add_cascade(again, "no such student", SLOW, margin=0.3)
    with pytest.raises(InputError, match="validation slice"):
        add_cascade(again, FAST, SLOW, name="another")
    with pytest.raises(InputError, match="fast and fallback"):
        run_study(scores, train, test, features=("tfidf",), options={"cascades": [{"fast": FAST}]})
    # a name that no student has is only known once every student is fitted: the study is kept, the cascade left out
    with pytest.warns(UserWarning, match="cascade left out.*not a student of this study"):
        kept = run_study(scores, train, test, features=("tfidf",), families=("linear",), latency_runs=2,
                         progress=False, options={"cascades": [{"fast": "typo", "fallback": SLOW, "margin": 0.2}]})
    assert SLOW in kept.table.index and not [n for n in kept.table.index if n.startswith("cascade")]


def test_cli_adds_a_cascade_to_a_saved_study(tmp_path):
    from typer.testing import CliRunner

    from bert2sk.cli import app
    from bert2sk.study import load_study, run_study

    scores, train, dev, test = _stored_study_inputs()
    folder = run_study(scores, train, test, features=("tfidf",), families=("linear",), latency_runs=3,
                       progress=False).save(tmp_path / "study")
    calibration = tmp_path / "val.txt"
    calibration.write_text("\n".join(dev.texts) + "\n")
    runner = CliRunner()
    args = ["cascade", "--study", str(folder), "--fast", FAST, "--fallback", SLOW, "--quiet"]
    missing = runner.invoke(app, args)
    # main() prints an InputError as one line; under the runner it surfaces as the exception
    assert isinstance(missing.exception, InputError) and "--calibration" in str(missing.exception)
    done = runner.invoke(app, [*args, "--calibration", str(calibration), "--defer-rate", "0.3"],
                         env={"COLUMNS": "200"})
    assert done.exit_code == 0, done.output
    assert "deferred" in done.output
    again = load_study(folder)
    cascades = [m for m in again.models.values() if m.family == "cascade"]
    assert len(cascades) == 1 and 0 < cascades[0].deferred < 1


def test_a_cascade_is_explained_by_the_part_that_answers():
    from bert2sk.explain import explain_text

    texts, cascade = _text_cascade()
    mask = cascade.deferred(texts)
    sure, unsure = texts[int(np.flatnonzero(~mask)[0])], texts[int(np.flatnonzero(mask)[0])]
    a = explain_text(cascade, sure, class_names=["neg", "pos"])
    b = explain_text(cascade, unsure, class_names=["neg", "pos"])
    # each is exactly the explanation of the part that gave the answer (both parts are linear TF-IDF students)
    for attr, part, text in ((a, cascade.fast_, sure), (b, cascade.fallback_, unsure)):
        own = explain_text(part, text, class_names=["neg", "pos"])
        assert attr.method == own.method == "linear-exact"
        assert attr.to_dict()["weights"] == own.to_dict()["weights"]
    assert a.to_dict()["weights"] != b.to_dict()["weights"]


def test_a_compiled_cascade_answers_the_same(tmp_path):
    from bert2sk.serve import CompiledScorer, compile_cascade

    texts, cascade = _text_cascade()
    quick = compile_cascade(cascade)
    assert isinstance(quick.fast_, CompiledScorer) and quick.fallback_ is cascade.fallback_
    assert not isinstance(cascade.fast_, CompiledScorer)  # the original is left as it was
    np.testing.assert_allclose(quick.predict_proba(texts), cascade.predict_proba(texts), atol=1e-9)
    np.testing.assert_array_equal(quick.deferred(texts), cascade.deferred(texts))
    with pytest.raises(InputError, match="CascadeClassifier"):
        compile_cascade(cascade.fast_)


def test_a_multilabel_study_refuses_cascades_by_name():
    from bert2sk.data import Corpus
    from bert2sk.study import run_study
    from bert2sk.teacher import TeacherScores

    texts, y = sentiment_texts(40)
    labels = np.c_[y, 1 - y]
    scores = TeacherScores(texts, np.c_[np.where(y == 1, 2.0, -2.0), np.where(y == 1, -2.0, 2.0)], ("a", "b"),
                           "multilabel", source="stored")
    corpus = Corpus(texts, labels, ("a", "b"), "multilabel")
    with pytest.raises(InputError, match="multilabel"):
        run_study(scores, corpus, corpus, features=("tfidf",), options={"cascades": [{"fast": FAST, "fallback": SLOW}]})


def test_a_served_cascade_says_which_part_answered_with_exact_reasons_for_the_fast_one(tmp_path):
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient

    from bert2sk.serve import create_app

    texts, cascade = _text_cascade()
    path = save_student(tmp_path / "cascade", cascade, {"task": "binary", "label_names": ["neg", "pos"],
                                                        "name": "a cascade"})
    client = TestClient(create_app(*load_student(path)))
    mask = cascade.deferred(texts)
    sent = [texts[int(np.flatnonzero(~mask)[0])], texts[int(np.flatnonzero(mask)[0])]]
    body = client.post("/v1/predict", json={"texts": sent, "explain": 3}).json()
    fast, slow = body["results"]
    assert (fast["answered_by"], slow["answered_by"]) == ("fast", "fallback")
    expected = cascade.predict_proba(sent)
    for res, p in zip(body["results"], expected, strict=True):
        assert res["probabilities"]["pos"] == pytest.approx(p[1], abs=1e-9)
    assert 0 < len(fast["reasons"]) <= 3 and slow["reasons"] == []  # exact reasons only where the fast part answered
    assert client.get("/v1/model").json()["serving"]["reasons"] == "exact where the fast part answers"
