"""A distillation study: teacher scores -> features -> baselines and students -> measurements.

:func:`run_study` is what ``bert2sk distill`` and ``bert2sk demo`` run. It
takes a teacher and a train corpus whose labels may be mostly hidden
(``-1``), trains hard-label baselines on the labelled rows and distilled
students on *every* row scored by the teacher, and measures all of them —
and the teacher — on the test corpus. Which students exist is not decided
here: every kind registered in :mod:`bert2sk.study.specs` offers its specs,
and this loop featurises, fits and measures them alike.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..data import Corpus
from ..errors import InputError
from ..metrics import evaluate
from ..students import FAMILIES
from ..targets import logits_to_proba, tune_thresholds
from .cascade import cascade_entry, cascade_specs, check_cascade_task
from .measure import measure_latency
from .result import ModelEntry, StudyResult
from .specs import (
    STUDENT_KINDS,
    FeatureSet,
    StudentSpec,
    StudyContext,
    check_choices,
    get_kind,
    kind_names,
    kind_needs_model,
)

__all__ = ["run_study", "FEATURE_KINDS", "STUDENT_KINDS"]

logger = logging.getLogger(__name__)

#: the kinds a study fits unless told otherwise
FEATURE_KINDS = ("tfidf", "embeddings")


def _can_score(teacher: Any) -> bool:
    """False for stored scores (:class:`~bert2sk.teacher.TeacherScores`): no model to run on new text."""
    return getattr(teacher, "can_score_new_text", True)


def _check_corpora(teacher: Any, train: Corpus, test: Corpus, dev: Corpus | None, features: Sequence[str],
                   options: Mapping[str, Mapping[str, Any]] | None = None) -> None:
    if test.n_labelled < len(test):
        raise InputError("every test text needs a label to measure accuracy; drop unlabelled test rows")
    if dev is not None and (tuple(dev.label_names) != tuple(test.label_names) or dev.n_labelled < len(dev)):
        raise InputError("the dev corpus must be fully labelled with the test corpus's label names")
    if tuple(train.label_names) != tuple(test.label_names) or train.task != test.task:
        raise InputError("train and test corpora must share the task and the label names")
    needing = [f for f in features if kind_needs_model(get_kind(f), options or {})]
    if needing and not _can_score(teacher):
        raise InputError(f"{', '.join(needing)} students need the teacher's model (its encoder), and stored scores "
                         "have none; load the teacher model, or pass features=('tfidf',)")
    if len(teacher.label_names) != len(train.label_names):
        raise InputError(
            f"the teacher has {len(teacher.label_names)} outputs but the corpus {len(train.label_names)} labels; "
            "use a teacher trained on these labels"
        )
    labelled = train.labelled_mask
    if labelled.sum() < 2:
        raise InputError("the baselines need at least two labelled training texts; keep more labels")
    if train.task != "multilabel" and np.unique(train.hard_targets()[labelled]).size < 2:
        raise InputError("the labelled training texts all have one class, so no baseline can be trained; "
                         "keep labels from at least two classes")


def _score(teacher: Any, texts: Sequence[str], cache_path: Any, embeddings: bool, desc: str):
    from ..teacher.labelling import label_texts

    if cache_path is not None and _can_score(teacher):
        out = label_texts(teacher, texts, cache_path, return_embeddings=embeddings, progress=teacher.progress)
    else:
        out = teacher.predict_logits(texts, return_embeddings=embeddings, desc=desc)
    return out if embeddings else (out, None)


def _score_corpora(ctx: StudyContext, cache_path: Any, want_emb: bool) -> None:
    """The teacher's logits (and pooled states when a kind needs them) for every split, into ``ctx``."""
    splits = {"train": ctx.train, "test": ctx.test, **({"dev": ctx.dev} if ctx.tune else {})}
    for split, corpus in splits.items():
        z, e = _score(ctx.teacher, corpus.texts, cache_path, want_emb, f"teacher: {split} texts")
        setattr(ctx, f"z_{split}", z)
        ctx.embeddings[split] = e


def _teacher_entry(ctx: StudyContext) -> ModelEntry:
    entry = ModelEntry("teacher", "teacher", "transformer", "fine-tuned", "text", logits_to_proba(ctx.z_test, ctx.task),
                       size_bytes=ctx.teacher.size_bytes)
    if ctx.task == "multilabel":
        own = getattr(ctx.teacher, "thresholds", None)
        entry.thresholds = own if own is not None else (
            tune_thresholds(logits_to_proba(ctx.z_dev, ctx.task), ctx.dev.labels) if ctx.tune else 0.5)
    return entry


