"""Cascades on a study's frontier: a fast student of the study deferring its least sure texts to a faithful one.

A cascade is built from two students a study already fitted, so it costs no
training: :func:`run_study` adds those named in ``options["cascades"]``, and
:func:`add_cascade` adds one to a finished (or saved and reloaded) study.
Either way it becomes one more row of the same table, measured like every
other model (its latency on single texts includes the deferred ones), and is
saved with the study as one folder holding both parts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from ..metrics import evaluate
from .measure import measure_latency
from .result import ModelEntry, StudyResult

__all__ = ["add_cascade", "cascade_entry", "cascade_name", "check_cascade_task"]

_KEYS = {"fast", "fallback", "defer_rate", "margin", "name"}


def cascade_name(fast: str, fallback: str) -> str:
    """The table name of a cascade: both parts, shortened.

    Examples
    --------
    >>> cascade_name("distilled · linear · tfidf · soft targets",
    ...              "distilled · transformer · text · kd 3/6 layers · encoder start · onnx int8")
    'cascade · linear tfidf soft targets → transformer kd 3/6 layers onnx int8'
    >>> cascade_name("distilled · linear · tfidf · soft targets", "teacher · onnx int8")
    'cascade · linear tfidf soft targets → teacher onnx int8'
    """
    def short(name: str) -> str:
        parts = name.split(" · ")
        # a student's role goes; the teacher's stays, or "teacher · onnx int8" would read as any int8 model
        kept = parts[1:] if parts[0] in ("distilled", "baseline") else parts
        return " ".join(p for p in kept if p not in ("text", "encoder start")) or name

    return f"cascade · {short(fast)} → {short(fallback)}"


def _part(models: Mapping[str, ModelEntry], name: str, role: str) -> ModelEntry:
    entry = models.get(name)
    if entry is None or entry.scorer is None:
        have = [n for n, m in models.items() if m.scorer is not None]
        raise InputError(f"the cascade's {role} model {name!r} is not a student of this study; "
                         f"choose one of {have}")
    return entry


def cascade_entry(models: Mapping[str, ModelEntry], task: str, test_texts: Sequence[str], *, fast: str,
                  fallback: str, defer_rate: float = 0.1, margin: float | None = None,
                  calibration_texts: Sequence[str] | None = None, name: str | None = None) -> ModelEntry:
    """A :class:`ModelEntry` for the cascade ``fast`` -> ``fallback`` of two fitted students, scored on ``test_texts``.

    The threshold is ``margin`` when given, else the ``defer_rate`` quantile
    of the fast student's margins on ``calibration_texts`` (texts it was not
    fitted on, or its margins there are optimistic and fewer texts are
    deferred later than asked).
    """
    from ..students.cascade import CascadeClassifier, top_two_margin

    check_cascade_task(task)
    a, b = _part(models, fast, "fast"), _part(models, fallback, "fallback")
    entry_name = name or cascade_name(fast, fallback)
    if entry_name in models:  # before anything is scored
        raise InputError(f"the study already has a model named {entry_name!r}; give the cascade another name")
    if margin is None and calibration_texts is None:
        raise InputError("a cascade needs texts its fast student was not fitted on to turn defer_rate into a "
                         "threshold (a validation slice), or a margin chosen beforehand")
    cascade = CascadeClassifier(a.scorer, b.scorer, defer_rate=defer_rate, margin=margin, prefit=True)
    cascade.fit(None if calibration_texts is None else list(calibration_texts))
    proba = cascade.predict_proba(list(test_texts))
    # the fast student's test probabilities are the study's: they say which texts went to the fallback
    deferred = top_two_margin(a.proba) < cascade.threshold_
    return ModelEntry(entry_name, "distilled", "cascade",
                      f"defer below margin {cascade.threshold_:.3f}", "text", proba, scorer=cascade,
                      size_bytes=cascade.size_bytes_, deferred=float(deferred.mean()))


def check_cascade_task(task: str) -> None:
    """Cascades defer by the top-two margin: binary and multiclass tasks only."""
    if task == "multilabel":
        raise InputError("a cascade defers by the margin between the top two classes, which a multilabel task "
                         'does not have; use cascades (options["cascades"]) for binary or multiclass studies')


def cascade_specs(options: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The cascades ``options["cascades"]`` asks for, checked: a list of dicts naming ``fast`` and ``fallback``."""
    given = options.get("cascades", [])
    if isinstance(given, Mapping):
        given = [given]
    if not isinstance(given, (list, tuple)) or not all(isinstance(c, Mapping) for c in given):
        raise InputError('options["cascades"] must be a list of {"fast": NAME, "fallback": NAME, ...} mappings')
    out = []
    for c in given:
        unknown = set(c) - _KEYS
        if unknown or not {"fast", "fallback"} <= set(c):
            optional = sorted(_KEYS - {"fast", "fallback"})
            raise InputError(f"a cascade names its fast and fallback students and may set {optional}; got {sorted(c)}")
        out.append(dict(c))
    return out


def add_cascade(result: StudyResult, fast: str, fallback: str, *, defer_rate: float = 0.1,
                margin: float | None = None, calibration_texts: Sequence[str] | None = None,
                name: str | None = None, latency_runs: int = 100) -> ModelEntry:
    """Add the cascade ``fast`` -> ``fallback`` to ``result`` as a new row, measured like the others.

    Both parts must be students of the study with their models loaded (a
    study read by :func:`~bert2sk.study.load_study` has them). The new row
    has a ``deferred`` column: the share of test texts the fallback answered.
    Save the study again to keep it.

    Examples
    --------
    >>> from bert2sk.data import Corpus
    >>> from bert2sk.teacher import TeacherScores
    >>> from bert2sk.study import run_study
    >>> texts = ["good film", "bad film", "great plot", "awful plot", "fine", "dull"] * 4
    >>> corpus = Corpus(texts, np.array([1, 0, 1, 0, 1, 0] * 4), ("neg", "pos"), "binary")
    >>> scores = TeacherScores(texts, np.c_[np.zeros(24), [2.0, -2, 1, -1, 0.2, -0.3] * 4], ("neg", "pos"), "binary")
    >>> result = run_study(scores, corpus, corpus, features=("tfidf",), families=("linear",), latency_runs=2,
    ...                    progress=False)
    >>> entry = add_cascade(result, "distilled · linear · tfidf · logit regression",
    ...                     "distilled · linear · tfidf · soft targets", margin=0.5, latency_runs=2)
    >>> entry.name
    'cascade · linear tfidf logit regression → linear tfidf soft targets'
    >>> bool(0.0 <= result.table.loc[entry.name, "deferred"] <= 1.0)
    True
    """
    import pandas as pd

    entry = cascade_entry(result.models, result.task, result.test_texts, fast=fast, fallback=fallback,
                          defer_rate=defer_rate, margin=margin, calibration_texts=calibration_texts, name=name)
    measure_latency({entry.name: entry}, None, result.test_texts, latency_runs)
    result.models[entry.name] = entry
    row = cascade_row(entry, result.y_test, result.task, result.teacher_logits_test, result.models["teacher"])
    result.table = pd.concat([result.table, row])
    return entry


def cascade_row(entry: ModelEntry, y: np.ndarray, task: str, teacher_logits: np.ndarray, teacher: ModelEntry):
    """The cascade's row of a results table (the columns :func:`~bert2sk.metrics.evaluate` gives every model)."""
    return evaluate({entry.name: entry.proba}, y, task, teacher_logits, {entry.name: entry.columns()},
                    teacher_thresholds=teacher.thresholds)
