"""Model size and latency, measured the way the seed studies report them.

Latency per document is the mean ± standard deviation over ``n_runs`` single
-document calls after a warm-up; batched latency is the time per 1,000
documents scored in one call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["serialized_size", "latency", "batch_latency"]


def serialized_size(model) -> int:
    """Bytes of ``model`` serialised with skops (what a saved student weighs).

    Examples
    --------
    >>> from sklearn.linear_model import Ridge
    >>> serialized_size(Ridge().fit([[0.0], [1.0]], [0.0, 1.0])) > 0
    True
    """
    import skops.io as sio

    return len(sio.dumps(model))


def timing_sample(texts: Sequence[str], n: int = 200, seed: int = 0) -> list[str]:
    """A seeded sample of ``n`` texts, in their order, to time models on.

    Not the first ``n``: a test split stored sorted (IMDB: all negative
    reviews first) would time every model on one kind of text, and a model
    whose cost depends on the text (a cascade) on an unrepresentative share.

    Examples
    --------
    >>> timing_sample(["a", "b", "c", "d"], n=2) == timing_sample(["a", "b", "c", "d"], n=2)
    True
    >>> len(timing_sample(["a", "b"], n=5))
    2
    """
    texts = list(texts)
    if len(texts) <= n:
        return texts
    idx = np.sort(np.random.default_rng(seed).choice(len(texts), n, replace=False))
    return [texts[i] for i in idx]


def latency(predict: Callable[[list[str]], object], texts: Sequence[str], n_runs: int = 100,
            warmup: int = 5) -> dict[str, float]:
    """Milliseconds per single-document call: ``{"mean_ms", "std_ms", "p50_ms", "p95_ms", "n_runs"}``.

    Documents are taken in turn from ``texts`` so caching one input cannot
    flatter the figure. The percentiles tell apart a model whose cost varies
    by text (a cascade: most texts fast, a few slow) from a steady one.

    Examples
    --------
    >>> out = latency(lambda batch: [len(t) for t in batch], ["a", "bb"], n_runs=10, warmup=1)
    >>> sorted(out), out["n_runs"]
    (['mean_ms', 'n_runs', 'p50_ms', 'p95_ms', 'std_ms'], 10)
    """
    texts = list(texts)
    for i in range(warmup):
        predict([texts[i % len(texts)]])
    times = np.empty(n_runs)
    for i in range(n_runs):
        doc = [texts[i % len(texts)]]
        t0 = time.perf_counter()
        predict(doc)
        times[i] = time.perf_counter() - t0
    return {"mean_ms": float(times.mean() * 1e3), "std_ms": float(times.std() * 1e3),
            "p50_ms": float(np.percentile(times, 50) * 1e3), "p95_ms": float(np.percentile(times, 95) * 1e3),
            "n_runs": n_runs}


def batch_latency(predict: Callable[[list[str]], object], texts: Sequence[str], n_docs: int = 1000) -> float:
    """Milliseconds to score ``n_docs`` documents in one call (texts repeated if fewer)."""
    texts = list(texts)
    batch = [texts[i % len(texts)] for i in range(n_docs)]
    predict(batch[: min(8, n_docs)])
    t0 = time.perf_counter()
    predict(batch)
    return (time.perf_counter() - t0) * 1e3 * 1000 / n_docs
