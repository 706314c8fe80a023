"""A distillation study: teacher scores -> features -> baselines and students -> measurements.

:func:`run_study` is what ``bert2sk distill`` and ``bert2sk demo`` run. It
takes a teacher and a train corpus whose labels may be mostly hidden
(``-1``), trains hard-label baselines on the labelled rows and distilled
students on *every* row scored by the teacher, and measures all of them —
and the teacher — on the test corpus. The result is plain data that the
explanation and report layers read.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..bench import batch_latency, latency, serialized_size
from ..data import Corpus
from ..errors import InputError
from ..metrics import evaluate
from ..students import FAMILIES, make_baseline, make_distilled
from ..targets import logits_to_proba, tune_thresholds

__all__ = ["ModelEntry", "StudyResult", "run_study", "FEATURE_KINDS", "STUDENT_KINDS"]

FEATURE_KINDS = ("tfidf", "embeddings")
STUDENT_KINDS = ("regression", "soft")
_KIND_LABEL = {"regression": "logit regression", "soft": "soft targets"}


@dataclass
class ModelEntry:
    """One measured model: the teacher, a baseline or a distilled student."""

    name: str
    role: str  # "teacher" | "baseline" | "distilled"
    family: str  # "transformer" | "linear" | "tree" | "svm"
    kind: str  # "fine-tuned" | "hard labels" | "logit regression" | "soft targets"
    features: str  # "text" | "tfidf" | "embeddings"
    proba: np.ndarray  # test-set probabilities
    scorer: object | None = None  # fitted Pipeline(features, student): raw text -> proba
    size_bytes: float = 0  # nan when unknown (a teacher known only by its stored scores)
    latency_ms: float = float("nan")
    latency_std_ms: float = float("nan")
    batch_ms_per_1000: float = float("nan")
    fit_seconds: float = float("nan")
    thresholds: np.ndarray | float = 0.5  # multilabel decision thresholds, per label

    @property
    def student(self):
        """The fitted estimator that sits on the features (last pipeline step)."""
        return None if self.scorer is None else self.scorer.steps[-1][1]

    @property
    def featurizer(self):
        return None if self.scorer is None else self.scorer.steps[0][1]


@dataclass
class StudyResult:
    """Everything a study measured, as data (no rendering)."""

    title: str
    scenario: str
    task: str
    label_names: tuple[str, ...]
    teacher_source: str
    teacher_fingerprint: str
    test_texts: list[str]
    y_test: np.ndarray
    teacher_logits_test: np.ndarray
    n_train: int
    n_labelled: int
    models: dict[str, ModelEntry]
    table: object  # pandas.DataFrame, one row per model
    timings: dict[str, float] = field(default_factory=dict)
    teacher_scorer: object | None = None  # callable texts -> proba (for LIME on the teacher)

    def entries(self, role: str | None = None) -> list[ModelEntry]:
        return [m for m in self.models.values() if role is None or m.role == role]

    def to_markdown(self) -> str:
        """The results table as GitHub markdown (what RESULTS.md files hold)."""
        head = ({"accuracy": "exact match", "f1_micro": "micro-F1"} if self.task == "multilabel"
                else {"accuracy": "accuracy"})
        fid = ({"fidelity": "fidelity (labels)", "fidelity_sets": "fidelity (sets)"} if self.task == "multilabel"
               else {"fidelity": "fidelity"})
        cols = {**head, "f1_macro": "macro-F1", "roc_auc": "ROC-AUC", **fid,
                "ece": "ECE", "size_mb": "size MB", "latency_ms": "ms/doc", "latency_std_ms": "± std"}
        lines = ["| model | " + " | ".join(cols.values()) + " |", "|---|" + "---:|" * len(cols)]
        for name, row in self.table.iterrows():
            cells = []
            for c in cols:
                v = float(row[c])
                cells.append("—" if v != v else (f"{v:.3f}" if c not in ("size_mb", "latency_ms", "latency_std_ms")
                                                 else f"{v:.2f}"))
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"


def _can_score(teacher) -> bool:
    """False for stored scores (:class:`~bert2sk.teacher.TeacherScores`): no model to run on new text."""
    return getattr(teacher, "can_score_new_text", True)


def _score_with_teacher(teacher, texts: Sequence[str], cache_path, embeddings: bool, desc: str):
    from ..teacher.labelling import label_texts

    if cache_path is not None and _can_score(teacher):
        out = label_texts(teacher, texts, cache_path, return_embeddings=embeddings, progress=teacher.progress)
    else:
        out = teacher.predict_logits(texts, return_embeddings=embeddings, desc=desc)
    return out if embeddings else (out, None)


def _embedding_featurizer(teacher):
    from ..features import SentenceEmbeddings

    return SentenceEmbeddings(
        model=teacher.source_path, max_length=teacher.max_length, truncation=teacher.truncation,
        batch_size=teacher.batch_size, normalize=False, dtype=teacher.dtype,
    )


def _timed(fn, probe: list, runs: int, n_batch: int) -> tuple[float, float, float]:
    lat = latency(fn, probe, n_runs=runs, warmup=3)
    return lat["mean_ms"], lat["std_ms"], batch_latency(fn, probe, n_docs=n_batch)


def _measure_latency(models: dict[str, ModelEntry], teacher, texts: Sequence[str], runs: int) -> None:
    """Size and latency of every model, on raw text.

    Students that share a featurizer (one TF-IDF, one encoder) are timed as
    featurizer + student head, each measured on its own over the same
    documents: the encoder is timed once instead of once per student, and
    the sum is what a saved pipeline costs per document.
    """
    probe = list(texts[: max(1, min(len(texts), 200))])
    n_batch = min(1000, 4 * len(probe))
    old = teacher.progress
    teacher.progress = False
    try:
        nan = float("nan")
        # looking stored scores up is no measure of what the teacher costs
        t_mean, t_std, t_batch = (_timed(teacher.predict_logits, probe, max(10, runs // 2), min(n_batch, 200))
                                  if _can_score(teacher) else (nan, nan, nan))
        shared: dict[int, tuple[np.ndarray, tuple[float, float, float]]] = {}
        for entry in models.values():
            if entry.role == "teacher":
                entry.latency_ms, entry.latency_std_ms, entry.batch_ms_per_1000 = t_mean, t_std, t_batch
                continue
            feat = entry.featurizer
            if id(feat) not in shared:
                feat_runs = runs if entry.features == "tfidf" else max(10, runs // 2)
                feat_batch = n_batch if entry.features == "tfidf" else min(n_batch, 200)
                shared[id(feat)] = (feat.transform(probe), _timed(feat.transform, probe, feat_runs, feat_batch))
            X, (f_mean, f_std, f_batch) = shared[id(feat)]
            head = entry.student.predict_proba
            # the head is timed on feature rows, picked by position the way documents would be
            h_mean, h_std, h_batch = _timed(lambda idx, X=X, head=head: head(X[idx]), list(range(X.shape[0])),
                                            runs, n_batch)
            entry.latency_ms = f_mean + h_mean
            entry.latency_std_ms = float(np.hypot(f_std, h_std))
            entry.batch_ms_per_1000 = f_batch + h_batch
            entry.size_bytes = serialized_size(entry.scorer)
            if entry.features == "embeddings":
                entry.size_bytes += teacher.size_bytes  # the encoder ships with the student
    finally:
        teacher.progress = old


def run_study(
    teacher,
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
    log=print,
) -> StudyResult:
    """Train baselines and distilled students and measure every model on ``test``.

    Parameters
    ----------
    teacher : Teacher or TeacherScores
        A :class:`~bert2sk.teacher.TeacherScores` (logits stored by an
        earlier run) retrains and re-measures the students without the
        model: TF-IDF features only, and no teacher latency or teacher
        explanations.
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
    families : subset of ("linear", "tree", "svm"), or a mapping feature kind -> subset
        A mapping picks families per feature kind, e.g. ``{"tfidf": FAMILIES,
        "embeddings": ("linear", "tree")}`` to leave out a family that is
        slow on dense features with many classes.
    features : subset of ("tfidf", "embeddings")
        ``embeddings`` are the teacher's own mean-pooled encoder states,
        taken from the scoring pass (no second pass over the corpus).
    kinds : subset of ("regression", "soft")
    temperature, alpha : float
        Distillation settings, see :class:`~bert2sk.students.DistilledClassifier`.
    cache_path : path or None
        Logit cache; scoring the same texts again costs nothing.
    latency_runs : int
        Single-document calls timed per model (after a warm-up).
    """
    from sklearn.pipeline import Pipeline

    from ..features import TfidfFeatures

    per_feature = {f: tuple(families.get(f, ()) if isinstance(families, Mapping) else families) for f in features}
    for fams in per_feature.values():
        for fam in fams:
            if fam not in FAMILIES:
                raise InputError(f"unknown student family {fam!r}; choose from {FAMILIES}")
    for f in features:
        if f not in FEATURE_KINDS:
            raise InputError(f"unknown features {f!r}; choose from {FEATURE_KINDS}")
    for k in kinds:
        if k not in STUDENT_KINDS:
            raise InputError(f"unknown student kind {k!r}; choose from {STUDENT_KINDS}")
    if test.n_labelled < len(test):
        raise InputError("every test text needs a label to measure accuracy; drop unlabelled test rows")
    if dev is not None and (tuple(dev.label_names) != tuple(test.label_names) or dev.n_labelled < len(dev)):
        raise InputError("the dev corpus must be fully labelled with the test corpus's label names")
    if tuple(train.label_names) != tuple(test.label_names) or train.task != test.task:
        raise InputError("train and test corpora must share the task and the label names")
    if "embeddings" in features and not _can_score(teacher):
        raise InputError("embedding students need the teacher's encoder, and stored scores have none; load the "
                         "teacher model, or pass features=('tfidf',)")
    if len(teacher.label_names) != len(train.label_names):
        raise InputError(
            f"the teacher has {len(teacher.label_names)} outputs but the corpus {len(train.label_names)} labels; "
            "use a teacher trained on these labels"
        )
    task = train.task
    timings: dict[str, float] = {}
    want_emb = "embeddings" in features

    t0 = time.perf_counter()
    z_train, e_train = _score_with_teacher(teacher, train.texts, cache_path, want_emb, "teacher: train texts")
    z_test, e_test = _score_with_teacher(teacher, test.texts, cache_path, want_emb, "teacher: test texts")
    tune = task == "multilabel" and dev is not None
    if tune:
        z_dev, e_dev = _score_with_teacher(teacher, dev.texts, cache_path, want_emb, "teacher: dev texts")
    timings["teacher scoring"] = time.perf_counter() - t0
    log(f"teacher scored {len(train) + len(test):,} texts in {timings['teacher scoring']:.1f}s")

    y_train = train.hard_targets()
    labelled = train.labelled_mask
    if labelled.sum() < 2:
        raise InputError("the baselines need at least two labelled training texts; keep more labels")
    if task != "multilabel" and np.unique(y_train[labelled]).size < 2:
        raise InputError("the labelled training texts all have one class, so no baseline can be trained; "
                         "keep labels from at least two classes")
    y_test = test.labels
    models: dict[str, ModelEntry] = {}

    teacher_proba = logits_to_proba(z_test, task)
    models["teacher"] = ModelEntry("teacher", "teacher", "transformer", "fine-tuned", "text", teacher_proba,
                                   size_bytes=teacher.size_bytes)
    if task == "multilabel":
        own = getattr(teacher, "thresholds", None)
        models["teacher"].thresholds = own if own is not None else (
            tune_thresholds(logits_to_proba(z_dev, task), dev.labels) if tune else 0.5)

    for feat in features:
        t0 = time.perf_counter()
        if feat == "tfidf":
            featurizer = TfidfFeatures().fit(train.texts)
            X_train, X_test = featurizer.transform(train.texts), featurizer.transform(test.texts)
            X_dev = featurizer.transform(dev.texts) if tune else None
        else:
            featurizer = _embedding_featurizer(teacher).fit(test.texts[:1])
            X_train, X_test = e_train, e_test
            X_dev = e_dev if tune else None
        timings[f"features: {feat}"] = time.perf_counter() - t0
        for fam in per_feature[feat]:
            k_out = len(train.label_names)
            candidates = [("baseline", "hard labels", make_baseline(fam, task, feat, seed, k_out))]
            candidates += [("distilled", _KIND_LABEL[k], make_distilled(fam, k, task, feat, temperature, alpha, seed,
                                                                         k_out))
                           for k in kinds]
            for role, kind, est in candidates:
                name = f"{role} · {fam} · {feat}" + (f" · {kind}" if role == "distilled" else "")
                t1 = time.perf_counter()
                if role == "baseline":
                    est.fit(X_train[labelled], y_train[labelled])
                else:
                    est.fit(X_train, y_train, teacher_logits=z_train)
                fit_s = time.perf_counter() - t1
                proba = est.predict_proba(X_test)
                scorer = Pipeline([("features", featurizer), ("student", est)])
                models[name] = ModelEntry(name, role, fam, kind, feat, np.asarray(proba, dtype=np.float64),
                                          scorer=scorer, fit_seconds=fit_s)
                if tune:
                    models[name].thresholds = tune_thresholds(est.predict_proba(X_dev), dev.labels)
                log(f"  fitted {name} in {fit_s:.1f}s")
        timings[f"students: {feat}"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    _measure_latency(models, teacher, test.texts, latency_runs)
    timings["latency"] = time.perf_counter() - t0

    extra = {
        name: {"role": m.role, "family": m.family, "kind": m.kind, "features": m.features,
               "size_mb": m.size_bytes / 1e6, "latency_ms": m.latency_ms, "latency_std_ms": m.latency_std_ms,
               "ms_per_1000": m.batch_ms_per_1000}
        for name, m in models.items()
    }
    table = evaluate({n: m.proba for n, m in models.items()}, y_test, task, z_test, extra,
                     thresholds={n: m.thresholds for n, m in models.items()},
                     teacher_thresholds=models["teacher"].thresholds)

    def teacher_scorer(texts):
        old = teacher.progress
        teacher.progress = False
        try:
            return teacher.predict_proba(list(texts))
        finally:
            teacher.progress = old

    return StudyResult(
        title=title, scenario=scenario, task=task, label_names=train.label_names,
        teacher_source=teacher.source, teacher_fingerprint=teacher.fingerprint,
        test_texts=test.texts, y_test=y_test, teacher_logits_test=z_test,
        n_train=len(train), n_labelled=int(labelled.sum()), models=models, table=table, timings=timings,
        teacher_scorer=teacher_scorer if _can_score(teacher) else None,
    )
