"""A distillation study: teacher scores -> features -> students -> measurements, saved and re-read."""

from __future__ import annotations

from .run import FEATURE_KINDS, STUDENT_KINDS, ModelEntry, StudyResult, run_study

__all__ = ["ModelEntry", "StudyResult", "run_study", "FEATURE_KINDS", "STUDENT_KINDS"]
