"""The token study: scikit-learn token students against their teacher, in two regimes, as one results table.

Regimes (the teacher scores every training sentence either way):

- ``all``: every training sentence teacher-scored (distilled) vs. every one gold-tagged (baseline);
- ``scarce``: ``n_labelled`` sentences gold-tagged (a seeded draw), the rest teacher-scored
  (distilled: gold where there is gold, the teacher elsewhere) vs. the same model on the
  ``n_labelled`` gold sentences alone (baseline).

Settings (the ridge penalty) are chosen on dev by entity F1; test is scored once per model.
Every row gets the same figures: entity P/R/F1, per-type F1, token accuracy, fidelity to the
teacher (words, whole spans), size. Latency is measured apart, all models side by side
(:func:`measure_latency`), because it needs the models in one process at one time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .data import TokenCorpus
from .decode import decode_iob2
from .metrics import token_fidelity, token_scores
from .student import LinearTokenStudent

__all__ = ["TokenStudyRow", "run_token_study", "measure_latency", "scarce_split", "evaluate_tags"]


@dataclass
class TokenStudyRow:
    """One model's figures on the test split."""

    model: str
    regime: str
    kind: str  # teacher | distilled | baseline | transformer
    setting: str = ""
    scores: dict[str, float] = field(default_factory=dict)
    size_bytes: int | None = None
    fit_seconds: float | None = None
    dev_entity_f1: float | None = None
    latency_ms: float | None = None

    def flat(self) -> dict[str, Any]:
        return {"model": self.model, "regime": self.regime, "kind": self.kind, "setting": self.setting,
                **{k: round(v, 4) if isinstance(v, float) else v for k, v in self.scores.items()},
                "dev_entity_f1": None if self.dev_entity_f1 is None else round(self.dev_entity_f1, 4),
                "size_mb": None if self.size_bytes is None else round(self.size_bytes / 1e6, 2),
                "fit_seconds": None if self.fit_seconds is None else round(self.fit_seconds, 1),
                "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 3)}


def evaluate_tags(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]],
                  teacher: Sequence[Sequence[str]] | None) -> dict[str, float]:
    """Gold scores plus (given the teacher's tags) word and span fidelity."""
    out = token_scores(gold, pred)
    if teacher is not None:
        out.update(token_fidelity(teacher, pred))
    return out


def scarce_split(n: int, n_labelled: int, seed: int = 0) -> np.ndarray:
    """Boolean mask of the ``n_labelled`` sentences (of ``n``) that keep their gold tags."""
    mask = np.zeros(n, dtype=bool)
    mask[np.random.default_rng(seed).permutation(n)[:n_labelled]] = True
    return mask


def _fit_choose(make: Callable[[Any], LinearTokenStudent], grid: Sequence, fit_args: Callable[[], tuple],
                dev: TokenCorpus, log: Callable[[str], None], name: str
                ) -> tuple[LinearTokenStudent, Any, float, float]:
    best = None
    for value in grid:
        t0 = time.perf_counter()
        est = make(value).fit(*fit_args())
        secs = time.perf_counter() - t0
        f1 = token_scores(dev.tags, est.predict(dev.tokens))["entity_f1"]
        log(f"{name} {value}: dev entity F1 {f1:.4f} (fit {secs:.0f}s)")
        if best is None or f1 > best[2]:
            best = (est, value, f1, secs)
    return best  # type: ignore[return-value]


