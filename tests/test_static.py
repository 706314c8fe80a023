"""Static token features distilled from a (tiny, local) teacher, their students, and their exact explanations."""

from __future__ import annotations

import shutil
import zipfile

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.tree import DecisionTreeClassifier

from bert2sk.errors import InputError
from bert2sk.explain import auto_method, explain_static, explain_text, model_kind, static_terms, token_contributions
from bert2sk.features import StaticFeatures, TfidfFeatures
from bert2sk.persistence import load_student, save_student
from bert2sk.students import make_distilled
from bert2sk.teacher import Teacher

from .conftest import sentiment_texts

pytest.importorskip("model2vec", reason="static features need bert2sk[static]")


@pytest.fixture(scope="module")
def static_tiny(tiny_bert) -> StaticFeatures:
    return StaticFeatures(str(tiny_bert)).fit(["a text"])


@pytest.fixture(scope="module")
def sentiment_logits(tiny_bert):
    texts, y = sentiment_texts(120)
    return texts, y, Teacher.from_pretrained(tiny_bert, progress=False, max_length=32).predict_logits(texts)


def test_a_text_is_the_normalised_mean_of_its_token_vectors(static_tiny):
    f = static_tiny
    assert f.vectors_.dtype == np.float16 and f.vectors_.shape[1] == f.n_features_out_ == 32  # width <= hidden size
    assert f.source_.startswith("tiny-bert-binary")  # a folder name, never a path
    tokens, ids, spans = f.tokenize("Good film!")
    assert tokens == ["good", "film"] and [("Good film!")[s:e] for s, e in spans] == ["Good", "film"]  # "!" unknown
    by_hand = f.vectors_[ids].astype(np.float64).mean(axis=0)
    np.testing.assert_allclose(f.transform(["Good film!"])[0], by_hand / np.linalg.norm(by_hand), atol=1e-12)
    # HTML breaks are not tokens; a text with no known token is all zeros (its decision is the intercept)
    np.testing.assert_array_equal(f.transform(["good<br />film"]), f.transform(["good film"]))
    assert not f.transform(["", "!!! ???"]).any()
    raw = clone(f).set_params(normalize=False).fit(["a"]).transform(["good film good"])[0]
    np.testing.assert_allclose(raw, f.vectors_[[ids[0], ids[1], ids[0]]].astype(np.float64).mean(axis=0))


def test_static_features_follow_the_estimator_contract(tiny_bert):
    f = StaticFeatures(str(tiny_bert), pca_dims=8)
    with pytest.raises(NotFittedError):
        f.transform(["good film"])
    assert f.fit(["x"]) is f and clone(f).get_params() == f.get_params()
    assert f.transform(["good film", "bad plot"]).shape == (2, 8)
    assert f.get_feature_names_out().tolist()[:2] == ["static0", "static1"]
    with pytest.raises(InputError, match="list of strings"):
        f.transform("good film")
    with pytest.raises(InputError, match="teacher_logits"):
        StaticFeatures(str(tiny_bert), tune_epochs=1).fit(["good film"])


def test_a_distilled_table_is_cached_by_model_and_settings(tiny_bert, tmp_path, monkeypatch):
    first = StaticFeatures(str(tiny_bert), cache_dir=str(tmp_path)).fit(["x"])
    assert len(list(tmp_path.glob("static-*.npz"))) == 1

    def no_distillation(*args, **kwargs):
        raise AssertionError("the cached table should have been used")

    monkeypatch.setattr("bert2sk.features.static.distil_table", no_distillation)
    again = StaticFeatures(str(tiny_bert), cache_dir=str(tmp_path)).fit(["x"])
    np.testing.assert_array_equal(again.vectors_, first.vectors_)
    assert again.tokenizer_json_ == first.tokenizer_json_
    with pytest.raises(AssertionError, match="cached table"):  # other settings: another table
        StaticFeatures(str(tiny_bert), pca_dims=8, cache_dir=str(tmp_path)).fit(["x"])


def test_tuning_fits_the_table_to_the_teacher_deterministically(tiny_bert, sentiment_logits):
    texts, _, z = sentiment_logits
    plain = StaticFeatures(str(tiny_bert)).fit(texts)
    settings = {"tune_epochs": 50, "tune_learning_rate": 1e-2, "tune_batch_size": 16}
    tuned = StaticFeatures(str(tiny_bert), **settings).fit(texts, teacher_logits=z)
    twice = StaticFeatures(str(tiny_bert), **settings).fit(texts, teacher_logits=z)
    assert tuned.tuned_ and not plain.tuned_
    np.testing.assert_array_equal(tuned.vectors_, twice.vectors_)

    def ridge_error(f):
        from sklearn.linear_model import Ridge

        X = f.transform(texts)
        margin = z[:, 1] - z[:, 0]
        return float(np.mean((Ridge(alpha=1e-3).fit(X, margin).predict(X) - margin) ** 2))

    assert ridge_error(tuned) < 0.75 * ridge_error(plain)  # measured: 2.42 against 4.03


