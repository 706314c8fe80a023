"""Transformer students: layer cutting, distillation through the shared loop, saving, ONNX parity, bad input."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from bert2sk.errors import InputError, ModelFileError
from bert2sk.persistence import load_student, save_student
from bert2sk.students.transformer import TransformerStudent, cut_layers, pick_layers
from bert2sk.teacher import Teacher
from bert2sk.teacher.model import load_tokenizer_and_model

from .conftest import sentiment_texts


@pytest.fixture(scope="module")
def fitted(tiny_bert):
    teacher = Teacher.from_pretrained(tiny_bert, progress=False, max_length=32, dtype="fp32")
    texts, y = sentiment_texts(120)
    z = teacher.predict_logits(texts)
    y = np.where(np.arange(len(y)) % 3 == 0, y, -1)  # a third labelled, as in a label-scarce transfer set
    student = TransformerStudent(teacher=str(tiny_bert), layers=1, epochs=1, max_length=32, batch_size=16,
                                 dtype="fp32").fit(texts, y, teacher_logits=z)
    return student, texts, z


def test_layers_are_copied_from_the_teacher(tiny_bert):
    _, teacher = load_tokenizer_and_model(tiny_bert)
    student, kept = cut_layers(teacher, [1])
    assert kept == [1] and student.config.num_hidden_layers == 1
    t_state, s_state = teacher.state_dict(), student.state_dict()
    for name, tensor in s_state.items():
        # the student's layer 0 is the teacher's layer 1; everything outside the stack is the teacher's own
        source = name.replace("encoder.layer.0.", "encoder.layer.1.")
        assert np.array_equal(tensor.numpy(), t_state[source].numpy()), name
    assert len(teacher.bert.encoder.layer) == 2  # the teacher is left whole


def test_pick_layers_defaults_to_every_other_layer():
    assert pick_layers(6, None) == [0, 2, 4]
    assert pick_layers(12, None) == [0, 2, 4, 6, 8, 10]
    assert pick_layers(6, 3) == [0, 2, 4]
    with pytest.raises(InputError, match="at most the teacher's 6 layers"):
        pick_layers(6, 8)
    with pytest.raises(InputError, match="distinct indices"):
        pick_layers(6, [0, 0, 7])


def test_fitted_student_predicts_saves_and_loads_from_elsewhere(fitted, tmp_path):
    student, texts, z = fitted
    p = student.predict_proba(texts[:10])
    assert p.shape == (10, 2) and np.allclose(p.sum(1), 1)
    assert student.layers_ == [0] and student.history_ and student.size_bytes_ > 0
    folder = save_student(tmp_path / "a" / "student", student, {"name": "kd student", "label_names": ["n", "p"]})
    assert (folder / "model.safetensors").exists() and not list(folder.glob("*.bin"))
    moved = tmp_path / "elsewhere" / "copy"
    shutil.copytree(folder, moved)
    shutil.rmtree(tmp_path / "a")
    cwd = os.getcwd()
    os.chdir(tmp_path / "elsewhere")
    try:
        loaded, card = load_student("copy")
    finally:
        os.chdir(cwd)
    assert card["name"] == "kd student" and card["layers_kept"] == [0]
    assert str(tmp_path) not in (moved / "bert2sk_student.json").read_text()
    np.testing.assert_allclose(loaded.predict_proba(texts), student.predict_proba(texts), atol=1e-6)


def test_onnx_export_decides_as_the_pytorch_student(fitted, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from bert2sk.students.onnx import OnnxStudent

    student, texts, _ = fitted
    more, _ = sentiment_texts(400, seed=5)
    ref = student.predict_proba(more)
    fp32 = OnnxStudent.load(student.to_onnx(tmp_path / "fp32", card={"label_names": ["n", "p"]}))
    p32 = fp32.predict_proba(more)
    assert (p32.argmax(1) == ref.argmax(1)).mean() >= 0.999
    assert np.abs(p32 - ref).max() <= 1e-4
    int8 = OnnxStudent.load(student.to_onnx(tmp_path / "int8", int8=True, card={"label_names": ["n", "p"]}))
    assert int8.size_bytes_ < fp32.size_bytes_
    assert (int8.predict_proba(more).argmax(1) == ref.argmax(1)).mean() >= 0.9
    loaded, card = load_student(tmp_path / "int8")
    assert card["precision"] == "int8 (dynamic)" and np.allclose(loaded.predict_proba(more), int8.predict_proba(more))


def test_bad_input_is_one_clear_error(tiny_bert, tmp_path):
    texts, _ = sentiment_texts(20)
    with pytest.raises(InputError, match="teacher_logits"):
        TransformerStudent(teacher=str(tiny_bert)).fit(texts)
    with pytest.raises(InputError, match="at most the teacher's 2 layers"):
        TransformerStudent(teacher=str(tiny_bert), layers=5).fit(texts, teacher_logits=np.zeros((20, 2)))
    with pytest.raises(InputError, match="3 columns but the teacher has 2"):
        TransformerStudent(teacher=str(tiny_bert)).fit(texts, teacher_logits=np.zeros((20, 3)))
    from transformers import GPT2Config, GPT2ForSequenceClassification

    gpt = GPT2ForSequenceClassification(GPT2Config(n_layer=2, n_embd=16, n_head=2, vocab_size=64, num_labels=2))
    with pytest.raises(InputError, match="BERT-family"):
        cut_layers(gpt)
    (tmp_path / "not-a-student").mkdir()
    with pytest.raises(ModelFileError, match="not a saved student"):
        load_student(tmp_path / "not-a-student")


@pytest.fixture(scope="module")
def wordpiece_bert(tmp_path_factory):
    """A tiny random BERT head on the packaged encoder's real WordPiece tokenizer (30,522 pieces)."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from bert2sk.teacher.model import packaged_encoder_path

    path = tmp_path_factory.mktemp("wordpiece-bert")
    AutoTokenizer.from_pretrained(packaged_encoder_path()).save_pretrained(path)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, num_labels=3, initializer_range=0.5)
    BertForSequenceClassification(config).save_pretrained(path)
    return path


