"""Explanations: LIME reproducibility, exact linear and tree attributions, spans, JSON round trip."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC, LinearSVR
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from bert2sk.errors import InputError
from bert2sk.explain import (
    Attribution,
    agreement,
    auto_method,
    explain_labels,
    explain_lime,
    explain_linear,
    explain_text,
    explain_tree,
    linear_terms,
    model_kind,
    shap_summary,
    tokenize,
    tree_rules,
    tree_view,
)
from bert2sk.features import TfidfFeatures
from bert2sk.students import DistilledClassifier, SoftTargetClassifier

from .conftest import sentiment_texts

TEXT = "Superb film!<br /><br />Not bad — the PLOT was good, great even; a dull-ish ending. Café good film"


@pytest.fixture(scope="module")
def data():
    texts, y = sentiment_texts(160, seed=1)
    logits = np.c_[np.zeros(len(y)), np.where(y == 1, 2.0, -2.0) + np.random.default_rng(0).normal(0, .3, len(y))]
    return texts, y, logits


def _pipe(student, texts, y=None, logits=None):
    pipe = Pipeline([("features", TfidfFeatures()), ("student", student)])
    if logits is not None:
        X = pipe[0].fit_transform(texts)
        student.fit(X, teacher_logits=logits)
        return pipe
    return pipe.fit(texts, y)


def _decision(pipe, text, c):
    student = pipe[-1]
    X = pipe[0].transform([text])
    d = np.asarray(student.decision_function(X), dtype=float)
    if d.ndim == 1:
        return d[0] if c == 1 else -d[0]
    return d[0, c] - (0.0 if isinstance(student, DistilledClassifier) else d[0].mean())


def test_tokenize_spans_point_at_exact_characters():
    tokens, spans = tokenize(TEXT)
    assert "br" not in [t.lower() for t in tokens]
    assert all(TEXT[s:e] == t for t, (s, e) in zip(tokens, spans, strict=True))
    assert tokens[:4] == ["Superb", "film", "Not", "bad"]
    assert "Café" in tokens


@pytest.mark.parametrize("make", [
    lambda: LogisticRegression(C=10, max_iter=2000),
    lambda: CalibratedClassifierCV(LinearSVC(C=0.5), cv=3),
    lambda: "distilled-ridge", lambda: "distilled-svr", lambda: "soft-lr", lambda: "soft-svc",
])
def test_exact_linear_attribution_is_coef_times_tfidf_and_sums_to_decision(data, make):
    texts, y, logits = data
    est = make()
    if est == "distilled-ridge":
        pipe = _pipe(DistilledClassifier(Ridge()), texts, logits=logits)
    elif est == "distilled-svr":
        pipe = _pipe(DistilledClassifier(LinearSVR(dual="auto", max_iter=5000), temperature=2.0), texts, logits=logits)
    elif est == "soft-lr":
        pipe = _pipe(SoftTargetClassifier(LogisticRegression()), texts, logits=logits)
    elif est == "soft-svc":
        pipe = _pipe(SoftTargetClassifier(LinearSVC()), texts, logits=logits)
    else:
        pipe = _pipe(est, texts, y)
    assert auto_method(pipe) == "linear-exact" and model_kind(pipe) == "linear"
    for c in (0, 1):
        [a] = explain_linear(pipe, TEXT, label=c)
        x = pipe[0].transform([TEXT]).tocsr()
        # the term weights are coef x tfidf, term by term
        names = pipe[0].get_feature_names_out()
        got = dict(zip(a.terms, a.term_weights, strict=True))
        assert set(got) == {names[j] for j in x.indices}
        if isinstance(pipe[-1], LogisticRegression):
            sign = 1 if c == 1 else -1
            for j, v in zip(x.indices, x.data, strict=True):
                assert got[names[j]] == pytest.approx(sign * pipe[-1].coef_[0, j] * v, rel=1e-6)
        assert a.base_value + sum(a.term_weights) == pytest.approx(a.output, abs=1e-9)
        if not isinstance(pipe[-1], CalibratedClassifierCV):
            assert a.output == pytest.approx(_decision(pipe, TEXT, c), abs=1e-5)
        # every present term maps to words, so word weights carry the whole sum
        assert sum(a.weights) == pytest.approx(sum(a.term_weights), abs=1e-9)


def test_exact_linear_multiclass_is_centred_logit():
    texts, y = sentiment_texts(150, seed=2)
    y3 = np.where(np.arange(len(y)) % 5 == 0, 2, y)
    pipe = _pipe(LogisticRegression(max_iter=2000), texts, y3)
    a = explain_text(pipe, texts[0])
    d = pipe.decision_function([texts[0]])[0]
    assert a.explained_class == int(np.argmax(d))
    assert a.output == pytest.approx(d[a.explained_class] - d.mean(), abs=1e-5)  # float32 TF-IDF
    assert len(linear_terms(pipe, k=3)) == 3


@pytest.mark.parametrize("saabas", [False, True], ids=["treeshap", "saabas-fallback"])
@pytest.mark.parametrize("kind", ["regressor", "classifier", "soft"])
def test_tree_shap_sums_to_prediction(data, kind, saabas, monkeypatch):
    texts, y, logits = data
    if kind == "regressor":
        pipe = _pipe(DistilledClassifier(DecisionTreeRegressor(max_depth=4, random_state=0)), texts, logits=logits)
    elif kind == "soft":
        pipe = _pipe(SoftTargetClassifier(DecisionTreeClassifier(max_depth=4, random_state=0)), texts, logits=logits)
    else:
        pipe = _pipe(DecisionTreeClassifier(max_depth=4, random_state=0), texts, y)
    assert auto_method(pipe) == "tree-shap" and model_kind(pipe) == "tree"
    if saabas:  # what shap does on trees hundreds of levels deep: its additivity check fails
        import shap

        def overflow(self, *args, **kwargs):
            raise shap.utils._exceptions.ExplainerError("Additivity check failed in TreeExplainer!")

        monkeypatch.setattr(shap.TreeExplainer, "__call__", overflow)
    text = texts[3] + " good"
    [a] = explain_tree(pipe, text, label=1)
    assert a.settings["algorithm"] == ("saabas" if saabas else "treeshap")
    X = pipe[0].transform([text])
    if kind == "regressor":
        expected = pipe[-1].decision_function(X)[0]
    else:
        expected = pipe[-1].predict_proba(X)[0, 1]
    assert a.base_value + sum(a.term_weights) == pytest.approx(expected, abs=1e-9)
    assert a.output == pytest.approx(expected, abs=1e-9)
    assert "|---" in tree_rules(pipe)
    view = tree_view(pipe)
    # the names a drawing needs: exactly the terms the tree splits on
    used = {int(j) for j in view.tree.tree_.feature if j >= 0}
    assert view.feature_names == {j: pipe[0].get_feature_names_out()[j] for j in used}
    assert view.rules == tree_rules(pipe) and "tree" not in view.to_dict()


def test_lime_same_seed_same_weights(data):
    texts, y, _ = data
    pipe = _pipe(LogisticRegression(max_iter=2000), texts, y)
    a = explain_lime(pipe, TEXT, num_samples=200, random_state=3)[0]
    b = explain_lime(pipe, TEXT, num_samples=200, random_state=3)[0]
    assert a.weights == b.weights and any(a.weights)
    assert a.settings["num_samples"] == 200 and a.settings["random_state"] == 3
    # LIME's words are the tokeniser's words: weights land on real spans, never on the <br /> markup
    assert all(TEXT[s:e] == t for t, (s, e) in zip(a.tokens, a.spans, strict=True))
    c = explain_lime(pipe, TEXT, label=0, num_samples=200, random_state=3)[0]
    assert c.explained_class == 0
    assert explain_text(pipe, TEXT, method="lime", num_samples=200, label="1").explained_name == "1"


def test_lime_on_empty_text_and_bad_input(data):
    texts, y, _ = data
    pipe = _pipe(LogisticRegression(max_iter=2000), texts, y)
    a = explain_text(pipe, "!!! ...", method="lime")
    assert a.tokens == [] and a.weights == []
    with pytest.raises(InputError, match="one text"):
        explain_text(pipe, ["a list"])
    with pytest.raises(InputError, match="unknown explanation method"):
        explain_text(pipe, "x", method="magic")
    with pytest.raises(InputError, match="not one of"):
        explain_text(pipe, "good", label="nope")


def test_multilabel_explains_each_active_label():
    def f(texts):
        return np.array([[0.9 if "good" in t else 0.1, 0.8 if "film" in t else 0.2, 0.05] for t in texts])

    attrs = explain_labels(f, "good film", method="lime", num_samples=60, class_names=["a", "b", "c"])
    assert [a.explained_name for a in attrs] == ["a", "b"]
    assert attrs[0].top(1)[0][0] == "good"


def test_agnostic_shap_on_a_callable():
    def f(texts):
        p = np.array([0.9 if "good" in t else 0.2 for t in texts])
        return np.c_[1 - p, p]

    a = explain_text(f, "a good film", method="shap-partition", num_samples=50)
    assert a.method == "shap-partition" and a.top(1)[0][0] == "good"
    assert a.base_value + sum(a.weights) == pytest.approx(a.output, abs=1e-6)


def test_json_round_trip_and_agreement(data):
    texts, y, _ = data
    pipe = _pipe(LogisticRegression(max_iter=2000), texts, y)
    a = explain_text(pipe, TEXT)
    b = Attribution.from_json(a.to_json())
    assert b == a and b.text == TEXT and b.spans == a.spans
    assert Attribution.from_dict(a.to_dict()).top(3) == a.top(3)
    lime = explain_text(pipe, TEXT, method="lime", num_samples=300)
    res = agreement([a], [lime], k=5)
    assert 0 <= res["jaccard"] <= 1 and res["n_docs"] == 1
    assert agreement([a], [a], k=5)["jaccard"] == 1.0
    assert shap_summary([a, lime], k=3)[0][1] > 0
