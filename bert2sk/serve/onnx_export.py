"""ONNX export of TF-IDF linear and tree students: raw texts in, probabilities out, in ONNX Runtime.

skl2onnx's own ``TfidfVectorizer`` converter does not reproduce bert2sk's
features: it refuses a custom preprocessor (``clean_text``), it rewrites the
default token pattern to ``[a-zA-Z0-9_]+`` (single letters become tokens, so
``"is a good"`` gets the bigram ``"a good"`` instead of ``"is good"``, and
accented words split), and it computes sublinear tf as ``log(1 + tf)`` where
scikit-learn uses ``1 + log(tf)``. This module therefore writes the graph
itself from the same standard operators (ONNX ``StringNormalizer`` and
``TfIdfVectorizer``, ONNX Runtime's ``Tokenizer``, ONNX-ML
``TreeEnsembleRegressor``), so that it computes what scikit-learn computes:

1. lower-case (``StringNormalizer``, locale ``C.UTF-8``);
2. split on ``<br>`` tags and on every character that is not a letter, digit
   or underscore, keeping pieces of two or more characters: the words of
   ``(?u)\\b\\w\\w+\\b`` after ``clean_text``;
3. count the vocabulary's n-grams (``TfIdfVectorizer``, mode TF), then
   ``1 + log(tf)``, ``* idf`` and the L2 norm, as ``TfidfTransformer``;
4. the student: ``x @ W + b`` and the same link as the compiled scorer
   (sigmoid, softmax, per-label sigmoids), or the trees with double
   thresholds, so the comparisons are scikit-learn's.

Limits (documented in the README; a parity test checks the rest): the
vectorizer must use the word analyzer, bert2sk's ``clean_text`` or no
preprocessor, the default token pattern, no stop words, no accent stripping
without ``clean_text`` and ``norm`` ``"l2"`` or ``None``; lower-casing of a few
special characters (``"İ"``, ``"ẞ"``) and ``<br>`` tags with non-ASCII
spaces inside differ from Python's; values are float32 (about 1e-7).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, require
from .compiled import CompiledScorer, compile_scorer
from .heads import LinearHead, TreeHead

__all__ = ["export_tfidf_onnx", "ONNX_OPSET", "SUPPORTED_TOKEN_PATTERN"]

ONNX_OPSET = 18
SUPPORTED_TOKEN_PATTERN = r"(?u)\b\w\w+\b"
# re2 syntax: an HTML line break, or one character that is not part of a word (Python's \w is [\pL\pN_])
_SEPARATORS = [r"<br\s*/?>", r"[^\pL\pN_]"]


def _check_vectorizer(vec: Any) -> None:
    """Refuse, with the reason, a vectorizer whose tokens the graph would not reproduce."""
    from ..features import clean_text

    problems = []
    if vec.analyzer != "word":
        problems.append(f"analyzer={vec.analyzer!r} (only 'word')")
    if vec.tokenizer is not None:
        problems.append("a custom tokenizer")
    if vec.preprocessor not in (None, clean_text):
        problems.append("a custom preprocessor (only bert2sk's clean_text)")
    if vec.preprocessor is None and vec.strip_accents:
        problems.append(f"strip_accents={vec.strip_accents!r}")
    if vec.token_pattern != SUPPORTED_TOKEN_PATTERN:
        problems.append(f"token_pattern={vec.token_pattern!r} (only the default {SUPPORTED_TOKEN_PATTERN!r})")
    if vec.get_stop_words():
        problems.append("stop words")
    if vec.norm not in ("l2", None):
        problems.append(f"norm={vec.norm!r} (only 'l2' or None)")
    if problems:
        raise InputError("this student's TF-IDF features cannot be exported to ONNX so that they match: "
                         + "; ".join(problems) + ". Serve it with `bert2sk serve` or the compiled scorer instead")


def _ngram_pool(vec: Any) -> tuple[list[str], list[int], list[int]]:
    """``TfIdfVectorizer``'s pool: n-grams ordered by n, their words, and the output column of each."""
    lo, hi = vec.ngram_range
    by_n: dict[int, list[tuple[list[str], int]]] = {n: [] for n in range(lo, hi + 1)}
    for term, col in vec.vocabulary_.items():
        words = term.split(" ")
        by_n[len(words)].append((words, int(col)))
    pool, counts, indexes = [], [], []
    for n in range(lo, hi + 1):
        counts.append(len(pool))
        for words, col in sorted(by_n[n]):
            pool.extend(words)
            indexes.append(col)
    return pool, counts, indexes


