"""LIME and SHAP explanations of single texts, all returning :class:`Attribution`.

* :func:`explain_lime` — LIME on any text -> probability function.
* :func:`explain_linear` — exact attribution ``coef * tfidf`` for linear students.
* :func:`explain_tree` — exact tree SHAP on the TF-IDF row for tree students.
* :func:`explain_shap` — model-agnostic SHAP (partition explainer, word masker).
* :func:`explain_text` — one dispatcher; ``method="auto"`` picks the exact one when it can.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from ._models import ModelView, infer_task, linear_decision, model_kind, proba_row, tree_output, view
from .attribution import Attribution, tokenize

__all__ = ["explain_text", "explain_labels", "explain_lime", "explain_linear", "explain_tree", "explain_shap",
           "METHODS"]

METHODS = ("auto", "lime", "linear-exact", "tree-shap", "static-exact", "shap-partition")
# LIME's separator: non-word characters and whole <br /> tags, so LIME's words
# are exactly the tokeniser's words (inner groups must not capture: LIME wraps it).
_LIME_SPLIT = r"(?:<[bB][rR]\s*/?>|\W)+"


def _labels_for(p: np.ndarray, task: str, label: int | str | None, class_names: list[str]) -> list[int]:
    """Which classes to explain: the one asked for, else the predicted class (multilabel: each active label)."""
    if label is not None:
        if isinstance(label, str):
            if label not in class_names:
                raise InputError(f"label {label!r} is not one of {class_names}; pass a class name or index")
            return [class_names.index(label)]
        if not 0 <= int(label) < len(p):
            raise InputError(f"label index {label} is out of range for {len(p)} classes; pass 0..{len(p) - 1}")
        return [int(label)]
    if task == "multilabel":
        active = sorted(np.flatnonzero(p >= 0.5).tolist(), key=lambda j: -p[j])
        return active or [int(p.argmax())]
    return [int(p.argmax())]


def _setup(model: Any, text: str, name: str | None, class_names: Sequence[str] | None, task: str | None):
    if not isinstance(text, str):
        raise InputError(f"explain needs one text as a str, got {type(text).__name__}; pass texts one at a time")
    mv = view(model, name, class_names, task)
    p = proba_row(mv.predict_proba, text)
    mv.task = mv.task or infer_task(p)
    names = list(mv.class_names or [f"class {i}" for i in range(len(p))])
    if len(names) != len(p):
        raise InputError(f"{len(names)} class names for a model with {len(p)} outputs; pass one name per output")
    mv.class_names = names
    return mv, p


def _predicted(p: np.ndarray, task: str, c: int) -> int:
    # for multilabel, "predicted" is the explained label when it is active, else the top label
    if task == "multilabel":
        return c if p[c] >= 0.5 else int(p.argmax())
    return int(p.argmax())


# --------------------------------------------------------------------------- LIME


def explain_lime(model: Any, text: str, *, label: int | str | None = None, labels: Sequence[int] | None = None,
                 num_samples: int = 500, num_features: int = 30, random_state: int = 0, name: str | None = None,
                 class_names: Sequence[str] | None = None, task: str | None = None) -> list[Attribution]:
    """LIME word weights for ``text`` (one :class:`Attribution` per explained class).

    Words are LIME features by position (``bow=False``), so each occurrence
    gets its own weight and maps to its own characters. The same call with the
    same ``random_state`` gives identical weights.

    Examples
    --------
    >>> f = lambda texts: np.array([[0.2, 0.8] if "good" in t else [0.7, 0.3] for t in texts])
    >>> [a] = explain_lime(f, "a good film", num_samples=100, class_names=["neg", "pos"])
    >>> a.top(1)[0][0], a.explained_name
    ('good', 'pos')
    """
    from lime.lime_text import LimeTextExplainer

    mv, p = _setup(model, text, name, class_names, task)
    cls = list(labels) if labels is not None else _labels_for(p, mv.task, label, mv.class_names)
    tokens, spans = tokenize(text)
    settings = {"num_samples": int(num_samples), "num_features": int(num_features), "random_state": random_state,
                "bow": False}
    if not tokens:  # nothing to perturb: LIME would fail on an empty vocabulary
        return [Attribution(text, [], [], [], _predicted(p, mv.task, c), c, mv.class_names, "lime", settings,
                            mv.name, float(p[c]), float(p[c])) for c in cls]

    def fn(texts: list[str]) -> np.ndarray:
        out = np.asarray(mv.predict_proba(list(texts)), dtype=np.float64)
        return out[:, None] if out.ndim == 1 else out

    explainer = LimeTextExplainer(class_names=mv.class_names, split_expression=_LIME_SPLIT, bow=False,
                                  random_state=random_state)
    exp = explainer.explain_instance(text, fn, labels=cls, num_features=min(num_features, len(tokens)),
                                     num_samples=num_samples)
    istr = exp.domain_mapper.indexed_string
    index = {s: i for i, (s, _) in enumerate(spans)}
    out = []
    for c in cls:
        weights = np.zeros(len(tokens))
        for fid, w in exp.local_exp[c]:
            for start in np.atleast_1d(istr.string_position(fid)):
                i = index.get(int(start))
                if i is not None:
                    weights[i] += w
        out.append(Attribution(text, tokens, spans, weights.tolist(), _predicted(p, mv.task, c), c, mv.class_names,
                               "lime", {**settings, "score": float(exp.score)}, mv.name,
                               float(exp.intercept[c]), float(p[c])))
    return out


# --------------------------------------------------------------------------- TF-IDF terms -> words


def _doc_terms(vec: Any, tokens: list[str]) -> dict[int, list[list[int]]]:
    """For each vocabulary column in the text, the word indices of each of its occurrences.

    Rebuilds the vectorizer's own token stream word by word (its preprocessor
    and tokenizer on each word) so n-grams line up with what it counted.
    """
    pre, tok = vec.build_preprocessor(), vec.build_tokenizer()
    stop = vec.get_stop_words() or set()
    seq: list[tuple[str, int]] = []
    for i, word in enumerate(tokens):
        for piece in tok(pre(word)):
            if piece not in stop:
                seq.append((piece, i))
    lo, hi = vec.ngram_range
    vocab = vec.vocabulary_
    occ: dict[int, list[list[int]]] = {}
    for n in range(lo, hi + 1):
        for i in range(len(seq) - n + 1):
            col = vocab.get(" ".join(s for s, _ in seq[i:i + n]))
            if col is not None:
                occ.setdefault(col, []).append([w for _, w in seq[i:i + n]])
    return occ


def _spread(vec: Any, tokens: list[str], cols: np.ndarray, contrib: np.ndarray) -> tuple[list[float], list[str], float]:
    """Word weights from per-column contributions: shared equally over occurrences, then over an n-gram's words."""
    occ = _doc_terms(vec, tokens)
    weights = np.zeros(len(tokens))
    unmapped = 0.0
    for col, v in zip(cols.tolist(), contrib.tolist(), strict=True):
        places = occ.get(col)
        if not places:
            unmapped += v
            continue
        share = v / len(places)
        for words in places:
            for w in words:
                weights[w] += share / len(words)
    names = vec.get_feature_names_out()
    return weights.tolist(), [str(names[c]) for c in cols.tolist()], unmapped


