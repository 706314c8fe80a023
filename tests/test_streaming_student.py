"""The streaming (out-of-core) distilled student: as faithful as the in-memory ridge, fitted batch by batch.

It takes raw texts, so scikit-learn's ``parametrize_with_checks`` (which
feeds numeric arrays) does not apply; the estimator contract is checked
here directly (clone, parameters, not-fitted errors).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import Ridge

from bert2sk.errors import InputError
from bert2sk.features.tfidf import TfidfFeatures
from bert2sk.students.estimators import DistilledClassifier
from bert2sk.students.streaming import StreamingDistilledClassifier, fit_from_shards, iter_shard_batches

from .conftest import WORDS, sentiment_texts

POS, NEG = set(WORDS[:8]), set(WORDS[8:16])


def teacher_logits(texts: list[str], seed: int = 0) -> np.ndarray:
    """A teacher that counts sentiment words, with some noise: margin = #pos - #neg."""
    rng = np.random.default_rng(seed)
    m = np.array([sum(w in POS for w in t.split()) - sum(w in NEG for w in t.split()) for t in texts], float)
    m = 1.5 * m + rng.normal(0, 0.3, len(texts))
    return np.c_[-m / 2, m / 2]


@pytest.fixture(scope="module")
def data():
    texts, _ = sentiment_texts(1200, seed=7)
    z = teacher_logits(texts)
    return texts[:900], z[:900], texts[900:], z[900:]


def small_student(**kw) -> StreamingDistilledClassifier:
    params = {"features": TfidfFeatures(min_df=1), "batch_size": 64, "shuffle_buffer": 256, "n_epochs": 10,
              "vocabulary_sample": 300}
    return StreamingDistilledClassifier(**{**params, **kw})


def fidelity(model, texts, z) -> float:
    return float((model.predict(texts) == z.argmax(1)).mean())


def test_fidelity_matches_the_in_memory_ridge_student(data):
    tr, z_tr, te, z_te = data
    ridge = DistilledClassifier(Ridge(alpha=1.0))
    vec = TfidfFeatures(min_df=1).fit(tr)
    ridge.fit(vec.transform(tr), teacher_logits=z_tr)
    ridge_fid = float((ridge.predict(vec.transform(te)) == z_te.argmax(1)).mean())
    student = small_student().fit(tr, teacher_logits=z_tr)
    fid = fidelity(student, te, z_te)
    assert ridge_fid > 0.9
    assert fid >= ridge_fid - 0.03, (fid, ridge_fid)
    # featurising every text in every epoch instead of reading the first epoch's batches back: as good
    assert fidelity(small_student(spill=False).fit(tr, teacher_logits=z_tr), te, z_te) >= ridge_fid - 0.03
    # it learned the margin, not only its sign
    assert np.corrcoef(student.decision_function(te), z_te[:, 1] - z_te[:, 0])[0, 1] > 0.9
    proba = student.predict_proba(te[:5])
    assert proba.shape == (5, 2) and np.allclose(proba.sum(1), 1.0)


