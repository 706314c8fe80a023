"""Portable bundles: a saved student loads and predicts from any folder; an embedding student names its encoder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from bert2sk.errors import ModelFileError
from bert2sk.features import SentenceEmbeddings, TfidfFeatures
from bert2sk.persistence import encoder_fingerprint, load_student, save_student
from bert2sk.students import make_distilled

from .conftest import build_tiny_bert, sentiment_texts

PROBE = ["a good film", "a dull plot"]


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600)


def _embedding_student(teacher: Path, texts: list[str], y: np.ndarray) -> Pipeline:
    pipe = Pipeline([("features", SentenceEmbeddings(model=str(teacher), max_length=32, normalize=False)),
                     ("student", make_distilled("linear", features="embeddings"))])
    return pipe.fit(texts, y, student__teacher_logits=np.c_[np.zeros(len(y)), 2.0 * y - 1])


def test_tfidf_student_moved_to_a_fresh_folder_predicts_the_same(tmp_path, monkeypatch):
    texts, y = sentiment_texts(120)
    pipe = Pipeline([("features", TfidfFeatures(min_df=1)), ("student", make_distilled("linear"))])
    pipe.fit(texts, y, student__teacher_logits=np.c_[np.zeros(len(y)), 2.0 * y - 1])
    saved = save_student(tmp_path / "made" / "student", pipe, {"task": "binary", "label_names": ["neg", "pos"]})
    moved = tmp_path / "elsewhere" / "deeper"
    moved.mkdir(parents=True)
    for f in (saved, saved.with_name("student.card.json")):
        shutil.move(str(f), moved / f.name)
    shutil.rmtree(tmp_path / "made")
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    model, _ = load_student(moved / "student.skops")
    np.testing.assert_allclose(model.predict_proba(PROBE), pipe.predict_proba(PROBE), atol=0)
    card = json.loads((moved / "student.card.json").read_text())
    assert "encoder" not in card and str(tmp_path) not in json.dumps(card)


def _saved_embedding_student(tmp_path: Path, tiny_bert: Path) -> tuple[Path, Path, np.ndarray]:
    teacher = tmp_path / "teacher"
    shutil.copytree(tiny_bert, teacher)
    texts, y = sentiment_texts(60)
    pipe = _embedding_student(teacher, texts, y)
    saved = save_student(tmp_path / "study" / "students" / "emb", pipe, {"task": "binary"})
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    for f in (saved, saved.with_name("emb.card.json")):
        shutil.copy(f, fresh / f.name)
    return teacher, fresh / "emb.skops", pipe.predict_proba(PROBE)


def test_embedding_student_names_its_encoder_and_loads_from_anywhere(tmp_path, tiny_bert, monkeypatch):
    teacher = tmp_path / "teacher"
    shutil.copytree(tiny_bert, teacher)
    texts, y = sentiment_texts(60)
    pipe = _embedding_student(teacher, texts, y)
    want = pipe.predict_proba(PROBE)
    saved = save_student(tmp_path / "study" / "students" / "emb", pipe, {"task": "binary"})
    card = json.loads(saved.with_name("emb.card.json").read_text())
    assert card["encoder"] == {"name": "teacher", "fingerprint": encoder_fingerprint(teacher), "packaged": False,
                               "path": "../../teacher"}
    assert str(tmp_path).encode() not in saved.read_bytes(), "the bundle names a machine path"
    assert pipe.steps[0][1].model == str(teacher), "saving changed the caller's model"

    # from another working directory: found through the card's relative path
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    model, _ = load_student(saved)
    np.testing.assert_allclose(model.predict_proba(PROBE), want, atol=1e-6)

    # moved away from its teacher: one line naming the encoder and how to supply it
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    for f in (saved, saved.with_name("emb.card.json")):
        shutil.copy(f, fresh / f.name)
    with pytest.raises(ModelFileError, match=r"encoder 'teacher' \(fingerprint [0-9a-f]{16}\).*--encoder PATH"):
        load_student(fresh / "emb.skops")
    model, _ = load_student(fresh / "emb.skops", encoder=teacher)
    np.testing.assert_allclose(model.predict_proba(PROBE), want, atol=1e-6)
    loose, _ = load_student(fresh / "emb.skops", require_encoder=False)
    assert loose.steps[0][1].model == "teacher"

    other = build_tiny_bert(tmp_path / "other", seed=7, initializer_range=0.5)
    with pytest.raises(ModelFileError, match="is not the encoder this student was fitted on"):
        load_student(fresh / "emb.skops", encoder=other)


@pytest.mark.slow
def test_explain_names_the_missing_encoder_and_takes_encoder_path(tmp_path, tiny_bert):
    teacher, moved, _ = _saved_embedding_student(tmp_path, tiny_bert)
    cli = _run(["-m", "bert2sk", "explain", "a good film", "--model", str(moved)], cwd=tmp_path)
    assert cli.returncode == 2 and "--encoder PATH" in cli.stderr and "Traceback" not in cli.stderr
    assert len(cli.stderr.strip().splitlines()) <= 3  # one message (rich may wrap it)
    ok = _run(["-m", "bert2sk", "explain", "a good film", "--model", str(moved), "--encoder", str(teacher),
               "--method", "lime"], cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "with probability" in ok.stdout


def test_a_student_saved_with_a_path_before_bundles_named_encoders_fails_clearly(tmp_path, tiny_bert):
    """The issue's case: a relative teacher path remembered by an older bundle, loaded from another folder."""
    import skops.io as sio

    texts, y = sentiment_texts(40)
    pipe = _embedding_student(tiny_bert, texts, y)
    pipe.steps[0][1].model = "teacher"  # as `bert2sk distill --teacher teacher` saved it before
    (tmp_path / "old.skops").write_bytes(sio.dumps(pipe))
    with pytest.raises(ModelFileError, match="encoder 'teacher'.*--encoder PATH"):
        load_student(tmp_path / "old.skops")
    model, _ = load_student(tmp_path / "old.skops", encoder=tiny_bert)
    assert model.predict_proba(["a good film"]).shape == (1, 2)