def _features(helper: Any, vec: Any, row: Any) -> tuple[list, list]:
    """Nodes and initializers from the input ``text`` to the TF-IDF matrix ``tfidf``."""
    from onnx import TensorProto

    nodes, inits = [], []
    lower = vec.preprocessor is not None or vec.lowercase
    src = "text"
    if lower:
        nodes.append(helper.make_node("StringNormalizer", ["text"], ["lowered"], case_change_action="LOWER",
                                      locale="C.UTF-8"))
        src = "lowered"
    pad = "#"  # never a word: not a word character
    nodes.append(helper.make_node("Tokenizer", [src], ["tokens"], domain="com.microsoft", mark=0, mincharnum=2,
                                  pad_value=pad, separators=_SEPARATORS))
    pool, counts, indexes = _ngram_pool(vec)
    lo, hi = vec.ngram_range
    nodes.append(helper.make_node("TfIdfVectorizer", ["tokens"], ["tf"], mode="TF", min_gram_length=lo,
                                  max_gram_length=hi, max_skip_count=0, pool_strings=pool, ngram_counts=counts,
                                  ngram_indexes=indexes))
    last = "tf"
    if vec.binary:
        nodes += [helper.make_node("Sign", ["tf"], ["tf_binary"])]
        last = "tf_binary"
    if vec.sublinear_tf:
        inits += [helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
                  helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])]
        nodes += [helper.make_node("Log", [last], ["log_tf"]), helper.make_node("Add", ["log_tf", "one"], ["log1"]),
                  helper.make_node("Greater", [last, "zero"], ["present"]),
                  helper.make_node("Where", ["present", "log1", "zero"], ["sub_tf"])]
        last = "sub_tf"
    if row.idf is not None:
        inits.append(helper.make_tensor("idf", TensorProto.FLOAT, [len(row.idf)], np.asarray(row.idf, np.float32)))
        nodes.append(helper.make_node("Mul", [last, "idf"], ["weighted"]))
        last = "weighted"
    if vec.norm == "l2":
        inits += [helper.make_tensor("axis1", TensorProto.INT64, [1], [1]),
                  helper.make_tensor("tiny", TensorProto.FLOAT, [], [1e-30])]
        nodes += [helper.make_node("Mul", [last, last], ["squares"]),
                  helper.make_node("ReduceSum", ["squares", "axis1"], ["sumsq"], keepdims=1),
                  helper.make_node("Sqrt", ["sumsq"], ["norm"]),
                  helper.make_node("Max", ["norm", "tiny"], ["safe_norm"]),  # an empty row stays zeros
                  helper.make_node("Div", [last, "safe_norm"], ["tfidf"])]
    else:
        nodes.append(helper.make_node("Identity", [last], ["tfidf"]))
    return nodes, inits


def _link(helper: Any, src: str, task: str) -> tuple[list, list]:
    """Nodes from per-class decisions ``src`` to ``probabilities`` (binary: the sigmoid of the class-1 row)."""
    from onnx import TensorProto

    if task == "multiclass":
        return [helper.make_node("Softmax", [src], ["probabilities"], axis=1)], []
    if task == "multilabel":
        return [helper.make_node("Sigmoid", [src], ["probabilities"])], []
    inits = [helper.make_tensor("col1", TensorProto.INT64, [1], [1]),
             helper.make_tensor("one_f", TensorProto.FLOAT, [], [1.0])]
    nodes = [helper.make_node("Gather", [src, "col1"], ["margin"], axis=1),
             helper.make_node("Sigmoid", ["margin"], ["p1"]),
             helper.make_node("Sub", ["one_f", "p1"], ["p0"]),
             helper.make_node("Concat", ["p0", "p1"], ["probabilities"], axis=1)]
    return nodes, inits


