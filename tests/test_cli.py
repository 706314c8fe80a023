"""The command line: help a newcomer understands, one clear line on bad input."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from bert2sk.cli import app


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "bert2sk", *args], capture_output=True, text=True, env=env,
                          timeout=600)


@pytest.mark.parametrize("command", [[], ["demo"], ["teacher", "train"], ["label"], ["distill"], ["report"],
                                     ["explain"], ["bench"], ["distill-stream"], ["export"], ["serve"], ["cascade"]])
def test_help(command):
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_bad_inputs_exit_with_one_clear_line(tmp_path, tiny_bert):
    missing = _run("explain", "hello", "--model", str(tmp_path / "nope.skops"))
    assert missing.returncode == 2
    assert missing.stderr.strip().startswith("error: no student file") and "Traceback" not in missing.stderr
    (tmp_path / "bad.skops").write_bytes(b"garbage")
    corrupt = _run("explain", "hello", "--model", str(tmp_path / "bad.skops"))
    assert corrupt.returncode == 2 and "not a readable skops file" in corrupt.stderr
    (tmp_path / "d.csv").write_text("body,label\nhello,1\n")
    wrong = _run("label", str(tmp_path / "d.csv"), "--teacher", str(tiny_bert), "--out", str(tmp_path / "o.npy"))
    assert wrong.returncode == 2 and "no column 'text'" in wrong.stderr, wrong.stderr
    unknown = _run("label", str(tmp_path / "d.csv"), "--teacher", str(tmp_path / "no-model"), "--out",
                   str(tmp_path / "o.npy"), "--text-column", "body")
    assert unknown.returncode == 2 and "model directory not found" in unknown.stderr
    assert not (tmp_path / "o.npy").exists()


def test_label_then_distill_then_explain(tmp_path, tiny_bert):
    """The CLI path a user follows, on a tiny teacher and a small CSV."""
    import pandas as pd

    from .conftest import sentiment_texts

    texts, y = sentiment_texts(160)
    pd.DataFrame({"text": texts[:120], "label": y[:120]}).to_csv(tmp_path / "train.csv", index=False)
    pd.DataFrame({"text": texts[120:], "label": y[120:]}).to_csv(tmp_path / "test.csv", index=False)
    lab = _run("label", str(tmp_path / "train.csv"), "--teacher", str(tiny_bert), "--out", str(tmp_path / "z.npy"),
               "--quiet")
    assert lab.returncode == 0, lab.stderr
    assert (tmp_path / "z.npy").exists()
    env_cache = str(tmp_path / "cache")
    os.environ["BERT2SK_CACHE"] = env_cache
    try:
        out = tmp_path / "out"
        dist = _run("distill", str(tmp_path / "train.csv"), "--teacher", str(tiny_bert), "--test",
                    str(tmp_path / "test.csv"), "--labels", "40", "--out", str(out), "--features", "tfidf",
                    "--families", "linear", "--no-report", "--quiet", "--max-length", "32")
    finally:
        del os.environ["BERT2SK_CACHE"]
    assert dist.returncode == 0, dist.stderr
    assert (out / "results.csv").exists() and "best distilled student" in dist.stdout
    model = out / "students" / "distilled-linear-tfidf-logit_regression.skops"
    exp = _run("explain", "a great film </script>", "--model", str(model), "--top", "3")
    assert exp.returncode == 0, exp.stderr
    assert "with probability" in exp.stdout and "weight toward" in exp.stdout


def test_multilabel_distill_tunes_thresholds_on_dev_and_explain_uses_them(tmp_path, tiny_bert_multilabel):
    import numpy as np
    import pandas as pd

    from bert2sk.persistence import load_student
    from bert2sk.teacher import Teacher

    from .conftest import sentiment_texts

    texts, _ = sentiment_texts(200, seed=5)
    z = Teacher.from_pretrained(tiny_bert_multilabel, progress=False, max_length=32).predict_logits(texts)
    names = ["class_0", "class_1", "class_2"]
    on = (z > np.median(z, axis=0))
    rows = [{"text": t, "label": [names[j] for j in np.flatnonzero(r)]} for t, r in zip(texts, on, strict=True)]
    for name, part in (("train", rows[:120]), ("dev", rows[120:160]), ("test", rows[160:])):
        pd.DataFrame(part).to_json(tmp_path / f"{name}.jsonl", orient="records", lines=True)
    os.environ["BERT2SK_CACHE"] = str(tmp_path / "cache")
    try:
        out = tmp_path / "out"
        dist = _run("distill", str(tmp_path / "train.jsonl"), "--teacher", str(tiny_bert_multilabel), "--test",
                    str(tmp_path / "test.jsonl"), "--dev", str(tmp_path / "dev.jsonl"), "--out", str(out),
                    "--features", "tfidf", "--families", "linear", "--no-report", "--quiet", "--max-length", "32")
    finally:
        del os.environ["BERT2SK_CACHE"]
    assert dist.returncode == 0, dist.stderr
    model = out / "students" / "distilled-linear-tfidf-soft_targets.skops"
    scorer, card = load_student(model)
    assert card["task"] == "multilabel" and len(card["thresholds"]) == 3
    assert all(0 < t < 1 for t in card["thresholds"])
    exp = _run("explain", texts[0], "--model", str(model))
    assert exp.returncode == 0, exp.stderr
    p = scorer.predict_proba([texts[0]])[0]
    active = [names[j] for j in np.flatnonzero(p >= np.asarray(card["thresholds"]))]
    assert ("labels: " + (", ".join(f"{n} {p[names.index(n)]:.3f}" for n in active) or "(none)")) in exp.stdout


def test_report_rejects_an_unknown_explain_class_before_any_work(tmp_path, tiny_bert):
    (tmp_path / "d.csv").write_text("text,label\ngood film,pos\nbad film,neg\n")
    res = _run("report", str(tmp_path / "d.csv"), "--teacher", str(tiny_bert), "--test", str(tmp_path / "d.csv"),
               "--explain-class", "posit1ve", "--out", str(tmp_path / "r.html"), "--quiet")
    assert res.returncode == 2 and "'posit1ve' is not a class" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "r.html").exists()


def test_distill_saves_a_study_that_report_renders_without_the_teacher(tmp_path, tiny_bert):
    """distill -> a saved study; report --study re-renders it with the teacher folder gone."""
    import json
    import shutil

    import pandas as pd

    from .conftest import sentiment_texts

    texts, y = sentiment_texts(120)
    pd.DataFrame({"text": texts[:90], "label": y[:90]}).to_csv(tmp_path / "train.csv", index=False)
    pd.DataFrame({"text": texts[90:], "label": y[90:]}).to_csv(tmp_path / "test.csv", index=False)
    teacher = tmp_path / "teacher"
    shutil.copytree(tiny_bert, teacher)
    out = tmp_path / "study"
    dist = _run("distill", str(tmp_path / "train.csv"), "--teacher", str(teacher), "--test",
                str(tmp_path / "test.csv"), "--labels", "30", "--out", str(out), "--features", "tfidf",
                "--families", "linear,tree", "--no-report", "--quiet", "--max-length", "32",
                "--cache", str(tmp_path / "c.sqlite"))
    assert dist.returncode == 0, dist.stderr
    card = json.loads((out / "students" / "distilled-linear-tfidf-soft_targets.card.json").read_text())
    table = pd.read_csv(out / "results.csv", index_col="model")
    assert card["metrics"]["accuracy"] == pytest.approx(table.loc[card["name"], "accuracy"])
    assert card["teacher"] == "teacher" and str(tmp_path) not in json.dumps(card)
    shutil.rmtree(teacher)
    rep = _run("report", "--study", str(out), "--docs", "4")
    assert rep.returncode == 0, rep.stderr
    html = (out / "report.html").read_text()
    assert "tree · tfidf" in html
    assert str(tmp_path) not in html, "the report names the machine's folders"
    # a folder that is not a study is never replaced by one
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    again = _run("distill", str(tmp_path / "train.csv"), "--teacher", str(tiny_bert), "--test",
                 str(tmp_path / "test.csv"), "--out", str(tmp_path / "mine"), "--features", "tfidf", "--families",
                 "linear", "--no-report", "--quiet", "--max-length", "32", "--cache", str(tmp_path / "c.sqlite"))
    assert again.returncode == 2 and "not a bert2sk study" in again.stderr
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
