"""The explain API: ``explain_text`` vs the ``bert2sk.explain`` subpackage, ``model_kind``, and what
``explain_study`` runs (never an encoder the study cannot run)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.tree import DecisionTreeClassifier

from bert2sk.explain import Attribution, explain_study, model_kind
from bert2sk.features import TfidfFeatures
from bert2sk.study import ModelEntry

from .conftest import sentiment_texts


def test_explain_is_the_subpackage_before_and_after_the_report_is_imported():
    # a fresh interpreter: which modules were imported before decides what a clash would return
    code = textwrap.dedent("""
        import types, warnings
        import bert2sk
        assert isinstance(bert2sk.explain, types.ModuleType), bert2sk.explain
        assert bert2sk.explain.__name__ == "bert2sk.explain"
        assert isinstance(bert2sk.explain_text, types.FunctionType)
        import bert2sk.report
        from bert2sk import explain, explain_text
        assert explain is bert2sk.explain and isinstance(explain, types.ModuleType)
        assert explain_text is bert2sk.explain.explain_text
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from bert2sk.features import TfidfFeatures
        pipe = make_pipeline(TfidfFeatures(min_df=1), LogisticRegression())
        pipe.fit(["a good film", "a bad film", "good fun", "bad plot"], [1, 0, 1, 0])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            old = bert2sk.explain(pipe, "good fun", class_names=["neg", "pos"])
        assert [w.category for w in caught] == [FutureWarning], caught
        assert "bert2sk.explain_text" in str(caught[0].message) and caught[0].filename == "<string>"
        assert old == explain_text(pipe, "good fun", class_names=["neg", "pos"])
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-3000:]


def test_the_old_function_name_inside_the_subpackage_warns_and_still_explains():
    from bert2sk.explain import explain, explain_text

    pipe = Pipeline([("features", TfidfFeatures(min_df=1)), ("student", LogisticRegression())])
    pipe.fit(["a good film", "a bad film", "good fun", "bad plot"], [1, 0, 1, 0])
    with pytest.warns(FutureWarning, match="explain_text"):
        old = explain(pipe, "good fun")
    assert isinstance(old, Attribution) and old == explain_text(pipe, "good fun")


class _NoEncoder:
    """A student whose encoder is absent (a saved study read back without it): any call is a failure."""

    classes_ = np.array([0, 1])

    def predict_proba(self, texts):
        raise AssertionError("the report ran a model whose encoder is absent")


class _OnRawText:
    """A transformer-like student: an estimator on raw text, no featurizer; counts the texts it scored."""

    def __init__(self, pipe):
        self.pipe, self.calls = pipe, 0

    def predict_proba(self, texts):
        self.calls += 1
        return self.pipe.predict_proba(list(texts))


@pytest.fixture(scope="module")
def corpus():
    texts, y = sentiment_texts(120, seed=7)
    return texts, y


def _entry(name, role, family, features, scorer, proba):
    return ModelEntry(name=name, role=role, family=family, kind="hard labels" if role == "baseline" else "soft targets",
                      features=features, proba=proba, scorer=scorer)


def _study(corpus, students, teacher_scorer):
    texts, y = corpus
    train, test = texts[:80], texts[80:]
    teacher = Pipeline([("features", TfidfFeatures()), ("student", LogisticRegression())]).fit(train, y[:80])
    models = {"teacher": _entry("teacher", "teacher", "transformer", "text", None, teacher.predict_proba(test))}
    for name, role, family, features, make in students:
        scorer = make(train, y[:80])
        proba = (teacher.predict_proba(test) if isinstance(scorer, _NoEncoder) else scorer.predict_proba(test))
        models[name] = _entry(name, role, family, features, scorer, proba)
    return SimpleNamespace(task="binary", label_names=("neg", "pos"), test_texts=test, y_test=y[80:], models=models,
                           teacher_scorer=teacher.predict_proba if teacher_scorer else None)


def _tfidf(est):
    return lambda texts, y: Pipeline([("features", TfidfFeatures()), ("student", est)]).fit(texts, y)


def test_model_kind_reads_the_fitted_student_without_running_it(corpus):
    texts, y = corpus
    assert model_kind(_tfidf(LogisticRegression())(texts, y)) == "linear"
    assert model_kind(_tfidf(DecisionTreeClassifier(max_depth=3))(texts, y)) == "tree"
    entry = _entry("emb", "baseline", "linear", "embeddings", _NoEncoder(), None)
    assert model_kind(entry) is None  # would raise if it ran the model
    assert model_kind(_entry("t", "distilled", "transformer", "text", None, None)) is None  # no scorer at all
    assert model_kind(lambda texts: np.zeros((len(texts), 2))) is None


def test_a_study_without_teacher_never_runs_students_it_cannot(corpus):
    students = [
        ("base · linear", "baseline", "linear", "tfidf", _tfidf(LogisticRegression(max_iter=500))),
        ("dist · linear", "distilled", "linear", "tfidf", _tfidf(LogisticRegression(C=3, max_iter=500))),
        ("base · emb", "baseline", "linear", "embeddings", lambda t, y: _NoEncoder()),
        ("dist · transformer", "distilled", "transformer", "text", lambda t, y: _NoEncoder()),
    ]
    result = _study(corpus, students, teacher_scorer=False)
    expl = explain_study(result, [0, 1, 2], teacher_docs=2, lime_samples=40)
    assert expl.explained == ["base · linear", "dist · linear"]
    assert expl.unexplained == ["base · emb", "dist · transformer"] and expl.teacher_indices == []
    assert all(set(d.students) == set(expl.explained) and not d.teacher and not d.lime for d in expl.documents)
    assert [(a.model, a.other) for a in expl.agreement] == [("dist · linear", "base · linear")]
    assert expl.agreement[0].methods == "linear-exact vs linear-exact"
    kinds = {name: gv.kind for name, gv in expl.global_views.items()}
    assert kinds == {"base · linear": "linear", "dist · linear": "linear", "base · emb": None,
                     "dist · transformer": None}
    assert expl.global_views["base · emb"].terms is None and expl.global_views["base · emb"].summary == []
    json.dumps(expl.to_dict())  # plain data all the way down
    # with no TF-IDF student and no teacher there is nothing the study can run: nothing is run
    only_encoders = _study(corpus, students[2:], teacher_scorer=False)
    none = explain_study(only_encoders, [0, 1], teacher_docs=2)
    assert all(not d.students for d in none.documents) and none.agreement == []


def test_students_on_raw_text_get_lime_on_teacher_documents_only(corpus):
    made = []

    def raw(texts, y):
        made.append(_OnRawText(_tfidf(LogisticRegression(max_iter=500))(texts, y)))
        return made[-1]

    result = _study(corpus, [("dist · transformer", "distilled", "transformer", "text", raw)], teacher_scorer=True)
    made[0].calls = 0
    expl = explain_study(result, [3, 4, 5], teacher_docs=1, lime_samples=40, seed=2)
    assert expl.teacher_indices == [3] and made[0].calls > 0
    first, *rest = expl.documents
    [attr] = first.students["dist · transformer"]
    assert attr.method == "lime" and first.lime["dist · transformer"] is attr and first.teacher[0].method == "lime"
    assert all(not d.students and not d.teacher for d in rest)
    assert [(a.model, a.other, a.methods) for a in expl.agreement] == [("dist · transformer", "teacher",
                                                                        "LIME vs LIME")]
    gv = expl.global_views["dist · transformer"]
    assert gv.kind is None and gv.terms is None and gv.tree is None and gv.summary_method == "lime"
