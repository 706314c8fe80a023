"""The token study on synthetic sentences: teacher and both regimes, chosen on dev; latency side by side."""

from __future__ import annotations

import numpy as np

from bert2sk.tokens.study import measure_latency, run_token_study, scarce_split

from .test_tokens_fixtures import tagged_sentences


def _logits(corpus, seed):
    rng = np.random.default_rng(seed)
    return [4.0 * np.eye(7)[ids] + rng.normal(0, 0.3, (len(ids), 7)) for ids in corpus.tag_ids()]


def test_study_rows_and_regimes():
    train, dev, test = tagged_sentences(120, 1), tagged_sentences(30, 2), tagged_sentences(30, 3)
    z = {"train": _logits(train, 0), "dev": _logits(dev, 1), "test": _logits(test, 2)}
    logs = []
    rows, fitted = run_token_study(train, dev, test, z, n_labelled=20, alphas=(1.0, 3.0), min_count=1,
                                   log=logs.append)
    assert [(r.kind, r.regime) for r in rows] == [("teacher", "all")] + [
        (k, reg) for reg in ("all", "scarce") for k in ("distilled", "baseline", "baseline")]
    teacher = rows[0]
    assert teacher.scores["word_fidelity"] == 1.0
    scarce_gold = [r for r in rows if r.regime == "scarce" and r.kind == "baseline"][0]
    assert fitted[scarce_gold.model].n_words_ == sum(len(train.tokens[i]) for i in np.flatnonzero(
        scarce_split(len(train), 20, 0)))
    assert all(r.setting.startswith(("alpha=", "C=")) for r in rows[1:])
    assert sum("dev entity F1" in line for line in logs) == 2 * (2 + 2 + 1)
    flat = rows[1].flat()
    assert {"entity_f1", "f1_PER", "word_fidelity", "span_fidelity", "size_mb"} <= set(flat)


def test_measure_latency_interleaves():
    calls = []
    out = measure_latency({"a": lambda s: calls.append(("a", len(s))), "b": lambda s: calls.append(("b", len(s)))},
                          [["x"], ["y", "z"]], warmup=1)
    assert out["a"]["n"] == 2 and out["b"]["n"] == 2
    assert calls[2:] == [("a", 1), ("b", 1), ("a", 2), ("b", 2)]
