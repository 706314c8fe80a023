"""Words to word pieces: each sentence cut into chunks that fit the model, with each word's first piece marked.

A token classifier predicts one tag per *word*, read from the word's first
word piece (the other pieces are ignored, label ``-100``), as in BERT's NER
recipe. A sentence longer than ``max_length`` pieces is cut between words
into several chunks, so no word is dropped (tweets with long URLs need it).
A word the tokenizer turns into no piece at all (an empty token, a lone
control character) is read as ``[UNK]`` so that it still gets a tag.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..teacher.model import special_tokens

__all__ = ["Chunk", "encode_words", "IGNORE", "UNLABELLED"]

#: label of a position that is not a word's first piece (torch's cross-entropy ignore_index)
IGNORE = -100
#: label of a word with no gold tag (it learns from the teacher only)
UNLABELLED = -1


@dataclass
class Chunk:
    """Word pieces of some consecutive words of one sentence.

    Attributes
    ----------
    sentence : int
        Index of the sentence.
    start, stop : int
        The words ``sentence[start:stop]``.
    ids : list of int
        Piece ids with the special tokens.
    first : ndarray of int
        Position in ``ids`` of each word's first piece (``stop - start`` of them).
    """

    sentence: int
    start: int
    stop: int
    ids: list[int]
    first: np.ndarray


def encode_words(tokenizer, sentences: Sequence[Sequence[str]], max_length: int) -> list[Chunk]:
    """Chunks covering every word of every sentence, each at most ``max_length`` pieces.

    A single word with more pieces than fit keeps its first ones (its tag
    reads the first piece anyway).

    Examples
    --------
    >>> from transformers import BertTokenizer
    >>> tok = BertTokenizer(vocab={w: i for i, w in enumerate("[PAD] [UNK] [CLS] [SEP] leon ##ard is".split())})
    >>> [(c.ids, c.first.tolist()) for c in encode_words(tok, [["Leonard", "is", ""]], 16)]
    [([2, 4, 5, 6, 1, 3], [1, 3, 4])]
    """
    prefix, suffix = special_tokens(tokenizer)
    budget = max_length - len(prefix) - len(suffix)
    if budget < 1:
        raise InputError(f"max_length {max_length} leaves no room for words; use at least {len(prefix) + 3}")
    unk = tokenizer.unk_token_id if tokenizer.unk_token_id is not None else 0
    flat = [str(w) for s in sentences for w in s]
    if not flat:
        return []
    pieces = tokenizer(flat, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
    chunks: list[Chunk] = []
    pos = 0
    for si, sent in enumerate(sentences):
        word_pieces = [(p or [unk])[:budget] for p in pieces[pos:pos + len(sent)]]
        pos += len(sent)
        start = 0
        while start < len(sent):
            ids, first, stop = list(prefix), [], start
            while stop < len(sent) and len(ids) - len(prefix) + len(word_pieces[stop]) <= budget:
                first.append(len(ids))
                ids.extend(word_pieces[stop])
                stop += 1
            chunks.append(Chunk(si, start, stop, ids + list(suffix), np.asarray(first, dtype=np.int64)))
            start = stop
    return chunks


def chunk_labels(chunks: Sequence[Chunk], word_labels: Sequence[np.ndarray] | None, width: int) -> np.ndarray:
    """``(n_chunks, width)`` int64: the word label at each first piece, ``IGNORE`` elsewhere.

    ``word_labels=None`` marks every word ``UNLABELLED`` (so a loss can still find the words).
    """
    out = np.full((len(chunks), width), IGNORE, dtype=np.int64)
    for i, c in enumerate(chunks):
        out[i, c.first] = UNLABELLED if word_labels is None else word_labels[c.sentence][c.start:c.stop]
    return out


def chunk_targets(chunks: Sequence[Chunk], word_logits: Sequence[np.ndarray], width: int, k: int) -> np.ndarray:
    """``(n_chunks, width, k)`` float32: a word's logits at its first piece, 0 elsewhere."""
    out = np.zeros((len(chunks), width, k), dtype=np.float32)
    for i, c in enumerate(chunks):
        out[i, c.first] = word_logits[c.sentence][c.start:c.stop]
    return out
