"""The token teacher on a tiny local BERT: first-piece labels, chunking, fine-tuning, cached resumable word logits."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bert2sk.errors import InputError
from bert2sk.tokens.encoding import IGNORE, chunk_labels, encode_words
from bert2sk.tokens.metrics import token_scores
from bert2sk.tokens.teacher import TokenTeacher, score_words, word_hashes

from .test_tokens_fixtures import tagged_sentences, tiny_token_teacher  # noqa: F401


def _tokenizer():
    from transformers import BertTokenizer

    vocab = "[PAD] [UNK] [CLS] [SEP] leon ##ard is in shef ##field".split()
    return BertTokenizer(vocab={w: i for i, w in enumerate(vocab)})


def test_labels_sit_on_first_pieces_only():
    tok = _tokenizer()
    chunks = encode_words(tok, [["Leonard", "is", "in", "Sheffield"]], 32)
    assert len(chunks) == 1
    c = chunks[0]
    assert c.ids == [2, 4, 5, 6, 7, 8, 9, 3]
    assert c.first.tolist() == [1, 3, 4, 5]
    labels = chunk_labels(chunks, [np.array([5, 0, 0, 1])], 8)[0]
    assert labels.tolist() == [IGNORE, 5, IGNORE, 0, 0, 1, IGNORE, IGNORE]


def test_long_sentences_are_cut_between_words_and_no_word_is_lost():
    tok = _tokenizer()
    words = ["Leonard", "is", "in", "Sheffield"] * 5
    chunks = encode_words(tok, [words, ["is"]], 7)  # 5 pieces per chunk
    assert all(len(c.ids) <= 7 for c in chunks)
    covered = [(c.sentence, i) for c in chunks for i in range(c.start, c.stop)]
    assert covered == [(0, i) for i in range(20)] + [(1, 0)]
    assert chunks[0].stop == 3 and chunks[1].start == 3  # "Sheffield" (2 pieces) did not fit the first chunk
    with pytest.raises(InputError, match="no room"):
        encode_words(tok, [["is"]], 2)


def test_empty_word_reads_as_unk():
    c = encode_words(_tokenizer(), [["", "is"]], 16)[0]
    assert c.ids == [2, 1, 6, 3] and c.first.tolist() == [1, 2]


def test_word_hashes_depend_on_context():
    a, b = word_hashes([["Paris", "is"], ["Paris", "was"]])
    assert a[0] != b[0] and len(set(a + b)) == 4


def test_tiny_teacher_learns_entities(tiny_token_teacher):  # noqa: F811
    teacher = TokenTeacher.from_pretrained(tiny_token_teacher, dtype="fp32")
    record = json.loads((tiny_token_teacher / "bert2sk_token_training.json").read_text())
    assert record["result"]["best_epoch"] >= 2
    assert teacher.tag_names == ("O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER")
    test = tagged_sentences(60, seed=7)
    scores = token_scores(test.tags, teacher.predict_tags(test.tokens))
    # a random head scores ~0; the names are drawn from word lists the teacher can learn
    assert scores["entity_f1"] > 0.5 and scores["f1_LOC"] > 0.8
    z = teacher.predict_word_logits(test.tokens[:3])
    assert [a.shape for a in z] == [(len(s), 7) for s in test.tokens[:3]]


def test_scoring_is_cached_and_resumes(tiny_token_teacher, tmp_path, monkeypatch):  # noqa: F811
    teacher = TokenTeacher.from_pretrained(tiny_token_teacher, dtype="fp32")
    sents = tagged_sentences(30, seed=9).tokens
    cache = tmp_path / "words.sqlite"
    first = score_words(teacher, sents[:10], cache, chunk_size=4)  # an "interrupted" run: a third done
    calls = []
    real = teacher.predict_word_logits
    monkeypatch.setattr(teacher, "predict_word_logits", lambda s, **k: calls.append(len(s)) or real(s))
    full = score_words(teacher, sents, cache, chunk_size=4)
    assert sum(calls) == 20  # only the sentences not cached yet
    direct = real(sents)
    for a, b in zip(full, direct, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)
    for a, b in zip(first, full[:10], strict=True):
        np.testing.assert_array_equal(a, b)
    calls.clear()
    score_words(teacher, sents, cache, chunk_size=4)
    assert calls == []


def test_sentences_must_be_word_lists(tiny_token_teacher):  # noqa: F811
    teacher = TokenTeacher.from_pretrained(tiny_token_teacher, dtype="fp32")
    with pytest.raises(InputError, match="list of words"):
        teacher.predict_word_logits(["Leon is here"])


def test_cli_teacher_train_tokens(tmp_path):
    from typer.testing import CliRunner

    from bert2sk.cli import app

    from .conftest import build_tiny_bert

    base = build_tiny_bert(tmp_path / "base")
    data = tmp_path / "train.conll"
    data.write_text("".join("\n".join(f"{w}\t{t}" for w, t in zip(s, g, strict=True)) + "\n\n" for s, g in zip(
        *(lambda c: (c.tokens, c.tags))(tagged_sentences(40, seed=1)), strict=True)) + "w1\tI-PER\n", encoding="utf-8")
    out = tmp_path / "teacher"
    res = CliRunner().invoke(app, ["teacher", "train", str(data), "--out", str(out), "--base", str(base), "--task",
                                   "tokens", "--epochs", "1", "--max-length", "32", "--dtype", "fp32", "--quiet"])
    assert res.exit_code == 0, res.output
    assert "repaired:" in res.output and "I-PER without B- read as B-PER" in res.output
    assert TokenTeacher.from_pretrained(out).tag_names[0] == "O"
