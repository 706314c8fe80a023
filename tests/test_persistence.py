"""Saving and loading students: skops with a trust list, clear errors, no partial files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from bert2sk.errors import InputError, ModelFileError
from bert2sk.features import TfidfFeatures
from bert2sk.persistence import card_path, load_student, save_student
from bert2sk.students import make_baseline, make_distilled


@pytest.fixture
def text_student(sentiment):
    texts, y = sentiment
    logits = np.c_[np.zeros(len(y)), np.where(y == 1, 2.0, -2.0)]
    pipe = Pipeline([("features", TfidfFeatures(min_df=1)), ("student", make_distilled("linear"))])
    return pipe.fit(texts, y, student__teacher_logits=logits), texts


@pytest.mark.parametrize("family", ["linear", "tree", "svm"])
@pytest.mark.parametrize("role", ["distilled", "soft", "baseline"])
def test_round_trip_every_student(tmp_path, sentiment, family, role):
    texts, y = sentiment
    logits = np.c_[np.zeros(len(y)), np.where(y == 1, 2.0, -2.0)]
    est = make_baseline(family) if role == "baseline" else make_distilled(
        family, "soft" if role == "soft" else "regression")
    pipe = Pipeline([("features", TfidfFeatures(min_df=1)), ("student", est)])
    kw = {} if role == "baseline" else {"student__teacher_logits": logits}
    pipe.fit(texts, y, **kw)
    path = save_student(tmp_path / "s", pipe, {"task": "binary", "label_names": ["neg", "pos"]})
    loaded, card = load_student(path)
    np.testing.assert_allclose(loaded.predict_proba(texts), pipe.predict_proba(texts))
    assert card["task"] == "binary" and "scikit-learn" in card["versions"]


def test_foreign_types_are_refused(tmp_path):
    import skops.io as sio
    from sklearn.ensemble import RandomForestClassifier

    rf = RandomForestClassifier(n_estimators=2, bootstrap=False, random_state=0).fit([[0], [1]], [0, 1])
    foreign = tmp_path / "foreign.skops"
    sio.dump(rf, foreign)
    with pytest.raises(ModelFileError, match="does not trust"):
        load_student(foreign)
    trusted = ["sklearn.ensemble._forest.RandomForestClassifier", "sklearn.tree._classes.DecisionTreeClassifier"]
    model, _ = load_student(foreign, trusted=trusted)  # the user names what they trust
    assert model.predict([[1]]).tolist() == [1]
    with pytest.raises(InputError, match="refuse to load"):
        save_student(tmp_path / "rf", rf)
    assert not (tmp_path / "rf.skops").exists()


def test_corrupt_and_missing_files(tmp_path, text_student):
    with pytest.raises(ModelFileError, match="no student file"):
        load_student(tmp_path / "nothing.skops")
    bad = tmp_path / "bad.skops"
    bad.write_bytes(b"PK\x03\x04 this is not a zip at all")
    with pytest.raises(ModelFileError, match="not a readable skops file"):
        load_student(bad)
    pickle_file = tmp_path / "model.skops"
    import pickle

    pickle_file.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ModelFileError, match="not a readable skops file"):
        load_student(pickle_file)
    good = save_student(tmp_path / "good", text_student[0], {"task": "binary"})
    card_path(good).write_text("{oops")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        load_student(good)


def test_failed_save_keeps_the_old_file(tmp_path, text_student):
    pipe, texts = text_student
    path = save_student(tmp_path / "s", pipe, {"task": "binary"})
    before = path.read_bytes()
    with pytest.raises(InputError, match="JSON"):
        save_student(path, pipe, {"task": object()})
    assert path.read_bytes() == before
    assert json.loads(card_path(path).read_text())["task"] == "binary"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
