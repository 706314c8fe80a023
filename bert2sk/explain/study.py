"""Explanations of a whole study, as data: per document and model, against the teacher, and per model.

:func:`explain_study` computes every explanation the HTML report shows and
returns it as :class:`StudyExplanations`; it formats and draws nothing.

Which model is run on which text:

* TF-IDF students and linear static students are cheap to run: every
  explained document, with their exact method (``linear-exact``,
  ``tree-shap``, ``static-exact``).
* Students on embeddings and transformer students on raw text cost an
  encoder pass per call: they are explained only when the study has no TF-IDF
  student, and then only with LIME on the teacher documents.
* The teacher is run (LIME) on the first ``teacher_docs`` documents only,
  and only when the study can still score texts with it
  (``result.teacher_scorer``); a study without one runs no encoder at all.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError
from ..targets import decisions
from ._models import model_kind
from .agreement import agreement
from .attribution import Attribution
from .global_views import TreeView, linear_terms, shap_summary, tree_view
from .methods import explain_labels, explain_lime
from .static import static_terms

__all__ = ["explain_study", "pick_documents", "classes_to_explain", "StudyExplanations", "DocumentExplanations",
           "GlobalView", "AgreementResult"]

logger = logging.getLogger(__name__)


@dataclass
class DocumentExplanations:
    """Every explanation of one test document.

    Attributes
    ----------
    index : int
        Position in the study's test texts.
    text : str
        The explained text: the document's first ``max_chars`` characters.
    truncated : bool
        Whether ``text`` is shorter than the document.
    students : dict of str to list of Attribution
        Per explained student, one attribution per explained class, the
        predicted class first.
    teacher : list of Attribution
        LIME on the teacher, one per explained class; empty unless this is a
        teacher document.
    lime : dict of str to Attribution
        On teacher documents, each student's LIME attribution of its first
        explained class (what the teacher comparison ranks).
    """

    index: int
    text: str
    truncated: bool
    students: dict[str, list[Attribution]] = field(default_factory=dict)
    teacher: list[Attribution] = field(default_factory=list)
    lime: dict[str, Attribution] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "text": self.text, "truncated": self.truncated,
                "students": {m: [a.to_dict() for a in attrs] for m, attrs in self.students.items()},
                "teacher": [a.to_dict() for a in self.teacher],
                "lime": {m: a.to_dict() for m, a in self.lime.items()}}


@dataclass
class AgreementResult:
    """How much ``model``'s explanations agree with ``other``'s (a baseline or ``"teacher"``).

    ``scores`` is :func:`~bert2sk.explain.agreement`'s result (``jaccard``,
    ``spearman``, ``kendall``, ``n_docs``, ``k``); ``methods`` names the
    explanation methods compared, e.g. ``"linear-exact vs linear-exact"``.
    """

    model: str
    other: str
    methods: str
    scores: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "other": self.other, "methods": self.methods,
                "scores": {k: (None if not np.isfinite(v) else v) for k, v in self.scores.items()}}


@dataclass
class GlobalView:
    """What explains one student as a whole.

    ``kind`` is :func:`~bert2sk.explain.model_kind`'s answer; ``terms``
    (:func:`~bert2sk.explain.linear_terms`, :func:`~bert2sk.explain.static_terms`)
    is set for linear students and ``tree`` for tree ones. ``summary`` is
    :func:`~bert2sk.explain.shap_summary` over the student's per-document
    attributions, made with ``summary_method``.
    """

    model: str
    kind: str | None
    terms: list[dict[str, Any]] | None = None
    tree: TreeView | None = None
    summary: list[tuple[str, float, int]] = field(default_factory=list)
    summary_method: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "kind": self.kind, "terms": self.terms,
                "tree": None if self.tree is None else self.tree.to_dict(),
                "summary": [list(s) for s in self.summary], "summary_method": self.summary_method}


@dataclass
class StudyExplanations:
    """Everything :func:`explain_study` computed.

    Attributes
    ----------
    documents : list of DocumentExplanations
        In the order of the requested document indices.
    teacher_indices : list of int
        The documents also explained on the teacher.
    explained, unexplained : list of str
        Students explained per document, and those left out (not TF-IDF
        while TF-IDF students exist).
    agreement : list of AgreementResult
        Each distilled student against its baseline (same family and
        features, every document), then each explained student against the
        teacher (LIME, teacher documents).
    global_views : dict of str to GlobalView
        One per student, in the study's order.
    picked_class : int or None
        The class explained in every document besides the predicted one.
    settings : dict
        ``lime_samples``, ``seed``, ``top_k``, ``max_chars``.
    """

    documents: list[DocumentExplanations]
    teacher_indices: list[int]
    explained: list[str]
    unexplained: list[str]
    agreement: list[AgreementResult]
    global_views: dict[str, GlobalView]
    picked_class: int | None
    settings: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (attributions as :meth:`Attribution.to_dict`)."""
        return {"documents": [d.to_dict() for d in self.documents], "teacher_indices": self.teacher_indices,
                "explained": self.explained, "unexplained": self.unexplained,
                "agreement": [a.to_dict() for a in self.agreement],
                "global_views": {k: v.to_dict() for k, v in self.global_views.items()},
                "picked_class": self.picked_class, "settings": self.settings}


