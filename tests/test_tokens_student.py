"""The scikit-learn token student: features, distilled vs gold fits, valid IOB2 output, exact explanations, contract."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from bert2sk.errors import InputError
from bert2sk.tokens.features import TokenFeatures, word_features
from bert2sk.tokens.metrics import token_fidelity, token_scores
from bert2sk.tokens.student import LinearTokenStudent

from .test_tokens_fixtures import tagged_sentences

NAMES = ("O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER")


def _fake_teacher_logits(corpus, seed=0):
    """Logits that put +4 on the gold tag plus noise: a teacher whose decisions are the gold tags."""
    rng = np.random.default_rng(seed)
    return [4.0 * np.eye(len(NAMES))[ids] + rng.normal(0, 0.3, (len(ids), len(NAMES))) for ids in corpus.tag_ids()]


def test_features_cover_word_shape_affixes_and_neighbours():
    f = word_features(["@bbc", "in", "London", "2016"], 2, window=2, affixes=2)
    for name in ("w=london", "shape=Xx", "pre2=lo", "suf2=on", "is_title", "-1:w=in", "-2:w=@bbc", "-2:shape=@x",
                 "+1:w=2016", "+1:shape=d", "+2:</s>"):
        assert name in f
    assert "mention" in word_features(["@bbc"], 0) and "url" in word_features(["https://t.co/x"], 0)
    assert "-1:<s>" in word_features(["a", "b"], 0)


def test_features_min_count_and_rows():
    sents = [["Leon", "in", "Leeds"], ["Leon", "is", "here"]]
    full = TokenFeatures(window=0, affixes=0).fit(sents)
    rare = TokenFeatures(window=0, affixes=0, min_count=2).fit(sents)
    assert "w=leeds" in full.feature_names_ and "w=leeds" not in rare.feature_names_
    assert "w=leon" in rare.feature_names_
    assert full.transform(sents).shape == (6, len(full.feature_names_))


def test_distilled_follows_teacher_and_decodes_valid_iob2():
    train, test = tagged_sentences(300, seed=1), tagged_sentences(80, seed=4)
    student = LinearTokenStudent(tag_names=NAMES, alpha=1.0).fit(train.tokens, teacher_logits=_fake_teacher_logits(
        train))
    pred = student.predict(test.tokens)
    assert token_scores(test.tags, pred)["entity_f1"] > 0.6
    for seq in pred:
        prev = "O"
        for t in seq:
            assert not (t.startswith("I-") and prev[2:] != t[2:])
            prev = t
    z = student.predict_word_logits(test.tokens[:2])
    assert [a.shape for a in z] == [(len(s), 7) for s in test.tokens[:2]]


def test_teacher_logits_change_the_fit():
    """Distillation must learn from the logits: a teacher that calls every LOC word ORG yields an ORG tagger."""
    train = tagged_sentences(200, seed=1)
    swapped = []
    for z in _fake_teacher_logits(train):
        z = z.copy()
        z[:, [1, 3]] = z[:, [3, 1]]
        swapped.append(z)
    gold = LinearTokenStudent(tag_names=NAMES).fit(train.tokens, train.tags)
    dist = LinearTokenStudent(tag_names=NAMES).fit(train.tokens, teacher_logits=swapped)
    loc = [["the", "w12", "film"]]
    assert gold.predict(loc)[0][1] == "B-LOC"
    assert dist.predict(loc)[0][1] == "B-ORG"
    # hard_weight 1 ignores the teacher where gold tags exist
    both = LinearTokenStudent(tag_names=NAMES, hard_weight=1.0).fit(train.tokens, train.tags, swapped)
    assert both.predict(loc)[0][1] == "B-LOC"


def test_label_scarce_mix_and_logistic_baseline():
    train = tagged_sentences(200, seed=1)
    y = [t if i < 30 else None for i, t in enumerate(train.tags)]
    z = [None if i < 30 else a for i, a in enumerate(_fake_teacher_logits(train))]
    mixed = LinearTokenStudent(tag_names=NAMES).fit(train.tokens, y, z)
    assert mixed.n_words_ == train.n_words
    logistic = LinearTokenStudent(tag_names=NAMES, head="logistic").fit(train.tokens, y)
    assert logistic.n_words_ == sum(len(s) for s in train.tokens[:30])
    test = tagged_sentences(60, seed=6)
    assert token_scores(test.tags, logistic.predict(test.tokens))["entity_f1"] > 0.3


def test_explanation_is_exact():
    train = tagged_sentences(150, seed=2)
    s = LinearTokenStudent(tag_names=NAMES).fit(train.tokens, teacher_logits=_fake_teacher_logits(train))
    sent = ["the", "w3", "w4", "in", "w15"]
    z = s.predict_word_logits([sent])[0]
    for i in range(len(sent)):
        e = s.explain_word(sent, i, top=None)
        a, b = NAMES.index(e["tag"]), NAMES.index(e["against"])
        assert e["margin"] == pytest.approx(z[i, a] - z[i, b], abs=1e-4)
        total = e["intercept"] + sum(c for _, v, c in e["contributions"])
        assert total == pytest.approx(e["margin"], abs=1e-3)
    e = s.explain_word(sent, 4, top=3)
    assert e["tag"] == "B-LOC" and len(e["contributions"]) == 3
    assert any("w15" in name for name, _, _ in e["contributions"])
    assert s.explain_word(sent, 4, tag="B-LOC", against="O")["against"] == "O"
    with pytest.raises(InputError, match="outside the sentence"):
        s.explain_word(sent, 9)


def test_fidelity_of_distilled_student_is_high():
    train, test = tagged_sentences(300, seed=1), tagged_sentences(60, seed=5)
    zt = _fake_teacher_logits(train)
    s = LinearTokenStudent(tag_names=NAMES).fit(train.tokens, teacher_logits=zt)
    from bert2sk.tokens.decode import decode_iob2

    teacher_tags = [decode_iob2(z, NAMES) for z in _fake_teacher_logits(test, seed=3)]
    assert token_fidelity(teacher_tags, s.predict(test.tokens))["word_fidelity"] > 0.9


def test_sklearn_contract_by_hand():
    # X is a list of token lists, so parametrize_with_checks (numeric arrays) does not apply
    s = LinearTokenStudent(alpha=3.0, window=1)
    params = s.get_params()
    assert params["alpha"] == 3.0 and params["window"] == 1
    c = clone(s)
    assert c.get_params() == params and c is not s
    with pytest.raises(NotFittedError):
        s.predict([["a"]])
    with pytest.raises(NotFittedError):
        TokenFeatures().transform([["a"]])
    s.set_params(alpha=0.5)
    assert s.alpha == 0.5
    train = tagged_sentences(40, seed=1)
    fitted = LinearTokenStudent().fit(train.tokens, train.tags)
    assert not hasattr(clone(fitted), "coef_")
    assert fitted.tag_names is None and fitted.tag_names_ == NAMES  # fit does not touch the parameters


@pytest.mark.parametrize("kwargs, match", [
    (dict(X="a sentence"), "list of sentences"),
    (dict(X=[["a", "b"]], y=[["O"]]), "2 words but 1 tags"),
    (dict(X=[["a"]], y=[["B-XYZ"]], tag_names=NAMES), "not one of"),
    (dict(X=[["a"]], teacher_logits=[np.zeros((2, 7))], tag_names=NAMES), r"needs \(1, 7\)"),
    (dict(X=[["a"]]), "tag_names"),
    (dict(X=[["a"]], y=[None], tag_names=NAMES), "no sentence has a target"),
])
def test_bad_input_is_one_line(kwargs, match):
    names = kwargs.pop("tag_names", None)
    with pytest.raises(InputError, match=match):
        LinearTokenStudent(tag_names=names).fit(**kwargs)


def test_save_and_load_round_trip(tmp_path):
    train = tagged_sentences(60, seed=1)
    s = LinearTokenStudent(tag_names=NAMES, alpha=2.0, window=1).fit(train.tokens, train.tags)
    s.save(tmp_path / "st")
    back = LinearTokenStudent.load(tmp_path / "st")
    test = tagged_sentences(10, seed=3).tokens
    assert back.predict(test) == s.predict(test) and back.get_params() == s.get_params()
    for a, b in zip(back.predict_word_logits(test), s.predict_word_logits(test), strict=True):
        np.testing.assert_array_equal(a, b)
    assert back.explain_word(test[0], 0) == s.explain_word(test[0], 0)
    (tmp_path / "st" / "student.json").write_text("{}")
    from bert2sk.errors import ModelFileError

    with pytest.raises(ModelFileError, match="not a bert2sk-linear-token-student"):
        LinearTokenStudent.load(tmp_path / "st")
