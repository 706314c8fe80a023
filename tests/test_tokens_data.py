"""Token corpora: CoNLL 2/4-column and jsonl loaders, and their one-line errors and documented repairs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bert2sk.errors import InputError
from bert2sk.tokens.data import TokenCorpus, load_btc, load_conll, load_token_jsonl, load_tokens, repair_iob2

from .conftest import SHARED

BTC = SHARED / "btc"


def _write(tmp_path: Path, text: str, name: str = "x.conll") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode("utf-8"))
    return p


def test_two_column_tab_split_keeps_inner_spaces_and_empty_tokens(tmp_path):
    p = _write(tmp_path, "New York\tB-LOC\nis\tO\n\tO\n\n@bob\tB-PER\nhi\tO\n\n\n")
    c = load_conll(p)
    assert c.tokens == [["New York", "is", ""], ["@bob", "hi"]]
    assert c.tags == [["B-LOC", "O", "O"], ["B-PER", "O"]]
    assert c.tag_names == ("O", "B-LOC", "I-LOC", "B-PER", "I-PER")
    assert c.repairs == []


def test_four_column_conll2003_with_docstart(tmp_path):
    p = _write(tmp_path, "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP B-MISC\n"
                         "call NN I-NP O\n\nPeter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n")
    c = load_conll(p)
    assert c.tokens == [["EU", "rejects", "German", "call"], ["Peter", "Blackburn"]]
    assert c.tags[1] == ["B-PER", "I-PER"]
    assert c.entity_types == ("MISC", "ORG", "PER")


def test_jsonl_strings_and_codes(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text(json.dumps({"tokens": ["Leon", "here"], "tags": ["B-PER", "O"]}) + "\n\n"
                 + json.dumps({"tokens": ["Paris"], "tags": [1]}) + "\n", encoding="utf-8")
    names = ("O", "B-LOC", "I-LOC", "B-PER", "I-PER")
    c = load_tokens(p, tag_names=names)
    assert c.tags == [["B-PER", "O"], ["B-LOC"]]
    assert [x.tolist() for x in c.tag_ids()] == [[3, 0], [1]]


def test_i_without_b_is_read_as_b_and_recorded(tmp_path):
    p = _write(tmp_path, "a\tO\nLeon\tI-PER\nDerczynski\tI-PER\nSheffield\tI-LOC\n")
    c = load_conll(p)
    assert c.tags == [["O", "B-PER", "I-PER", "B-LOC"]]
    assert c.repairs == ["x.conll:2: I-PER without B- read as B-PER", "x.conll:4: I-LOC without B- read as B-LOC"]
    with pytest.raises(InputError, match=r"x\.conll:2: tag 'I-PER' does not continue"):
        load_conll(p, strict=True)


def test_repair_iob2_keeps_valid_sequences():
    tags = ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC"]
    assert repair_iob2(tags) == (tags, [])


@pytest.mark.parametrize("text, line, match", [
    ("a\tO\nb\n", 2, "has no tag"),                       # a tag sequence shorter than its tokens
    ("a\tO\nb\t\n", 2, "has no tag"),
    ("a\tO\nb\tB-PERSON X\n", 2, "not IOB2"),
    ("a\tO\nb\tE-PER\n", 2, "not IOB2"),
    ("  \na\tO\n", 1, "only spaces or tabs"),              # nothing to attach it to
])
def test_bad_conll_lines_name_file_and_line(tmp_path, text, line, match):
    p = _write(tmp_path, text)
    with pytest.raises(InputError, match=match) as info:
        load_conll(p)
    msg = str(info.value)
    assert msg.startswith(f"{p}:{line}:") and "\n" not in msg


def test_whitespace_line_inside_sentence_is_skipped_or_refused(tmp_path):
    p = _write(tmp_path, "a\tO\n \t \nb\tO\n\nc\tO\n")
    c = load_conll(p)
    assert c.tokens == [["a", "b"], ["c"]]
    assert c.repairs == ["x.conll:2: whitespace-only line inside a sentence skipped"]
    with pytest.raises(InputError, match=rf"^{p}:2: a line of only spaces"):
        load_conll(p, strict=True)


def test_unknown_tag_in_test_data(tmp_path):
    train = load_conll(_write(tmp_path, "a\tB-PER\nb\tO\n", "train.conll"))
    p = _write(tmp_path, "a\tO\n\nb\tO\nParis\tB-LOC\n", "test.conll")
    with pytest.raises(InputError, match=rf"^{p}:4: unknown tag 'B-LOC'"):
        load_conll(p, tag_names=train.tag_names)


def test_non_utf8_file_names_the_line(tmp_path):
    p = tmp_path / "latin.conll"
    p.write_bytes(b"a\tO\n\ncaf\xe9\tO\n")
    with pytest.raises(InputError, match=rf"^{p}:3: not UTF-8 \(byte 0xe9\)"):
        load_conll(p)


def test_jsonl_length_mismatch_and_bad_json(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text(json.dumps({"tokens": ["a"], "tags": ["O"]}) + "\n"
                 + json.dumps({"tokens": ["a", "b"], "tags": ["O"]}) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=rf"^{p}:2: 2 tokens but 1 tags"):
        load_token_jsonl(p)
    p.write_text("{not json\n", encoding="utf-8")
    with pytest.raises(InputError, match=rf"^{p}:1: not valid JSON"):
        load_token_jsonl(p)


def test_missing_file_and_empty_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_conll(tmp_path / "nope.conll")
    with pytest.raises(InputError, match="no sentences found"):
        load_conll(_write(tmp_path, "\n\n"))


def test_corpus_checks_lengths_and_subset():
    with pytest.raises(InputError, match="2 tokens but 1 tags"):
        TokenCorpus([["a", "b"]], [["O"]])
    c = TokenCorpus([["a"], ["Leon"]], [["O"], ["B-PER"]], name="c")
    sub = c.subset([1])
    assert sub.tokens == [["Leon"]] and sub.tag_names == c.tag_names


@pytest.mark.shared
def test_real_btc_first_lines():
    if not BTC.exists():
        pytest.skip("../shared/data/btc is not here")
    head = (BTC / "btc.dev").read_text(encoding="utf-8").split("\n\n")[0].split("\n")
    dev = load_btc(BTC, "dev")
    assert dev.tokens[0] == [line.split("\t")[0] for line in head]
    assert dev.tags[0] == [line.split("\t")[1] for line in head]
    assert dev.tag_names == ("O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER")
    assert len(dev) == 1001 and dev.n_words == 15027
    assert "" in {w for s in dev.tokens for w in s}  # the documented empty tokens survive
