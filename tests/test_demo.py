"""The demo: its teacher's cache key, where its time goes, and a whole run on a tiny cached teacher."""

from __future__ import annotations

import json
import shutil
import time

import pytest

from bert2sk.demo import DemoSettings, PhaseTimes


def test_phase_times_count_wall_and_cpu_and_keep_sub_phases_out_of_the_total():
    times = PhaseTimes()
    with times.phase("busy"):
        end = time.process_time() + 0.05
        while time.process_time() < end:  # CPU work: CPU seconds follow it
            pass
    with times.phase("waiting"):
        time.sleep(0.05)  # no CPU work: wall time only
    times.add("  part of busy", 0.01)
    times.add("waiting", 0.5, 0.0)  # the same phase again adds up
    assert times.cpu["busy"] >= 0.05 and times.wall["busy"] >= 0.05
    assert times.wall["waiting"] >= 0.55 and times.cpu["waiting"] < 0.03
    lines = times.lines()
    assert lines[0].split() == ["phase", "wall", "s", "CPU", "s", "share"]
    assert [line.split()[0] for line in lines[1:]] == ["busy", "waiting", "part", "total"]
    total = float(lines[-1].split()[1])
    assert total == pytest.approx(times.wall["busy"] + times.wall["waiting"], abs=0.06)  # sub-phase not counted
    assert lines[3].split()[-1].endswith("%") and len(lines[3].split()) == 5  # a sub-phase has no CPU figure


def test_the_teacher_cache_key_follows_the_teacher_recipe_only():
    base = DemoSettings()
    assert DemoSettings(n_docs=5, teacher_docs=1, latency_runs=10, n_labels=100).teacher_key() == base.teacher_key()
    for changed in (DemoSettings(teacher_epochs=base.teacher_epochs + 1), DemoSettings(teacher_max_length=64),
                    DemoSettings(teacher_learning_rate=1e-3), DemoSettings(seed=1), DemoSettings(n_test=300),
                    DemoSettings(teacher_freeze_embeddings=not base.teacher_freeze_embeddings)):
        assert changed.teacher_key() != base.teacher_key()


@pytest.mark.slow
def test_a_whole_demo_run_on_a_cached_tiny_teacher(tmp_path, monkeypatch, tiny_teacher_trained):
    """Everything after fine-tuning, on the shipped reviews: study, saved study, report, the time table."""
    from bert2sk.demo import cache_dir, run_demo

    monkeypatch.setenv("BERT2SK_CACHE", str(tmp_path / "cache"))
    settings = DemoSettings(n_labels=40, n_docs=2, teacher_docs=1, latency_runs=5)
    # the demo reuses a teacher cached under its key: put the tiny one there
    teacher_dir = cache_dir() / f"demo-teacher-{settings.teacher_key()}"
    shutil.copytree(tiny_teacher_trained, teacher_dir)
    run = run_demo(tmp_path / "out", settings, progress=False)
    assert run.report.is_file() and run.students.is_dir()
    assert (run.result.n_train, run.result.n_labelled) == (1600, 40)
    assert "fine-tuning the teacher" not in run.times.wall  # cached: no fine-tuning
    for phase in ("set-up (imports, data)", "loading the teacher", "study (scoring, students, latency)",
                  "saving the study", "report (LIME, figures)", "  teacher scoring", "  latency timing"):
        assert run.times.wall[phase] > 0, phase
    text = (tmp_path / "out" / "RESULTS.md").read_text()
    assert "## Where the time went" in text and "report (LIME, figures)" in text
    assert str(tmp_path) not in text
    study = json.loads((tmp_path / "out" / "study.json").read_text())
    assert study["n_labelled"] == 40 and study["teacher"] == teacher_dir.name