def _predict(est: Any, X: Any) -> np.ndarray:
    return np.asarray(est.predict_proba(X), dtype=np.float64)


def _fit_spec(spec: StudentSpec, feats: FeatureSet, ctx: StudyContext) -> ModelEntry:
    """Fit one student on the transfer set and score it on the test (and dev) features."""
    from sklearn.pipeline import Pipeline

    t0 = time.perf_counter()
    est = spec.fit(feats, ctx)
    fit_s = time.perf_counter() - t0
    scorer = est if feats.featurizer is None else Pipeline([("features", feats.featurizer), ("student", est)])
    entry = ModelEntry(spec.name, spec.role, spec.family, spec.kind, spec.features, _predict(est, feats.test),
                       scorer=scorer, fit_seconds=fit_s, size_bytes=getattr(est, "size_bytes_", 0))
    if ctx.tune:
        entry.thresholds = tune_thresholds(_predict(est, feats.dev), ctx.dev.labels)
    logger.info("fitted %s in %.1fs", spec.name, fit_s)
    return entry


def _fit_kinds(ctx: StudyContext, features: Sequence[str], models: dict[str, ModelEntry],
               timings: dict[str, float]) -> None:
    for name in features:
        kind = get_kind(name)
        t0 = time.perf_counter()
        feats = kind.featurize(ctx)
        timings[f"features: {name}"] = time.perf_counter() - t0
        for spec in kind.specs(ctx):
            models[spec.name] = _fit_spec(spec, feats, ctx)
            ctx.fitted[spec.name] = models[spec.name].student
        timings[f"students: {name}"] = time.perf_counter() - t0


def _add_cascades(ctx: StudyContext, cascades: list[dict[str, Any]], models: dict[str, ModelEntry]) -> None:
    """Each cascade asked for, from two fitted students; calibrated on dev, else on the training texts."""
    for c in cascades:
        # any dev corpus, not only a multilabel one: margins on texts the fast student was fitted on are
        # optimistic, so a threshold set there defers fewer new texts than asked
        calibration = ctx.dev.texts if ctx.dev is not None else ctx.train.texts
        try:
            entry = cascade_entry(models, ctx.task, ctx.test.texts, calibration_texts=calibration, **c)
        except InputError as exc:
            # every student is fitted by now: a mistyped name must not throw the study away
            warnings.warn(f"cascade left out: {exc}. Add it to the saved study with bert2sk.study.add_cascade "
                          "or `bert2sk cascade`", UserWarning, stacklevel=3)
            continue
        models[entry.name] = entry
        logger.info("cascade %s defers %.1f%% of the test texts", entry.name, 100 * entry.deferred)


def _results_table(models: dict[str, ModelEntry], ctx: StudyContext):
    extra = {name: m.columns() for name, m in models.items()}
    return evaluate({n: m.proba for n, m in models.items()}, ctx.test.labels, ctx.task, ctx.z_test, extra,
                    thresholds={n: m.thresholds for n, m in models.items()},
                    teacher_thresholds=models["teacher"].thresholds)


def _teacher_scorer(teacher: Any) -> Callable[[Sequence[str]], np.ndarray] | None:
    if not _can_score(teacher):
        return None

    def score(texts: Sequence[str]) -> np.ndarray:
        old = teacher.progress
        teacher.progress = False
        try:
            return teacher.predict_proba(list(texts))
        finally:
            teacher.progress = old

    return score


def _teacher_settings(teacher: Any) -> dict[str, Any]:
    """How the teacher read texts: a saved study reloads it the same way (its fingerprint depends on them)."""
    return {k: getattr(teacher, k) for k in ("max_length", "truncation", "dtype", "batch_size") if hasattr(teacher, k)}


def _per_kind(families: Sequence[str] | Mapping[str, Sequence[str]], features: Sequence[str]):
    if isinstance(families, Mapping):
        return {f: tuple(families.get(f, ())) for f in features}
    # one list for every kind: the scikit-learn kinds take it, a kind with families of its own keeps them
    return {f: tuple(families) if get_kind(f).families == FAMILIES else get_kind(f).families for f in features}


