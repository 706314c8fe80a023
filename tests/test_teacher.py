"""The teacher's scoring path: tiny local BERTs, and the real packaged encoder once."""

from __future__ import annotations

import numpy as np
import pytest

from bert2sk.errors import InputError, ModelFileError
from bert2sk.runtime import cpu_supports_bf16
from bert2sk.teacher import Teacher
from bert2sk.teacher.model import truncate_ids

from .conftest import sentiment_texts

# lengths out of order, so the length sort moves every text to another row and batch
TEXTS = ["good", "a very bad film and a dull plot", "great music", "the worst ending of this book", "ok",
         "not very enjoyable", "loved the story and the actor"]


def smallest_row_gap(z: np.ndarray) -> float:
    """Smallest max-abs difference between two rows: how far apart the closest two texts' scores are."""
    gaps = np.abs(z[:, None, :] - z[None, :, :]).max(-1)
    return float(gaps[np.triu_indices(len(z), 1)].min())


def test_logits_match_one_by_one_scoring(tiny_bert):
    """Sorting by length and padding must not change any text's logits, nor move them to another row."""
    t = Teacher.from_pretrained(tiny_bert, progress=False, dtype="fp32", batch_size=3, max_length=64)
    batched = t.predict_logits(TEXTS)
    single = np.vstack([t.predict_logits([x]) for x in TEXTS])
    # every two texts score 0.1 or more apart, 1000x the tolerance: a row put in another text's place fails
    assert smallest_row_gap(single) > 0.1
    np.testing.assert_allclose(batched, single, atol=1e-4)  # fp32 batching noise is ~1e-5
    assert batched.shape == (7, 2) and t.task == "binary" and t.label_names == ("class_0", "class_1")


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
    t = Teacher.from_pretrained(tiny_bert, progress=False, dtype="fp32", batch_size=3)
    z, e = t.predict_logits(TEXTS, return_embeddings=True)
    assert e.shape == (7, 32)
    np.testing.assert_allclose(z, t.predict_logits(TEXTS), atol=1e-4)
    # each text's embedding sits on its own row too
    single = np.vstack([t.predict_logits([x], return_embeddings=True)[1] for x in TEXTS])
    assert smallest_row_gap(single) > 0.1
    np.testing.assert_allclose(e, single, atol=1e-4)


@pytest.mark.skipif(not cpu_supports_bf16(), reason="this CPU has no native bf16 (AVX512-BF16 or AMX), "
                    "so dtype='auto' never picks bf16 here")
def test_bf16_autocast_changes_the_numbers_not_the_decisions(tiny_bert):
    texts, _ = sentiment_texts(60, seed=3)
    z32 = Teacher.from_pretrained(tiny_bert, progress=False, dtype="fp32").predict_logits(texts)
    t16 = Teacher.from_pretrained(tiny_bert, progress=False, dtype="bf16")
    z16 = t16.predict_logits(texts)
    assert t16.dtype == "bf16" and z16.dtype == np.float32
    diff = np.abs(z16 - z32)
    # bf16 keeps 8 significant bits: the logits move by ~1e-2, 1000x fp32's batching noise (1e-5),
    # so a run that silently stayed in fp32 fails here
    assert diff.max() > 1e-3
    # but only a little, next to logits spread by ~2.5 ...
    assert np.median(diff) < 0.1 and diff.max() < 0.15 * np.ptp(z32)
    # ... so every text not at the decision boundary gets the same class
    margin32, margin16 = z32[:, 1] - z32[:, 0], z16[:, 1] - z16[:, 0]
    clear = np.abs(margin32) > 2 * diff.max()
    assert clear.mean() > 0.5 and (np.sign(margin16[clear]) == np.sign(margin32[clear])).all()
    assert (np.sign(margin16) == np.sign(margin32)).mean() >= 0.95


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
