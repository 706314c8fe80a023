"""The shared loop (fit_classifier) on its own: soft targets, callbacks, resume checks, bad input."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest

from bert2sk.errors import InputError
from bert2sk.teacher import Callback, distillation_loss, fit_classifier, seed_everything
from bert2sk.teacher.evaluation import predict_logits
from bert2sk.teacher.model import encode_texts, load_tokenizer_and_model

from .conftest import build_tiny_bert, sentiment_texts
from .test_trainer import CrashAt, fast_args


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-student"), seed=1)


def fresh(path: Path, seed: int = 0):
    seed_everything(seed)
    return load_tokenizer_and_model(path)


def teacher_logits(y: np.ndarray, seed: int = 0) -> np.ndarray:
    """Confident two-column logits that agree with ``y``, with some noise: a stand-in teacher."""
    rng = np.random.default_rng(seed)
    margin = np.where(y == 1, 1.5, -1.5) + rng.normal(0, 0.5, len(y))
    return np.c_[-margin / 2, margin / 2].astype(np.float32)


def kd(task: str = "binary"):
    return functools.partial(distillation_loss, task=task, alpha=0.5, temperature=2.0)


def test_student_learns_from_teacher_logits_with_few_labels(student_dir, tmp_path):
    texts, y = sentiment_texts(240, seed=3)
    z_t = teacher_logits(y)
    labels = np.full(len(y), -1)
    labels[:12] = y[:12]  # 12 hard labels, 228 texts known only through the teacher
    dev, y_dev = sentiment_texts(60, seed=4)
    tokenizer, model = fresh(student_dir)
    with pytest.raises(InputError, match="every text needs one"):
        fit_classifier(model, tokenizer, texts, fast_args(tmp_path / "s", student_dir), labels=labels)
    fit = fit_classifier(model, tokenizer, texts, fast_args(tmp_path / "s", student_dir), targets=z_t, labels=labels,
                         loss=kd(), eval_texts=dev, eval_labels=teacher_logits(y_dev, 1).argmax(1))
    assert fit.n_train == 240 and fit.steps == 45 and fit.best_score >= 0.85
    assert fit.history[-1]["train_loss"] < fit.history[0]["train_loss"]
    test, y_test = sentiment_texts(100, seed=5)
    agree = (predict_logits(model, tokenizer, test, fast_args(tmp_path / "s", student_dir)).argmax(1) == y_test)
    assert agree.mean() >= 0.85  # the model given to the loop holds the best weights afterwards


def two_label_texts(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    """Reviews (label 0: positive) that sometimes talk about music or books (label 1: arts)."""
    texts, y = sentiment_texts(n, seed)
    rng = np.random.default_rng(seed + 100)
    arts = rng.integers(0, 2, n)
    texts = [t + (" " + " ".join(rng.choice(["music", "song", "book", "ending"], 2)) if a else "")
             for t, a in zip(texts, arts, strict=True)]
    return texts, np.c_[y, arts]


def test_multilabel_student_learns_from_sigmoid_targets(tmp_path):
    base = build_tiny_bert(tmp_path / "base", num_labels=2, problem_type="multi_label_classification")
    texts, y = two_label_texts(240, 0)
    dev, y_dev = two_label_texts(60, 1)
    labels = y.copy()
    labels[12:] = -1  # rows of -1: unlabelled
    tokenizer, model = fresh(base)
    args = fast_args(tmp_path / "ml", base, epochs=6, early_stopping_patience=None)
    fit = fit_classifier(model, tokenizer, texts, args, targets=np.where(y == 1, 2.0, -2.0), labels=labels,
                         loss=kd("multilabel"), eval_texts=dev, eval_labels=y_dev)
    # exact label sets by chance: 1/4; the loss floor is the teacher's entropy, not 0
    assert fit.history[-1]["train_loss"] < 0.85 * fit.history[0]["train_loss"]
    assert max(h["eval_accuracy"] for h in fit.history) >= 0.4 and fit.best_score >= 0.7


class Recorder(Callback):
    def __init__(self) -> None:
        self.events: list[tuple] = []

    def on_train_begin(self, state) -> None:
        self.events.append(("begin", state.step))

    def on_step_end(self, state) -> None:
        self.events.append(("step", state.step))

    def on_checkpoint(self, state, folder) -> None:
        assert (folder / "model.safetensors").is_file() and folder.name.startswith(".checkpoint-last.tmp-")
        (folder / "recorder.json").write_text(json.dumps({"step": state.step}))
        self.events.append(("checkpoint", state.step))

    def on_epoch_end(self, state) -> None:
        self.events.append(("epoch", state.epoch, len(state.history)))

    def on_train_end(self, state) -> None:
        self.events.append(("end", state.step))


class EpochsOnly:
    """Not a Callback subclass: the loop calls the methods an object has."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def on_epoch_end(self, state) -> None:
        self.rows.append(dict(state.history[-1]))