def _binary_student(static_tiny, sentiment_logits):
    texts, y, z = sentiment_logits
    return make_pipeline(static_tiny, make_distilled("linear")).fit(texts, y, distilledclassifier__teacher_logits=z)


@pytest.mark.parametrize("normalize", [True, False])
def test_per_token_contributions_sum_to_the_students_logit(tiny_bert, sentiment_logits, normalize):
    texts, y, z = sentiment_logits
    feats = StaticFeatures(str(tiny_bert), normalize=normalize).fit(texts)
    binary = make_pipeline(feats, make_distilled("linear")).fit(texts, y, distilledclassifier__teacher_logits=z)
    text = "Good film, really GOOD... the plot was dull; w7 w7 w7!"
    [a] = explain_static(binary, text, label=1)
    margin = binary.decision_function([text])[0]
    assert a.method == "static-exact" and a.output == pytest.approx(margin, abs=1e-9)
    assert abs(a.base_value + sum(a.term_weights) - margin) < 1e-6
    assert a.base_value == pytest.approx(binary[-1].estimator_.intercept_ * binary[-1].temperature)
    # words carry their tokens' contributions; what no word holds (punctuation) is reported, not lost
    assert sum(a.weights) + a.settings["unmapped"] == pytest.approx(sum(a.term_weights), abs=1e-9)
    assert a.terms.count("w7") == 1 and "good" in a.terms  # repeated tokens summed into one term
    # multiclass: one contribution per token per class, each summing to that class's predicted logit
    zk = np.c_[z, z[:, :1] - z[:, 1:]]
    multi = make_pipeline(feats, make_distilled("linear", task="multiclass")).fit(
        texts, y, distilledclassifier__teacher_logits=zk)
    logits = multi.decision_function([text])[0]
    for c in range(3):
        [a] = explain_static(multi, text, label=c)
        assert abs(a.base_value + sum(a.term_weights) - logits[c]) < 1e-6
    _, _, per_token = token_contributions(feats, text, np.eye(feats.n_features_out_))
    np.testing.assert_allclose(per_token.sum(axis=0), feats.transform([text])[0], atol=1e-12)


def test_auto_picks_the_exact_static_explainer_for_linear_students_only(static_tiny, sentiment_logits):
    texts, y, _ = sentiment_logits
    linear = make_pipeline(static_tiny, LogisticRegression()).fit(texts, y)
    tree = make_pipeline(static_tiny, DecisionTreeClassifier(max_depth=3, random_state=0)).fit(texts, y)
    assert model_kind(linear) == "static" and auto_method(linear) == "static-exact"
    assert model_kind(tree) is None and auto_method(tree) == "shap-partition"
    a = explain_text(linear, "a good film", class_names=["neg", "pos"])
    assert a.method == "static-exact" and a.tokens == ["a", "good", "film"]
    [view] = static_terms(linear, k=3, class_names=["neg", "pos"])
    assert view["class"] == "pos" and len(view["positive"]) == 3 and len(view["negative"]) == 3
    assert all(t.isalpha() and not t.startswith("##") for t, _ in view["positive"] + view["negative"])
    tfidf = make_pipeline(TfidfFeatures(min_df=1), LogisticRegression()).fit(["a good film", "a bad film"], [1, 0])
    with pytest.raises(InputError, match="StaticFeatures"):
        explain_static(tfidf, "a good film")


def test_a_saved_static_student_predicts_with_the_teacher_folder_deleted(tiny_bert, sentiment_logits, tmp_path):
    texts, y, z = sentiment_logits
    teacher_copy = tmp_path / "teacher"
    shutil.copytree(tiny_bert, teacher_copy)
    feats = StaticFeatures(str(teacher_copy), cache_dir=str(tmp_path / "tables")).fit(texts)
    student = make_pipeline(feats, make_distilled("linear")).fit(texts, y, distilledclassifier__teacher_logits=z)
    path = save_student(tmp_path / "saved" / "static", student, {"task": "binary", "label_names": ["neg", "pos"]})
    shutil.rmtree(teacher_copy)
    # the saved file is read on other machines: it names the teacher by its folder, never by this machine's path
    with zipfile.ZipFile(path) as zf:
        stored = b"".join(zf.read(name) for name in zf.namelist())
    assert str(tmp_path).encode() not in stored and str(tmp_path).encode("unicode_escape") not in stored
    assert feats.model == str(teacher_copy) and feats.cache_dir == str(tmp_path / "tables")  # saving changes nothing
    loaded, card = load_student(path)  # only trusted types: no trusted=[...] needed
    assert loaded[0].model == "teacher" and loaded[0].cache_dir is None and loaded[0].source_ == "teacher"
    assert card["task"] == "binary"
    np.testing.assert_array_equal(loaded.predict_proba(texts), student.predict_proba(texts))
    assert loaded[0].vectors_.dtype == np.float16
    [a] = explain_static(loaded, texts[0], label=1)
    assert abs(a.base_value + sum(a.term_weights) - loaded.decision_function([texts[0]])[0]) < 1e-6


