"""The students a study can fit, as data: student kinds and the specs they produce.

A *student kind* (``tfidf``, ``embeddings``, ...) knows how to turn the
study's texts into features once and which student specs it offers; a
:class:`StudentSpec` builds one unfitted estimator and fits it on those
features. The study loop (:mod:`bert2sk.study.run`) only iterates: a new
kind of student is a new module with a kind object plus one
:func:`register_kind` call, and the spine does not change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ..data import Corpus
from ..errors import InputError
from ..students import FAMILIES, make_baseline, make_distilled
from .result import KIND_LABEL

__all__ = ["StudyContext", "FeatureSet", "StudentSpec", "StudentKind", "register_kind", "get_kind", "kind_names",
           "kind_needs_model", "STUDENT_KINDS"]

#: how distilled scikit-learn students learn from the teacher
STUDENT_KINDS = ("regression", "soft")


@dataclass
class StudyContext:
    """What every kind may read: the corpora, the teacher's scores and the study's settings."""

    teacher: Any
    train: Corpus
    test: Corpus
    dev: Corpus | None
    z_train: np.ndarray
    z_test: np.ndarray
    z_dev: np.ndarray | None
    embeddings: dict[str, np.ndarray | None] = field(default_factory=dict)  # split -> pooled encoder states
    families: dict[str, tuple[str, ...]] = field(default_factory=dict)  # kind name -> families
    kinds: tuple[str, ...] = STUDENT_KINDS
    temperature: float = 1.0
    alpha: float = 0.0
    seed: int = 0
    progress: bool = True
    options: dict[str, dict[str, Any]] = field(default_factory=dict)  # kind name -> its own options
    fitted: dict[str, Any] = field(default_factory=dict)  # spec name -> fitted estimator, as the study goes

    @property
    def task(self) -> str:
        return self.train.task

    @property
    def n_outputs(self) -> int:
        return len(self.train.label_names)

    @property
    def tune(self) -> bool:
        """Multilabel decision thresholds are tuned on the dev corpus when there is one."""
        return self.task == "multilabel" and self.dev is not None

    @property
    def y_train(self) -> np.ndarray:
        return self.train.hard_targets()

    @property
    def labelled(self) -> np.ndarray:
        return self.train.labelled_mask


@dataclass
class FeatureSet:
    """A kind's fitted featurizer and the features of each split (``None`` featurizer: raw text)."""

    featurizer: Any | None
    train: Any
    test: Any
    dev: Any | None = None


@dataclass(frozen=True)
class StudentSpec:
    """One student to fit: its place in the tables and how to build it.

    ``make`` returns an unfitted estimator; baselines fit on the labelled
    rows, distilled students on every row with ``teacher_logits``.
    """

    role: str  # "baseline" | "distilled" ("teacher" for the teacher run another way, e.g. ONNX)
    family: str
    kind: str  # shown in tables: "hard labels", "logit regression", ...
    features: str
    make: Callable[[], Any] | None = None
    label: str | None = None  # a name other than role · family · features · kind

    @property
    def name(self) -> str:
        if self.label:
            return self.label
        base = f"{self.role} · {self.family} · {self.features}"
        return base if self.role == "baseline" else f"{base} · {self.kind}"

    def fit(self, feats: FeatureSet, ctx: StudyContext) -> Any:
        """The fitted estimator."""
        est = self.make()
        if self.role == "baseline":
            mask = ctx.labelled
            return est.fit(_rows(feats.train, mask), ctx.y_train[mask])
        return est.fit(feats.train, ctx.y_train, teacher_logits=ctx.z_train)


def _rows(X: Any, mask: np.ndarray) -> Any:
    if isinstance(X, list):
        return [x for x, keep in zip(X, mask, strict=True) if keep]
    return X[mask]


class StudentKind(Protocol):
    """What the study asks of a kind of student."""

    name: str
    families: tuple[str, ...]  # the families it offers
    needs_model: bool  # False when stored teacher scores are enough
    needs_embeddings: bool  # the teacher's pooled states are taken from its scoring pass

    def featurize(self, ctx: StudyContext) -> FeatureSet: ...

    def specs(self, ctx: StudyContext) -> list[StudentSpec]: ...


