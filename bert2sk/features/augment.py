"""Transfer-set augmentation after Tang et al. 2019: more texts for the teacher to score, from the ones we have.

Each new text comes from one original by, word by word, masking (the
teacher's mask token) or swapping the word for one of its nearest
neighbours in a static token table, and then, sometimes, keeping only a
window of a few words. The teacher scores every new text (through its
cache), so the labels stay the teacher's own: distilled students see more
of how it decides, baselines see nothing new. The same seed gives the same
texts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from .._validation import check_texts
from ..errors import InputError
from .static import StaticFeatures

__all__ = ["augment_texts", "augment_corpus", "nearest_words"]

_PIECES = re.compile(r"\w+|[^\w\s]+")
_TRIES_PER_TEXT = 5  # draws allowed per wanted text before giving up on duplicates (short texts run out)


def nearest_words(features: StaticFeatures, words: Sequence[str], k: int = 5) -> dict[str, list[str]]:
    """The ``k`` nearest whole-word tokens (cosine in the static table) of each of ``words`` in the vocabulary.

    Words that are not one whole token of the table's tokenizer get no entry.
    """
    names = features.token_names()
    index = {t: i for i, t in enumerate(names) if len(t) >= 2 and t.isalpha()}
    wanted = sorted({w.lower() for w in words if w.lower() in index})
    if not wanted:
        return {}
    cand = np.array(sorted(index.values()))
    k = min(k, len(cand) - 1)
    if k < 1:
        return {}
    table = features.table()
    unit = table[cand] / np.maximum(np.linalg.norm(table[cand], axis=1, keepdims=True), 1e-12)
    pos = {int(c): j for j, c in enumerate(cand)}
    out: dict[str, list[str]] = {}
    for start in range(0, len(wanted), 1024):  # chunks keep the similarity matrix small
        chunk = wanted[start:start + 1024]
        sims = unit[[pos[index[w]] for w in chunk]] @ unit.T
        for row, w in zip(sims, chunk, strict=True):
            row[pos[index[w]]] = -np.inf
            top = np.argpartition(-row, k)[:k]
            out[w] = [names[cand[j]] for j in top[np.argsort(-row[top], kind="stable")]]
    return out


def _one(pieces: list[str], rng: np.random.Generator, neighbours: dict[str, list[str]], mask_prob: float,
         swap_prob: float, ngram_prob: float, max_ngram: int, mask_token: str) -> str:
    out = []
    for p in pieces:
        u = rng.random()
        if p[0].isalnum() or p[0] == "_":
            if u < mask_prob:
                p = mask_token
            elif u < mask_prob + swap_prob and p.lower() in neighbours:
                p = neighbours[p.lower()][int(rng.integers(len(neighbours[p.lower()])))]
        out.append(p)
    if rng.random() < ngram_prob and len(out) > 1:
        n = int(rng.integers(1, min(max_ngram, len(out)) + 1))
        start = int(rng.integers(0, len(out) - n + 1))
        out = out[start:start + n]
    return " ".join(p for p in out if p)


def augment_texts(texts: Sequence[str], n_per_text: int = 4, seed: int = 0, *, mask_prob: float = 0.1,
                  swap_prob: float = 0.1, ngram_prob: float = 0.25, max_ngram: int = 5, mask_token: str = "[MASK]",
                  neighbours: StaticFeatures | None = None, k_neighbours: int = 5) -> list[str]:
    """Up to ``n_per_text`` new texts per text (Tang et al. 2019's masking, word swaps and n-gram windows).

    Parameters
    ----------
    texts : sequence of str
    n_per_text : int
        New texts wanted per text; fewer when a short text has no more distinct variants.
    seed : int
        The same seed gives the same texts. Text ``i`` draws from its own
        stream, so adding texts after it leaves its augmentations as they were.
    mask_prob, swap_prob : float
        Per word: the chance to replace it by ``mask_token``, and the chance to
        swap it for one of its ``k_neighbours`` nearest words in ``neighbours``'
        table (no swaps without a table). Tang et al.: 0.1 each.
    ngram_prob, max_ngram
        The chance to keep only a window of 1..``max_ngram`` words (Tang et al.: 0.25, 5).
    mask_token : str
        What a masked word becomes: the teacher's mask token by default (BERT's
        ``[MASK]``); ``""`` deletes the word instead.
    neighbours : StaticFeatures or None
        A fitted static table whose nearest neighbours give the swaps.

    Returns
    -------
    list of str
        The new texts, text by text: none repeated, none equal to an original,
        each with at least one word that is not the mask.

    Examples
    --------
    >>> new = augment_texts(["a truly great film", "a dull plot"], n_per_text=2, seed=0)
    >>> len(new), new == augment_texts(["a truly great film", "a dull plot"], n_per_text=2, seed=0)
    (4, True)
    """
    texts = check_texts(texts, allow_empty_strings=True)
    if n_per_text < 0:
        raise InputError(f"n_per_text must be 0 or more, got {n_per_text}")
    if not 0 <= mask_prob + swap_prob <= 1 or min(mask_prob, swap_prob, ngram_prob) < 0 or ngram_prob > 1:
        raise InputError("mask_prob, swap_prob and ngram_prob are probabilities (mask_prob + swap_prob <= 1)")
    pieces = [_PIECES.findall(t) for t in texts]
    table = {} if neighbours is None or swap_prob == 0 else nearest_words(
        neighbours, sorted({p for ps in pieces for p in ps if p.isalpha()}), k_neighbours)
    out: list[str] = []
    seen = set(texts) | {" ".join(ps) for ps in pieces}
    for i, ps in enumerate(pieces):
        rng = np.random.default_rng([seed, i])
        made = 0
        for _ in range(n_per_text * _TRIES_PER_TEXT):
            if made == n_per_text:
                break
            new = _one(ps, rng, table, mask_prob, swap_prob, ngram_prob, max_ngram, mask_token)
            if new not in seen and _has_word(new, mask_token):
                seen.add(new)
                out.append(new)
                made += 1
    return out


def _has_word(text: str, mask_token: str) -> bool:
    """Something for the teacher to read: a word that is not the mask (a lone comma or mask is no text)."""
    rest = text.replace(mask_token, " ") if mask_token else text
    return any(p[0].isalnum() or p[0] == "_" for p in _PIECES.findall(rest))


def augment_corpus(corpus, n_per_text: int = 4, seed: int = 0, **kwargs):
    """``corpus`` followed by its augmented texts, unlabelled (the teacher labels them; baselines never see them).

    ``kwargs`` go to :func:`augment_texts`.
    """
    from ..data import Corpus

    new = augment_texts(corpus.texts, n_per_text, seed, **kwargs)
    if not new:
        return corpus
    extra = Corpus(new, None, corpus.label_names, corpus.task, name=f"{corpus.name} augmented")
    return Corpus.concat([corpus, extra], name=corpus.name)
