"""Machine facts: which precision ``auto`` means, and progress that a log file can hold."""

from __future__ import annotations

import time

import pytest

from bert2sk import runtime
from bert2sk.errors import InputError
from bert2sk.runtime import DTYPE_ENV, progress_bar, resolve_dtype


@pytest.mark.parametrize("forced", ["fp32", "bf16", "FP32 "])
def test_the_environment_decides_what_auto_means(monkeypatch, forced):
    monkeypatch.setenv(DTYPE_ENV, forced)
    assert resolve_dtype("auto") == forced.strip().lower()
    # an explicit choice is the caller's, never overridden
    assert resolve_dtype("fp32") == "fp32" and resolve_dtype("bf16") == "bf16"


def test_auto_without_the_environment_follows_the_cpu(monkeypatch):
    monkeypatch.delenv(DTYPE_ENV, raising=False)
    assert resolve_dtype("auto") == ("bf16" if runtime.cpu_supports_bf16() else "fp32")
    monkeypatch.setenv(DTYPE_ENV, "auto")
    assert resolve_dtype("auto") == ("bf16" if runtime.cpu_supports_bf16() else "fp32")


def test_a_bad_environment_value_is_one_clear_error(monkeypatch):
    monkeypatch.setenv(DTYPE_ENV, "fp16")
    with pytest.raises(InputError, match=r"\$BERT2SK_DTYPE must be fp32, bf16 or auto, got 'fp16'"):
        resolve_dtype("auto")


def test_into_a_log_file_a_bar_writes_a_few_whole_lines(monkeypatch, capsys):
    """Not a terminal: a line per redraw interval and a final summary, never a carriage return."""
    monkeypatch.setattr(runtime, "LOG_REDRAW_SECONDS", 0.2)
    with progress_bar(60, "fine-tuning", unit="step") as bar:
        for i in range(60):
            time.sleep(0.01)  # 0.6 s in all: a bar redrawing every 0.1 s would draw 6 times, per step 60
            bar.update(1)
            bar.set_postfix(loss=f"{1 / (i + 1):.3f}", refresh=False)
            if i == 29:
                bar.set_description("fine-tuning (epoch 2/2)", refresh=False)
                bar.write("epoch 1: {'train_loss': 0.5}")
    out, err = capsys.readouterr()
    assert "\r" not in err + out
    lines = err.splitlines()
    assert 2 <= len(lines) <= 6, err
    assert all(line.startswith("fine-tuning") and ": : " not in line for line in lines), err
    assert lines[-1].startswith("fine-tuning (epoch 2/2): 60/60 (100%)"), err
    assert sum("60/60" in line for line in lines) == 1, err  # the summary is not a repeat of the last line
    assert out == "epoch 1: {'train_loss': 0.5}\n"


def test_a_short_phase_in_a_log_file_is_one_summary_line(capsys):
    with progress_bar(5, "teacher scoring") as bar:
        bar.update(5)
    with progress_bar(None, "streaming") as bar:
        bar.update(3)
    with progress_bar(5, "silent", enabled=False) as bar:
        bar.update(5)
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" [")[0] for line in lines] == ["teacher scoring: 5/5 (100%)", "streaming: 3"]


def test_fine_tuning_into_a_log_file_is_a_summary_per_epoch(tmp_path, capsys):
    """The trainer's bar through a real (tiny) fine-tuning run: lines per epoch, not per step."""
    from bert2sk.data import Corpus
    from bert2sk.teacher import TrainingArguments, train_teacher

    from .conftest import build_tiny_bert, sentiment_texts

    base = build_tiny_bert(tmp_path / "base")
    texts, y = sentiment_texts(96, seed=2)
    capsys.readouterr()  # building the base model draws transformers' own bar
    res = train_teacher(Corpus(texts, y, ("neg", "pos"), "binary"), TrainingArguments(
        str(tmp_path / "teacher"), base_model=str(base), epochs=2, batch_size=8, max_length=16, dtype="fp32",
        progress=True, save_every_steps=0, threads=1, eval_fraction=0.25))
    out, err = capsys.readouterr()
    assert res.steps == 18 and "\r" not in err + out
    assert out.count("epoch ") == 2  # each epoch's row
    bars = [line for line in err.splitlines() if line.startswith("fine-tuning teacher")]
    assert 1 <= len(bars) <= 4, err  # a redraw after each epoch row and the summary, no line per step
    assert "18/18 (100%)" in bars[-1] and sum("18/18" in line for line in bars) == 1, err
