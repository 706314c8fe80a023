"""The fine-tuning loop: it learns, it resumes exactly, and it fails clearly."""

from __future__ import annotations

import errno
import importlib.metadata
import json
from pathlib import Path

import numpy as np
import pytest

from bert2sk.data import Corpus
from bert2sk.errors import InputError, ModelFileError
from bert2sk.teacher import checkpoints as checkpoints_mod
from bert2sk.teacher.callbacks import Callback
from bert2sk.teacher.trainer import TrainingArguments, train_teacher

from .conftest import WORDS, build_tiny_bert, sentiment_texts


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-base"))


def fast_args(out: Path, base: Path, **kw) -> TrainingArguments:
    opts = dict(base_model=str(base), epochs=3, learning_rate=3e-3, batch_size=16, max_length=32,
                dtype="fp32", progress=False, eval_fraction=0.2, save_every_steps=0, threads=1, seed=0)
    opts.update(kw)
    return TrainingArguments(str(out), **opts)


class CrashAt(Callback):
    """Interrupts the run after optimiser step ``step`` (and the checkpoint that step may write)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, state) -> None:
        if state.step == self.step:
            raise KeyboardInterrupt


def binary_corpus(n: int = 240, seed: int = 0) -> Corpus:
    texts, y = sentiment_texts(n, seed)
    return Corpus(texts, y, ("neg", "pos"), "binary", name="synthetic")


def multilabel_corpus(n: int = 320, seed: int = 0) -> Corpus:
    rng = np.random.default_rng(seed)
    groups = [WORDS[:6], WORDS[8:14], ["music", "song", "ending", "book"]]
    neutral = WORDS[16:30]
    texts, labels = [], []
    for _ in range(n):
        y = rng.integers(0, 2, size=3)
        words = list(rng.choice(neutral, 3))
        for j, on in enumerate(y):
            if on:
                words += list(rng.choice(groups[j], 3))
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(y)
    return Corpus(texts, np.array(labels), ("positive", "negative", "arts"), "multilabel", name="synthetic-ml")


def test_binary_teacher_learns_and_loads(base, tmp_path):
    from transformers import AutoModelForSequenceClassification

    corpus = binary_corpus()
    # unlabelled rows must be ignored, not trained on
    corpus = Corpus(corpus.texts + ["good film w1", "bad film w2"], np.r_[corpus.labels, -1, -1],
                    corpus.label_names, "binary")
    res = train_teacher(corpus, fast_args(tmp_path / "t", base))
    assert res.n_train + res.n_eval == 240
    assert len(res.history) >= 2 and {"train_loss", "eval_accuracy", "eval_f1", "seconds"} <= set(res.history[0])
    assert max(h["eval_accuracy"] for h in res.history) >= 0.85
    out = tmp_path / "t"
    assert (out / "model.safetensors").is_file() and not (out / "checkpoint-last").exists()
    marker = json.loads((out / "bert2sk_training.json").read_text())
    assert marker["label_names"] == ["neg", "pos"] and len(marker["corpus_fingerprint"]) == 64
    assert marker["bert2sk_version"] == importlib.metadata.version("bert2sk")
    hf = AutoModelForSequenceClassification.from_pretrained(out)
    assert hf.config.id2label == {0: "neg", 1: "pos"}
    teacher = res.teacher(progress=False, max_length=32, dtype="fp32")
    assert teacher.label_names == ("neg", "pos")
    test = binary_corpus(100, seed=1)
    acc = (teacher.predict_logits(test.texts).argmax(1) == test.labels).mean()
    assert acc >= 0.85


def test_multilabel_teacher_learns_with_thresholds(base, tmp_path):
    corpus = multilabel_corpus()
    res = train_teacher(corpus, fast_args(tmp_path / "ml", base, epochs=6, early_stopping_patience=None))
    assert res.task == "multilabel"
    # chance: 1/8 exact-set accuracy; micro-F1 0.67 when every label is always predicted
    assert max(h["eval_accuracy"] for h in res.history) >= 0.3
    assert res.history[res.best_epoch - 1]["eval_f1_tuned"] >= 0.75
    cfg = json.loads((tmp_path / "ml" / "config.json").read_text())
    assert cfg["problem_type"] == "multi_label_classification"
    assert len(cfg["bert2sk_thresholds"]) == 3 and all(0 < t < 1 for t in cfg["bert2sk_thresholds"])
    teacher = res.teacher(progress=False, max_length=32)
    assert teacher.task == "multilabel" and teacher.label_names == ("positive", "negative", "arts")


def _weights(path: Path) -> dict:
    from safetensors.numpy import load_file

    return load_file(str(path / "model.safetensors"))


def test_resume_after_interrupt_matches_uninterrupted_run(base, tmp_path):
    corpus = binary_corpus(160)
    kw = dict(epochs=2, save_every_steps=3, early_stopping_patience=None)
    full = train_teacher(corpus, fast_args(tmp_path / "full", base, **kw))

    with pytest.raises(KeyboardInterrupt):  # after the step-3 checkpoint, mid-epoch
        train_teacher(corpus, fast_args(tmp_path / "cut", base, **kw), callbacks=[CrashAt(5)])
    state = json.loads((tmp_path / "cut" / "checkpoint-last" / "trainer_state.json").read_text())
    assert state["step"] == 3 and not (tmp_path / "cut" / "config.json").exists()
    resumed = train_teacher(corpus, fast_args(tmp_path / "cut", base, **kw), resume=True)

    assert resumed.steps == full.steps
    assert [round(h["train_loss"], 5) for h in resumed.history] == [round(h["train_loss"], 5) for h in full.history]
    assert [h["eval_accuracy"] for h in resumed.history] == [h["eval_accuracy"] for h in full.history]
    a, b = _weights(tmp_path / "full"), _weights(tmp_path / "cut")
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(a[k], b[k], atol=1e-5, err_msg=k)
    # a finished run resumes to itself without training again
    again = train_teacher(corpus, fast_args(tmp_path / "cut", base, **kw), resume=True)
    assert again.steps == resumed.steps and again.history == resumed.history


def test_resume_with_other_labels_is_refused(base, tmp_path):
    corpus = binary_corpus(80)
    with pytest.raises(KeyboardInterrupt):
        train_teacher(corpus, fast_args(tmp_path / "r", base, save_every_steps=1), callbacks=[CrashAt(1)])
    other = Corpus(corpus.texts, corpus.labels, ("bad", "good"), "binary")
    with pytest.raises(InputError, match="labels.*resume=False"):
        train_teacher(other, fast_args(tmp_path / "r", base), resume=True)


def test_base_model_that_is_not_an_encoder(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelFileError, match="config.json"):
        train_teacher(binary_corpus(40), fast_args(tmp_path / "o1", empty))
    gpt = tmp_path / "gpt"
    gpt.mkdir()
    (gpt / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_layer": 1}))
    with pytest.raises(ModelFileError, match="not a BERT-family"):
        train_teacher(binary_corpus(40), fast_args(tmp_path / "o2", gpt))


def test_too_small_to_split(base, tmp_path):
    tiny = Corpus(["good film", "bad film", "great film"], np.array([1, 0, 1]), ("neg", "pos"), "binary")
    with pytest.raises(InputError, match="at least 2 per class"):
        train_teacher(tiny, fast_args(tmp_path / "s", base))
    unlabelled = Corpus(["good film", "bad film"], None, ("neg", "pos"), "binary")
    with pytest.raises(InputError, match="no labelled texts"):
        train_teacher(unlabelled, fast_args(tmp_path / "s", base))
    with pytest.raises(InputError, match="learning_rate"):
        train_teacher(binary_corpus(40), fast_args(tmp_path / "s", base, learning_rate=0))


def test_disk_full_leaves_no_partial_teacher(base, tmp_path, monkeypatch):
    real = checkpoints_mod.save_hf

    def full_disk(model, tokenizer, path):
        if Path(path).name.startswith(".final.tmp-"):
            real(model, tokenizer, path)  # half the files written, then the disk fills up
            raise OSError(errno.ENOSPC, "No space left on device")
        real(model, tokenizer, path)

    monkeypatch.setattr(checkpoints_mod, "save_hf", full_disk)
    out = tmp_path / "full-disk"
    with pytest.raises(ModelFileError, match="disk full.*free some space"):
        train_teacher(binary_corpus(40), fast_args(out, base, epochs=1))
    assert not (out / "config.json").exists() and not (out / "bert2sk_training.json").exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    assert (out / "checkpoint-last" / "trainer_state.json").is_file()  # so resume=True can finish the job
