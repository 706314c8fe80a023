"""Embedding and serving a student: the compiled one-text scorer, ONNX export and the HTTP service.

* :func:`compile_scorer` / :class:`CompiledScorer` — a TF-IDF linear or tree
  student scoring one text with its exact reasons in microseconds;
  :func:`compile_cascade` gives a cascade's fast part the same speed.
* :func:`export_tfidf_onnx` — the same students as one ONNX graph (texts in,
  probabilities out) for ONNX Runtime (``bert2sk[onnx]``).
* :func:`create_app` / :class:`ServeLimits` — the FastAPI service behind
  ``bert2sk serve`` (FastAPI and uvicorn come with ``bert2sk[serve]``).
"""

from __future__ import annotations

from .app import ServeLimits, Service, create_app
from .compiled import PARITY_TOLERANCE, CompiledScorer, Score, compile_cascade, compile_scorer
from .onnx_export import export_tfidf_onnx

__all__ = ["compile_scorer", "compile_cascade", "CompiledScorer", "Score", "PARITY_TOLERANCE", "create_app",
           "ServeLimits", "Service", "export_tfidf_onnx"]
