"""Size and latency of every model in a study, on raw text."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..bench import batch_latency, latency, serialized_size, timing_sample
from .result import ModelEntry

__all__ = ["measure_latency"]

_Timing = tuple[float, float, float]


def _timed(fn: Callable, probe: list, runs: int, n_batch: int) -> _Timing:
    lat = latency(fn, probe, n_runs=runs, warmup=3)
    return lat["mean_ms"], lat["std_ms"], batch_latency(fn, probe, n_docs=n_batch)


def _set(entry: ModelEntry, timing: _Timing) -> None:
    entry.latency_ms, entry.latency_std_ms, entry.batch_ms_per_1000 = timing


def _quiet_teacher_timing(teacher: Any, probe: list, runs: int, n_batch: int) -> _Timing:
    old = teacher.progress
    teacher.progress = False
    try:
        return _timed(teacher.predict_logits, probe, max(10, runs // 2), min(n_batch, 200))
    finally:
        teacher.progress = old


def _pipeline_timing(entry: ModelEntry, probe: list, runs: int, n_batch: int,
                     shared: dict[int, tuple[Any, _Timing]]) -> _Timing:
    """Featurizer and head timed apart, so a featurizer shared by many students is timed once."""
    feat = entry.featurizer
    if id(feat) not in shared:
        cheap = entry.features == "tfidf"
        shared[id(feat)] = (feat.transform(probe), _timed(feat.transform, probe, runs if cheap else max(10, runs // 2),
                                                          n_batch if cheap else min(n_batch, 200)))
    X, (f_mean, f_std, f_batch) = shared[id(feat)]
    head = entry.student.predict_proba
    # the head is timed on feature rows, picked by position the way documents would be
    h_mean, h_std, h_batch = _timed(lambda idx: head(X[idx]), list(range(X.shape[0])), runs, n_batch)
    return f_mean + h_mean, float(np.hypot(f_std, h_std)), f_batch + h_batch


def measure_latency(models: dict[str, ModelEntry], teacher: Any | None, texts: Sequence[str], runs: int) -> None:
    """Fill in size and latency of every model, on raw text.

    Students that share a featurizer (one TF-IDF, one encoder) are timed as
    featurizer + student head, each measured on its own over the same
    documents: the encoder is timed once instead of once per student, and
    the sum is what a saved pipeline costs per document. A student on raw
    text (a transformer) is timed whole. ``teacher`` None (stored scores)
    leaves the teacher's latency unknown: looking scores up is no measure
    of what the teacher costs.
    """
    probe = timing_sample(texts, 200)
    n_batch = min(1000, 4 * len(probe))
    nan = float("nan")
    t_timing = _quiet_teacher_timing(teacher, probe, runs, n_batch) if teacher is not None else (nan, nan, nan)
    shared: dict[int, tuple[Any, _Timing]] = {}
    for entry in models.values():
        if entry.name == "teacher":
            _set(entry, t_timing)
        elif entry.featurizer is None:
            _set(entry, _timed(entry.scorer.predict_proba, probe, max(10, runs // 2), min(n_batch, 200)))
        else:
            _set(entry, _pipeline_timing(entry, probe, runs, n_batch, shared))
            entry.size_bytes = serialized_size(entry.scorer)
            if entry.features == "embeddings" and teacher is not None:
                entry.size_bytes += teacher.size_bytes  # the encoder ships with the student
