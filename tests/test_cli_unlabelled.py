"""``--unlabelled FILE``: more texts for the teacher to score, seen by the distilled students only."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd

from .conftest import sentiment_texts


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "bert2sk", *args], capture_output=True, text=True, env=env,
                          timeout=600)


def _root_rows(scorer) -> int:
    """Rows a tree student was fitted on: the sample count of its root node."""
    tree = scorer.steps[-1][1]
    tree = getattr(tree, "estimator_", tree)
    return int(tree.tree_.n_node_samples[0])


def test_distill_with_unlabelled_files(tmp_path, tiny_bert):
    from bert2sk.persistence import load_student
    from bert2sk.teacher import Teacher
    from bert2sk.teacher.cache import LogitCache

    texts, y = sentiment_texts(250, seed=4)
    pd.DataFrame({"text": texts[:90], "label": y[:90]}).to_csv(tmp_path / "train.csv", index=False)
    pd.DataFrame({"text": texts[90:130], "label": y[90:130]}).to_csv(tmp_path / "test.csv", index=False)
    (tmp_path / "more.txt").write_text("\n".join(texts[130:210]) + "\n")
    # a label column in an unlabelled file is ignored
    pd.DataFrame({"text": texts[210:], "label": y[210:]}).to_json(tmp_path / "extra.jsonl", orient="records",
                                                                 lines=True)
    out, cache = tmp_path / "study", tmp_path / "c.sqlite"
    res = _run("distill", str(tmp_path / "train.csv"), "--teacher", str(tiny_bert), "--test",
               str(tmp_path / "test.csv"), "--labels", "30", "--unlabelled", str(tmp_path / "more.txt"),
               "--unlabelled", str(tmp_path / "extra.jsonl"), "--out", str(out), "--features", "tfidf",
               "--families", "linear,tree", "--no-report", "--quiet", "--max-length", "32", "--cache", str(cache))
    assert res.returncode == 0, res.stderr

    study = json.loads((out / "study.json").read_text())
    assert (study["n_train"], study["n_labelled"]) == (90 + 120, 30)
    assert study["scenario"].startswith("30 labelled and 180 unlabelled training texts (120 of them from more.txt, "
                                        "extra.jsonl); baselines use the labels, distilled students the teacher's "
                                        "scores on all 210.")
    assert str(tmp_path) not in study["scenario"]
    baseline, _ = load_student(out / "students" / "baseline-tree-tfidf.skops")
    distilled, _ = load_student(out / "students" / "distilled-tree-tfidf-logit_regression.skops")
    assert _root_rows(baseline) == 30  # the labelled rows only
    assert _root_rows(distilled) == 210  # every row, the unlabelled files' texts included
    # the teacher scored them through the cache: a second study would not run the model on them again
    fingerprint = Teacher.from_pretrained(tiny_bert, max_length=32, progress=False).fingerprint
    with LogitCache(cache) as c:
        assert c.count(fingerprint) == len(set(texts[:90] + texts[130:] + texts[90:130]))


def test_unlabelled_errors_are_one_clear_line(tmp_path, tiny_bert):
    texts, y = sentiment_texts(40, seed=4)
    pd.DataFrame({"text": texts, "label": y}).to_csv(tmp_path / "d.csv", index=False)
    missing = _run("distill", str(tmp_path / "d.csv"), "--teacher", str(tiny_bert), "--test", str(tmp_path / "d.csv"),
                   "--unlabelled", str(tmp_path / "nope.txt"), "--out", str(tmp_path / "o"), "--quiet")
    assert missing.returncode == 2 and "unlabelled text file not found" in missing.stderr
    assert "Traceback" not in missing.stderr and not (tmp_path / "o").exists()
    (tmp_path / "u.txt").write_text("one more text\n")
    with_study = _run("report", "--study", str(tmp_path / "o"), "--unlabelled", str(tmp_path / "u.txt"))
    assert with_study.returncode == 2 and "--unlabelled adds texts to a study run first" in with_study.stderr
