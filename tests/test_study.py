"""A whole study on tiny local teachers: binary, multiclass and multilabel."""

from __future__ import annotations

import numpy as np
import pytest

from bert2sk.data import Corpus
from bert2sk.errors import InputError
from bert2sk.study import run_study
from bert2sk.teacher import Teacher

from .conftest import sentiment_texts


def test_binary_study_measures_every_model(tiny_teacher_trained, tmp_path):
    teacher = Teacher.from_pretrained(tiny_teacher_trained, progress=False, max_length=32)
    texts, y = sentiment_texts(240)
    train, test = Corpus(texts, y, ("neg", "pos"), "binary").split(80)
    res = run_study(teacher, train.keep_labels(30), test, latency_runs=5, cache_path=tmp_path / "c.sqlite",
                    families=("linear", "tree"))
    table = res.table
    assert set(table["role"]) == {"teacher", "baseline", "distilled"}
    assert len(table) == 1 + 2 * 2 * 3  # teacher + 2 feature kinds x 2 families x (baseline + 2 distilled)
    assert table.loc["teacher", "fidelity"] == 1.0
    # a teacher that learned the sentiment words: its linear students must imitate it closely, and better
    # than the baseline that saw 30 labels only
    distilled = table[(table["role"] == "distilled") & (table["family"] == "linear")]
    assert table.loc["teacher", "accuracy"] > 0.8
    assert distilled["fidelity"].max() > 0.85
    assert distilled["fidelity"].max() > table.loc["baseline · linear · tfidf", "fidelity"]
    assert (table["size_mb"] > 0).all() and (table["latency_ms"] > 0).all()
    assert res.n_labelled == 30 and res.n_train == 160
    entry = res.models["distilled · linear · tfidf · logit regression"]
    np.testing.assert_allclose(entry.scorer.predict_proba(test.texts), entry.proba)


@pytest.mark.parametrize("which", ["multiclass", "multilabel"])
def test_multiclass_and_multilabel_studies(which, tiny_bert_multiclass, tiny_bert_multilabel):
    path = tiny_bert_multiclass if which == "multiclass" else tiny_bert_multilabel
    teacher = Teacher.from_pretrained(path, progress=False, max_length=32)
    texts, _ = sentiment_texts(150, seed=1)
    k = len(teacher.label_names)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, k, 150) if which == "multiclass" else rng.integers(0, 2, (150, k))
    corpus = Corpus(texts, labels, teacher.label_names, which)
    train, test = corpus.split(50)
    res = run_study(teacher, train, test, latency_runs=3, families=("linear",), features=("tfidf",))
    assert res.task == which and len(res.table) == 4
    assert res.table["fidelity"].notna().all()


def test_study_rejects_mismatched_inputs(tiny_bert, tiny_bert_multiclass):
    texts, y = sentiment_texts(60)
    train, test = Corpus(texts, y, ("neg", "pos"), "binary").split(20)
    teacher = Teacher.from_pretrained(tiny_bert_multiclass, progress=False, max_length=32)
    with pytest.raises(InputError, match="4 outputs but the corpus 2 labels"):
        run_study(teacher, train, test)
    with pytest.raises(InputError, match="unknown features"):
        run_study(Teacher.from_pretrained(tiny_bert, progress=False), train, test, features=("bag",))
    with pytest.raises(InputError, match="every test text needs a label"):
        run_study(Teacher.from_pretrained(tiny_bert, progress=False), train, test.without_labels())


def _multilabel_corpora(teacher, n=240, seed=2):
    """Texts labelled by the teacher's own scores, split at each label's median (so both classes occur)."""
    texts, _ = sentiment_texts(n, seed=seed)
    z = teacher.predict_logits(texts)
    labels = (z > np.median(z, axis=0)).astype(int)
    corpus = Corpus(texts, labels, teacher.label_names, "multilabel")
    rest, test = corpus.split(60, seed=0)
    train, dev = rest.split(60, seed=1)
    return train, dev, test