def test_static_kinds_join_a_study_explained_exactly_and_saved(tiny_teacher_trained, tmp_path):
    from bert2sk.data import Corpus
    from bert2sk.explain import explain_study
    from bert2sk.report import write_report
    from bert2sk.study import load_study, run_study

    teacher = Teacher.from_pretrained(tiny_teacher_trained, progress=False, max_length=32)
    texts, y = sentiment_texts(240)
    train, test = Corpus(texts, y, ("neg", "pos"), "binary").split(80)
    kinds = ("static", "static-tuned", "tfidf+static")
    families = {"static": ("linear", "tree"), "static-tuned": ("linear",), "tfidf+static": ("linear",)}
    res = run_study(teacher, train.keep_labels(30), test, latency_runs=3, families=families, features=kinds,
                    kinds=("regression",), options={"static": {"cache_dir": str(tmp_path / "tables")}},
                    progress=False)
    table = res.table
    assert set(table["features"]) == {"text", *kinds}
    linear = table[(table["role"] == "distilled") & (table["family"] == "linear")]
    # a teacher that learned sentiment words: a mean of its word vectors follows it most of the way (measured 0.81)
    assert linear.loc["distilled · linear · static · logit regression", "fidelity"] > 0.75
    name = "distilled · linear · static-tuned · logit regression"
    explained = explain_study(res, [0, 1], teacher_docs=0)
    attr = explained.documents[0].students[name][0]
    assert attr.method == "static-exact"
    assert "distilled · tree · static · logit regression" in explained.unexplained  # no exact explainer for trees
    assert explained.global_views[name].kind == "static" and explained.global_views[name].terms
    again = load_study(res.save(tmp_path / "study"))
    for m in (name, "distilled · linear · tfidf+static · logit regression"):
        np.testing.assert_allclose(again.models[m].scorer.predict_proba(test.texts), res.models[m].proba)
    html = write_report(again, tmp_path / "report.html", n_docs=2).read_text()
    assert "token contributions" in html and "static-exact" in html
    with pytest.raises(InputError, match="unknown static student options"):
        run_study(teacher, train, test, features=("static",), options={"static": {"pca": 8}})


def test_a_table_from_another_encoder_needs_only_the_teachers_scores(tiny_teacher_trained, tiny_bert, tmp_path):
    """Stored logits carry no weights to distil: ``encoder`` names where the table comes from instead."""
    from bert2sk.data import Corpus
    from bert2sk.study import run_study
    from bert2sk.teacher import TeacherScores

    teacher = Teacher.from_pretrained(tiny_teacher_trained, progress=False, max_length=32)
    texts, y = sentiment_texts(160)
    scores = TeacherScores(texts, teacher.predict_logits(texts), teacher.label_names, teacher.task, source="stored")
    train, test = Corpus(texts, y, ("neg", "pos"), "binary").split(60)
    with pytest.raises(InputError, match="need the teacher's model"):
        run_study(scores, train, test, features=("static-tuned",), progress=False)
    cache = str(tmp_path / "tables")
    opts = {"cache_dir": cache, "encoder": str(tiny_bert)}
    res = run_study(scores, train, test, features=("static", "static-tuned"), families=("linear",),
                    kinds=("regression",), latency_runs=2, options={"static": opts}, progress=False)
    plain = res.models["distilled · linear · static · logit regression"]
    # the table is the other encoder's: the same features a StaticFeatures of that encoder gives
    own = StaticFeatures(str(tiny_bert), cache_dir=cache).fit(["a text"])
    np.testing.assert_allclose(plain.scorer[0].transform(test.texts[:5]), own.transform(test.texts[:5]), atol=1e-6)
    tuned = res.table.loc["distilled · linear · static-tuned · logit regression", "fidelity"]
    assert tuned >= res.table.loc["distilled · linear · static · logit regression", "fidelity"]


def test_cli_explain_lists_a_static_students_tokens_and_their_exact_sum(static_tiny, sentiment_logits, tmp_path):
    from typer.testing import CliRunner

    from bert2sk.cli import app

    texts, y, z = sentiment_logits
    student = make_pipeline(static_tiny, make_distilled("linear")).fit(texts, y, distilledclassifier__teacher_logits=z)
    path = save_student(tmp_path / "static", student, {"task": "binary", "label_names": ["neg", "pos"]})
    out = CliRunner().invoke(app, ["explain", "a good film, really good!", "--model", str(path)])
    assert out.exit_code == 0, out.output
    assert "static-exact" in out.output and "token contributions" in out.output
    margin = student.decision_function(["a good film, really good!"])[0]
    assert f"= {margin:+.4f}" in out.output