def _need_tfidf(mv: ModelView, method: str) -> None:
    if mv.vectorizer is None:
        raise InputError(
            f"{method} needs a Pipeline of a fitted TF-IDF vectorizer and a student; {mv.name!r} is not one. "
            "Use method='lime' or 'shap-partition' for other models"
        )


def explain_linear(model: Any, text: str, *, label: int | str | None = None, labels: Sequence[int] | None = None,
                   name: str | None = None, class_names: Sequence[str] | None = None) -> list[Attribution]:
    """Exact attribution of a linear student on TF-IDF: ``coef[term] * tfidf[term]``.

    ``base_value + sum(term_weights)`` equals the explained decision value
    (``output``): the margin for binary distilled students, the class's
    centred logit for multiclass ones, log-odds for logistic regression.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.linear_model import LogisticRegression
    >>> from bert2sk.features import TfidfFeatures
    >>> pipe = make_pipeline(TfidfFeatures(min_df=1), LogisticRegression())
    >>> _ = pipe.fit(["a good film", "a bad film", "good fun", "bad plot"], [1, 0, 1, 0])
    >>> [a] = explain_linear(pipe, "A good film, a GOOD plot")
    >>> a.top(1)[0][0], a.method
    ('good', 'linear-exact')
    >>> bool(np.isclose(a.base_value + sum(a.term_weights), pipe.decision_function(["A good film, a GOOD plot"])[0]))
    True
    """
    mv, p = _setup(model, text, name, class_names, None)
    _need_tfidf(mv, "linear-exact")
    parts = linear_decision(mv.student, len(p))
    if parts is None:
        raise InputError(f"{type(mv.student).__name__} in {mv.name!r} is not a linear model; use method='auto'")
    w_all, b_all, what = parts
    cls = list(labels) if labels is not None else _labels_for(p, mv.task, label, mv.class_names)
    tokens, spans = tokenize(text)
    x = mv.vectorizer.transform([text]).tocsr()
    cols = x.indices.astype(int)
    vals = x.data.astype(np.float64)
    out = []
    for c in cls:
        contrib = vals * w_all[c, cols]
        weights, terms, unmapped = _spread(mv.vectorizer, tokens, cols, contrib)
        out.append(Attribution(text, tokens, spans, weights, _predicted(p, mv.task, c), c, mv.class_names,
                               "linear-exact", {"output": what, "unmapped": unmapped}, mv.name, float(b_all[c]),
                               float(b_all[c] + contrib.sum()), terms, contrib.tolist()))
    return out