def test_multilabel_study_tunes_every_models_thresholds_on_dev(tiny_bert_multilabel, tmp_path):
    teacher = Teacher.from_pretrained(tiny_bert_multilabel, progress=False, max_length=32)
    train, dev, test = _multilabel_corpora(teacher)
    res = run_study(teacher, train, test, dev=dev, latency_runs=3, cache_path=tmp_path / "c.sqlite",
                    families={"tfidf": ("linear", "tree"), "embeddings": ("linear",)})
    k = len(teacher.label_names)
    # no thresholds in the tiny teacher's config: tuned on dev like everyone else's
    assert teacher.thresholds is None
    for entry in res.models.values():
        th = np.asarray(entry.thresholds)
        # a threshold may sit on a pure tree leaf's 1.0; 0 would flag every row
        assert th.shape == (k,) and ((th > 0) & (th <= 1)).all()
    # the teacher separates these labels perfectly (they are its own median splits): tuned, not left at 0.5
    assert not np.allclose(res.models["teacher"].thresholds, 0.5)
    assert set(res.table.index) == {"teacher"} | {
        f"{r} · {f} · {feat}" + s for feat, fams in (("tfidf", ("linear", "tree")), ("embeddings", ("linear",)))
        for f in fams for r, s in (("baseline", ""), ("distilled", " · logit regression"),
                                   ("distilled", " · soft targets"))}
    assert res.table[["f1_micro", "f1_macro", "fidelity"]].notna().all().all()
    # the embedding student sees the teacher's own (mean-pooled) states: it follows the teacher per label far
    # above chance (0.5 on median splits) and above bag-of-words students, which cannot see word order
    fid = res.table["fidelity"]
    emb = fid["distilled · linear · embeddings · logit regression"]
    assert emb > 0.7 and emb > fid[[n for n in fid.index if "tfidf" in n]].max() + 0.1
    assert (res.table["fidelity_sets"] <= res.table["fidelity"]).all()


def test_multilabel_teacher_keeps_its_own_thresholds(tiny_bert_multilabel, tmp_path):
    import shutil

    from transformers import AutoConfig

    path = tmp_path / "ml-teacher"
    shutil.copytree(tiny_bert_multilabel, path)
    cfg = AutoConfig.from_pretrained(path)
    cfg.bert2sk_thresholds = [0.3, 0.4, 0.6]
    cfg.save_pretrained(path)
    teacher = Teacher.from_pretrained(path, progress=False, max_length=32)
    np.testing.assert_allclose(teacher.thresholds, [0.3, 0.4, 0.6])
    train, dev, test = _multilabel_corpora(teacher)
    res = run_study(teacher, train, test, dev=dev, latency_runs=3, families=("linear",), features=("tfidf",))
    np.testing.assert_allclose(res.models["teacher"].thresholds, [0.3, 0.4, 0.6])


def test_study_refuses_a_dev_corpus_with_other_labels(tiny_bert_multilabel):
    teacher = Teacher.from_pretrained(tiny_bert_multilabel, progress=False, max_length=32)
    train, dev, test = _multilabel_corpora(teacher, n=160)
    other = Corpus(dev.texts, dev.labels, ("x", "y", "z"), "multilabel")
    with pytest.raises(InputError, match="dev corpus"):
        run_study(teacher, train, test, dev=other)
    with pytest.raises(InputError, match="unknown student family 'forest'"):
        run_study(teacher, train, test, families={"tfidf": ("forest",)}, features=("tfidf",))


def test_study_needs_two_classes_among_the_labels(tiny_bert):
    teacher = Teacher.from_pretrained(tiny_bert, progress=False, max_length=32)
    texts, _ = sentiment_texts(60)
    train = Corpus(texts[:40], np.zeros(40, dtype=int), ("neg", "pos"), "binary")
    test = Corpus(texts[40:], np.r_[np.zeros(10, dtype=int), np.ones(10, dtype=int)], ("neg", "pos"), "binary")
    with pytest.raises(InputError, match="all have one class"):
        run_study(teacher, train, test)


