"""The embedded default: the whole pipeline offline on the shipped polarity reviews.

Scenario (the one distillation is for): a fine-tuned teacher exists, the user
has only a few hundred labels, and wants a small, fast, explainable model.
The teacher is fine-tuned here, once, from the packaged all-MiniLM-L6-v2 on
the 1,600 training reviews and cached; the students then see only 200 of
those labels plus the teacher's scores on all 1,600 reviews.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["DemoSettings", "cache_dir", "demo_teacher", "run_demo"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoSettings:
    """Settings of the demo; the teacher part keys its cache directory."""

    n_test: int = 400
    n_labels: int = 200
    seed: int = 0
    teacher_epochs: int = 3
    teacher_max_length: int = 128
    teacher_learning_rate: float = 5e-5
    teacher_batch_size: int = 16
    n_docs: int = 20
    teacher_docs: int = 3

    def teacher_key(self) -> str:
        part = {k: v for k, v in asdict(self).items() if k.startswith("teacher_") or k in ("n_test", "seed")}
        part["recipe"] = 1
        return hashlib.sha256(json.dumps(part, sort_keys=True).encode()).hexdigest()[:12]


def cache_dir() -> Path:
    """Where bert2sk keeps its demo teacher and logit cache (``$BERT2SK_CACHE`` or ``~/.cache/bert2sk``)."""
    base = os.environ.get("BERT2SK_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "bert2sk")
    return Path(base)


def _split(settings: DemoSettings):
    from .data import load_demo_corpus

    return load_demo_corpus().split(settings.n_test, seed=settings.seed)


def demo_teacher(settings: DemoSettings = DemoSettings(), progress: bool = True, retrain: bool = False):
    """The demo's teacher: fine-tuned once on the 1,600 training reviews, then reused.

    An interrupted first run resumes from its last checkpoint.
    """
    from .teacher import Teacher
    from .teacher.trainer import TrainingArguments, train_teacher

    out = cache_dir() / f"demo-teacher-{settings.teacher_key()}"
    done = out / "bert2sk_training.json"
    if done.exists() and (out / "config.json").exists() and not retrain:
        info = json.loads(done.read_text())
        logger.info("teacher: reusing the fine-tuned MiniLM-L6 (%s in the bert2sk cache)", out.name)
        return Teacher.from_pretrained(out, max_length=settings.teacher_max_length, progress=progress), info
    train, _ = _split(settings)
    logger.info(f"teacher: fine-tuning the packaged all-MiniLM-L6-v2 on {len(train):,} labelled reviews "
        f"({settings.teacher_epochs} epochs, {settings.teacher_max_length} tokens head+tail, bf16 where the CPU "
        "has it) — first run only, cached afterwards")
    args = TrainingArguments(
        output_dir=str(out), epochs=settings.teacher_epochs, max_length=settings.teacher_max_length,
        learning_rate=settings.teacher_learning_rate, batch_size=settings.teacher_batch_size,
        seed=settings.seed, progress=progress, early_stopping_patience=None,
    )
    result = train_teacher(train, args, resume=True)
    info = json.loads(done.read_text()) if done.exists() else {"result": {"history": result.history}}
    return Teacher.from_pretrained(out, max_length=settings.teacher_max_length, progress=progress), info


def run_demo(out_dir: str | Path = "bert2sk-demo", settings: DemoSettings = DemoSettings(), progress: bool = True,
             retrain: bool = False):
    """Run the demo end to end; returns ``(StudyResult, report_path, students_dir)``.

    ``out_dir`` receives the saved study (``bert2sk report --study`` re-renders it) and ``report.html``.
    """
    from .study import run_study, save_study

    out_dir = Path(out_dir)
    teacher, info = demo_teacher(settings, progress=progress, retrain=retrain)
    train, test = _split(settings)
    scarce = train.keep_labels(settings.n_labels, seed=settings.seed)
    scenario = (
        f"Label-scarce distillation. A teacher (all-MiniLM-L6-v2 fine-tuned here on {len(train):,} labelled "
        f"reviews) exists; the user has only {settings.n_labels} labels. Baselines learn from those "
        f"{settings.n_labels} labels; distilled students learn from the teacher's scores on all {len(train):,} "
        f"training reviews (the {settings.n_labels} labels included). Everything is measured on "
        f"{len(test)} held-out reviews (Pang & Lee polarity v2.0, CC BY 4.0)."
    )
    history = (info.get("result") or info).get("history") or []
    if history:
        last = history[-1]
        logger.info(f"teacher: held-out accuracy during fine-tuning {last.get('eval_accuracy', float('nan')):.3f} "
                    f"after {last.get('epoch')} epochs")
    logger.info(scenario)
    result = run_study(
        teacher, scarce, test, cache_path=cache_dir() / "logits.sqlite", title="bert2sk demo: movie reviews",
        scenario=scenario, seed=settings.seed, progress=progress,
    )
    save_study(result, out_dir)
    from .report import write_report

    report = write_report(result, out_dir / "report.html", n_docs=settings.n_docs, teacher_docs=settings.teacher_docs)
    return result, Path(report), out_dir / "students"