def run_study(
    teacher: Any,
    train: Corpus,
    test: Corpus,
    *,
    dev: Corpus | None = None,
    families: Sequence[str] | Mapping[str, Sequence[str]] = FAMILIES,
    features: Sequence[str] = FEATURE_KINDS,
    kinds: Sequence[str] = STUDENT_KINDS,
    temperature: float = 1.0,
    alpha: float = 0.0,
    cache_path: str | Path | None = None,
    latency_runs: int = 100,
    title: str = "bert2sk distillation study",
    scenario: str = "",
    seed: int = 0,
    progress: bool = True,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    log: Callable[[str], Any] | None = None,
) -> StudyResult:
    """Train baselines and distilled students and measure every model on ``test``.

    Parameters
    ----------
    teacher : Teacher or TeacherScores
        A :class:`~bert2sk.teacher.TeacherScores` (logits stored by an
        earlier run) retrains and re-measures the students without the
        model: kinds that need the model (embeddings, transformer students)
        are refused, and teacher latency and explanations are left out.
    train : Corpus
        All training texts; rows with label ``-1`` are unlabelled. Baselines
        see only the labelled rows; distilled students see every row with
        the teacher's logits (and the hard labels, weighted by ``alpha``).
    test : Corpus
        Fully labelled held-out texts.
    dev : Corpus or None
        Labelled validation texts. For multilabel tasks every model's
        per-label decision thresholds are tuned on it (the teacher keeps the
        thresholds it was trained with, if any); without it they are 0.5.
        Never pass the test corpus here.
    families : subset of ("linear", "tree", "svm"), or a mapping kind -> families
        A mapping picks families per kind, e.g. ``{"tfidf": FAMILIES,
        "embeddings": ("linear", "tree")}`` to leave out a family that is
        slow on dense features with many classes.
    features : names of registered student kinds
        ``tfidf``, ``embeddings`` (the teacher's own mean-pooled encoder
        states, taken from the scoring pass), and any kind registered with
        :func:`bert2sk.study.register_kind`.
    kinds : subset of ("regression", "soft")
    temperature, alpha : float
        Distillation settings, see :class:`~bert2sk.students.DistilledClassifier`.
    cache_path : path or None
        Logit cache; scoring the same texts again costs nothing.
    latency_runs : int
        Single-document calls timed per model (after a warm-up).
    options : mapping kind -> mapping or None
        Settings a kind reads for itself (e.g. the layers of a transformer student).
        ``options["cascades"]``: a list of ``{"fast": NAME, "fallback": NAME,
        "defer_rate": 0.1}`` (or ``"margin"`` instead of the rate, and a
        ``"name"``), each adding a :class:`~bert2sk.students.CascadeClassifier`
        of two of the study's students as a row of its own (no training). The
        rate is calibrated on ``dev`` when given, else on the training texts,
        where the fast student is surer than on new texts: the ``deferred``
        column says what share of the test texts the fallback answered.
    log : callable or None
        Deprecated: progress goes to the ``bert2sk.study`` logger.
    """
    if log is not None:
        warnings.warn("run_study(log=...) is deprecated and ignored; configure logging for 'bert2sk' instead",
                      DeprecationWarning, stacklevel=2)
    features = tuple(features)
    per_kind = _per_kind(families, features)
    check_choices(features, per_kind, kinds)
    options = dict(options or {})
    cascades = cascade_specs(options)  # checked before anything is fitted
    options.pop("cascades", None)
    if cascades:
        check_cascade_task(train.task)
    _check_corpora(teacher, train, test, dev, features, options)
    ctx = StudyContext(teacher, train, test, dev, None, None, None, families=per_kind, kinds=tuple(kinds),
                       temperature=temperature, alpha=alpha, seed=seed, progress=progress,
                       options={k: dict(v) for k, v in options.items()})
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    _score_corpora(ctx, cache_path, any(get_kind(f).needs_embeddings for f in features))
    timings["teacher scoring"] = time.perf_counter() - t0
    logger.info("teacher scored %s texts in %.1fs", f"{len(train) + len(test):,}", timings["teacher scoring"])

    models = {"teacher": _teacher_entry(ctx)}
    _fit_kinds(ctx, features, models, timings)
    _add_cascades(ctx, cascades, models)
    t0 = time.perf_counter()
    measure_latency(models, teacher if _can_score(teacher) else None, test.texts, latency_runs)
    timings["latency"] = time.perf_counter() - t0
    return StudyResult(
        title=title, scenario=scenario, task=train.task, label_names=train.label_names,
        teacher_source=str(teacher.source), teacher_fingerprint=teacher.fingerprint,
        test_texts=list(test.texts), y_test=test.labels, teacher_logits_test=ctx.z_test,
        n_train=len(train), n_labelled=int(train.n_labelled), models=models, table=_results_table(models, ctx),
        timings=timings, teacher_scorer=_teacher_scorer(teacher),
        settings={"features": list(features), "families": {k: list(v) for k, v in per_kind.items()},
                  "kinds": list(kinds), "temperature": temperature, "alpha": alpha, "seed": seed,
                  "registered_kinds": list(kind_names()), "teacher": _teacher_settings(teacher)},
    )