def test_study_from_stored_scores_matches_the_model_run(tiny_bert_multilabel, tmp_path):
    """Rerunning the student half from saved logits gives the same figures, without the teacher model."""
    from bert2sk.report import write_report
    from bert2sk.teacher import TeacherScores

    teacher = Teacher.from_pretrained(tiny_bert_multilabel, progress=False, max_length=32)
    train, dev, test = _multilabel_corpora(teacher)
    kw = {"dev": dev, "features": ("tfidf",), "families": ("linear", "tree"), "latency_runs": 3}
    with_model = run_study(teacher, train, test, **kw)
    texts = train.texts + dev.texts + test.texts
    scores = TeacherScores(texts, teacher.predict_logits(texts), teacher.label_names, teacher.task,
                           thresholds=with_model.models["teacher"].thresholds, fingerprint=teacher.fingerprint)
    stored = run_study(scores, train, test, **kw)
    cols = ["accuracy", "f1_micro", "f1_macro", "roc_auc", "fidelity", "fidelity_sets", "ece"]
    assert set(stored.table.index) == set(with_model.table.index)
    np.testing.assert_allclose(stored.table.loc[with_model.table.index, cols].to_numpy(dtype=float),
                               with_model.table[cols].to_numpy(dtype=float), atol=1e-9)
    # what needs the model itself is left out, not invented
    assert np.isnan(stored.table.loc["teacher", "latency_ms"]) and np.isnan(stored.table.loc["teacher", "size_mb"])
    assert stored.teacher_scorer is None and stored.teacher_fingerprint == teacher.fingerprint
    html = write_report(stored, tmp_path / "r.html", n_docs=3, teacher_docs=2).read_text()
    assert "Per class" in html
    with pytest.raises(InputError, match="encoder"):
        run_study(scores, train, test, dev=dev, features=("tfidf", "embeddings"))
    with pytest.raises(InputError, match="never scored"):
        run_study(scores, train, Corpus(["an unseen text"] * 4, test.labels[:4], test.label_names, "multilabel"),
                  features=("tfidf",))


def test_transformer_students_join_the_same_study_and_survive_save_and_load(tiny_bert, tmp_path):
    """A new kind plugs in through the registry: same table, same saved study, same report."""
    from bert2sk.report import write_report
    from bert2sk.study import load_study

    teacher = Teacher.from_pretrained(tiny_bert, progress=False, max_length=32, dtype="fp32")
    texts, y = sentiment_texts(160)
    train, test = Corpus(texts, y, ("neg", "pos"), "binary").split(50)
    train = train.keep_labels(30)
    res = run_study(teacher, train, test, features=("tfidf", "transformer"), families=("linear",), latency_runs=3,
                    options={"transformer": {"layers": 1, "epochs": 1, "teacher_onnx": False}}, progress=False)
    name = "distilled · transformer · text · kd 1/2 layers"
    assert {name, f"{name} · onnx fp32", f"{name} · onnx int8", "distilled · linear · tfidf · soft targets"} <= set(
        res.table.index)
    row = res.table.loc[name]
    assert row["features"] == "text" and row["size_mb"] > 0 and row["latency_ms"] > 0
    # the ONNX fp32 export decides as the PyTorch student it came from
    onnx_p, torch_p = res.models[f"{name} · onnx fp32"].proba, res.models[name].proba
    assert (onnx_p.argmax(1) == torch_p.argmax(1)).mean() >= 0.99
    folder = res.save(tmp_path / "study")
    again = load_study(folder)
    # every student is one file or folder right under students/, whatever its name holds ("kd 1/2 layers")
    assert all(m.bundle.count("/") == 1 for m in again.models.values() if m.bundle)
    for m in (name, f"{name} · onnx int8"):
        np.testing.assert_allclose(again.models[m].scorer.predict_proba(test.texts), res.models[m].proba, atol=1e-5)
    html = write_report(again, tmp_path / "report.html", n_docs=3).read_text()
    assert "kd 1/2 layers" in html
    with pytest.raises(InputError, match="unknown transformer student options"):
        run_study(teacher, train, test, features=("transformer",), options={"transformer": {"layer": 1}})


def test_a_saved_study_with_embedding_students_loads_without_the_teacher_and_runs_with_it(tiny_bert, tmp_path):
    import shutil

    from bert2sk.study import load_study

    teacher_dir = tmp_path / "teacher"
    shutil.copytree(tiny_bert, teacher_dir)
    teacher = Teacher.from_pretrained(teacher_dir, progress=False, max_length=32)
    texts, y = sentiment_texts(120)
    train, test = Corpus(texts, y, ("neg", "pos"), "binary").split(40)
    res = run_study(teacher, train, test, features=("embeddings",), families=("linear",), latency_runs=3)
    folder = res.save(tmp_path / "study")
    name = "distilled · linear · embeddings · soft targets"
    moved = tmp_path / "elsewhere"
    shutil.move(teacher_dir, moved)
    alone = load_study(folder)  # no encoder anywhere: loads, and the report leaves the student unexplained
    assert alone.teacher_scorer is None and alone.models[name].scorer is not None
    given = load_study(folder, teacher=moved)
    np.testing.assert_allclose(given.models[name].scorer.predict_proba(test.texts), res.models[name].proba,
                               atol=1e-5)
