"""The compiled scorer: one text in, probabilities and its top reasons out, in tens of microseconds.

``Pipeline.predict_proba([text])`` on a TF-IDF student takes about 2 ms for a
short text, nearly all of it per-call validation and sparse-matrix set-up.
:func:`compile_scorer` turns a fitted TF-IDF pipeline with a linear or tree
student into a :class:`CompiledScorer` that does only the arithmetic: the
vectorizer's own analyzer, its TF-IDF values bit for bit
(:class:`~bert2sk.serve.tfidf_row.TfidfRow`), and the student's weights or
trees. The probabilities equal the pipeline's (checked when compiling) and the
reasons are the exact attribution's terms and weights: ``coef * tfidf`` per
TF-IDF term for linear students (as :func:`~bert2sk.explain.explain_linear`),
tree SHAP for tree students (as :func:`~bert2sk.explain.explain_tree`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError
from ..explain import model_kind
from .heads import LinearHead, TreeHead, TreeReasons, linear_head, tree_head
from .tfidf_row import TfidfRow

__all__ = ["CompiledScorer", "Score", "compile_scorer", "compile_cascade", "PARITY_TOLERANCE"]

logger = logging.getLogger(__name__)

#: largest |probability difference| against the pipeline that compiling accepts
PARITY_TOLERANCE = 1e-9
_PROBES = 12  # texts made of vocabulary terms that compiling scores both ways


@dataclass
class Score:
    """What a compiled scorer says about one text.

    Attributes
    ----------
    probabilities : ndarray
        One per class (per label for multilabel).
    labels : list of str
        The predicted class, or every label at or above its threshold (multilabel).
    explained : str
        The class the reasons are for: the predicted class (multilabel: the
        most probable predicted label, else the most probable label).
    reasons : list of (str, float)
        TF-IDF terms and their exact weights towards ``explained``, strongest first.
    base_value, output : float
        The explained output with no terms and in full (``base_value + sum`` of
        all term weights equals ``output``); see ``CompiledScorer.output``.
    """

    probabilities: np.ndarray
    labels: list[str]
    explained: str
    reasons: list[tuple[str, float]] = field(default_factory=list)
    base_value: float = 0.0
    output: float = float("nan")

    def to_dict(self, class_names: Sequence[str]) -> dict[str, Any]:
        """A JSON-ready dict: labels, probability per class name, explained class and reasons."""
        return {"labels": list(self.labels),
                "probabilities": {str(n): float(p)
                                  for n, p in zip(class_names, self.probabilities.tolist(), strict=True)},
                "explained": self.explained,
                "reasons": [{"term": t, "weight": float(w)} for t, w in self.reasons]}


class CompiledScorer:
    """A TF-IDF student compiled for one text at a time; build it with :func:`compile_scorer`.

    Attributes
    ----------
    kind : {"linear", "tree"}
    task : {"binary", "multiclass", "multilabel"}
    class_names : list of str
    thresholds : ndarray
        Per-label decision thresholds (multilabel); 0.5 unless the card gives tuned ones.
    output : str
        What the reasons add up to, in words (e.g. the teacher-logit margin).
    """

    def __init__(self, row: TfidfRow, head: LinearHead | TreeHead, kind: str, task: str, class_names: list[str],
                 terms: np.ndarray, thresholds: np.ndarray, output: str, tree_reasons: TreeReasons | None) -> None:
        self.row = row
        self.head = head
        self.kind = kind
        self.task = task
        self.class_names = class_names
        self.terms = terms
        self.thresholds = thresholds
        self.output = output
        self._tree_reasons = tree_reasons
        self._term_list = [str(t) for t in terms.tolist()]

    def __repr__(self) -> str:
        return (f"CompiledScorer(kind={self.kind!r}, task={self.task!r}, classes={len(self.class_names)}, "
                f"terms={len(self.terms)})")

    @staticmethod
    def _check(text: object) -> str:
        if not isinstance(text, str):
            raise InputError(f"the compiled scorer takes one text as a str, got {type(text).__name__}; "
                             "call predict_proba for a list of texts")
        return text

    def proba(self, text: str) -> np.ndarray:
        """Probabilities of one text (the pipeline's ``predict_proba([text])[0]``)."""
        cols, vals = self.row(self._check(text))
        return self.head.proba(cols, vals)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities ``(n, k)`` of several texts, one at a time (no batching overhead to amortise)."""
        if isinstance(texts, str):
            raise InputError("predict_proba takes a list of texts; pass [text] or call proba(text)")
        return np.array([self.proba(t) for t in texts]).reshape(-1, len(self.class_names))

    def _labels(self, p: np.ndarray) -> tuple[list[int], int]:
        """Predicted class indices and the class to explain."""
        if self.task == "multilabel":
            on = sorted(np.flatnonzero(p >= self.thresholds).tolist(), key=lambda j: -p[j])
            return on, on[0] if on else int(p.argmax())
        top = int(p.argmax())
        return [top], top

    def _class_index(self, label: int | str) -> int:
        if isinstance(label, str):
            if label not in self.class_names:
                raise InputError(f"label {label!r} is not one of {self.class_names}; pass a class name or index")
            return self.class_names.index(label)
        if not 0 <= int(label) < len(self.class_names):
            raise InputError(f"label index {label} is out of range; pass 0..{len(self.class_names) - 1}")
        return int(label)

    def _reasons(self, cols: list[int], vals: list[float], c: int) -> tuple[list[int], list[float], float]:
        if isinstance(self.head, LinearHead):
            return cols, self.head.contributions(cols, vals, c), self.head.base(c)
        return self._tree_reasons(cols, vals, c)

    def score(self, text: str, k: int | None = 5, label: int | str | None = None) -> Score:
        """Probabilities, predicted labels and the ``k`` strongest reasons (all of them for ``None``, none for 0).

        ``label`` (a class name or index) explains that class instead of the predicted one.
        """
        cols, vals = self.row(self._check(text))
        p = self.head.proba(cols, vals)
        predicted, c = self._labels(p)
        if label is not None:
            c = self._class_index(label)
        names = [self.class_names[j] for j in predicted]
        if k == 0:
            return Score(p, names, self.class_names[c])
        term_cols, weights, base = self._reasons(cols, vals, c)
        order = sorted(range(len(weights)), key=lambda i: -abs(weights[i]))
        if k is not None:
            order = order[:max(int(k), 0)]
        terms = self._term_list
        reasons = [(terms[term_cols[i]], weights[i]) for i in order if weights[i] != 0.0]
        return Score(p, names, self.class_names[c], reasons, base, base + sum(weights))

    def reasons(self, text: str, k: int | None = None, label: int | str | None = None) -> list[tuple[str, float]]:
        """The ``(term, weight)`` reasons of one text, strongest first (all of them by default)."""
        return self.score(text, k=k, label=label).reasons


def _pipeline_parts(model: Any) -> tuple[Any, Any]:
    """``(vectorizer, student)`` of a two-step TF-IDF pipeline, or a one-line refusal."""
    steps = getattr(model, "steps", None)
    kind = model_kind(model)
    if not steps or kind not in ("linear", "tree") or not hasattr(steps[0][1], "build_analyzer"):
        what = type(model).__name__
        raise InputError(f"only a Pipeline of fitted TF-IDF features and a linear or tree student compiles; this "
                         f"{what} is not one (embedding and transformer students score through the model itself)")
    return steps[0][1], steps[-1][1]


def _student_task(student: Any) -> str | None:
    task = getattr(student, "task_", None)
    if task:
        return task
    if getattr(student, "multilabel_", False):  # one-vs-rest on a label matrix
        return "multilabel"
    classes = getattr(student, "classes_", None)
    return None if classes is None else "binary" if len(classes) == 2 else "multiclass"


def _task_and_names(student: Any, card: Mapping[str, Any]) -> tuple[str, list[str]]:
    task = card.get("task") or _student_task(student)
    names = card.get("label_names")
    if names is None:
        classes = getattr(student, "classes_", None)
        names = [str(c) for c in classes] if classes is not None else None
    if task not in ("binary", "multiclass", "multilabel") or not names:
        raise InputError("cannot tell this student's task and classes; pass a card with 'task' and 'label_names'")
    return task, [str(n) for n in names]


def _probe_texts(terms: np.ndarray, n: int = _PROBES, seed: int = 0) -> list[str]:
    """Texts made of vocabulary terms (the empty text too), so every probe has non-zero features."""
    rng = np.random.default_rng(seed)
    out = [""]
    for _ in range(n - 1):
        pick = rng.choice(len(terms), size=min(len(terms), int(rng.integers(1, 16))), replace=True)
        out.append(" ".join(str(terms[i]) for i in pick.tolist()))
    return out


def _check_parity(scorer: CompiledScorer, model: Any) -> None:
    probes = _probe_texts(scorer.terms)
    want = np.asarray(model.predict_proba(probes), dtype=np.float64)
    got = scorer.predict_proba(probes)
    if want.shape != got.shape or not np.allclose(got, want, rtol=0.0, atol=PARITY_TOLERANCE):
        diff = float(np.abs(got - want).max()) if want.shape == got.shape else float("nan")
        raise InputError(f"this {type(scorer.head).__name__.removesuffix('Head').lower()} student's probabilities "
                         f"are not the link of its decision that bert2sk compiles (max |diff| {diff:.2g}; a "
                         "calibrated SVM is one such student); score it through the pipeline")


def compile_scorer(model: Any, card: Mapping[str, Any] | None = None, *, check: bool = True) -> CompiledScorer:
    """Compile a fitted ``Pipeline([TF-IDF features, linear or tree student])`` for one-text scoring.

    Parameters
    ----------
    model : Pipeline
        As fitted by a study or loaded by :func:`~bert2sk.load_student`.
    card : mapping or None
        The student's card: ``task``, ``label_names`` and (multilabel)
        ``thresholds`` are used when present; ``compile_scorer(*load_student(path))`` works.
    check : bool
        Score a dozen vocabulary-made texts both ways and refuse when the
        probabilities differ by more than :data:`PARITY_TOLERANCE`.

    Returns
    -------
    CompiledScorer

    Raises
    ------
    InputError
        The model is not a TF-IDF linear/tree student, or its probabilities are
        not what the compiled head computes (e.g. a calibrated SVM).

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.linear_model import LogisticRegression
    >>> from bert2sk.features import TfidfFeatures
    >>> pipe = make_pipeline(TfidfFeatures(min_df=1), LogisticRegression())
    >>> _ = pipe.fit(["a good film", "a bad film", "good fun", "bad plot"], [1, 0, 1, 0])
    >>> scorer = compile_scorer(pipe, {"task": "binary", "label_names": ["neg", "pos"]})
    >>> s = scorer.score("a good film", k=1)
    >>> s.labels, s.reasons[0][0]
    (['pos'], 'good')
    >>> bool(abs(s.probabilities[1] - pipe.predict_proba(["a good film"])[0, 1]) < 1e-12)
    True
    """
    card = dict(card or {})
    vec, student = _pipeline_parts(model)
    task, names = _task_and_names(student, card)
    row = TfidfRow(vec)
    kind = model_kind(model)
    head: LinearHead | TreeHead | None
    if kind == "linear":
        head = linear_head(student, task, len(names), row.dtype)
        output = head.output if head is not None else ""
    else:
        head = tree_head(student, task, len(names))
        output = "the tree's output for the class (see explain_tree)"
    if head is None:
        raise InputError(f"{type(student).__name__} has no compiled {kind} path: its probabilities are not a "
                         "sigmoid or softmax of its decision (a calibrated SVM is one such student); score it through "
                         "the pipeline")
    thresholds = np.broadcast_to(np.asarray(card.get("thresholds", 0.5), dtype=float), (len(names),)).copy()
    scorer = CompiledScorer(row, head, kind, task, names, vec.get_feature_names_out(), thresholds, output,
                            TreeReasons(student) if kind == "tree" else None)
    if check:
        _check_parity(scorer, model)
    return scorer


def compile_cascade(cascade: Any) -> Any:
    """The cascade with its fast part compiled (when it is a TF-IDF linear or tree student); same answers.

    A cascade's fast part answers most texts, so its per-call overhead is
    most of what the cascade costs on them: compiling it (probabilities equal
    to the pipeline's, checked) leaves the deferred texts' fallback as nearly
    the whole cost. A fast part that does not compile is kept as it is.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.linear_model import LogisticRegression
    >>> from bert2sk.features import TfidfFeatures
    >>> from bert2sk.students import CascadeClassifier
    >>> texts, y = ["a good film", "a bad film", "good fun", "bad plot"], [1, 0, 1, 0]
    >>> fast = make_pipeline(TfidfFeatures(min_df=1), LogisticRegression()).fit(texts, y)
    >>> slow = make_pipeline(TfidfFeatures(min_df=1), LogisticRegression(C=100)).fit(texts, y)
    >>> cascade = CascadeClassifier(fast, slow, margin=0.1, prefit=True).fit(texts)
    >>> quick = compile_cascade(cascade)
    >>> type(quick.fast_).__name__, bool(np.allclose(quick.predict_proba(texts), cascade.predict_proba(texts)))
    ('CompiledScorer', True)
    """
    import copy

    from ..students.cascade import CascadeClassifier

    if not isinstance(cascade, CascadeClassifier):
        raise InputError(f"compile_cascade takes a CascadeClassifier, not {type(cascade).__name__}; "
                         "use compile_scorer for a single TF-IDF student")
    try:
        fast = compile_scorer(cascade.fast_)
    except InputError as exc:
        logger.info("the cascade's fast part is kept as it is: %s", exc)
        return cascade
    out = copy.copy(cascade)
    out.fast_ = fast
    return out
