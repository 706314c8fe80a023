"""Embedding and serving a student: the compiled one-text scorer, ONNX export and the HTTP service.

* :func:`compile_scorer` / :class:`CompiledScorer` — a TF-IDF linear or tree
  student scoring one text with its exact reasons in microseconds.
"""

from __future__ import annotations

from .compiled import PARITY_TOLERANCE, CompiledScorer, Score, compile_scorer

__all__ = ["compile_scorer", "CompiledScorer", "Score", "PARITY_TOLERANCE"]
