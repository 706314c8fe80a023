"""Transfer-set augmentation (Tang et al. 2019): deterministic under a seed, masks, windows and table neighbours."""

from __future__ import annotations

import numpy as np
import pytest

from bert2sk.data import Corpus
from bert2sk.errors import InputError
from bert2sk.features import StaticFeatures, augment_corpus, augment_texts, nearest_words

from .conftest import sentiment_texts

TEXTS = ["a truly great film with a wonderful ending", "the plot was dull, boring and really poor", "good"]


def test_augmentation_is_deterministic_under_a_seed_and_per_text():
    first = augment_texts(TEXTS, n_per_text=5, seed=3)
    assert first == augment_texts(TEXTS, n_per_text=5, seed=3)
    assert first != augment_texts(TEXTS, n_per_text=5, seed=4)
    # text i draws from its own stream: dropping the last text leaves the others' augmentations as they were
    assert augment_texts(TEXTS[:2], n_per_text=5, seed=3) == first[:10]
    assert len(first) <= 15 and not set(first) & set(TEXTS) and len(set(first)) == len(first)
    assert augment_texts(TEXTS, n_per_text=0) == []


def test_masks_and_windows_follow_their_probabilities():
    masked = augment_texts(TEXTS[:1], n_per_text=3, seed=0, mask_prob=1.0, swap_prob=0.0, ngram_prob=0.0)
    assert masked == []  # every word masked leaves nothing to read: no such text is made
    deleted = augment_texts(TEXTS[1:2], n_per_text=1, seed=0, mask_prob=0.5, ngram_prob=0.0, mask_token="")
    assert 0 < len(deleted[0].split()) < 9 and "," in deleted[0]  # words deleted, punctuation kept
    windows = augment_texts(TEXTS[:1], n_per_text=4, seed=0, mask_prob=0.0, ngram_prob=1.0, max_ngram=3)
    assert len(windows) == 4 and all(1 <= len(w.split()) <= 3 and w in TEXTS[0] for w in windows)
    with pytest.raises(InputError, match="probabilities"):
        augment_texts(TEXTS, mask_prob=0.7, swap_prob=0.7)


def test_swaps_take_nearest_neighbours_from_the_static_table(tiny_bert):
    feats = StaticFeatures(str(tiny_bert)).fit(["x"])
    near = nearest_words(feats, ["good", "plot", "notaword"], k=3)
    assert set(near) == {"good", "plot"} and all(len(v) == 3 and w not in v for w, v in near.items())
    unit = feats.table() / np.linalg.norm(feats.table(), axis=1, keepdims=True)
    names = feats.token_names()
    sims = unit @ unit[names.index("good")]
    assert sims[names.index(near["good"][0])] >= sims[names.index(near["good"][2])]
    swapped = augment_texts(["good plot"], n_per_text=6, seed=0, mask_prob=0.0, swap_prob=1.0, ngram_prob=0.0,
                            neighbours=feats, k_neighbours=3)
    for text in swapped:
        a, b = text.split()
        assert a in near["good"] and b in near["plot"]


def test_an_augmented_corpus_adds_unlabelled_texts_only():
    texts, y = sentiment_texts(20)
    corpus = Corpus(texts, y, ("neg", "pos"), "binary", name="train")
    bigger = augment_corpus(corpus, n_per_text=2, seed=0)
    assert bigger.texts[:20] == texts and len(bigger) > 20 and bigger.n_labelled == 20
    assert (bigger.labels[20:] == -1).all() and bigger.name == "train"