def test_pruned_vocabulary_reads_transfer_texts_exactly_and_splits_new_words(wordpiece_bert):
    from bert2sk.students.transformer import prune_vocabulary

    texts = ["book a flight to paris", "what is my account balance", "set an alarm for seven"]
    tokenizer, model = load_tokenizer_and_model(wordpiece_bert)
    full = Teacher(model.eval(), tokenizer, max_length=32, dtype="fp32", progress=False)
    before = full.predict_logits(texts)
    unseen = "zyzzyva quokkas"
    unk = tokenizer.unk_token_id
    unk_before = tokenizer(unseen)["input_ids"].count(unk)

    tokenizer2, model2 = load_tokenizer_and_model(wordpiece_bert)
    model2, pruned, n_kept = prune_vocabulary(model2, tokenizer2, texts)
    assert n_kept == len(pruned.get_vocab()) == model2.config.vocab_size < 30522 // 4
    assert model2.get_input_embeddings().weight.shape[0] == n_kept
    small = Teacher(model2.eval(), pruned, max_length=32, dtype="fp32", progress=False)
    # the transfer texts split into the same pieces, whose rows were copied: identical logits
    np.testing.assert_allclose(small.predict_logits(texts), before, atol=1e-5)
    # a word the transfer set never showed still splits into known pieces, never into more [UNK]s
    ids = pruned(unseen)["input_ids"]
    assert ids.count(pruned.unk_token_id) == unk_before == 0
    assert pruned.decode(ids, skip_special_tokens=True) == unseen


def test_transfer_vocabulary_student_is_smaller_and_round_trips(wordpiece_bert, tmp_path):
    texts, y = sentiment_texts(60)
    teacher = Teacher.from_pretrained(wordpiece_bert, progress=False, max_length=32, dtype="fp32")
    z = teacher.predict_logits(texts)
    kw = dict(teacher=str(wordpiece_bert), layers=1, epochs=1, max_length=32, batch_size=16, dtype="fp32",
              eval_fraction=0)
    whole = TransformerStudent(**kw).fit(texts, teacher_logits=z)
    small = TransformerStudent(vocabulary="transfer", **kw).fit(texts, teacher_logits=z)
    assert small.vocabulary_size_ < whole.vocabulary_size_ == 30522
    assert small.size_bytes_ < 0.5 * whole.size_bytes_
    folder = save_student(tmp_path / "small", small, {"name": "kd pruned", "label_names": ["a", "b", "c"]})
    loaded, _ = load_student(folder)
    assert loaded.vocabulary_size_ == small.vocabulary_size_
    np.testing.assert_allclose(loaded.predict_proba(texts), small.predict_proba(texts), atol=1e-6)
    with pytest.raises(InputError, match="vocabulary="):
        TransformerStudent(vocabulary="tiny", **kw).fit(texts, teacher_logits=z)


def test_cli_student_vocabulary_reaches_the_study_options():
    from bert2sk.cli import _transformer_options

    opts = _transformer_options("3", 2, False, "transfer")["transformer"]
    assert opts["vocabulary"] == "transfer" and opts["layers"] == 3 and opts["onnx"] is False
    assert opts["encoder"] is None
    assert _transformer_options(None, 2, True, "teacher", "packaged")["transformer"]["encoder"] == "packaged"
    with pytest.raises(InputError, match="--student-vocabulary"):
        _transformer_options(None, 2, True, "small")