def sklearn_specs(ctx: StudyContext, features: str) -> list[StudentSpec]:
    """Baseline and distilled scikit-learn students of every family and kind chosen for ``features``."""
    out: list[StudentSpec] = []
    task, k_out, seed = ctx.task, ctx.n_outputs, ctx.seed
    for fam in ctx.families.get(features, FAMILIES):
        out.append(StudentSpec("baseline", fam, "hard labels", features,
                               lambda fam=fam: make_baseline(fam, task, features, seed, k_out)))
        for k in ctx.kinds:
            out.append(StudentSpec("distilled", fam, KIND_LABEL[k], features,
                                   lambda fam=fam, k=k: make_distilled(fam, k, task, features, ctx.temperature,
                                                                       ctx.alpha, seed, k_out)))
    return out


class TfidfKind:
    """Students on TF-IDF n-grams fitted on the training texts: fast, exactly explainable, blind to word order."""

    name = "tfidf"
    families = FAMILIES
    needs_model = False
    needs_embeddings = False

    def featurize(self, ctx: StudyContext) -> FeatureSet:
        from ..features import TfidfFeatures

        f = TfidfFeatures().fit(ctx.train.texts)
        return FeatureSet(f, f.transform(ctx.train.texts), f.transform(ctx.test.texts),
                          f.transform(ctx.dev.texts) if ctx.tune else None)

    def specs(self, ctx: StudyContext) -> list[StudentSpec]:
        return sklearn_specs(ctx, self.name)


class EmbeddingKind:
    """Students on the teacher's own mean-pooled encoder states, taken from its scoring pass."""

    name = "embeddings"
    families = FAMILIES
    needs_model = True
    needs_embeddings = True

    def featurize(self, ctx: StudyContext) -> FeatureSet:
        from ..features import SentenceEmbeddings

        t = ctx.teacher
        f = SentenceEmbeddings(model=t.source_path, max_length=t.max_length, truncation=t.truncation,
                               batch_size=t.batch_size, normalize=False, dtype=t.dtype).fit(ctx.test.texts[:1])
        e = ctx.embeddings
        return FeatureSet(f, e["train"], e["test"], e.get("dev") if ctx.tune else None)

    def specs(self, ctx: StudyContext) -> list[StudentSpec]:
        return sklearn_specs(ctx, self.name)


_KINDS: dict[str, StudentKind] = {}
# kinds that live in modules of their own register themselves when imported: one line per kind
_KIND_MODULES = ("bert2sk.study.transformer_kind", "bert2sk.study.static_kind")


def register_kind(kind: StudentKind) -> None:
    """Make a kind of student available to studies under ``kind.name``."""
    _KINDS[kind.name] = kind


def _import_kind_modules() -> None:
    import importlib

    for module in _KIND_MODULES:
        importlib.import_module(module)


def kind_names() -> tuple[str, ...]:
    """The registered kinds, in registration order."""
    _import_kind_modules()
    return tuple(_KINDS)


def kind_needs_model(kind: StudentKind, options: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether ``kind``, with the study's options, needs the teacher's model (stored scores are not enough).

    A kind may decide from its options (``needs_model_with(options)``; a
    transformer student started from a pretrained encoder needs only scores).
    """
    decide = getattr(kind, "needs_model_with", None)
    key = getattr(kind, "options_key", kind.name)  # kinds of one family may share an options group
    return bool(decide(options.get(key, {}))) if decide is not None else bool(kind.needs_model)


def get_kind(name: str) -> StudentKind:
    """The kind registered as ``name``; a clear error for an unknown one."""
    _import_kind_modules()
    try:
        return _KINDS[name]
    except KeyError:
        raise InputError(f"unknown features {name!r}; choose from {kind_names()}") from None


def check_choices(features: Sequence[str], families: dict[str, tuple[str, ...]], kinds: Sequence[str]) -> None:
    """Refuse unknown kinds, families and student kinds before anything is scored."""
    for f in features:
        get_kind(f)
    for f, fams in families.items():
        allowed = getattr(get_kind(f), "families", FAMILIES)
        for fam in fams:
            if fam not in allowed:
                raise InputError(f"unknown student family {fam!r} for {f} students; choose from {allowed}")
    for k in kinds:
        if k not in STUDENT_KINDS:
            raise InputError(f"unknown student kind {k!r}; choose from {STUDENT_KINDS}")


register_kind(TfidfKind())
register_kind(EmbeddingKind())
