"""A teacher's scores saved earlier: the student half of a study without the model.

Scoring is the expensive step, so studies keep the teacher's logits (for
example ``teacher_logits.npz``). :class:`TeacherScores` serves them back by
text, so baselines and TF-IDF students can be retrained and re-measured in
minutes on a machine that never had the teacher's weights. It holds scores,
not a model: a text it was not given is an error, and what needs the model
itself (embedding features, teacher latency, LIME on the teacher) is left out
of a study that uses it.
"""

from __future__ import annotations

import gzip
import io
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_write_bytes, json_default
from ..errors import InputError, ModelFileError

__all__ = ["TeacherScores", "save_logits", "load_logits"]

LOGITS_FILE = "teacher_logits.npz"
META_FILE = "teacher.json"
TEXTS_FILE = "teacher_texts.jsonl.gz"

_TASKS = ("binary", "multiclass", "multilabel")


class TeacherScores:
    """Stored teacher logits, looked up by text.

    Parameters
    ----------
    texts : sequence of str
        Every text the teacher scored.
    logits : array of shape (n_texts, n_outputs)
        Its logits for them, row by row.
    label_names : sequence of str
        One name per output column.
    task : {"binary", "multiclass", "multilabel"}
    thresholds : array or None
        Per-label decision thresholds of a multilabel teacher.
    source, fingerprint : str
        Where the scores came from, shown in reports.
    size_bytes : float
        The teacher's size, if known (``nan`` otherwise).

    Examples
    --------
    >>> scores = TeacherScores(["good", "bad"], [[0.0, 2.0], [1.5, 0.0]], ["neg", "pos"], "binary")
    >>> scores.predict_logits(["bad", "good", "bad"]).tolist()
    [[1.5, 0.0], [0.0, 2.0], [1.5, 0.0]]
    >>> scores.predict_logits(["unseen"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    bert2sk.errors.InputError: 1 of 1 texts were never scored by this teacher (first: 'unseen'); score them ...
    """

    #: it serves stored scores; it cannot score new text
    can_score_new_text = False

    def __init__(self, texts: Sequence[str], logits, label_names: Sequence[str], task: str, *,
                 thresholds=None, source: str = "stored teacher logits", fingerprint: str = "",
                 size_bytes: float = float("nan")) -> None:
        z = np.asarray(logits, dtype=np.float64)
        if task not in _TASKS:
            raise InputError(f"task must be one of {_TASKS}, got {task!r}")
        if z.ndim != 2 or z.shape[0] != len(texts) or z.shape[1] != len(label_names):
            raise InputError(f"logits must have shape (n_texts={len(texts)}, n_labels={len(label_names)}), "
                             f"got {z.shape}; pass one row of logits per text and one name per column")
        if not np.isfinite(z).all():
            raise InputError("the stored logits contain NaN or infinity; re-score those texts")
        self.label_names = tuple(str(n) for n in label_names)
        self.task = task
        self.thresholds = None if thresholds is None else np.asarray(thresholds, dtype=np.float64)
        self.source = source
        self.fingerprint = fingerprint
        self.size_bytes = size_bytes
        self.progress = False
        self._logits = z
        # a repeated text keeps its first row: a deterministic teacher gives every copy the same logits
        self._row: dict[str, int] = {}
        for i, t in enumerate(texts):
            self._row.setdefault(t, i)

    def save(self, directory: str | os.PathLike) -> Path:
        """Write the scores (texts, float32 logits and what they are) to ``directory``; :meth:`load` reads them."""
        texts = list(self._row)
        meta = {"label_names": list(self.label_names), "task": self.task, "source": self.source,
                "fingerprint": self.fingerprint, "size_bytes": _finite_or_none(self.size_bytes),
                "thresholds": None if self.thresholds is None else self.thresholds.tolist()}
        z = self._logits[[self._row[t] for t in texts]]
        return save_logits(directory, {"scored": z}, meta, texts={"scored": texts}, dtype="float32")

    @classmethod
    def load(cls, directory: str | os.PathLike, corpora: Mapping[str, Any] | None = None) -> TeacherScores:
        """Scores saved by :meth:`save`, or by :func:`save_logits` per split with ``corpora`` giving the texts.

        ``corpora`` maps a split name in the file (``"train"``, ``"test"``...)
        to the corpus (or list of texts) whose rows it scored, for logits
        stored without their texts.
        """
        logits, meta, texts = load_logits(directory)
        if corpora is not None:
            texts = {k: list(getattr(c, "texts", c)) for k, c in corpora.items()}
        if texts is None:
            raise InputError(f"{directory} stores logits without their texts; pass corpora={{split: corpus}} "
                             "naming the texts each split scored")
        missing = sorted(set(texts) - set(logits))
        if missing:
            raise InputError(f"{directory} has no logits for split(s) {missing}; it holds {sorted(logits)}")
        keys = list(texts)
        all_texts = [t for k in keys for t in texts[k]]
        z = np.concatenate([np.asarray(logits[k], dtype=np.float64) for k in keys])
        size = meta.get("size_bytes")
        return cls(all_texts, z, meta["label_names"], meta["task"], thresholds=meta.get("thresholds"),
                   source=meta.get("source", "stored teacher logits"), fingerprint=meta.get("fingerprint", ""),
                   size_bytes=float("nan") if size is None else float(size))

    def __len__(self) -> int:
        return len(self._row)

    def predict_logits(self, texts: Sequence[str], return_embeddings: bool = False, desc: str | None = None):
        """The stored logits of ``texts``, in order."""
        if return_embeddings:
            raise InputError("stored teacher scores hold no embeddings; load the teacher model for embedding "
                             "students, or use TF-IDF features only")
        rows = [self._row.get(t, -1) for t in texts]
        missing = [t for t, r in zip(texts, rows, strict=True) if r < 0]
        if missing:
            raise InputError(f"{len(missing)} of {len(texts)} texts were never scored by this teacher "
                             f"(first: {missing[0][:60]!r}); score them with the teacher (bert2sk label) or keep "
                             "only the scored texts")
        return self._logits[np.asarray(rows, dtype=np.int64)]

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        from ..targets import logits_to_proba

        return logits_to_proba(self.predict_logits(texts), self.task)