def test_callbacks_see_steps_epochs_and_checkpoints_in_order(tiny_bert, tmp_path):
    texts, y = sentiment_texts(64)
    tokenizer, model = fresh(tiny_bert)
    rec, epochs = Recorder(), EpochsOnly()
    fit = fit_classifier(model, tokenizer, texts, fast_args(tmp_path / "c", tiny_bert, epochs=2, save_every_steps=3),
                         labels=y, callbacks=[rec, epochs])
    assert rec.events == [
        ("begin", 0), ("step", 1), ("step", 2), ("checkpoint", 3), ("step", 3), ("step", 4), ("checkpoint", 4),
        ("epoch", 1, 1), ("step", 5), ("checkpoint", 6), ("step", 6), ("step", 7), ("step", 8), ("checkpoint", 8),
        ("epoch", 2, 2), ("end", 8),
    ]
    assert [r["epoch"] for r in epochs.rows] == [1, 2] and epochs.rows == fit.history
    ckpt = tmp_path / "c" / "checkpoint-last"
    assert json.loads((ckpt / "recorder.json").read_text()) == {"step": 8}
    assert (tmp_path / "c" / "checkpoint-best" / "model.safetensors").is_file()  # kept until the caller publishes


def test_callback_sees_the_end_of_a_crashed_run(tiny_bert, tmp_path):
    texts, y = sentiment_texts(64)
    tokenizer, model = fresh(tiny_bert)
    rec = Recorder()
    with pytest.raises(KeyboardInterrupt):
        fit_classifier(model, tokenizer, texts, fast_args(tmp_path / "x", tiny_bert, save_every_steps=2),
                       labels=y, callbacks=[CrashAt(3), rec])
    assert rec.events[-1] == ("end", 3)


def _weights(model) -> dict:
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


def test_loop_resume_is_exact_and_refuses_other_targets(student_dir, tmp_path):
    texts, y = sentiment_texts(64, seed=6)
    z_t = teacher_logits(y, seed=6)
    labels = np.where(np.arange(64) < 8, y, -1)
    args = fast_args(tmp_path / "r", student_dir, epochs=2, save_every_steps=2, eval_fraction=0)
    kw = dict(targets=z_t, labels=labels, loss=kd(), run_info={"teacher": "stand-in"})
    tokenizer, model = fresh(student_dir)
    full = fit_classifier(model, tokenizer, texts, fast_args(tmp_path / "full", student_dir, epochs=2), **kw)
    reference = _weights(model)

    tokenizer, model = fresh(student_dir)
    with pytest.raises(KeyboardInterrupt):
        fit_classifier(model, tokenizer, texts, args, callbacks=[CrashAt(3)], **kw)
    tokenizer, model = fresh(student_dir)
    with pytest.raises(InputError, match="data_fingerprint.*resume=False"):
        fit_classifier(model, tokenizer, texts, args, resume=True, **{**kw, "targets": z_t * 2})
    with pytest.raises(InputError, match="its teacher differs"):
        fit_classifier(model, tokenizer, texts, args, resume=True, **{**kw, "run_info": {"teacher": "other"}})
    resumed = fit_classifier(model, tokenizer, texts, args, resume=True, **kw)
    assert resumed.resumed_from_step == 2 and resumed.steps == full.steps == 8
    assert [h["train_loss"] for h in resumed.history] == pytest.approx([h["train_loss"] for h in full.history])
    for name, value in _weights(model).items():
        np.testing.assert_allclose(value, reference[name], atol=1e-5, err_msg=name)


def test_token_ids_train_like_the_texts_they_come_from(tiny_bert, tmp_path):
    texts, y = sentiment_texts(48)
    runs = []
    for name in ("texts", "ids"):
        tokenizer, model = fresh(tiny_bert)
        args = fast_args(tmp_path / name, tiny_bert, epochs=1, eval_fraction=0)
        data = texts if name == "texts" else encode_texts(tokenizer, texts, args.max_length, args.truncation)
        runs.append(fit_classifier(model, tokenizer, data, args, labels=y).history[0]["train_loss"])
    assert runs[0] == runs[1]


def test_bad_inputs_are_refused_before_training(tiny_bert, tmp_path):
    texts, y = sentiment_texts(20)
    tokenizer, model = fresh(tiny_bert)
    args = fast_args(tmp_path / "bad", tiny_bert)

    def fit(**kw):
        return fit_classifier(model, tokenizer, kw.pop("texts", texts), args, **kw)

    with pytest.raises(InputError, match="labels= .*targets="):
        fit()
    with pytest.raises(InputError, match=r"shape \(19,\)"):
        fit(labels=y[:19])
    with pytest.raises(InputError, match=r"\[-1, 1\]"):
        fit(labels=y + 1)
    with pytest.raises(InputError, match="not fractions"):
        fit(labels=y * 0.5)
    with pytest.raises(InputError, match=r"targets of texts must be finite logits of shape \(20, 2\)"):
        fit(targets=np.zeros((20, 3)), loss=kd())
    with pytest.raises(InputError, match="eval_labels must give every eval text a label"):
        fit(labels=y, eval_texts=texts[:4], eval_labels=np.array([0, 1, -1, 0]))
    with pytest.raises(InputError, match="empty"):
        fit(texts=[], labels=y[:0])
    with pytest.raises(InputError, match="task"):
        fit(labels=y, task="regression")
    assert not (tmp_path / "bad").exists()