def test_encoder_start_needs_only_the_teachers_scores(tiny_bert, tiny_bert_multilabel):
    """A multilabel teacher known only by its logits; the student starts from another (binary) checkpoint."""
    teacher = Teacher.from_pretrained(tiny_bert_multilabel, progress=False, max_length=32, dtype="fp32")
    texts, _ = sentiment_texts(60)
    z = teacher.predict_logits(texts)
    y = -np.ones((len(texts), 3), dtype=np.int64)
    student = TransformerStudent(encoder=str(tiny_bert), layers=[1], epochs=1, max_length=32, batch_size=16,
                                 dtype="fp32").fit(texts, y, teacher_logits=z)
    assert student.task_ == "multilabel" and student.n_outputs_ == 3 and student.predict(texts[:4]).shape == (4, 3)
    _, encoder = load_tokenizer_and_model(tiny_bert)
    # the student's one layer started as the encoder's layer 1 (one short epoch moves it by ~1e-4)
    kept = student.model_.state_dict()["bert.encoder.layer.0.output.dense.weight"].numpy()
    weights = encoder.state_dict()
    assert np.abs(kept - weights["bert.encoder.layer.1.output.dense.weight"].numpy()).max() < 5e-3
    assert np.abs(kept - weights["bert.encoder.layer.0.output.dense.weight"].numpy()).max() > 0.1
    with pytest.raises(InputError, match="encoder="):
        TransformerStudent(layers=1).fit(texts, y, teacher_logits=z)
    with pytest.raises(InputError, match="task="):
        TransformerStudent(encoder=str(tiny_bert), task="ranking").fit(texts, y, teacher_logits=z)
    # max_texts: a seeded sample of the transfer set (18 train + 2 held out of 20 -> 2 steps of 16, not 4)
    small = TransformerStudent(encoder=str(tiny_bert), layers=[1], epochs=1, max_length=32, batch_size=16,
                               dtype="fp32", max_texts=20).fit(texts, y, teacher_logits=z)
    assert small.history_[0]["steps"] == 2 and student.history_[0]["steps"] == 4


def test_encoder_start_joins_a_study_of_stored_scores(tiny_bert, tmp_path):
    from bert2sk.data import Corpus
    from bert2sk.study import run_study
    from bert2sk.teacher import TeacherScores

    teacher = Teacher.from_pretrained(tiny_bert, progress=False, max_length=32, dtype="fp32")
    texts, y = sentiment_texts(100)
    scores = TeacherScores(texts, teacher.predict_logits(texts), teacher.label_names, teacher.task, source="stored")
    train = Corpus(texts[:70], y[:70], teacher.label_names, "binary")
    test = Corpus(texts[70:], y[70:], teacher.label_names, "binary")
    with pytest.raises(InputError, match="need the teacher's model"):
        run_study(scores, train, test, features=("transformer",), progress=False)
    res = run_study(scores, train, test, features=("tfidf", "transformer"), families=("linear",), latency_runs=2,
                    options={"transformer": {"encoder": str(tiny_bert), "layers": 1, "epochs": 1,
                                             "max_length": 32, "onnx": False}}, progress=False)
    names = list(res.table.index)
    row = "distilled · transformer · text · kd 1/2 layers · encoder start"
    assert row in names and not [n for n in names if n.startswith("teacher · onnx")]
    assert res.models[row].student.max_length == 32
    # saved and re-rendered without any teacher model: the student travels as its own model folder
    from bert2sk.report import write_report
    from bert2sk.study import load_study

    again = load_study(res.save(tmp_path / "study"))
    np.testing.assert_allclose(again.models[row].proba, res.models[row].proba, atol=1e-6)
    assert "encoder start" in write_report(again, tmp_path / "r.html", n_docs=2, teacher_docs=0).read_text()


def test_students_of_several_depths_share_one_study(tiny_bert):
    """``students``: one transformer student per override, every other option shared, one frontier."""
    from bert2sk.data import Corpus
    from bert2sk.study import run_study

    teacher = Teacher.from_pretrained(tiny_bert, progress=False, max_length=32, dtype="fp32")
    texts, y = sentiment_texts(80)
    train = Corpus(texts[:60], y[:60], teacher.label_names, "binary")
    test = Corpus(texts[60:], y[60:], teacher.label_names, "binary")
    shared = {"epochs": 1, "max_length": 32, "onnx": False, "teacher_onnx": False}
    res = run_study(teacher, train, test, features=("transformer",), latency_runs=2, progress=False,
                    options={"transformer": {**shared, "students": [{"layers": 2}, {"layers": [1]}]}})
    rows = [n for n in res.table.index if "transformer" in n]
    assert rows == ["distilled · transformer · text · kd 2/2 layers", "distilled · transformer · text · kd 1/2 layers"]
    assert [res.models[r].student.layers_ for r in rows] == [[0, 1], [1]]
    assert np.isfinite(res.table.loc[rows, "fidelity"]).all()
    for bad, match in (([{"layers": 1}, {"layers": 1}], "share a name"), ({"layers": 1}, "list of dicts"),
                       ([{"layer": 1}], "unknown transformer student options"),
                       ([{"layers": 1, "teacher_onnx": True}], "whole study")):
        with pytest.raises(InputError, match=match):
            run_study(teacher, train, test, features=("transformer",), progress=False,
                      options={"transformer": {**shared, "students": bad}})
