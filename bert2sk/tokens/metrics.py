"""Token-task figures: entity P/R/F1 (seqeval, exact span and type), token accuracy, per-type F1, fidelity.

Entity scores come from seqeval (the conlleval reading of IOB2): an entity
counts as found only when its span *and* its type match exactly. Fidelity
compares a student with its teacher instead of with the gold tags:

- ``word_fidelity``: share of words given the teacher's tag;
- ``span_fidelity``: share of the entity spans either model predicts on which both agree
  (same words, same type): ``|S & T| / |S | T|``, 1.0 when neither predicts any.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import InputError

__all__ = ["entity_spans", "token_scores", "token_fidelity", "per_type_f1"]

Tags = Sequence[Sequence[str]]


def _check(a: Tags, b: Tags, what: str) -> None:
    if len(a) != len(b):
        raise InputError(f"{what}: {len(a)} sentences against {len(b)}; score the same sentences")
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        if len(x) != len(y):
            raise InputError(f"{what}: sentence {i} has {len(x)} tags against {len(y)}; one tag per word in both")


def entity_spans(tags: Tags) -> set[tuple[int, str, int, int]]:
    """``(sentence, type, first_word, last_word)`` of every entity (seqeval's chunking).

    Examples
    --------
    >>> sorted(entity_spans([["B-PER", "I-PER", "O"], ["O", "B-LOC"]]))
    [(0, 'PER', 0, 1), (1, 'LOC', 1, 1)]
    """
    from seqeval.metrics.sequence_labeling import get_entities

    out = set()
    for s, seq in enumerate(tags):
        for typ, start, end in get_entities(list(seq)):
            out.add((s, typ, start, end))
    return out


def per_type_f1(gold: Tags, pred: Tags) -> dict[str, float]:
    """Entity F1 per type (exact span), from seqeval's report."""
    from seqeval.metrics import classification_report

    _check(gold, pred, "per_type_f1")
    rep = classification_report([list(s) for s in gold], [list(s) for s in pred], output_dict=True,
                                zero_division=0)
    return {k: float(v["f1-score"]) for k, v in rep.items() if not k.endswith(" avg")}


def token_scores(gold: Tags, pred: Tags) -> dict[str, float]:
    """Entity precision/recall/F1 (micro over entities, exact span and type), token accuracy and F1 per type.

    Returns
    -------
    dict
        ``entity_precision``, ``entity_recall``, ``entity_f1``, ``token_accuracy``, ``n_entities``
        (gold), and ``f1_<TYPE>`` per entity type.

    Examples
    --------
    >>> gold = [["B-PER", "I-PER", "O", "B-LOC"]]
    >>> pred = [["B-PER", "O", "O", "B-LOC"]]
    >>> s = token_scores(gold, pred)
    >>> s["entity_f1"], s["token_accuracy"], s["f1_LOC"], s["f1_PER"]
    (0.5, 0.75, 1.0, 0.0)
    """
    from seqeval.metrics import f1_score, precision_score, recall_score

    _check(gold, pred, "token_scores")
    g, p = [list(s) for s in gold], [list(s) for s in pred]
    n_words = sum(len(s) for s in g)
    right = sum(a == b for x, y in zip(g, p, strict=True) for a, b in zip(x, y, strict=True))
    out = {
        "entity_precision": float(precision_score(g, p, zero_division=0)),
        "entity_recall": float(recall_score(g, p, zero_division=0)),
        "entity_f1": float(f1_score(g, p, zero_division=0)),
        "token_accuracy": right / max(n_words, 1),
        "n_entities": len(entity_spans(g)),
    }
    out.update({f"f1_{k}": v for k, v in sorted(per_type_f1(g, p).items())})
    return out


def token_fidelity(teacher: Tags, student: Tags) -> dict[str, float]:
    """``word_fidelity``, ``span_fidelity`` (see the module notes) and ``entity_f1_vs_teacher``.

    Examples
    --------
    >>> t = [["B-PER", "I-PER", "O", "B-LOC"]]
    >>> s = [["B-PER", "I-PER", "O", "B-ORG"]]
    >>> f = token_fidelity(t, s)
    >>> f["word_fidelity"], round(f["span_fidelity"], 3)
    (0.75, 0.333)
    """
    from seqeval.metrics import f1_score

    _check(teacher, student, "token_fidelity")
    same = sum(a == b for x, y in zip(teacher, student, strict=True) for a, b in zip(x, y, strict=True))
    n = sum(len(s) for s in teacher)
    ts, ss = entity_spans(teacher), entity_spans(student)
    union = ts | ss
    return {"word_fidelity": same / max(n, 1),
            "span_fidelity": len(ts & ss) / len(union) if union else 1.0,
            "entity_f1_vs_teacher": float(f1_score([list(x) for x in teacher], [list(x) for x in student],
                                                   zero_division=0))}
