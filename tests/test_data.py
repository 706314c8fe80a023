"""Corpora and loaders: real files, clear errors."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from bert2sk.data import Corpus, load_aclimdb, load_clinc150, load_demo_corpus, load_goemotions, load_table
from bert2sk.errors import InputError

from .conftest import SHARED


def test_demo_corpus_is_the_real_polarity_data():
    c = load_demo_corpus()
    assert len(c) == 2000 and np.bincount(c.labels).tolist() == [1000, 1000]
    assert c.ids[0].startswith("neg/cv000")
    train, test = c.split(400, seed=0)
    assert (len(train), len(test)) == (1600, 400)
    assert np.bincount(test.labels).tolist() == [200, 200]
    scarce = train.keep_labels(200, seed=0)
    assert scarce.n_labelled == 200 and len(scarce) == 1600
    assert scarce.keep_labels(200, seed=0).labels.tolist() == scarce.labels.tolist()


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        ("one string", "not a single string"),
        ([], "is empty"),
        (["ok", None], r"texts\[1\] is NoneType"),
        (["ok", 3.5], "not a string"),
        (["ok", "   "], "empty or whitespace"),
    ],
)
def test_bad_texts(texts, message):
    with pytest.raises(InputError, match=message):
        Corpus(texts, None, ("a", "b"), "binary")


def test_bad_labels():
    with pytest.raises(InputError, match="2 rows but there are 3"):
        Corpus(["a", "b", "c"], [0, 1], ("n", "p"), "binary")
    with pytest.raises(InputError, match="must lie in"):
        Corpus(["a", "b"], [0, 5], ("n", "p"), "binary")
    with pytest.raises(InputError, match="not among the label names"):
        Corpus.from_labels(["a", "b"], ["pos", "maybe"], label_names=["neg", "pos"])
    with pytest.raises(InputError, match="exactly two"):
        Corpus(["a", "b"], [0, 1], ("x", "y", "z"), "binary")


def test_from_labels_multilabel_and_unlabelled():
    c = Corpus.from_labels(["a", "b", "c"], [["joy"], ["anger", "joy"], None])
    assert c.task == "multilabel" and c.label_names == ("anger", "joy")
    assert c.labels.tolist() == [[0, 1], [1, 1], [-1, -1]]
    assert c.n_labelled == 2


def test_load_table_formats(tmp_path):
    rows = [{"review": "great film", "sentiment": "pos"}, {"review": "bad film", "sentiment": "neg"},
            {"review": "unknown film", "sentiment": None}]
    jl = tmp_path / "r.jsonl.gz"
    with gzip.open(jl, "wt") as fh:
        fh.write("\n".join(json.dumps(r) for r in rows))
    c = load_table(jl, text_column="review", label_column="sentiment")
    assert c.labels.tolist() == [1, 0, -1] and c.label_names == ("neg", "pos")
    import pandas as pd

    pd.DataFrame(rows).to_csv(tmp_path / "r.csv", index=False)
    pd.DataFrame(rows).to_parquet(tmp_path / "r.parquet")
    for name in ("r.csv", "r.parquet"):
        assert load_table(tmp_path / name, "review", "sentiment").labels.tolist() == [1, 0, -1]
    (tmp_path / "m.tsv").write_text("text\tlabels\nhi there\tjoy,love\nugh\tanger\n")
    m = load_table(tmp_path / "m.tsv", label_column="labels", task="multilabel")
    assert m.task == "multilabel" and m.label_names == ("anger", "joy", "love")


def test_load_table_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_table(tmp_path / "nope.csv")
    (tmp_path / "a.csv").write_text("body,label\nhello,1\n")
    with pytest.raises(InputError, match="no column 'text'.*--text-column"):
        load_table(tmp_path / "a.csv")
    (tmp_path / "b.jsonl").write_text('{"text": "ok", "label": 1}\n{broken\n')
    with pytest.raises(InputError, match="line 2 is not valid JSON"):
        load_table(tmp_path / "b.jsonl")
    (tmp_path / "c.xlsx").write_text("x")
    with pytest.raises(InputError, match="unknown file type"):
        load_table(tmp_path / "c.xlsx")
    (tmp_path / "d.csv").write_text("text,label\nhello,1\n,0\n")
    with pytest.raises(InputError, match="is float"):
        load_table(tmp_path / "d.csv")


def test_aclimdb_folder(tmp_path):
    for split in ("train", "test"):
        for sub, word in (("pos", "great"), ("neg", "awful")):
            d = tmp_path / "aclImdb" / split / sub
            d.mkdir(parents=True)
            (d / "0_9.txt").write_text(f"A {word} film.<br /><br />Really.")
    c = load_aclimdb(tmp_path / "aclImdb", "test")
    assert c.labels.tolist() == [0, 1] and "awful" in c.texts[0]
    with pytest.raises(InputError, match="aclImdb"):
        load_aclimdb(tmp_path / "missing", "train")


@pytest.mark.shared
@pytest.mark.skipif(not SHARED.exists(), reason="../shared/data is not beside this checkout")
def test_shared_loaders():
    clinc = load_clinc150(SHARED / "clinc150" / "data_oos_plus.json", "test")
    assert clinc.task == "multiclass" and len(clinc.label_names) == 151 and "oos" in clinc.label_names
    assert len(clinc) == 5500
    go = load_goemotions(SHARED / "goemotions", "dev")
    assert go.task == "multilabel" and len(go.label_names) == 28 and len(go) == 5426
    imdb = load_table(SHARED / "imdb" / "imdb_test.jsonl.gz", label_names=["neg", "pos"], limit=50)
    assert imdb.label_names == ("neg", "pos") and len(imdb) == 50


@pytest.mark.parametrize("suffix", [".txt", ".txt.gz", ".jsonl", ".csv", ".parquet"])
def test_unlabelled_texts_from_every_format(tmp_path, suffix):
    import pandas as pd

    from bert2sk.data import load_unlabelled

    texts = ["a first review, with a comma", 'a "quoted" second one', "third"]
    path = tmp_path / f"more{suffix}"
    if suffix == ".txt":
        path.write_text(texts[0] + "\n\n" + texts[1] + "\r\n" + texts[2])  # blank lines skipped, CRLF tolerated
    elif suffix == ".txt.gz":
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write("\n".join(texts) + "\n")
    else:  # a label column in the file is ignored: the user said these texts are unlabelled
        df = pd.DataFrame({"body": texts, "label": ["pos", "neg", "pos"]})
        {".jsonl": lambda: df.to_json(path, orient="records", lines=True),
         ".csv": lambda: df.to_csv(path, index=False), ".parquet": lambda: df.to_parquet(path)}[suffix]()
    c = load_unlabelled(path, ("neg", "pos"), text_column="body")
    assert c.texts == texts and c.labels.tolist() == [-1, -1, -1] and c.n_labelled == 0
    assert (c.task, c.label_names, c.name) == ("binary", ("neg", "pos"), "more")


def test_unlabelled_multilabel_rows_are_all_minus_one(tmp_path):
    from bert2sk.data import load_unlabelled

    (tmp_path / "u.txt").write_text("one\ntwo\n")
    c = load_unlabelled(tmp_path / "u.txt", ("joy", "anger", "fear"), task="multilabel")
    assert c.labels.shape == (2, 3) and (c.labels == -1).all() and c.n_labelled == 0


def test_unlabelled_bad_files_are_one_clear_error(tmp_path):
    from bert2sk.data import load_unlabelled

    with pytest.raises(InputError, match="unlabelled text file not found"):
        load_unlabelled(tmp_path / "nope.txt", ("n", "p"))
    (tmp_path / "blank.txt").write_text("\n  \n")
    with pytest.raises(InputError, match="holds no text; put one text per line"):
        load_unlabelled(tmp_path / "blank.txt", ("n", "p"))
    (tmp_path / "latin.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(InputError, match="as UTF-8 text"):
        load_unlabelled(tmp_path / "latin.txt", ("n", "p"))
    (tmp_path / "t.csv").write_text("review\nfine\n")
    with pytest.raises(InputError, match="no column 'text'"):
        load_unlabelled(tmp_path / "t.csv", ("n", "p"))
    (tmp_path / "t.xlsx").write_text("x")
    with pytest.raises(InputError, match=r"unknown file type .* \(or, for unlabelled texts, \.txt\)"):
        load_unlabelled(tmp_path / "t.xlsx", ("n", "p"))


def test_concat_keeps_order_labels_and_ids():
    a = Corpus(["good", "bad", "meh"], [1, 0, -1], ("neg", "pos"), "binary", name="train", ids=["a1", "a2", "a3"])
    b = Corpus(["more text", "and more"], None, ("neg", "pos"), "binary", ids=["b1", "b2"])
    c = Corpus.concat([a, b])
    assert c.texts == ["good", "bad", "meh", "more text", "and more"]
    assert c.labels.tolist() == [1, 0, -1, -1, -1] and c.n_labelled == 2
    assert c.ids == ["a1", "a2", "a3", "b1", "b2"] and c.name == "train"
    no_ids = Corpus.concat([a, Corpus(["x"], None, ("neg", "pos"), "binary")], name="joined")
    assert no_ids.ids is None and no_ids.name == "joined"
    assert Corpus.concat([b, b]).labels is None  # nothing labelled anywhere stays "no labels"
    m = Corpus.concat([Corpus(["x"], [[1, 0]], ("a", "b"), "multilabel"),
                       Corpus(["y"], None, ("a", "b"), "multilabel")])
    assert m.labels.tolist() == [[1, 0], [-1, -1]]


def test_concat_refuses_parts_that_do_not_fit():
    a = Corpus(["good", "bad"], [1, 0], ("neg", "pos"), "binary", name="train")
    with pytest.raises(InputError, match="cannot join 'other'.*same label names and task"):
        Corpus.concat([a, Corpus(["x"], None, ("no", "yes"), "binary", name="other")])
    with pytest.raises(InputError, match="at least one corpus"):
        Corpus.concat([])