def _finite_or_none(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def save_logits(directory: str | os.PathLike, logits: Mapping[str, np.ndarray], meta: Mapping[str, Any], *,
                texts: Mapping[str, Sequence[str]] | None = None, dtype: str = "float16") -> Path:
    """Store a teacher's logits per split: ``teacher_logits.npz``, ``teacher.json`` and optionally the texts.

    ``meta`` must say what the logits are (``label_names``, ``task``; the
    teacher's ``source`` and ``fingerprint`` when known). float16 halves the
    file and keeps decisions; use float32 where logits are compared to 1e-3.

    Examples
    --------
    >>> import tempfile
    >>> d = save_logits(tempfile.mkdtemp(), {"test": np.array([[0.5, -0.5]])},
    ...                 {"label_names": ["neg", "pos"], "task": "binary"})
    >>> z, meta, texts = load_logits(d)
    >>> z["test"].tolist(), meta["task"], texts
    ([[0.5, -0.5]], 'binary', None)
    """
    for key in ("label_names", "task"):
        if key not in meta:
            raise InputError(f"the stored logits need {key!r} in their meta data")
    directory = Path(directory)
    buf = io.BytesIO()
    np.savez_compressed(buf, **{k: np.asarray(v, dtype=dtype) for k, v in logits.items()})
    atomic_write_bytes(directory / LOGITS_FILE, buf.getvalue())
    if texts is not None:
        lines = "".join(json.dumps({"split": k, "text": t}) + "\n" for k, ts in texts.items() for t in ts)
        atomic_write_bytes(directory / TEXTS_FILE, gzip.compress(lines.encode(), mtime=0))
    atomic_write_bytes(directory / META_FILE, json.dumps(dict(meta), indent=2, default=json_default).encode())
    return directory


def load_logits(directory: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict, dict[str, list[str]] | None]:
    """``(logits per split, meta, texts per split or None)`` written by :func:`save_logits`."""
    directory = Path(directory)
    try:
        with np.load(directory / LOGITS_FILE, allow_pickle=False) as npz:
            logits = {k: npz[k] for k in npz.files}
        meta = json.loads((directory / META_FILE).read_text())
        texts = None
        if (directory / TEXTS_FILE).exists():
            texts = {}
            for line in gzip.decompress((directory / TEXTS_FILE).read_bytes()).decode().splitlines():
                row = json.loads(line)
                texts.setdefault(row["split"], []).append(row["text"])
    except FileNotFoundError as exc:
        raise ModelFileError(f"no stored teacher logits in {directory} ({Path(exc.filename).name} is missing); "
                             "point at the folder written by save_logits or StudyResult.save") from None
    except (ValueError, OSError, KeyError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"the stored teacher logits in {directory} are unreadable ({type(exc).__name__}); "
                             "re-score the texts with the teacher") from None
    return logits, meta, texts
