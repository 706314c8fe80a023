"""Token-level distillation (named entities): corpora, teacher, metrics, students, study and report.

Modules that need torch (the teacher, the transformer student) are imported
when first used, so ``import bert2sk.tokens`` stays cheap.
"""

from __future__ import annotations

import importlib

from .data import TokenCorpus, load_btc, load_conll, load_token_jsonl, load_tokens, repair_iob2
from .decode import decode_iob2
from .features import TokenFeatures
from .metrics import token_fidelity, token_scores
from .student import LinearTokenStudent

_LAZY = {
    "TokenTeacher": "teacher",
    "train_token_teacher": "teacher",
    "score_words": "teacher",
    "TokenTransformerStudent": "transformer",
    "run_token_study": "study",
    "measure_latency": "study",
    "build_token_report_data": "report",
    "render_token_report": "report",
}

__all__ = ["LinearTokenStudent", "TokenCorpus", "TokenFeatures", "decode_iob2", "load_btc", "load_conll",
           "load_token_jsonl", "load_tokens", "repair_iob2", "token_fidelity", "token_scores", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'bert2sk.tokens' has no attribute {name!r}")
