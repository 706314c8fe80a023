"""Token metrics: seqeval entity scores (exact span and type), token accuracy, per-type F1, fidelity; IOB2 decoding."""

from __future__ import annotations

import numpy as np
import pytest

from bert2sk.errors import InputError
from bert2sk.tokens.decode import allowed_transitions, decode_iob2
from bert2sk.tokens.metrics import entity_spans, token_fidelity, token_scores

NAMES = ("O", "B-LOC", "I-LOC", "B-PER", "I-PER")


def test_exact_span_and_type_needed():
    gold = [["B-PER", "I-PER", "O", "B-LOC", "I-LOC"], ["O", "B-PER"]]
    # one right, one with a short span, one with the wrong type
    pred = [["B-PER", "I-PER", "O", "B-LOC", "O"], ["O", "B-LOC"]]
    s = token_scores(gold, pred)
    assert s["n_entities"] == 3
    assert s["entity_precision"] == pytest.approx(1 / 3)
    assert s["entity_recall"] == pytest.approx(1 / 3)
    assert s["entity_f1"] == pytest.approx(1 / 3)
    assert s["token_accuracy"] == pytest.approx(5 / 7)
    assert s["f1_PER"] == pytest.approx(2 / 3)  # 1 of 1 predicted PER right, 1 of 2 gold PER found
    assert s["f1_LOC"] == 0.0


def test_perfect_and_empty():
    gold = [["B-PER", "O"]]
    assert token_scores(gold, gold)["entity_f1"] == 1.0
    assert token_scores(gold, [["O", "O"]])["entity_f1"] == 0.0
    assert token_fidelity([["O"]], [["O"]]) == {"word_fidelity": 1.0, "span_fidelity": 1.0,
                                                "entity_f1_vs_teacher": 0.0}


def test_fidelity_counts_words_and_whole_spans():
    teacher = [["B-ORG", "I-ORG", "I-ORG", "O"], ["B-PER"]]
    student = [["B-ORG", "I-ORG", "O", "O"], ["B-PER"]]
    f = token_fidelity(teacher, student)
    assert f["word_fidelity"] == pytest.approx(4 / 5)
    assert f["span_fidelity"] == pytest.approx(1 / 3)  # PER agreed; ORG(0-2) and ORG(0-1) differ
    assert f["entity_f1_vs_teacher"] == pytest.approx(0.5)


def test_length_mismatch_is_one_line_error():
    with pytest.raises(InputError, match="sentence 0 has 2 tags against 1"):
        token_scores([["O", "O"]], [["O"]])
    with pytest.raises(InputError, match="2 sentences against 1"):
        token_fidelity([["O"], ["O"]], [["O"]])


def test_entity_spans_reads_lone_i_as_start():
    assert entity_spans([["O", "I-PER", "I-PER"]]) == {(0, "PER", 1, 2)}


def test_transitions():
    start, trans = allowed_transitions(NAMES)
    assert start.tolist() == [True, True, False, True, False]
    assert trans[1, 2] and trans[2, 2] and not trans[0, 2] and not trans[3, 2] and trans[4, 0]


def test_decode_is_argmax_when_valid_and_always_valid():
    rng = np.random.default_rng(0)
    for _ in range(200):
        z = rng.normal(size=(int(rng.integers(1, 8)), len(NAMES))) * 3
        tags = decode_iob2(z, NAMES)
        arg = [NAMES[i] for i in z.argmax(1)]
        prev = "O"
        valid_arg = True
        for t in arg:
            if t.startswith("I-") and prev[2:] != t[2:]:
                valid_arg = False
            prev = t
        if valid_arg:
            assert tags == arg
        prev = "O"
        for t in tags:
            assert not (t.startswith("I-") and prev[2:] != t[2:])
            prev = t


def test_decode_bad_shape():
    with pytest.raises(InputError, match="shape"):
        decode_iob2(np.zeros((2, 3)), NAMES)
    assert decode_iob2(np.zeros((0, 5)), NAMES) == []
