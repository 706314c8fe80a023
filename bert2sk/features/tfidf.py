"""TF-IDF n-gram features and the text clean-up they share."""

from __future__ import annotations

import re

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

__all__ = ["clean_text", "TfidfFeatures"]

_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)


def clean_text(text: str) -> str:
    """Lower-case and turn HTML line breaks (IMDB's ``<br />``) into spaces.

    Examples
    --------
    >>> clean_text("Great!<br /><br />Really")
    'great!  really'
    """
    return _BR.sub(" ", text).lower()


class TfidfFeatures(TfidfVectorizer):
    """A ``TfidfVectorizer`` with defaults for review- and query-length text, saved compactly.

    Unigrams and bigrams, sublinear term frequency, terms in at least two
    documents and in at most 90% of them, at most 200k features, lower-cased
    and HTML line breaks removed (:func:`clean_text`). Every
    ``TfidfVectorizer`` parameter is accepted.

    Accents are *kept*: scikit-learn skips ``strip_accents`` (and
    ``lowercase``) whenever a ``preprocessor`` is set, as ``clean_text`` is by
    default, so ``strip_accents="unicode"`` only acts with
    ``preprocessor=None`` (which then keeps HTML line breaks as words). Every
    published figure, the ONNX export (:mod:`bert2sk.serve.onnx_export`) and
    students saved before are built on this behaviour, so it stays.

    The fitted vocabulary is saved as one UTF-8 byte array plus term lengths
    instead of a dictionary: skops writes a 110k-term dictionary as 79 MB in
    about three minutes, the arrays as about 2 MB in a fraction of a second.

    Examples
    --------
    >>> vec = TfidfFeatures(min_df=1).fit(["a good film", "a bad film"])
    >>> vec.get_feature_names_out().tolist()  # terms in every document carry no signal (max_df)
    ['bad', 'bad film', 'good', 'good film']
    >>> TfidfFeatures(min_df=1, max_df=1.0).fit(["Café<br />noir"]).get_feature_names_out().tolist()
    ['café', 'café noir', 'noir']
    >>> TfidfFeatures(min_df=1, max_df=1.0, preprocessor=None).fit(["Café<br />noir"]).get_feature_names_out().tolist()
    ['br', 'br noir', 'cafe', 'cafe br', 'noir']
    """

    def __init__(self, *, input="content", encoding="utf-8", decode_error="strict", strip_accents="unicode",
                 lowercase=True, preprocessor=clean_text, tokenizer=None, analyzer="word", stop_words=None,
                 token_pattern=r"(?u)\b\w\w+\b", ngram_range=(1, 2), max_df=0.9, min_df=2,
                 max_features=200_000, vocabulary=None, binary=False, dtype=np.float32, norm="l2", use_idf=True,
                 smooth_idf=True, sublinear_tf=True) -> None:
        super().__init__(
            input=input, encoding=encoding, decode_error=decode_error, strip_accents=strip_accents,
            lowercase=lowercase, preprocessor=preprocessor, tokenizer=tokenizer, analyzer=analyzer,
            stop_words=stop_words, token_pattern=token_pattern, ngram_range=ngram_range, max_df=max_df,
            min_df=min_df, max_features=max_features, vocabulary=vocabulary, binary=binary, dtype=dtype, norm=norm,
            use_idf=use_idf, smooth_idf=smooth_idf, sublinear_tf=sublinear_tf,
        )

    def __getstate__(self) -> dict:
        # object.__getstate__ hands back the live __dict__: copy before changing it
        state = dict(super().__getstate__())
        vocab = state.pop("vocabulary_", None)
        if vocab is not None:
            terms = [""] * len(vocab)
            for term, i in vocab.items():
                terms[i] = term
            encoded = [t.encode("utf-8") for t in terms]
            state["vocabulary_utf8_"] = np.frombuffer(b"".join(encoded), dtype=np.uint8).copy()
            state["vocabulary_lengths_"] = np.array([len(e) for e in encoded], dtype=np.int64)
        return state

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        blob = state.pop("vocabulary_utf8_", None)
        lengths = state.pop("vocabulary_lengths_", None)
        super().__setstate__(state)
        if blob is not None and lengths is not None:
            data = bytes(np.asarray(blob, dtype=np.uint8))
            ends = np.cumsum(lengths).tolist()
            starts = [0, *ends[:-1]]
            self.vocabulary_ = {data[a:b].decode("utf-8"): i for i, (a, b) in enumerate(zip(starts, ends, strict=True))}