def _tree_values(shap: Any, tree: Any, dense: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """SHAP values of one row, exact TreeSHAP where it is numerically sound.

    Trees grown best-first for many classes reach depths of several hundred on
    text, where TreeSHAP's path weights overflow and shap's own additivity check
    fails. There the Saabas path decomposition takes over: each split on the
    row's decision path credits its feature with the change in the node value.
    It is additive too (base + sum = output), exact on the path, but not a
    Shapley value.
    """
    explainer = shap.TreeExplainer(tree)
    try:
        ex = explainer(dense)
        return np.asarray(ex.values)[0], np.asarray(ex.base_values).reshape(-1), "treeshap"
    except shap.utils._exceptions.ExplainerError:
        vals = np.asarray(explainer.shap_values(dense, approximate=True))
        vals = vals[0] if vals.ndim == 3 or (vals.ndim == 2 and vals.shape[0] == 1) else vals
        return vals, np.asarray(explainer.expected_value, dtype=np.float64).reshape(-1), "saabas"


def explain_tree(model: Any, text: str, *, label: int | str | None = None, labels: Sequence[int] | None = None,
                 name: str | None = None, class_names: Sequence[str] | None = None) -> list[Attribution]:
    """Exact tree SHAP (``shap.TreeExplainer``) of a tree student on the text's TF-IDF row.

    ``base_value + sum(term_weights)`` equals the tree's output for the class
    (``output``): the predicted teacher margin/logit or the class probability.
    """
    import shap

    mv, p = _setup(model, text, name, class_names, None)
    _need_tfidf(mv, "tree-shap")
    cls = list(labels) if labels is not None else _labels_for(p, mv.task, label, mv.class_names)
    tokens, spans = tokenize(text)
    x = mv.vectorizer.transform([text])
    dense = np.asarray(x.toarray(), dtype=np.float64)
    out = []
    cache: dict[int, Any] = {}
    for c in cls:
        spec = tree_output(mv.student, c)
        if spec is None:
            raise InputError(f"{type(mv.student).__name__} in {mv.name!r} is not a tree model; use method='auto'")
        tree, col, scale, what = spec
        if id(tree) not in cache:
            cache[id(tree)] = _tree_values(shap, tree, dense)
        vals, base, algorithm = cache[id(tree)]
        if vals.ndim == 2:
            vals, base0 = vals[:, col if col is not None else 0], base[col if col is not None else 0]
        else:
            base0 = base[0]
        vals = vals * scale
        nz = np.flatnonzero(vals)
        weights, terms, unmapped = _spread(mv.vectorizer, tokens, nz, vals[nz])
        out.append(Attribution(text, tokens, spans, weights, _predicted(p, mv.task, c), c, mv.class_names,
                               "tree-shap", {"output": what, "unmapped": unmapped,
                                             "feature_perturbation": "tree_path_dependent",
                                             "algorithm": algorithm}, mv.name,
                               float(base0 * scale), float(base0 * scale + vals.sum()), terms, vals[nz].tolist()))
    return out


# --------------------------------------------------------------------------- model-agnostic SHAP


class _WordTokenizer:
    """The word tokeniser in the shape shap's Text masker expects (ids + offsets)."""

    def __call__(self, s: str, return_offsets_mapping: bool = True) -> dict[str, list]:
        _, spans = tokenize(s)
        if not spans and s:  # shap probes the mask token itself ("...") and needs one id back
            spans = [(0, len(s))]
        return {"input_ids": list(range(len(spans))), "offset_mapping": spans}


def explain_shap(model: Any, text: str, *, label: int | str | None = None, labels: Sequence[int] | None = None,
                 num_samples: int = 500, random_state: int = 0, name: str | None = None,
                 class_names: Sequence[str] | None = None, task: str | None = None) -> list[Attribution]:
    """Model-agnostic SHAP (partition explainer over words) on any text -> probability function.

    Masked words are replaced by ``...``; the explained output is the class
    probability, and ``base_value + sum(weights)`` approximates it.
    """
    import shap

    mv, p = _setup(model, text, name, class_names, task)
    cls = list(labels) if labels is not None else _labels_for(p, mv.task, label, mv.class_names)
    tokens, spans = tokenize(text)
    settings = {"num_samples": int(num_samples), "random_state": random_state, "masker": "words -> '...'"}
    if not tokens:
        return [Attribution(text, [], [], [], _predicted(p, mv.task, c), c, mv.class_names, "shap-partition",
                            settings, mv.name, float(p[c]), float(p[c])) for c in cls]

    def fn(texts: Any) -> np.ndarray:
        out = np.asarray(mv.predict_proba([str(t) for t in texts]), dtype=np.float64)
        return out[:, None] if out.ndim == 1 else out

    masker = shap.maskers.Text(_WordTokenizer(), mask_token="...", collapse_mask_token=True)
    explainer = shap.PartitionExplainer(fn, masker, output_names=mv.class_names, seed=random_state)
    ex = explainer([text], max_evals=max(int(num_samples), 2 * len(tokens) + 1), silent=True)
    vals = np.asarray(ex.values)[0]
    base = np.asarray(ex.base_values).reshape(-1)
    out = []
    for c in cls:
        w = vals[:, c] if vals.ndim == 2 else vals
        w = np.resize(w, len(tokens)) if len(w) != len(tokens) else w
        out.append(Attribution(text, tokens, spans, w.tolist(), _predicted(p, mv.task, c), c, mv.class_names,
                               "shap-partition", settings, mv.name, float(base[c] if base.size > 1 else base[0]),
                               float(p[c])))
    return out


# --------------------------------------------------------------------------- dispatcher


def auto_method(model: Any) -> str:
    """The method ``explain_text(method="auto")`` picks for ``model``.

    Exact ones for TF-IDF students (``linear-exact``, ``tree-shap``) and
    linear static students (``static-exact``), ``shap-partition`` for anything else.
    """
    exact = {"linear": "linear-exact", "tree": "tree-shap", "static": "static-exact"}
    return exact.get(model_kind(model) or "", "shap-partition")


def _answering_part(model: Any, text: str) -> Any | None:
    """For a cascade (or a study row holding one), the part that answers ``text``; else None."""
    from ..students.cascade import CascadeClassifier

    cascade = getattr(model, "scorer", model)
    if not isinstance(cascade, CascadeClassifier):
        return None
    return cascade.fallback_ if cascade.deferred([text])[0] else cascade.fast_


def explain_labels(model: Any, text: str, method: str = "auto", *, label: int | str | None = None,
                   labels: Sequence[int] | None = None, num_samples: int = 500, num_features: int = 30,
                   random_state: int = 0, name: str | None = None, class_names: Sequence[str] | None = None,
                   task: str | None = None) -> list[Attribution]:
    """Like :func:`explain_text` but returns every explained class: for multilabel, one per active label.

    ``labels`` (class indices) explains exactly those classes, in that order,
    e.g. the predicted class and one the user picked.
    """
    if method not in METHODS:
        raise InputError(f"unknown explanation method {method!r}; choose one of {METHODS}")
    part = _answering_part(model, text)
    if part is not None:  # a cascade's answer is one part's answer: explain that part, with its own best method
        return explain_labels(part, text, method, label=label, labels=labels, num_samples=num_samples,
                              num_features=num_features, random_state=random_state, name=name,
                              class_names=class_names, task=task)
    if method == "auto":
        method = auto_method(model)
    if method == "lime":
        return explain_lime(model, text, label=label, labels=labels, num_samples=num_samples,
                            num_features=num_features, random_state=random_state, name=name,
                            class_names=class_names, task=task)
    if method == "linear-exact":
        return explain_linear(model, text, label=label, labels=labels, name=name, class_names=class_names)
    if method == "tree-shap":
        return explain_tree(model, text, label=label, labels=labels, name=name, class_names=class_names)
    if method == "static-exact":
        from .static import explain_static  # it builds on this module's helpers

        return explain_static(model, text, label=label, labels=labels, name=name, class_names=class_names)
    return explain_shap(model, text, label=label, labels=labels, num_samples=num_samples, random_state=random_state,
                        name=name, class_names=class_names, task=task)


def explain_text(model: Any, text: str, method: str = "auto", *, label: int | str | None = None,
            num_samples: int = 500, num_features: int = 30, random_state: int = 0, name: str | None = None,
            class_names: Sequence[str] | None = None, task: str | None = None) -> Attribution:
    """Explain one text with one model for one class (the predicted one unless ``label`` is given).

    Parameters
    ----------
    model : ModelEntry, fitted Pipeline(features, student), or callable texts -> proba
    text : str
    method : {"auto", "lime", "linear-exact", "tree-shap", "static-exact", "shap-partition"}
        ``auto``: exact ``coef * tfidf`` for linear TF-IDF students, tree SHAP
        for tree ones, exact per-token contributions for linear students on
        static token features, model-agnostic SHAP otherwise.
    label : int or str or None
        Class index or name to explain; default the predicted class (the top
        label for multilabel; see :func:`explain_labels` for every active one).
    num_samples, num_features, random_state
        Perturbation settings of LIME and agnostic SHAP.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.linear_model import LogisticRegression
    >>> from bert2sk.features import TfidfFeatures
    >>> pipe = make_pipeline(TfidfFeatures(min_df=1), LogisticRegression())
    >>> _ = pipe.fit(["a good film", "a bad film", "good fun", "bad plot"], [1, 0, 1, 0])
    >>> a = explain_text(pipe, "good fun", class_names=["neg", "pos"])
    >>> a.method, a.explained_name
    ('linear-exact', 'pos')
    >>> explain_text(pipe, "good fun", method="lime", num_samples=50).method
    'lime'
    """
    return explain_labels(model, text, method, label=label, num_samples=num_samples, num_features=num_features,
                          random_state=random_state, name=name, class_names=class_names, task=task)[0]


def explain(*args: Any, **kwargs: Any) -> Attribution:
    """Deprecated name of :func:`explain_text` (``bert2sk.explain`` is the subpackage); removed in the next release."""
    _warn_renamed(stacklevel=3)
    return explain_text(*args, **kwargs)


def _warn_renamed(stacklevel: int) -> None:
    """The FutureWarning of the old ``explain`` name, pointing at the caller ``stacklevel`` frames up."""
    warnings.warn("bert2sk.explain(...) is renamed bert2sk.explain_text(...); bert2sk.explain is the explanation "
                  "subpackage and will stop being callable in the next release", FutureWarning, stacklevel=stacklevel)
