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
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

__all__ = ["DemoRun", "DemoSettings", "PhaseTimes", "cache_dir", "demo_teacher", "run_demo", "split_demo_corpus"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoSettings:
    """Settings of the demo; the teacher part keys its cache directory."""

    n_test: int = 400
    n_labels: int = 200
    seed: int = 0
    # 2 epochs at 1e-4 with frozen word embeddings: held-out accuracy as 3 epochs at 5e-5 gave, in 45% less
    # compute (a first run within 10 minutes on a 2-core CPU without bf16)
    teacher_epochs: int = 2
    teacher_max_length: int = 128
    teacher_learning_rate: float = 1e-4
    teacher_batch_size: int = 16
    teacher_freeze_embeddings: bool = True
    n_docs: int = 20
    # LIME on the teacher costs ~500 teacher passes a document, the report's largest cost on a second run
    teacher_docs: int = 2
    # single-document calls timed per model (half that for encoders): 30 keep the mean within a few percent
    latency_runs: int = 30

    def teacher_key(self) -> str:
        part = {k: v for k, v in asdict(self).items() if k.startswith("teacher_") and k != "teacher_docs"
                or k in ("n_test", "seed")}
        part["recipe"] = 2
        return hashlib.sha256(json.dumps(part, sort_keys=True).encode()).hexdigest()[:12]


@dataclass
class PhaseTimes:
    """Wall-clock and CPU seconds of each phase of a run, in the order the phases ran.

    CPU seconds count every thread of this process (torch uses one per core),
    so on an otherwise idle machine they run up to ``cores`` times the wall
    time; on a busy machine the wall time grows while the CPU seconds stay.
    """

    wall: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the body of a ``with`` block as phase ``name`` (added to an earlier phase of that name)."""
        w0, c0 = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - w0, time.process_time() - c0)

    def add(self, name: str, wall: float, cpu: float | None = None) -> None:
        """Record ``wall`` (and ``cpu``) seconds for ``name``; ``cpu`` None when only wall time is known."""
        self.wall[name] = self.wall.get(name, 0.0) + wall
        if cpu is not None:
            self.cpu[name] = self.cpu.get(name, 0.0) + cpu

    def lines(self) -> list[str]:
        """One line per phase (wall, CPU, share of the wall total), then the total."""
        top = [n for n in self.wall if not n.startswith("  ")]
        total_wall = sum(self.wall[n] for n in top)
        total_cpu = sum(self.cpu.get(n, 0.0) for n in top)
        width = max(len(n) for n in self.wall) if self.wall else 5
        out = [f"{'phase':<{width}}  {'wall s':>7}  {'CPU s':>7}  {'share':>5}"]
        for name, wall in self.wall.items():
            cpu = f"{self.cpu[name]:7.1f}" if name in self.cpu else f"{'':>7}"
            out.append(f"{name:<{width}}  {wall:7.1f}  {cpu}  {wall / max(total_wall, 1e-9):5.0%}")
        out.append(f"{'total':<{width}}  {total_wall:7.1f}  {total_cpu:7.1f}")
        return out


class DemoRun(NamedTuple):
    """What :func:`run_demo` made: the study, the report, the students' folder and where the time went."""

    result: Any
    report: Path
    students: Path
    times: PhaseTimes


def cache_dir() -> Path:
    """Where bert2sk keeps its demo teacher and logit cache (``$BERT2SK_CACHE`` or ``~/.cache/bert2sk``)."""
    base = os.environ.get("BERT2SK_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "bert2sk")
    return Path(base)


def _split(settings: DemoSettings):
    from .data import load_demo_corpus

    return load_demo_corpus().split(settings.n_test, seed=settings.seed)


def split_demo_corpus(settings: DemoSettings = DemoSettings()):
    """The demo's ``(train, test)`` split of the shipped reviews (what its teacher and students see)."""
    return _split(settings)


def _teacher_dir(settings: DemoSettings) -> Path:
    return cache_dir() / f"demo-teacher-{settings.teacher_key()}"


def _fine_tune(settings: DemoSettings, out: Path, progress: bool) -> dict:
    from .runtime import resolve_dtype
    from .teacher.trainer import TrainingArguments, train_teacher

    train, _ = _split(settings)
    logger.info(f"teacher: fine-tuning the packaged all-MiniLM-L6-v2 on {len(train):,} labelled reviews "
                f"({settings.teacher_epochs} epochs, {settings.teacher_max_length} tokens head+tail, "
                f"{resolve_dtype('auto')} on this CPU) — first run only, cached afterwards")
    args = TrainingArguments(
        output_dir=str(out), epochs=settings.teacher_epochs, max_length=settings.teacher_max_length,
        learning_rate=settings.teacher_learning_rate, batch_size=settings.teacher_batch_size,
        seed=settings.seed, progress=progress, early_stopping_patience=None,
        freeze_embeddings=settings.teacher_freeze_embeddings,
    )
    result = train_teacher(train, args, resume=True)
    done = out / "bert2sk_training.json"
    return json.loads(done.read_text()) if done.exists() else {"result": {"history": result.history}}


def demo_teacher(settings: DemoSettings = DemoSettings(), progress: bool = True, retrain: bool = False,
                 times: PhaseTimes | None = None):
    """The demo's teacher: fine-tuned once on the 1,600 training reviews, then reused.

    An interrupted first run resumes from its last checkpoint. ``times``
    receives the ``fine-tuning`` phase (first run) and ``loading the teacher``.
    """
    from .teacher import Teacher

    times = times if times is not None else PhaseTimes()
    out = _teacher_dir(settings)
    done = out / "bert2sk_training.json"
    if done.exists() and (out / "config.json").exists() and not retrain:
        info = json.loads(done.read_text())
        logger.info("teacher: reusing the fine-tuned MiniLM-L6 (%s in the bert2sk cache)", out.name)
    else:
        with times.phase("fine-tuning the teacher"):
            info = _fine_tune(settings, out, progress)
    with times.phase("loading the teacher"):
        teacher = Teacher.from_pretrained(out, max_length=settings.teacher_max_length, progress=progress)
    return teacher, info


def _scenario(n_train: int, n_labels: int, n_test: int) -> str:
    return (
        f"Label-scarce distillation. A teacher (all-MiniLM-L6-v2 fine-tuned here on {n_train:,} labelled "
        f"reviews) exists; the user has only {n_labels} labels. Baselines learn from those "
        f"{n_labels} labels; distilled students learn from the teacher's scores on all {n_train:,} "
        f"training reviews (the {n_labels} labels included). Everything is measured on "
        f"{n_test} held-out reviews (Pang & Lee polarity v2.0, CC BY 4.0)."
    )


def _log_training(info: dict) -> None:
    history = (info.get("result") or info).get("history") or []
    if history:
        last = history[-1]
        logger.info(f"teacher: held-out accuracy during fine-tuning {last.get('eval_accuracy', float('nan')):.3f} "
                    f"after {last.get('epoch')} epochs")


def _study_phases(times: PhaseTimes, timings: dict[str, float]) -> None:
    """The study's own wall-clock split, shown indented under the study phase."""
    students = sum(v for k, v in timings.items() if k.startswith("students: "))
    parts = {"teacher scoring": timings.get("teacher scoring"), "features and students": students,
             "latency timing": timings.get("latency")}
    for name, wall in parts.items():
        if wall:
            times.add(f"  {name}", wall)


def _append_times(results_md: Path, times: PhaseTimes) -> None:
    from .runtime import resolve_dtype

    table = "\n".join(times.lines())
    results_md.write_text(results_md.read_text() + f"\n## Where the time went (this run, {resolve_dtype('auto')}; "
                          f"{os.cpu_count()} CPUs)\n\n```\n{table}\n```\n")


def run_demo(out_dir: str | Path = "bert2sk-demo", settings: DemoSettings = DemoSettings(), progress: bool = True,
             retrain: bool = False) -> DemoRun:
    """Run the demo end to end.

    ``out_dir`` receives the saved study (``bert2sk report --study`` re-renders it) and ``report.html``;
    its RESULTS.md ends with where the time went.
    """
    times = PhaseTimes()
    with times.phase("set-up (imports, data)"):
        from .study import run_study, save_study

        train, test = _split(settings)
        scarce = train.keep_labels(settings.n_labels, seed=settings.seed)
    out_dir = Path(out_dir)
    teacher, info = demo_teacher(settings, progress=progress, retrain=retrain, times=times)
    scenario = _scenario(len(train), settings.n_labels, len(test))
    _log_training(info)
    logger.info(scenario)
    with times.phase("study (scoring, students, latency)"):
        result = run_study(
            teacher, scarce, test, cache_path=cache_dir() / "logits.sqlite", title="bert2sk demo: movie reviews",
            scenario=scenario, seed=settings.seed, progress=progress, latency_runs=settings.latency_runs,
        )
    _study_phases(times, result.timings)
    with times.phase("saving the study"):
        save_study(result, out_dir)
    with times.phase("report (LIME, figures)"):
        from .report import write_report

        report = write_report(result, out_dir / "report.html", n_docs=settings.n_docs,
                              teacher_docs=settings.teacher_docs)
    _append_times(out_dir / "RESULTS.md", times)
    return DemoRun(result, Path(report), out_dir / "students", times)
