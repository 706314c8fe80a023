"""The teacher's scoring path: tiny local BERTs, and the real packaged encoder once."""

from __future__ import annotations

import numpy as np
import pytest

from bert2sk.errors import InputError, ModelFileError
from bert2sk.teacher import Teacher
from bert2sk.teacher.model import truncate_ids


def test_logits_match_one_by_one_scoring(tiny_bert):
    """Sorting by length and padding must not change any text's logits."""
    t = Teacher.from_pretrained(tiny_bert, progress=False, dtype="fp32", batch_size=4, max_length=64)
    texts = ["good", "a very bad film and a dull plot", "great music", "the worst ending of this book", "ok"]
    batched = t.predict_logits(texts)
    single = np.vstack([t.predict_logits([x]) for x in texts])
    np.testing.assert_allclose(batched, single, atol=1e-5)
    assert batched.shape == (5, 2) and t.task == "binary" and t.label_names == ("class_0", "class_1")


def test_head_and_tail_truncation(tiny_bert):
    t = Teacher.from_pretrained(tiny_bert, progress=False, max_length=10)
    long = "good " * 20 + "bad awful terrible worst"
    ids = t.encode([long])[0]
    vocab = t.tokenizer.convert_ids_to_tokens(ids)
    assert len(ids) == 10 and vocab[0] == "[CLS]" and vocab[-1] == "[SEP]"
    assert vocab[-5:-1] == ["bad", "awful", "terrible", "worst"]  # the verdict at the end survives
    assert vocab[1:3] == ["good", "good"]
    assert truncate_ids(list(range(100)), 8, "tail") == list(range(92, 100))


def test_embeddings_come_from_the_same_pass(tiny_bert):
    t = Teacher.from_pretrained(tiny_bert, progress=False, dtype="fp32")
    z, e = t.predict_logits(["good film", "bad film"], return_embeddings=True)
    assert e.shape == (2, 32)
    np.testing.assert_allclose(z, t.predict_logits(["good film", "bad film"]), atol=1e-6)


def test_bf16_close_to_fp32(tiny_bert):
    texts = ["good film", "bad film and awful plot", "great"]
    z32 = Teacher.from_pretrained(tiny_bert, progress=False, dtype="fp32").predict_logits(texts)
    z16 = Teacher.from_pretrained(tiny_bert, progress=False, dtype="bf16").predict_logits(texts)
    np.testing.assert_allclose(z16, z32, atol=0.05)


def test_fingerprint_tracks_weights_and_settings(tiny_bert, tiny_bert_multiclass):
    a = Teacher.from_pretrained(tiny_bert, progress=False, max_length=64, dtype="fp32")
    b = Teacher.from_pretrained(tiny_bert, progress=False, max_length=64, dtype="fp32")
    assert a.fingerprint == b.fingerprint
    assert Teacher.from_pretrained(tiny_bert, progress=False, max_length=32, dtype="fp32").fingerprint != a.fingerprint
    assert Teacher.from_pretrained(tiny_bert_multiclass, progress=False, max_length=64,
                                   dtype="fp32").fingerprint != a.fingerprint


def test_task_from_config(tiny_bert_multiclass, tiny_bert_multilabel):
    mc = Teacher.from_pretrained(tiny_bert_multiclass, progress=False)
    ml = Teacher.from_pretrained(tiny_bert_multilabel, progress=False)
    assert (mc.task, len(mc.label_names)) == ("multiclass", 4)
    assert ml.task == "multilabel"
    p = ml.predict_proba(["good", "bad"])
    assert p.shape == (2, 3) and not np.allclose(p.sum(1), 1)  # independent sigmoids


def test_bad_model_paths(tmp_path, tiny_bert):
    with pytest.raises(ModelFileError, match="not found"):
        Teacher.from_pretrained(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelFileError, match="no config.json"):
        Teacher.from_pretrained(tmp_path / "empty")
    (tmp_path / "file.bin").write_bytes(b"\x00" * 10)
    with pytest.raises(ModelFileError, match="is a file"):
        Teacher.from_pretrained(tmp_path / "file.bin")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="could not load"):
        Teacher.from_pretrained(broken)
    t = Teacher.from_pretrained(tiny_bert, progress=False)
    with pytest.raises(InputError, match="not a string"):
        t.predict_logits(["fine", 3])
    with pytest.raises(InputError, match="dtype"):
        Teacher.from_pretrained(tiny_bert, dtype="fp8")


def test_real_packaged_encoder_end_to_end():
    """The packaged all-MiniLM-L6-v2 through the whole scoring path (no fine-tuning)."""
    from bert2sk.data import load_demo_corpus

    t = Teacher.from_pretrained(None, max_length=128, progress=False, dtype="fp32")
    assert t.n_parameters > 22_000_000 and t.model.config.hidden_size == 384
    texts = load_demo_corpus().texts[:6]
    z, e = t.predict_logits(texts, return_embeddings=True)
    assert z.shape == (6, 2) and e.shape == (6, 384) and np.isfinite(z).all()
    # sentence-transformers' own recipe (mean pooling) gives the same vectors
    from bert2sk.features import SentenceEmbeddings

    se = SentenceEmbeddings(max_length=128, normalize=False).fit(texts)
    np.testing.assert_allclose(se.transform(texts), e, atol=1e-4)
    # and the embeddings carry meaning: paraphrases are closer than unrelated sentences
    v = SentenceEmbeddings(max_length=128).fit(texts).transform(
        ["a wonderful, moving film", "a truly great and touching movie", "how do I reset my router"])
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2
