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

from collections.abc import Sequence

import numpy as np

from ..errors import InputError

__all__ = ["TeacherScores"]

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
