"""Features students learn from: TF-IDF n-grams, sentence embeddings and static token vectors.

Also the transfer-set augmentation that builds on static tables (:func:`augment_texts`).

Each is a scikit-learn transformer that takes raw texts, so a fitted
``Pipeline([features, student])`` is a complete text scorer. One module per
kind of feature; this package re-exports the public ones. They keep
``bert2sk.features`` as their module so that students saved by earlier
versions (skops records the class path) still load.
"""

from __future__ import annotations

from .augment import augment_corpus, augment_texts, nearest_words
from .embeddings import SentenceEmbeddings
from .static import StaticFeatures
from .tfidf import TfidfFeatures, clean_text

for _obj in (SentenceEmbeddings, StaticFeatures, TfidfFeatures, clean_text):
    _obj.__module__ = __name__
del _obj

__all__ = ["clean_text", "TfidfFeatures", "SentenceEmbeddings", "StaticFeatures", "augment_texts", "augment_corpus",
           "nearest_words"]
