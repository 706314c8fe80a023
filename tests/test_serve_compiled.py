"""The compiled scorer: the pipeline's probabilities (<= 1e-9) and the exact attribution's reasons."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline
from sklearn.tree import DecisionTreeClassifier

from bert2sk.errors import InputError
from bert2sk.explain import explain_linear, explain_tree
from bert2sk.features import TfidfFeatures
from bert2sk.serve import PARITY_TOLERANCE, compile_scorer
from bert2sk.students import FoldCappedCalibratedCV, make_baseline, make_distilled

from .conftest import WORDS, sentiment_texts

POS, NEG = set(WORDS[:8]), set(WORDS[8:16])


def _logits(texts: list[str], task: str) -> np.ndarray:
    """Teacher-like logits that follow the words: sentiment, plus 'plot'/'music' topics for more classes."""
    pos = np.array([sum(w in POS for w in t.split()) for t in texts], dtype=float)
    neg = np.array([sum(w in NEG for w in t.split()) for t in texts], dtype=float)
    plot = np.array([t.count("plot") + t.count("story") for t in texts], dtype=float)
    if task == "binary":
        return np.c_[np.zeros(len(texts)), 1.5 * (pos - neg)]
    if task == "multiclass":
        return np.c_[neg, pos, 0.8 * plot, np.full(len(texts), 0.3)]
    return np.c_[1.5 * (pos - neg) - 0.5, 2.0 * plot - 1.0, neg - 1.5]


def _texts() -> tuple[list[str], list[str]]:
    train, _ = sentiment_texts(400, seed=1)
    test, _ = sentiment_texts(300, seed=2)
    # repeated words (tf > 1), markup, accents, punctuation only, unknown words and the empty text
    test += ["good good good film <br />not really<br/>good", "Café ÉLAN — a <b>Superb</b> plot!!", "...", "",
             "zebra quantum", "the the the the the the plot plot"]
    return train, test


def _fit(student, task: str, train: list[str]) -> Pipeline:
    pipe = Pipeline([("features", TfidfFeatures(min_df=1)), ("student", student)])
    z = _logits(train, task)
    if isinstance(student, (LogisticRegression, DecisionTreeClassifier, FoldCappedCalibratedCV)):
        return pipe.fit(train, z.argmax(1))
    if isinstance(student, OneVsRestClassifier):
        return pipe.fit(train, (z > 0).astype(int))
    return pipe.fit(train, student__teacher_logits=z)


CASES = [
    ("distilled linear", lambda: make_distilled("linear"), "binary"),
    ("distilled linear", lambda: make_distilled("linear"), "multiclass"),
    ("distilled linear", lambda: make_distilled("linear", task="multilabel", temperature=2.0), "multilabel"),
    ("distilled svm", lambda: make_distilled("svm"), "binary"),
    ("soft linear", lambda: make_distilled("linear", kind="soft"), "binary"),
    ("soft linear", lambda: make_distilled("linear", kind="soft"), "multiclass"),
    ("soft linear", lambda: make_distilled("linear", kind="soft", task="multilabel"), "multilabel"),
    ("soft svm", lambda: make_distilled("svm", kind="soft"), "binary"),
    ("baseline linear", lambda: make_baseline("linear"), "binary"),
    ("baseline linear", lambda: make_baseline("linear"), "multiclass"),
    ("baseline linear", lambda: make_baseline("linear", task="multilabel"), "multilabel"),
    ("distilled tree", lambda: make_distilled("tree"), "binary"),
    ("distilled tree", lambda: make_distilled("tree", n_classes=4), "multiclass"),
    ("soft tree", lambda: make_distilled("tree", kind="soft"), "binary"),
    ("baseline tree", lambda: make_baseline("tree"), "binary"),
    ("baseline tree", lambda: make_baseline("tree", n_classes=4), "multiclass"),
]


@pytest.mark.parametrize(("name", "make", "task"), CASES, ids=[f"{n}-{t}" for n, _, t in CASES])
def test_same_probabilities_as_the_pipeline_on_a_whole_split(name, make, task):
    train, test = _texts()
    pipe = _fit(make(), task, train)
    scorer = compile_scorer(pipe)
    assert scorer.kind == ("tree" if "tree" in name else "linear") and scorer.task == task
    want = pipe.predict_proba(test)
    got = scorer.predict_proba(test)
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= PARITY_TOLERANCE
    assert (got.argmax(1) == want.argmax(1)).all()


@pytest.mark.parametrize("task", ["binary", "multiclass", "multilabel"])
def test_linear_reasons_are_the_exact_attribution(task):
    train, test = _texts()
    pipe = _fit(make_distilled("linear", task=task), task, train)
    scorer = compile_scorer(pipe)
    for text in test[:40] + test[-6:]:
        s = scorer.score(text, k=None)
        c = scorer.class_names.index(s.explained)
        [a] = explain_linear(pipe, text, labels=[c])
        exact = {t: w for t, w in zip(a.terms, a.term_weights, strict=True) if w != 0.0}
        assert dict(s.reasons) == pytest.approx(exact, abs=1e-12)
        assert s.base_value == pytest.approx(a.base_value, abs=1e-12)
        assert s.output == pytest.approx(a.output, abs=1e-9)
        weights = [abs(w) for _, w in s.reasons]
        assert weights == sorted(weights, reverse=True)
    assert len(scorer.score(test[0], k=3).reasons) == 3


def test_tree_reasons_are_the_exact_tree_shap():
    train, test = _texts()
    pipe = _fit(make_distilled("tree"), "binary", train)
    scorer = compile_scorer(pipe)
    for text in test[:15] + test[-6:]:
        s = scorer.score(text, k=None)
        [a] = explain_tree(pipe, text, labels=[scorer.class_names.index(s.explained)])
        exact = {t: w for t, w in zip(a.terms, a.term_weights, strict=True) if w != 0.0}
        assert dict(s.reasons) == pytest.approx(exact, abs=1e-9)
        assert s.output == pytest.approx(a.output, abs=1e-9)


def test_label_choice_thresholds_and_json():
    train, test = _texts()
    pipe = _fit(make_distilled("linear", task="multilabel"), "multilabel", train)
    card = {"task": "multilabel", "label_names": ["sentiment", "plot", "negative"], "thresholds": [0.9, 0.1, 0.5]}
    scorer = compile_scorer(pipe, card)
    text = "a great plot and a good story"
    s = scorer.score(text)
    p = pipe.predict_proba([text])[0]
    on = sorted(np.flatnonzero(p >= card["thresholds"]), key=lambda j: -p[j])
    assert s.labels == [card["label_names"][j] for j in on]
    other = scorer.score(text, label="negative")
    assert other.explained == "negative"
    d = s.to_dict(scorer.class_names)
    assert set(d["probabilities"]) == set(card["label_names"]) and all(isinstance(r["term"], str) for r in d["reasons"])
    assert scorer.score(text, k=0).reasons == []


def test_refusals_are_one_clear_line():
    train, _ = _texts()
    y = _logits(train, "binary").argmax(1)
    calibrated = Pipeline([("features", TfidfFeatures(min_df=1)), ("student", make_baseline("svm"))]).fit(train, y)
    with pytest.raises(InputError, match="calibrated SVM"):
        compile_scorer(calibrated)
    with pytest.raises(InputError, match="only a Pipeline of fitted TF-IDF features"):
        compile_scorer(LogisticRegression().fit(np.eye(2), [0, 1]))
    scorer = compile_scorer(_fit(make_distilled("linear"), "binary", train))
    with pytest.raises(InputError, match="one text as a str"):
        scorer.proba(["a list"])
    with pytest.raises(InputError, match="not one of"):
        scorer.score("good", label="nope")