def _linear(helper: Any, head: LinearHead) -> tuple[list, list]:
    from onnx import TensorProto

    w = np.asarray(head.weights_t, dtype=np.float32)
    inits = [helper.make_tensor("W", TensorProto.FLOAT, list(w.shape), w.ravel()),
             helper.make_tensor("b", TensorProto.FLOAT, [len(head.intercept)], head.intercept.astype(np.float32))]
    nodes = [helper.make_node("MatMul", ["tfidf", "W"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["decision"])]
    more, more_inits = _link(helper, "decision", head.task)
    return nodes + more, inits + more_inits


def _tree_targets(head: TreeHead, t: int, tree: Any, leaf: int) -> list[tuple[int, float]]:
    """``(target, weight)`` pairs a leaf of tree ``t`` adds to the ensemble's output."""
    if head.mode == "regression":
        return [(j, float(v) * head.temperature) for j, v in enumerate(tree.value[leaf, :, 0].tolist())]
    total = float(tree.value[leaf, 0].sum()) or 1.0
    if head.mode == "classifier":
        return [(c, float(tree.value[leaf, 0, i]) / total) for i, c in enumerate(head.columns)]
    pos = head.positive[t]
    return [] if pos is None else [(t, float(tree.value[leaf, 0, pos]) / total)]


def _tree_attributes(head: TreeHead, used: dict[int, int]) -> dict[str, Any]:
    """TreeEnsembleRegressor attributes of every tree (features renumbered to the gathered columns)."""
    a: dict[str, list] = {k: [] for k in ("nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_modes",
                                          "nodes_values", "nodes_truenodeids", "nodes_falsenodeids",
                                          "target_treeids", "target_nodeids", "target_ids", "target_weights")}
    for t, tree in enumerate(head.trees):
        for node in range(len(tree.left)):
            leaf = tree.left[node] == -1
            a["nodes_treeids"].append(t)
            a["nodes_nodeids"].append(node)
            a["nodes_featureids"].append(0 if leaf else used[tree.feature[node]])
            a["nodes_modes"].append("LEAF" if leaf else "BRANCH_LEQ")
            a["nodes_values"].append(0.0 if leaf else tree.threshold[node])
            a["nodes_truenodeids"].append(0 if leaf else tree.left[node])
            a["nodes_falsenodeids"].append(0 if leaf else tree.right[node])
            for target, weight in (_tree_targets(head, t, tree, node) if leaf else []):
                a["target_treeids"].append(t)
                a["target_nodeids"].append(node)
                a["target_ids"].append(target)
                a["target_weights"].append(weight)
    return a


def _trees(helper: Any, head: TreeHead) -> tuple[list, list]:
    from onnx import TensorProto

    cols = sorted({f for tree in head.trees for f, left in zip(tree.feature, tree.left, strict=True) if left != -1})
    cols = cols or [0]
    used = {c: i for i, c in enumerate(cols)}
    a = _tree_attributes(head, used)
    n_targets = len(head.trees[0].value[0, :, 0]) if head.mode == "regression" else head.n_classes
    # thresholds and leaf weights as double tensors: float32 thresholds could round onto a training value
    values = helper.make_tensor("v", TensorProto.DOUBLE, [len(a["nodes_values"])], a.pop("nodes_values"))
    weights = helper.make_tensor("w", TensorProto.DOUBLE, [len(a["target_weights"])], a.pop("target_weights"))
    inits = [helper.make_tensor("used", TensorProto.INT64, [len(cols)], cols)]
    # double thresholds need a double input; the float32 TF-IDF values convert exactly
    nodes = [helper.make_node("Gather", ["tfidf", "used"], ["x_used"], axis=1),
             helper.make_node("Cast", ["x_used"], ["x_double"], to=TensorProto.DOUBLE),
             helper.make_node("TreeEnsembleRegressor", ["x_double"], ["tree_raw"], domain="ai.onnx.ml",
                              n_targets=n_targets, aggregate_function="SUM", nodes_values_as_tensor=values,
                              target_weights_as_tensor=weights, **a),
             helper.make_node("Cast", ["tree_raw"], ["tree_out"], to=TensorProto.FLOAT)]
    if head.mode != "regression":
        return nodes + [helper.make_node("Identity", ["tree_out"], ["probabilities"])], inits
    if head.task == "binary":  # one margin: make it the class-1 column of a two-column decision
        inits.append(helper.make_tensor("zero_col", TensorProto.FLOAT, [1, 1], [0.0]))
        nodes += [helper.make_node("Mul", ["tree_out", "zero_col"], ["zeros"]),
                  helper.make_node("Concat", ["zeros", "tree_out"], ["decision"], axis=1)]
        more, more_inits = _link(helper, "decision", "binary")
    else:
        more, more_inits = _link(helper, "tree_out", head.task)
    return nodes + more, inits + more_inits


def _graph(scorer: CompiledScorer, vec: Any, name: str) -> Any:
    import onnx
    from onnx import TensorProto, helper

    feat_nodes, feat_inits = _features(helper, vec, scorer.row)
    head_nodes, head_inits = (_linear(helper, scorer.head) if isinstance(scorer.head, LinearHead)
                              else _trees(helper, scorer.head))
    label = helper.make_node("ArgMax", ["probabilities"], ["label"], axis=1, keepdims=0)
    graph = helper.make_graph(
        feat_nodes + head_nodes + [label], name,
        [helper.make_tensor_value_info("text", TensorProto.STRING, ["N"])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", len(scorer.class_names)]),
         helper.make_tensor_value_info("label", TensorProto.INT64, ["N"])],
        feat_inits + head_inits)
    model = helper.make_model(graph, producer_name="bert2sk", opset_imports=[
        helper.make_opsetid("", ONNX_OPSET), helper.make_opsetid("ai.onnx.ml", 3),
        helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = min(model.ir_version, 10)  # what current ONNX Runtime releases read
    onnx.checker.check_model(model)
    return model


def export_tfidf_onnx(model: Any, path: str | os.PathLike, card: dict[str, Any] | None = None) -> Path:
    """Write a TF-IDF linear or tree student as one ONNX file: ``text`` in, ``probabilities`` and ``label`` out.

    Parameters
    ----------
    model : Pipeline
        A TF-IDF student that :func:`~bert2sk.serve.compile_scorer` accepts.
    path : path
        The ``.onnx`` file to write (replaced only once the new one is whole).
    card : dict or None
        The student's card; ``label_names`` and ``task`` go into the file's metadata.

    Returns
    -------
    Path of the file.

    Raises
    ------
    InputError
        The features or the student cannot be reproduced in ONNX (the message says what).
    """
    require("onnx", "onnx")
    import json

    from .._io import atomic_write_bytes

    try:
        scorer = compile_scorer(model, card)
    except InputError as exc:
        raise InputError(f"this student cannot be exported to ONNX by bert2sk: {exc}") from None
    vec = model.steps[0][1]
    _check_vectorizer(vec)
    onnx_model = _graph(scorer, vec, str((card or {}).get("name", "bert2sk student")))
    meta = {"format": "bert2sk-tfidf-onnx/1", "task": scorer.task, "label_names": scorer.class_names,
            "kind": scorer.kind}
    for key, value in meta.items():
        entry = onnx_model.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value) if not isinstance(value, str) else value
    out = Path(path)
    atomic_write_bytes(out, onnx_model.SerializeToString())
    return out
