"""``bert2sk serve``: a saved student behind HTTP (FastAPI, run by uvicorn).

Endpoints: ``POST /v1/predict`` (``{"texts": [...], "explain": k}`` -> per
text the labels, the probabilities and the top-``k`` reasons), ``GET
/healthz``, ``GET /v1/model`` (the student's card and the service's limits)
and the OpenAPI docs at ``/docs``.

Bad input is always answered in JSON, never with a traceback or a 500: a
body, a text count or a text longer than its limit gets 413 naming the
limit; malformed JSON, wrong types or an out-of-range ``explain`` get 422.
TF-IDF linear and tree students are scored by the compiled scorer (with
exact reasons); other students (embeddings, transformers) by the model
itself, without reasons.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..errors import Bert2skError, InputError
from .compiled import CompiledScorer, compile_scorer

__all__ = ["ServeLimits", "create_app", "Service"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServeLimits:
    """What one request may hold. Past a limit the answer is 413 with a JSON error naming it.

    Parameters
    ----------
    max_texts : int
        Texts per request.
    max_chars : int
        Characters per text.
    max_body_bytes : int
        Bytes of the request body.
    max_explain : int
        Largest ``explain`` (reasons per text).
    """

    max_texts: int = 256
    max_chars: int = 20_000
    max_body_bytes: int = 2_000_000
    max_explain: int = 50


class LimitError(Bert2skError):
    """A request past one of :class:`ServeLimits` (answered with 413)."""

    def __init__(self, message: str, limit: str, value: int) -> None:
        super().__init__(message)
        self.limit, self.value = limit, value


class Service:
    """A loaded student and how it scores requests, apart from HTTP (so it can be tested and timed alone).

    Parameters
    ----------
    model : fitted student (a Pipeline or a transformer/ONNX student)
    card : mapping
        Its card; ``label_names``, ``task`` and ``thresholds`` are used.
    limits : ServeLimits
    name : str or None
        How the service names the model (default: the card's ``name``).
    """

    def __init__(self, model: Any, card: Mapping[str, Any], limits: ServeLimits = ServeLimits(),
                 name: str | None = None) -> None:
        self.model = model
        self.card = dict(card)
        self.limits = limits
        self.name = name or str(self.card.get("name") or type(model).__name__)
        self.compiled: CompiledScorer | None = None
        self.cascade: Any | None = None
        if _is_cascade(model):
            from .compiled import compile_cascade

            # its fast part answers most texts: compiled, it gives their exact reasons at the compiled speed
            self.model = self.cascade = compile_cascade(model)
        else:
            try:
                self.compiled = compile_scorer(model, self.card)
            except InputError as exc:
                logger.info("serving %s through the model itself (%s)", self.name, exc)
        self.class_names = (self.compiled.class_names if self.compiled else
                            [str(c) for c in (self.card.get("label_names") or getattr(model, "classes_", []))])
        self.task = self.compiled.task if self.compiled else str(self.card.get("task", ""))
        self.thresholds = np.broadcast_to(np.asarray(self.card.get("thresholds", 0.5), dtype=float),
                                          (len(self.class_names),))

    def check(self, texts: list[str], explain: int) -> None:
        """Raise :class:`LimitError` (or InputError) for a request this service does not take."""
        lim = self.limits
        if not texts:
            raise InputError("texts is empty; send at least one text")
        if len(texts) > lim.max_texts:
            raise LimitError(f"{len(texts)} texts in one request; the limit is {lim.max_texts} (max_texts)",
                             "max_texts", lim.max_texts)
        for i, t in enumerate(texts):
            if len(t) > lim.max_chars:
                raise LimitError(f"texts[{i}] has {len(t):,} characters; the limit is {lim.max_chars:,} (max_chars)",
                                 "max_chars", lim.max_chars)
        if explain > lim.max_explain:
            raise InputError(f"explain is {explain}; the most reasons a text gets is {lim.max_explain} (max_explain)")
        if explain and self.compiled is None and self._cascade_fast() is None:
            raise InputError(f"{self.name} has no exact reasons to give (only TF-IDF linear and tree students do, "
                             "and cascades whose fast part is one); send explain: 0")

    def _labels(self, p: np.ndarray) -> list[str]:
        if self.task == "multilabel":
            on = sorted(np.flatnonzero(p >= self.thresholds).tolist(), key=lambda j: -p[j])
            return [self.class_names[j] for j in on]
        return [self.class_names[int(p.argmax())]]

    def predict(self, texts: list[str], explain: int = 0) -> list[dict[str, Any]]:
        """One result per text: ``labels``, ``probabilities`` (by class name) and, with ``explain``, ``reasons``."""
        self.check(texts, explain)
        if self.compiled is not None:
            return [self.compiled.score(t, k=explain).to_dict(self.class_names) for t in texts]
        if self.cascade is not None:
            return self._cascade_results(texts, explain)
        proba = np.asarray(self.model.predict_proba(texts), dtype=np.float64)
        return [{"labels": self._labels(p), "probabilities": dict(zip(self.class_names, map(float, p), strict=True)),
                 "explained": None, "reasons": []} for p in proba]

    def _cascade_fast(self) -> CompiledScorer | None:
        fast = getattr(self.cascade, "fast_", None)
        return fast if isinstance(fast, CompiledScorer) else None

    def _cascade_results(self, texts: list[str], explain: int) -> list[dict[str, Any]]:
        """A cascade's answers, each saying which part gave it; exact reasons where the compiled fast part did."""
        deferred = self.cascade.deferred(texts)
        proba = np.asarray(self.cascade.predict_proba(texts), dtype=np.float64)
        fast = self._cascade_fast()
        out = []
        for text, p, later in zip(texts, proba, deferred, strict=True):
            if explain and fast is not None and not later:
                rec = fast.score(text, k=explain).to_dict(self.class_names)
            else:
                rec = {"labels": self._labels(p), "explained": None, "reasons": [],
                       "probabilities": dict(zip(self.class_names, map(float, p), strict=True))}
            out.append({**rec, "answered_by": "fallback" if later else "fast"})
        return out

    def describe(self) -> dict[str, Any]:
        """The card, plus how this service scores and what it accepts."""
        reasons = ("exact" if self.compiled is not None else
                   "exact where the fast part answers" if self._cascade_fast() is not None else "none")
        return {**self.card, "serving": {"name": self.name, "compiled": self.compiled is not None,
                                         "reasons": reasons, "limits": asdict(self.limits)}}


def _is_cascade(model: Any) -> bool:
    from ..students.cascade import CascadeClassifier

    return isinstance(model, CascadeClassifier)


def _error(status: int, message: str, **extra: Any):
    from fastapi.responses import JSONResponse

    return JSONResponse({"error": message, **extra}, status_code=status)


class _BodyLimit:
    """ASGI middleware: a body over ``max_bytes`` (declared or streamed) is answered 413 before it is parsed."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    def _too_large(self, size: int | str):
        return _error(413, f"the request body has {size} bytes; the limit is {self.max_bytes:,} (max_body_bytes)",
                      limit="max_body_bytes", max=self.max_bytes)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(f"{int(declared):,}")(scope, receive, send)
            return
        seen = 0

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:  # a body streamed without a length: stop reading it here
                from starlette.exceptions import HTTPException

                raise HTTPException(413, f"the request body has more than {self.max_bytes:,} bytes; the limit is "
                                         f"{self.max_bytes:,} (max_body_bytes)")
            return message

        await self.app(scope, counted, send)


def _validation_message(errors: list[dict]) -> str:
    """Pydantic's errors in one line, without echoing the input (which may be a megabyte of text)."""
    parts = []
    for e in errors[:5]:
        where = ".".join(str(x) for x in e.get("loc", ()) if x != "body") or "body"
        parts.append(f"{where}: {e.get('msg', 'invalid')}")
    return "; ".join(parts) + ' (send {"texts": ["..."], "explain": 0})'


def create_app(model: Any, card: Mapping[str, Any] | None = None, limits: ServeLimits = ServeLimits(),
               name: str | None = None):
    """A FastAPI app serving ``model`` (run it with ``uvicorn.run(app)`` or ``bert2sk serve``).

    Parameters
    ----------
    model : fitted student
    card : mapping or None
        The student's card (``load_student`` returns it).
    limits : ServeLimits
    name : str or None

    Returns
    -------
    fastapi.FastAPI
    """
    from ..errors import require

    require("fastapi", "serve")
    service = Service(model, card or {}, limits, name)
    return _build(service)


def _build(service: Service):
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from ._schemas import PredictRequest, PredictResponse

    app = FastAPI(title=f"bert2sk: {service.name}", version="1",
                  description="Scores texts with a distilled bert2sk student and says why.")

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, _validation_message(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        extra = {"limit": "max_body_bytes", "max": service.limits.max_body_bytes} if exc.status_code == 413 else {}
        return _error(exc.status_code, str(exc.detail), **extra)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:  # a bug, never bad input
        logger.exception("error while serving %s", request.url.path)
        return _error(500, f"internal error ({type(exc).__name__}); the server log has the details")

    @app.get("/healthz", summary="Liveness: 200 while the model is loaded")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "model": service.name}

    @app.get("/v1/model", summary="The student's card and the service's limits", response_model=None)
    async def describe() -> JSONResponse:
        return JSONResponse(json.loads(json.dumps(service.describe(), default=str)))

    async def predict(req: PredictRequest) -> JSONResponse:
        try:
            results = (service.predict(req.texts, req.explain) if service.compiled is not None
                       else await _in_thread(service.predict, req.texts, req.explain))
        except LimitError as exc:
            return _error(413, str(exc), limit=exc.limit, max=exc.value)
        except InputError as exc:
            return _error(422, str(exc))
        return JSONResponse({"model": service.name, "results": results})

    # this module's annotations are strings (postponed); FastAPI needs the body model itself
    predict.__annotations__.update({"req": PredictRequest, "return": JSONResponse})
    app.post("/v1/predict", summary="Labels, probabilities and reasons of each text", response_model=None,
             responses={200: {"model": PredictResponse}, 413: {"description": "a limit was passed"},
                        422: {"description": "malformed request"}})(predict)

    app.add_middleware(_BodyLimit, max_bytes=service.limits.max_body_bytes)
    return app


async def _in_thread(fn: Any, *args: Any) -> Any:
    """Run a slow model (embeddings, transformers) off the event loop, so /healthz still answers."""
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn, *args)
