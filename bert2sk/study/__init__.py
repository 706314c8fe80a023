"""A distillation study: teacher scores -> features -> students -> measurements, saved and re-read.

:func:`run_study` fits and measures every student the registered kinds
offer (:mod:`bert2sk.study.specs`); :func:`save_study` and
:func:`load_study` keep the result on disk so the report and users can
read it without running anything again.
"""

from __future__ import annotations

from .cascade import add_cascade
from .result import ModelEntry, StudyResult
from .run import FEATURE_KINDS, STUDENT_KINDS, run_study
from .specs import FeatureSet, StudentSpec, StudyContext, get_kind, kind_names, register_kind
from .store import load_study, save_study

__all__ = ["ModelEntry", "StudyResult", "run_study", "save_study", "load_study", "register_kind", "get_kind",
           "kind_names", "StudentSpec", "StudyContext", "FeatureSet", "FEATURE_KINDS", "STUDENT_KINDS", "add_cascade"]