def run_token_study(train: TokenCorpus, dev: TokenCorpus, test: TokenCorpus, teacher_logits: dict[str, list],
                    *, regimes: Sequence[str] = ("all", "scarce"), n_labelled: int = 1000,
                    alphas: Sequence[float] = (1.0, 3.0), min_count: int = 2, seed: int = 0,
                    log: Callable[[str], None] = print) -> tuple[list[TokenStudyRow], dict[str, Any]]:
    """Teacher row plus distilled and baseline scikit-learn students per regime, scored on test.

    Parameters
    ----------
    train, dev, test : TokenCorpus
        Gold-tagged splits with the teacher's tag set.
    teacher_logits : dict
        ``{"train": [...], "dev": [...], "test": [...]}``, one ``(n_words, n_tags)`` array per sentence.

    Returns
    -------
    rows : list of TokenStudyRow
    fitted : dict
        The fitted students by row name and the teacher's test tags (for the report and latency).
    """
    names = train.tag_names
    t_tags = {s: [decode_iob2(z, names) for z in teacher_logits[s]] for s in ("dev", "test")}
    rows = [TokenStudyRow("teacher (MiniLM-L6 fine-tuned)", "all", "teacher",
                          scores=evaluate_tags(test.tags, t_tags["test"], t_tags["test"]),
                          dev_entity_f1=token_scores(dev.tags, t_tags["dev"])["entity_f1"])]
    fitted: dict[str, Any] = {"teacher_tags": t_tags}
    z_train = teacher_logits["train"]

    def add(name: str, regime: str, kind: str, est: LinearTokenStudent, setting: str, dev_f1: float,
            secs: float) -> None:
        pred = est.predict(test.tokens)
        rows.append(TokenStudyRow(name, regime, kind, setting, evaluate_tags(test.tags, pred, t_tags["test"]),
                                  est.size_bytes_, secs, dev_f1))
        fitted[name] = est
        log(f"{name}: test entity F1 {rows[-1].scores['entity_f1']:.4f}, "
            f"word fidelity {rows[-1].scores['word_fidelity']:.4f}")

    def ridge(tag_names=names):
        return lambda a: LinearTokenStudent(tag_names=tag_names, alpha=a, min_count=min_count)

    for regime in regimes:
        if regime == "all":
            y_gold, z_dist, y_dist = train.tags, z_train, None
        elif regime == "scarce":
            keep = scarce_split(len(train), n_labelled, seed)
            y_gold = [t if k else None for t, k in zip(train.tags, keep, strict=True)]
            y_dist = y_gold
            z_dist = [None if k else z for z, k in zip(z_train, keep, strict=True)]
        else:
            raise ValueError(f"unknown regime {regime!r}")
        label = "all" if regime == "all" else f"{n_labelled} gold"
        est, a, f1, secs = _fit_choose(ridge(), alphas, lambda z=z_dist, y=y_dist: (train.tokens, y, z), dev, log,
                                       f"[{regime}] distilled ridge")
        add(f"ridge on teacher logits ({label})", regime, "distilled", est, f"alpha={a}", f1, secs)
        est, a, f1, secs = _fit_choose(ridge(), alphas, lambda y=y_gold: (train.tokens, y, None), dev, log,
                                       f"[{regime}] gold ridge")
        add(f"ridge on gold tags ({label})", regime, "baseline", est, f"alpha={a}", f1, secs)
        est, c, f1, secs = _fit_choose(
            lambda c: LinearTokenStudent(tag_names=names, head="logistic", C=c, min_count=min_count), (1.0,),
            lambda y=y_gold: (train.tokens, y, None), dev, log, f"[{regime}] gold logistic")
        add(f"logistic regression on gold tags ({label})", regime, "baseline", est, f"C={c}", f1, secs)
    return rows, fitted


def measure_latency(models: dict[str, Callable[[list[str]], Any]], sentences: Sequence[Sequence[str]],
                    warmup: int = 5) -> dict[str, dict[str, float]]:
    """Mean, std and median milliseconds per sentence, one sentence per call, models interleaved.

    Interleaving (each sentence through every model before the next) puts every model under the same
    machine load, so the ratios hold even when the absolute figures drift.
    """
    sents = [list(s) for s in sentences]
    for fn in models.values():
        for s in sents[:warmup]:
            fn(s)
    times: dict[str, list[float]] = {name: [] for name in models}
    for s in sents:
        for name, fn in models.items():
            t0 = time.perf_counter()
            fn(s)
            times[name].append(time.perf_counter() - t0)
    return {name: {"mean_ms": 1000 * float(np.mean(t)), "std_ms": 1000 * float(np.std(t)),
                   "median_ms": 1000 * float(np.median(t)), "n": len(t)} for name, t in times.items()}
