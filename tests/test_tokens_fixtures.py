"""Shared pieces of the token tests: a synthetic tagged corpus and a tiny token teacher trained on it (built once)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bert2sk.tokens.data import TokenCorpus

from .conftest import WORDS, build_tiny_bert

PER = [f"w{i}" for i in range(0, 10)]
LOC = [f"w{i}" for i in range(10, 20)]
ORG = [f"w{i}" for i in range(20, 26)]
FILLER = WORDS[:40]
_BUILT: dict[str, Path] = {}


def tagged_sentences(n: int, seed: int = 0) -> TokenCorpus:
    """Sentences of filler words with PER (1-2 words), LOC and ORG names drawn from disjoint word lists."""
    rng = np.random.default_rng(seed)
    tokens, tags = [], []
    for _ in range(n):
        w, t = [], []
        for _ in range(int(rng.integers(3, 9))):
            r = rng.random()
            if r < 0.15:
                k = int(rng.integers(1, 3))
                w += list(rng.choice(PER, k))
                t += ["B-PER"] + ["I-PER"] * (k - 1)
            elif r < 0.25:
                w.append(str(rng.choice(LOC)))
                t.append("B-LOC")
            elif r < 0.32:
                w.append(str(rng.choice(ORG)))
                t.append("B-ORG")
            else:
                w.append(str(rng.choice(FILLER)))
                t.append("O")
        tokens.append([str(x) for x in w])
        tags.append(t)
    return TokenCorpus(tokens, tags, ("O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"), "synthetic")


def train_tiny_token_teacher(root: Path) -> Path:
    from bert2sk.teacher import TrainingArguments
    from bert2sk.tokens.teacher import train_token_teacher

    base = build_tiny_bert(root / "base")
    out = root / "teacher"
    train_token_teacher(tagged_sentences(240, seed=1), TrainingArguments(
        str(out), base_model=str(base), epochs=4, learning_rate=3e-3, batch_size=16, max_length=32, dtype="fp32",
        progress=False, save_every_steps=0, threads=1, seed=0), eval_corpus=tagged_sentences(40, seed=2))
    return out


@pytest.fixture(scope="session")
def tiny_token_teacher(tmp_path_factory) -> Path:
    if "teacher" not in _BUILT:
        _BUILT["teacher"] = train_tiny_token_teacher(tmp_path_factory.mktemp("tiny-token-teacher"))
    return _BUILT["teacher"]
