"""What a study measured, as data: one :class:`ModelEntry` per model, gathered in a :class:`StudyResult`.

No rendering and no training here: the report reads these, and
:mod:`bert2sk.study.store` writes and re-reads them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["ModelEntry", "StudyResult", "KIND_LABEL"]

#: how a student's training target is named in tables and cards
KIND_LABEL = {"regression": "logit regression", "soft": "soft targets"}
_TWO_DECIMALS = ("size_mb", "latency_ms", "latency_std_ms")


@dataclass
class ModelEntry:
    """One measured model: the teacher, a baseline or a distilled student.

    ``scorer`` maps raw texts to probabilities: a fitted
    ``Pipeline([("features", ...), ("student", ...)])`` for scikit-learn
    students, or an estimator on raw text (a transformer student).
    """

    name: str
    role: str  # "teacher" | "baseline" | "distilled"
    family: str  # "transformer" | "linear" | "tree" | "svm"
    kind: str  # "fine-tuned" | "hard labels" | "logit regression" | "soft targets" | ...
    features: str  # "text" | "tfidf" | "embeddings"
    proba: np.ndarray  # test-set probabilities
    scorer: Any | None = None
    size_bytes: float = 0  # nan when unknown (a teacher known only by its stored scores)
    latency_ms: float = float("nan")
    latency_std_ms: float = float("nan")
    batch_ms_per_1000: float = float("nan")
    fit_seconds: float = float("nan")
    deferred: float = float("nan")  # a cascade: share of the test texts its fallback answered
    thresholds: np.ndarray | float = 0.5  # multilabel decision thresholds, per label
    bundle: str | None = None  # where a saved study keeps this model, relative to the study folder

    @property
    def student(self) -> Any | None:
        """The fitted estimator that sits on the features (the last pipeline step, or the scorer itself)."""
        if self.scorer is None:
            return None
        steps = getattr(self.scorer, "steps", None)
        return steps[-1][1] if steps else self.scorer

    @property
    def featurizer(self) -> Any | None:
        """The fitted featurizer in front of the student, or None for a model on raw text."""
        steps = getattr(self.scorer, "steps", None)
        return steps[0][1] if steps and len(steps) > 1 else None

    def columns(self) -> dict[str, Any]:
        """What a results table shows of this model besides its scores (a cascade adds its deferred share)."""
        out = {"role": self.role, "family": self.family, "kind": self.kind, "features": self.features,
               "size_mb": self.size_bytes / 1e6, "latency_ms": self.latency_ms, "latency_std_ms": self.latency_std_ms,
               "ms_per_1000": self.batch_ms_per_1000}
        if self.family == "cascade":
            out["deferred"] = self.deferred
        return out

    def card(self, task: str, label_names: tuple[str, ...], table_row: Any | None = None) -> dict[str, Any]:
        """The JSON card a saved student carries: what it is, what it was measured at, how it decides."""
        out: dict[str, Any] = {"name": self.name, "role": self.role, "family": self.family, "kind": self.kind,
                               "features": self.features, "task": task, "label_names": list(label_names)}
        if task == "multilabel":
            out["thresholds"] = np.broadcast_to(np.asarray(self.thresholds, dtype=float), (len(label_names),)).tolist()
        if table_row is not None:
            out["metrics"] = {k: _finite(v) for k, v in table_row.items() if _is_number(v)}
        return out


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _finite(v: Any) -> float | None:
    f = float(v)
    return f if np.isfinite(f) else None


@dataclass
class StudyResult:
    """Everything a study measured, as data (no rendering).

    Save it with :func:`bert2sk.study.save_study` (or :meth:`save`) and read
    it back with :func:`bert2sk.study.load_study` (or :meth:`load`); the
    report is a function of what is saved.
    """

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
    table: Any  # pandas.DataFrame, one row per model
    timings: dict[str, float] = field(default_factory=dict)
    teacher_scorer: Callable[[list[str]], np.ndarray] | None = None  # texts -> proba, for LIME on the teacher
    settings: dict[str, Any] = field(default_factory=dict)

    def entries(self, role: str | None = None) -> list[ModelEntry]:
        """The measured models, optionally only those of one role."""
        return [m for m in self.models.values() if role is None or m.role == role]

    def save(self, directory: Any) -> Any:
        """Write the study to ``directory`` (see :func:`bert2sk.study.save_study`)."""
        from .store import save_study

        return save_study(self, directory)

    @classmethod
    def load(cls, directory: Any, teacher: Any | None = None) -> StudyResult:
        """Read a study saved by :meth:`save` (see :func:`bert2sk.study.load_study`)."""
        from .store import load_study

        return load_study(directory, teacher=teacher)

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
                v = float(row[c]) if c in row else float("nan")
                cells.append("—" if v != v else (f"{v:.2f}" if c in _TWO_DECIMALS else f"{v:.3f}"))
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"
