"""bert2sk: distil a fine-tuned BERT classifier into small, explainable scikit-learn students.

The public API is imported lazily, so ``import bert2sk`` stays cheap and
loads neither torch nor transformers until a teacher is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_API = {
    "Corpus": "data",
    "load_table": "data",
    "load_aclimdb": "data",
    "load_demo_corpus": "data",
    "load_clinc150": "data",
    "load_goemotions": "data",
    "load_hub": "data",
    "Teacher": "teacher",
    "TeacherScores": "teacher",
    "TrainingArguments": "teacher",
    "train_teacher": "teacher",
    "label_texts": "teacher",
    "LogitCache": "teacher",
    "run_study": "study",
    "StudyResult": "study",
    "save_study": "study",
    "load_study": "study",
    "fit_classifier": "teacher",
    "distillation_loss": "teacher",
    "TransformerStudent": "students",
    "OnnxStudent": "students",
    "CascadeClassifier": "students",
    "explain_text": "explain",
    "Attribution": "explain",
    "write_report": "report",
    "packaged_encoder_path": "teacher",
    "TfidfFeatures": "features",
    "SentenceEmbeddings": "features",
    "StaticFeatures": "features",
    "augment_texts": "features",
    "augment_corpus": "features",
    "DistilledClassifier": "students",
    "SoftTargetClassifier": "students",
    "make_baseline": "students",
    "make_distilled": "students",
    "evaluate": "metrics",
    "expected_calibration_error": "metrics",
    "fidelity": "metrics",
    "save_student": "persistence",
    "load_student": "persistence",
    "compile_scorer": "serve",
    "CompiledScorer": "serve",
    "create_app": "serve",
    "ServeLimits": "serve",
    "export_tfidf_onnx": "serve",
    "Bert2skError": "errors",
    "InputError": "errors",
    "ModelFileError": "errors",
    "TokenCorpus": "tokens",
    "load_conll": "tokens",
    "LinearTokenStudent": "tokens",
    "TokenTeacher": "tokens",
    "train_token_teacher": "tokens",
    "TokenTransformerStudent": "tokens",
}

__all__ = [
    "Attribution",
    "Bert2skError",
    "CascadeClassifier",
    "CompiledScorer",
    "Corpus",
    "DistilledClassifier",
    "InputError",
    "LogitCache",
    "ModelFileError",
    "OnnxStudent",
    "SentenceEmbeddings",
    "ServeLimits",
    "SoftTargetClassifier",
    "StaticFeatures",
    "StudyResult",
    "Teacher",
    "TeacherScores",
    "TfidfFeatures",
    "TrainingArguments",
    "TransformerStudent",
    "augment_corpus",
    "augment_texts",
    "compile_scorer",
    "create_app",
    "distillation_loss",
    "evaluate",
    "expected_calibration_error",
    "explain",
    "explain_text",
    "export_tfidf_onnx",
    "fidelity",
    "fit_classifier",
    "label_texts",
    "load_aclimdb",
    "load_clinc150",
    "load_demo_corpus",
    "load_goemotions",
    "load_hub",
    "load_student",
    "load_study",
    "load_table",
    "make_baseline",
    "make_distilled",
    "packaged_encoder_path",
    "run_study",
    "save_student",
    "save_study",
    "train_teacher",
    "write_report",
    "TokenCorpus",
    "load_conll",
    "LinearTokenStudent",
    "TokenTeacher",
    "train_token_teacher",
    "TokenTransformerStudent",
    "__version__",
]

if TYPE_CHECKING:  # pragma: no cover
    from . import explain
    from .data import Corpus, load_aclimdb, load_clinc150, load_demo_corpus, load_goemotions, load_hub, load_table
    from .errors import Bert2skError, InputError, ModelFileError
    from .explain import Attribution, explain_text
    from .features import SentenceEmbeddings, StaticFeatures, TfidfFeatures, augment_corpus, augment_texts
    from .metrics import evaluate, expected_calibration_error, fidelity
    from .persistence import load_student, save_student
    from .report import write_report
    from .serve import CompiledScorer, ServeLimits, compile_scorer, create_app, export_tfidf_onnx
    from .students import (
        CascadeClassifier,
        DistilledClassifier,
        OnnxStudent,
        SoftTargetClassifier,
        TransformerStudent,
        make_baseline,
        make_distilled,
    )
    from .study import StudyResult, load_study, run_study, save_study
    from .teacher import (
        LogitCache,
        Teacher,
        TeacherScores,
        TrainingArguments,
        distillation_loss,
        fit_classifier,
        label_texts,
        packaged_encoder_path,
        train_teacher,
    )
    from .tokens.data import TokenCorpus, load_conll
    from .tokens.student import LinearTokenStudent
    from .tokens.teacher import TokenTeacher, train_token_teacher
    from .tokens.transformer import TokenTransformerStudent


def __getattr__(name: str):
    if name == "explain":  # the subpackage (the function is explain_text); calling it is deprecated
        return importlib.import_module(".explain", __name__)
    if name in _API:
        module = importlib.import_module(f".{_API[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'bert2sk' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
