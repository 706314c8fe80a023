"""freeze_embeddings: the pretrained word vectors stay as they are, everything else learns."""

from __future__ import annotations

import numpy as np

from bert2sk.data import Corpus
from bert2sk.teacher import TrainingArguments, train_teacher
from bert2sk.teacher.model import load_tokenizer_and_model

from .conftest import build_tiny_bert, sentiment_texts


def _weights(path) -> dict[str, np.ndarray]:
    _, model = load_tokenizer_and_model(path)
    return {n: p.detach().numpy().copy() for n, p in model.named_parameters()}


def test_frozen_word_embeddings_stay_and_the_rest_learns(tmp_path):
    base = build_tiny_bert(tmp_path / "base")
    texts, y = sentiment_texts(64, seed=1)
    corpus = Corpus(texts, y, ("neg", "pos"), "binary")
    runs = {}
    for freeze in (True, False):
        out = tmp_path / f"teacher-{freeze}"
        res = train_teacher(corpus, TrainingArguments(
            str(out), base_model=str(base), epochs=2, batch_size=8, max_length=16, learning_rate=1e-2, dtype="fp32",
            progress=False, save_every_steps=0, threads=1, eval_fraction=0.25, freeze_embeddings=freeze))
        runs[freeze] = (res, _weights(out))
    before = _weights(base)
    word = "bert.embeddings.word_embeddings.weight"
    frozen, free = runs[True][1], runs[False][1]
    np.testing.assert_array_equal(frozen[word], before[word])
    assert not np.array_equal(free[word], before[word])  # without freezing the same run moves them
    moved = [n for n in before if n != word and not n.startswith("classifier")
             and not np.array_equal(frozen[n], before[n])]
    assert "bert.embeddings.position_embeddings.weight" in moved and len(moved) > 20