# --------------------------------------------------------------------------- which models, documents, classes


def _students(result: Any) -> list[Any]:
    return [m for m in result.models.values() if m.role != "teacher" and m.scorer is not None]


def _exact(m: Any) -> bool:
    """TF-IDF students and linear static students: exact explainers, and they run cheaply."""
    return m.features == "tfidf" or model_kind(m) == "static"


def _explained(students: list[Any]) -> list[Any]:
    # the others cost an encoder pass per call, or have no exact explainer (trees on static vectors)
    return [m for m in students if _exact(m)] or students


def pick_documents(result: Any, n_docs: int, seed: int = 0) -> list[int]:
    """``n_docs`` test documents, half of them (when there are enough) where the teacher and the students disagree.

    Only stored test probabilities are read; no model is run. The same
    ``seed`` picks the same documents.
    """
    n = len(result.test_texts)
    k = min(n_docs, n)
    models = [result.models["teacher"], *_explained(_students(result))]
    preds = [decisions(m.proba, result.task, m.thresholds) for m in models if m.proba is not None]
    if result.task == "multilabel":
        preds = [p.reshape(n, -1) for p in preds]
        disagree = np.array([any((p[i] != preds[0][i]).any() for p in preds) for i in range(n)])
    else:
        disagree = np.array([len({int(p[i]) for p in preds}) > 1 for i in range(n)])
    rng = np.random.default_rng(seed)
    hard = np.flatnonzero(disagree)
    easy = np.flatnonzero(~disagree)
    take = rng.permutation(hard)[: min(len(hard), max(k // 2, k - len(easy)))]
    rest = rng.permutation(easy)[: k - len(take)]
    return sorted(int(i) for i in np.concatenate([take, rest]))


def classes_to_explain(task: str, proba_row: np.ndarray, thresholds: np.ndarray | float,
                       picked: int | None) -> list[int]:
    """The predicted class (multilabel: up to three active labels), then the class the user picked.

    Binary always explains the positive class (unless another is picked), so
    a weight's sign means "towards the same class" for every model.
    """
    if task == "binary":
        return [1 if picked is None else picked]
    if task == "multilabel":
        active = [int(j) for j in np.flatnonzero(proba_row >= thresholds)]
        out = sorted(active, key=lambda j: -proba_row[j])[:3] or [int(proba_row.argmax())]
    else:
        out = [int(proba_row.argmax())]
    return out + ([picked] if picked is not None and picked not in out else [])


def _check_indices(doc_indices: Sequence[int], n_test: int) -> list[int]:
    idx = [int(i) for i in doc_indices]
    bad = [i for i in idx if not 0 <= i < n_test]
    if bad:
        raise InputError(f"doc_indices {bad[:5]} are outside the {n_test} test texts; use 0..{n_test - 1}")
    return idx


def _picked_class(names: list[str], explain_class: str | None) -> int | None:
    if explain_class is None:
        return None
    if str(explain_class) not in names:
        close = [n for n in names if str(explain_class).lower() in n.lower()][:5]
        raise InputError(f"explain_class {explain_class!r} is not a class of this study"
                         + (f"; did you mean one of {close}?" if close else f"; the classes are {names[:20]}"))
    return names.index(str(explain_class))


def _cut(text: str, max_chars: int) -> tuple[str, bool]:
    if len(text) <= max_chars:
        return text, False
    cut = text.rfind(" ", 0, max_chars)
    return text[: cut if cut > max_chars // 2 else max_chars], True


# --------------------------------------------------------------------------- per document


@dataclass
class _Settings:
    names: list[str]
    task: str
    picked: int | None
    lime_samples: int
    seed: int

    def lime(self, model: Any, text: str, labels: list[int], name: str) -> list[Attribution]:
        return explain_lime(model, text, labels=labels, num_samples=self.lime_samples, random_state=self.seed,
                            name=name, class_names=self.names, task=self.task)


def _explain_student(doc: DocumentExplanations, m: Any, with_teacher: bool, s: _Settings) -> None:
    """Exact attributions of a TF-IDF student, LIME of any other on teacher documents; LIME for the teacher too."""
    cls = classes_to_explain(s.task, m.proba[doc.index], m.thresholds, s.picked)
    if _exact(m):
        attrs = explain_labels(m, doc.text, labels=cls, name=m.name, class_names=s.names)
    elif with_teacher:
        attrs = s.lime(m, doc.text, cls, m.name)
    else:
        return
    doc.students[m.name] = attrs
    if with_teacher:
        first = attrs[0]
        doc.lime[m.name] = first if first.method == "lime" else s.lime(m, doc.text, [first.explained_class],
                                                                       m.name)[0]


def _explain_document(result: Any, i: int, explained: list[Any], with_teacher: bool, s: _Settings,
                      max_chars: int) -> DocumentExplanations:
    text, cut = _cut(result.test_texts[i], max_chars)
    doc = DocumentExplanations(i, text, cut)
    for m in explained:
        _explain_student(doc, m, with_teacher, s)
    if with_teacher:
        logger.info("LIME on the teacher for document %d", i)
        teacher = result.models["teacher"]
        cls = classes_to_explain(s.task, teacher.proba[i], teacher.thresholds, s.picked)
        doc.teacher = s.lime(result.teacher_scorer, text, cls, "teacher")
    return doc


# --------------------------------------------------------------------------- across documents


def _agreements(docs: list[DocumentExplanations], explained: list[Any], k: int) -> list[AgreementResult]:
    """Distilled vs baseline (first explained class, every document), then every student vs the teacher (LIME)."""
    first = {m.name: [d.students[m.name][0] for d in docs if m.name in d.students] for m in explained}
    out = []
    for m in explained:
        if m.role != "distilled":
            continue
        base = next((b for b in explained if b.role == "baseline" and b.family == m.family
                     and b.features == m.features), None)
        if base is not None and first[m.name] and len(first[base.name]) == len(first[m.name]):
            how = f"{first[m.name][0].method} vs {first[base.name][0].method}"
            out.append(AgreementResult(m.name, base.name, how, agreement(first[m.name], first[base.name], k=k)))
    teacher = [d.teacher[0] for d in docs if d.teacher]
    for m in explained:
        lime = [d.lime[m.name] for d in docs if m.name in d.lime]
        if teacher and len(lime) == len(teacher):
            out.append(AgreementResult(m.name, "teacher", "LIME vs LIME", agreement(lime, teacher, k=k)))
    return out


def global_view(entry: Any, label_names: Sequence[str], attributions: Sequence[Attribution] = (),
                k: int = 10) -> GlobalView:
    """The whole-model view of one study entry: terms or tree when it has them, and the summary of its attributions.

    Nothing is run: terms and trees come from the fitted estimators, so
    students whose encoder is absent get a view too (``kind`` ``None``).
    """
    kind = model_kind(entry)
    gv = GlobalView(entry.name, kind, summary=shap_summary(attributions, k=k),
                    summary_method=attributions[0].method if attributions else "")
    if kind == "linear":
        gv.terms = linear_terms(entry, k=k, class_names=label_names)
    elif kind == "tree":
        gv.tree = tree_view(entry, max_depth=4, class_names=label_names)
    elif kind == "static":
        gv.terms = static_terms(entry, k=k, class_names=label_names)
    return gv


# --------------------------------------------------------------------------- entry point


def explain_study(result: Any, doc_indices: Sequence[int], *, teacher_docs: int = 3, lime_samples: int = 500,
                  seed: int = 0, explain_class: str | None = None, max_chars: int = 5000,
                  top_k: int = 10) -> StudyExplanations:
    """Explain a study's students (and, on a few documents, its teacher) as data.

    Parameters
    ----------
    result : StudyResult
        Read: ``models`` (each entry's ``name``, ``role``, ``family``,
        ``features``, ``proba``, ``thresholds``, ``scorer``), ``task``,
        ``label_names``, ``test_texts`` and ``teacher_scorer``.
    doc_indices : sequence of int
        Test documents to explain (see :func:`pick_documents`).
    teacher_docs : int
        The first this many documents also get LIME on the teacher and on
        every explained student, for the teacher-agreement figures.
    lime_samples, seed : int
        LIME perturbations per explanation and its random state.
    explain_class : str or None
        A class name to explain in every document besides the predicted one.
    max_chars : int
        Longer documents are explained on their first ``max_chars`` characters.
    top_k : int
        ``k`` of Jaccard@k, and the length of term lists and summaries.

    Returns
    -------
    StudyExplanations
    """
    names = [str(n) for n in result.label_names]
    idx = _check_indices(doc_indices, len(result.test_texts))
    settings = _Settings(names, result.task, _picked_class(names, explain_class), int(lime_samples), seed)
    students = _students(result)
    explained = _explained(students)
    teacher_idx = idx[: max(0, teacher_docs)] if result.teacher_scorer is not None else []
    docs = [_explain_document(result, i, explained, i in teacher_idx, settings, max_chars) for i in idx]
    views = {m.name: global_view(m, names, [d.students[m.name][0] for d in docs if m.name in d.students], top_k)
             for m in students}
    shown = [m.name for m in explained]
    return StudyExplanations(
        documents=docs, teacher_indices=list(teacher_idx), explained=shown,
        unexplained=[m.name for m in students if m.name not in shown], agreement=_agreements(docs, explained, top_k),
        global_views=views, picked_class=settings.picked,
        settings={"lime_samples": int(lime_samples), "seed": seed, "top_k": top_k, "max_chars": max_chars},
    )