def test_a_class_sorted_file_is_mixed_before_it_reaches_sgd(data, tmp_path):
    tr, z_tr, te, z_te = data
    order = np.argsort(z_tr[:, 1] - z_tr[:, 0], kind="stable")  # every negative text first
    sorted_texts, sorted_z = [tr[i] for i in order], z_tr[order]
    src = tmp_path / "input"
    src.mkdir()
    (src / "texts.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in sorted_texts))
    write_labelled(tmp_path / "labels", sorted_texts, sorted_z)
    mixed = fit_from_shards(tmp_path / "labels", src, small_student(n_epochs=2), segments=8)
    in_order = fit_from_shards(tmp_path / "labels", src, small_student(n_epochs=2, shuffle_buffer=1), segments=1)
    assert fidelity(mixed, te, z_te) > 0.9
    # read in file order, SGD sees one class at a time: its margins fit the teacher's far worse
    margin = z_te[:, 1] - z_te[:, 0]
    mse_mixed = np.mean((mixed.decision_function(te) - margin) ** 2)
    mse_in_order = np.mean((in_order.decision_function(te) - margin) ** 2)
    assert mse_mixed < 0.5 * mse_in_order, (mse_mixed, mse_in_order)
    assert fidelity(small_student(n_epochs=2).fit(sorted_texts, teacher_logits=sorted_z), te, z_te) > 0.9


def test_vocabulary_comes_from_a_uniform_sample_of_the_whole_stream():
    early = [f"{WORDS[0]} w{i % 30} film" for i in range(500)]
    late = [f"{WORDS[8]} w{30 + i % 30} film" for i in range(500)]
    texts = early + late
    z = teacher_logits(texts)
    student = small_student(vocabulary_sample=100, n_epochs=1).fit(texts, teacher_logits=z)
    names = set(student.get_feature_names_out())
    assert any(f"w{i}" in names for i in range(30)) and any(f"w{i}" in names for i in range(30, 60))
    assert student.coef_.shape == (1, len(names)) and student.n_features_in_ == len(names)
    assert student.n_seen_ == len(texts)


def test_multiclass_teacher(data):
    tr, _, te, _ = data
    rng = np.random.default_rng(0)
    w = rng.normal(size=(len(WORDS), 3)) * 2
    index = {word: i for i, word in enumerate(WORDS)}

    def logits(texts):
        return np.array([w[[index[t] for t in s.split()]].sum(0) for s in texts])

    ridge = DistilledClassifier(Ridge(alpha=1.0))
    vec = TfidfFeatures(min_df=1).fit(tr)
    ridge_fid = float((ridge.fit(vec.transform(tr), teacher_logits=logits(tr)).predict(vec.transform(te))
                       == logits(te).argmax(1)).mean())
    student = small_student(n_epochs=10).fit(tr, teacher_logits=logits(tr))
    assert student.task_ == "multiclass" and len(student.estimators_) == 3
    assert fidelity(student, te, logits(te)) >= ridge_fid - 0.03 > 0.85
    assert student.predict_proba(te[:3]).shape == (3, 3)


def test_estimator_contract_and_errors(data):
    tr, z_tr, _, _ = data
    student = small_student(n_epochs=1)
    assert repr(clone(student)) == repr(student) and clone(student).get_params()["n_epochs"] == 1
    with pytest.raises(NotFittedError):
        student.predict(["a good film"])
    with pytest.raises(InputError, match="teacher_logits"):
        student.fit(tr)
    with pytest.raises(InputError, match="one row of teacher logits per text"):
        student.fit(tr, teacher_logits=z_tr[:10])
    with pytest.raises(InputError, match="n_epochs"):
        small_student(n_epochs=0).fit(tr, teacher_logits=z_tr)
    fitted = student.fit(tr, teacher_logits=z_tr)
    before = fitted.coef_.copy()
    fitted.partial_fit(tr[:64], teacher_logits=z_tr[:64])
    assert not np.array_equal(before, fitted.coef_)
    with pytest.raises(InputError, match="single string"):
        fitted.predict("a good film")


def write_labelled(folder, texts, z, n_shards: int = 3):
    """A labelled output folder as ``bert2sk label --engine ray`` writes it (shards in scrambled order)."""
    from bert2sk.teacher.ray_labelling import MANIFEST, _shard_table, write_shard

    folder.mkdir(parents=True, exist_ok=True)
    (folder / MANIFEST).write_text(json.dumps({"sources": ["texts.jsonl"], "text_column": "text",
                                               "fingerprint": "test"}))
    rows = np.random.default_rng(0).permutation(len(texts))
    for part in np.array_split(rows, n_shards):
        batch = {"source": ["texts.jsonl"] * len(part), "row": part, "id": [f"texts.jsonl:{i}" for i in part],
                 "text_sha256": [bytes(32)] * len(part)}
        write_shard(folder, _shard_table(batch, z[part], None, "test"))


def test_fit_from_shards_equals_fitting_the_same_rows_in_memory(data, tmp_path):
    tr, z_tr, te, _ = data
    src = tmp_path / "input"
    src.mkdir()
    (src / "texts.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in tr))
    z32 = z_tr.astype(np.float32)
    write_labelled(tmp_path / "labels", tr, z32)
    batches = list(iter_shard_batches(tmp_path / "labels", src, batch_size=100))
    assert sum(len(t) for t, _ in batches) == len(tr) and batches[0][0][:3] == tr[:3]
    np.testing.assert_array_equal(np.vstack([b for _, b in batches]), z32)
    mixed = list(iter_shard_batches(tmp_path / "labels", src, batch_size=100, segments=4))
    assert mixed[0][0][:25] == tr[:25] and mixed[0][0][25:50] == tr[225:250]  # four places of the file at once
    texts = [t for b, _ in mixed for t in b]
    assert sorted(texts) == sorted(tr)
    np.testing.assert_array_equal(np.vstack([b for _, b in mixed]), z32[[tr.index(t) for t in texts]])

    streamed = fit_from_shards(tmp_path / "labels", src, small_student(n_epochs=3), segments=1)
    in_memory = small_student(n_epochs=3).fit_stream(
        lambda: ((tr[i:i + 64], z32[i:i + 64]) for i in range(0, len(tr), 64)))
    np.testing.assert_allclose(streamed.coef_, in_memory.coef_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(streamed.decision_function(te), in_memory.decision_function(te), atol=1e-6)


def test_fit_from_shards_refuses_an_unfinished_labelling(data, tmp_path):
    tr, z_tr, _, _ = data
    src = tmp_path / "input"
    src.mkdir()
    (src / "texts.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in tr))
    write_labelled(tmp_path / "labels", tr, z_tr)
    next(iter(sorted((tmp_path / "labels").glob("part-*.parquet")))).unlink()
    with pytest.raises(InputError, match="no teacher logits"):
        fit_from_shards(tmp_path / "labels", src, small_student(n_epochs=1))
    with pytest.raises(InputError, match="not a labelled folder"):
        fit_from_shards(tmp_path, src)


def test_the_student_saves_as_a_study_pipeline_with_the_same_predictions(data, tmp_path):
    from bert2sk.persistence import load_student, save_student

    tr, z_tr, te, _ = data
    student = small_student(n_epochs=2).fit(tr, teacher_logits=z_tr)
    pipe = student.to_pipeline()
    assert [name for name, _ in pipe.steps] == ["features", "student"]
    np.testing.assert_allclose(pipe.predict_proba(te), student.predict_proba(te), atol=1e-12)
    loaded, card = load_student(save_student(tmp_path / "s", pipe, {"task": "binary"}))
    np.testing.assert_allclose(loaded.predict_proba(te), student.predict_proba(te), atol=1e-12)
    rng = np.random.default_rng(1)
    w = rng.normal(size=(len(WORDS), 3))
    index = {word: i for i, word in enumerate(WORDS)}
    z3 = np.array([w[[index[t] for t in s.split()]].sum(0) for s in tr])
    multi = small_student(n_epochs=2).fit(tr, teacher_logits=z3)
    np.testing.assert_allclose(multi.to_pipeline().predict_proba(te), multi.predict_proba(te), atol=1e-12)


def _cli_labels(tmp_path, texts, z, **manifest):
    """An input folder and its labelled folder, with the manifest `bert2sk label --engine ray` writes."""
    from bert2sk.teacher.ray_labelling import MANIFEST

    src = tmp_path / "input"
    src.mkdir(parents=True)
    (src / "texts.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    write_labelled(tmp_path / "labels", texts, z)
    full = {"sources": ["texts.jsonl"], "text_column": "text", "fingerprint": "test", "teacher": "t",
            "label_names": ["neg", "pos"], "task": "binary", "max_length": 64, "truncation": "head+tail",
            "dtype": "fp32", "finished": {"rows": len(texts), "inputs": [["texts.jsonl",
                                                                           (src / "texts.jsonl").stat().st_size, 0]]},
            **manifest}
    (tmp_path / "labels" / MANIFEST).write_text(json.dumps(full))
    return src, tmp_path / "labels"


def test_distill_stream_without_a_teacher_and_its_one_line_errors(data, tmp_path):
    from typer.testing import CliRunner

    from bert2sk.cli import app
    from bert2sk.persistence import load_student

    tr, z_tr, te, z_te = data
    src, labels = _cli_labels(tmp_path, tr, z_tr)
    (tmp_path / "test.jsonl").write_text("".join(json.dumps({"text": t, "label": ["neg", "pos"][int(y)]}) + "\n"
                                                 for t, y in zip(te, z_te.argmax(1), strict=True)))
    runner = CliRunner()

    def run(*args):
        return runner.invoke(app, ["distill-stream", *map(str, args), "--epochs", "2", "--batch-size", "64",
                                   "--vocabulary-sample", "300", "--quiet"], env={"COLUMNS": "200"})

    ok = run(src, "--labels", labels, "--out", tmp_path / "s.skops", "--test", tmp_path / "test.jsonl")
    assert ok.exit_code == 0, ok.output
    model, card = load_student(tmp_path / "s.skops")
    assert set(card["metrics"]) == {"accuracy", "f1_macro"} and card["metrics"]["accuracy"] > 0.8  # no teacher
    assert card["test"] == {"name": "test.jsonl", "texts": len(te)} and card["training"]["texts"] == len(tr)

    def error(result, match):
        assert result.exit_code != 0 and isinstance(result.exception, InputError), result.output
        assert match in str(result.exception) and "\n" not in str(result.exception), str(result.exception)

    out = ["--out", tmp_path / "never.skops"]
    error(run(src, "--labels", tmp_path / "missing", *out), "labels folder not found")
    error(run(src, "--labels", src, *out), "is not a labelled folder")  # a folder of texts, not of shards
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"text": "a good film"}) + "\n")
    error(run(other, "--labels", labels, *out), "does not hold the files")
    with open(src / "texts.jsonl", "a") as fh:
        fh.write(json.dumps({"text": "one more"}) + "\n")
    error(run(src, "--labels", labels, *out), "has changed since")
    src2, labels2 = _cli_labels(tmp_path / "ml", tr, z_tr, task="multilabel")
    error(run(src2, "--labels", labels2, *out), "binary and multiclass")
    error(run(src2, "--labels", labels2, "--teacher", "t", *out), "--teacher is used for the fidelity")
    assert not (tmp_path / "never.skops").exists()
