"""Shared fixtures: a tiny randomly initialised BERT built locally, small corpora."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"

WORDS = (
    "good great excellent wonderful superb loved enjoyable brilliant bad awful terrible boring "
    "dull hated worst poor film movie plot actor story scene the a and of to is it was this "
    "not very really music ending book flight weather alarm timer song play set cancel what how"
).split()


def build_tiny_bert(path: Path, num_labels: int = 2, problem_type: str | None = None, seed: int = 0,
                    initializer_range: float = 0.02) -> Path:
    """Write a 2-layer, 32-wide random BERT sequence classifier with a word-level vocab.

    At BERT's own initialisation (0.02) a random tiny model gives every text
    the same logits to within 1e-5, so labels drawn from them are rounding
    noise and a test that puts a row in the wrong place still passes; 0.5
    spreads them by about 2.5 (any two texts differ by 1e-2 or more, bf16
    moves them by about 3e-2), a teacher whose scores a student can actually
    learn and whose rows tell texts apart. Only a base to fine-tune keeps 0.02.
    """
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    path.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *[f"w{i}" for i in range(60)]]
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    # transformers 5 takes the vocabulary itself (a vocab_file argument is silently ignored)
    tok = BertTokenizer(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True)
    tok.save_pretrained(path)
    labels = {i: f"class_{i}" for i in range(num_labels)}
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128, num_labels=num_labels,
        id2label=labels, label2id={v: k for k, v in labels.items()}, problem_type=problem_type,
        initializer_range=initializer_range,
    )
    torch.manual_seed(seed)
    BertForSequenceClassification(config).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    """A tiny binary BERT classifier directory whose texts get distinct logits.

    Seed 1 splits :func:`sentiment_texts` about evenly between the two
    classes (seed 0 puts 85% in one), so a student has both to imitate.
    """
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert-binary"), seed=1, initializer_range=0.5)


@pytest.fixture(scope="session")
def tiny_teacher_trained(tmp_path_factory) -> Path:
    """A tiny binary BERT fine-tuned on :func:`sentiment_texts` (held-out accuracy ~0.9): a teacher with
    something to teach, whose decisions bag-of-words students can follow, unlike a random one's."""
    from bert2sk.data import Corpus
    from bert2sk.teacher import TrainingArguments, train_teacher

    base = build_tiny_bert(tmp_path_factory.mktemp("tiny-base-for-teacher"))
    out = tmp_path_factory.mktemp("tiny-teacher-trained") / "teacher"
    texts, y = sentiment_texts(240, seed=3)
    train_teacher(Corpus(texts, y, ("neg", "pos"), "binary"), TrainingArguments(
        str(out), base_model=str(base), epochs=3, learning_rate=3e-3, batch_size=16, max_length=32, dtype="fp32",
        progress=False, eval_fraction=0.2, save_every_steps=0, threads=1, seed=0))
    return out


@pytest.fixture(scope="session")
def tiny_bert_multiclass(tmp_path_factory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert-mc"), num_labels=4, initializer_range=0.5)


@pytest.fixture(scope="session")
def tiny_bert_multilabel(tmp_path_factory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert-ml"), num_labels=3,
                           problem_type="multi_label_classification", initializer_range=0.5)


def sentiment_texts(n: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Short synthetic reviews whose label follows their sentiment words."""
    rng = np.random.default_rng(seed)
    pos, neg = WORDS[:8], WORDS[8:16]
    neutral = WORDS[16:30]
    texts, labels = [], []
    for _ in range(n):
        y = int(rng.integers(2))
        words = list(rng.choice(neutral, 6)) + list(rng.choice(pos if y else neg, 2))
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(y)
    return texts, np.array(labels)


@pytest.fixture
def sentiment():
    return sentiment_texts(120)
