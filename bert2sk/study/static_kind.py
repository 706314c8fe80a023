"""Static students in a study: token vectors distilled from the teacher, a text as their mean.

Kinds it registers (each its own rows, so a reader sees what each buys):

- ``static``: the teacher's encoder distilled once into one vector per
  vocabulary token (model2vec); linear, tree and SVM students on the mean.
  Featurising costs microseconds and a linear student's decision splits
  exactly into one contribution per token.
- ``static-tuned``: the same table fine-tuned on the teacher's logits for
  the training texts before the students fit their own heads on it.
- ``tfidf+static``: TF-IDF n-grams and the static mean side by side.

Options (``run_study(options={"static": {...}})``, read by all three):
``pca_dims`` (256), ``normalize`` (True), ``sif_coefficient`` (1e-4),
``tune_epochs`` (2, ``static-tuned`` only), ``tune_learning_rate`` (1e-2),
``cache_dir`` (``$BERT2SK_CACHE/static`` or ``~/.cache/bert2sk/static``: the
distilled table is kept there, keyed by the teacher's files, so a rerun
skips the distillation; ``None`` keeps nothing), ``encoder`` (None: distil the
table from the teacher; a pretrained encoder folder, hub id or ``"packaged"``:
distil it from that instead, so stored teacher scores are enough; with
``static-tuned`` the table then learns the teacher's decisions from its
scores alone).
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import InputError
from ..students import FAMILIES
from .specs import FeatureSet, StudentSpec, StudyContext, register_kind, sklearn_specs

__all__ = ["StaticKind", "StaticTunedKind", "TfidfStaticKind", "static_options"]

_DEFAULTS: dict[str, Any] = {"pca_dims": 256, "normalize": True, "sif_coefficient": 1e-4, "tune_epochs": 2,
                             "tune_learning_rate": 1e-2, "cache_dir": "default", "encoder": None}


def _default_cache_dir() -> str:
    base = os.environ.get("BERT2SK_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "bert2sk")
    return os.path.join(base, "static")


def static_options(ctx: StudyContext) -> dict[str, Any]:
    """The study's ``options["static"]`` over the defaults; a clear error for an unknown key."""
    given = dict(ctx.options.get("static", {}))
    unknown = set(given) - set(_DEFAULTS)
    if unknown:
        raise InputError(f"unknown static student options {sorted(unknown)}; choose from {sorted(_DEFAULTS)}")
    out = {**_DEFAULTS, **given}
    if out["cache_dir"] == "default":
        out["cache_dir"] = _default_cache_dir()
    return out


def needs_teacher_model(options: dict[str, Any]) -> bool:
    """A table distilled from the teacher needs its model; one from another encoder needs only its scores."""
    return options.get("encoder") is None


def _static_features(ctx: StudyContext, tuned: bool):
    from ..features import StaticFeatures
    from ..students.transformer import start_point

    o = static_options(ctx)
    source = ctx.teacher.source_path if o["encoder"] is None else start_point(o["encoder"])
    f = StaticFeatures(source, pca_dims=o["pca_dims"], sif_coefficient=o["sif_coefficient"],
                       normalize=o["normalize"], tune_epochs=o["tune_epochs"] if tuned else 0,
                       tune_learning_rate=o["tune_learning_rate"], cache_dir=o["cache_dir"], random_state=ctx.seed,
                       progress=ctx.progress)
    return f.fit(ctx.train.texts, teacher_logits=ctx.z_train if tuned else None, task=ctx.task)


def _feature_set(f: Any, ctx: StudyContext) -> FeatureSet:
    return FeatureSet(f, f.transform(ctx.train.texts), f.transform(ctx.test.texts),
                      f.transform(ctx.dev.texts) if ctx.tune else None)


class StaticKind:
    """Students on the mean of static token vectors distilled from the teacher: microseconds, exact per token."""

    name = "static"
    families = FAMILIES
    needs_model = True  # the table is distilled from the teacher's weights, unless options name an encoder
    needs_embeddings = False
    tuned = False
    needs_model_with = staticmethod(needs_teacher_model)
    options_key = "static"

    def featurize(self, ctx: StudyContext) -> FeatureSet:
        return _feature_set(_static_features(ctx, self.tuned), ctx)

    def specs(self, ctx: StudyContext) -> list[StudentSpec]:
        return sklearn_specs(ctx, self.name)


class StaticTunedKind(StaticKind):
    """Static students whose token table was first fine-tuned on the teacher's logits."""

    name = "static-tuned"
    tuned = True


class TfidfStaticKind:
    """Students on TF-IDF n-grams and the static mean side by side (one sparse matrix)."""

    name = "tfidf+static"
    families = FAMILIES
    needs_model = True
    needs_embeddings = False
    needs_model_with = staticmethod(needs_teacher_model)
    options_key = "static"

    def featurize(self, ctx: StudyContext) -> FeatureSet:
        from sklearn.pipeline import FeatureUnion

        from ..features import TfidfFeatures

        # both parts fitted on their own: a union of fitted transformers is fitted (and the table distilled once)
        union = FeatureUnion([("tfidf", TfidfFeatures().fit(ctx.train.texts)),
                              ("static", _static_features(ctx, False))])
        return _feature_set(union, ctx)

    def specs(self, ctx: StudyContext) -> list[StudentSpec]:
        return sklearn_specs(ctx, self.name)


register_kind(StaticKind())
register_kind(StaticTunedKind())
register_kind(TfidfStaticKind())
