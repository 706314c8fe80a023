"""Request and response bodies of the HTTP service (pydantic models: validation and the OpenAPI docs)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

__all__ = ["PredictRequest", "PredictResponse", "TextResult", "Reason"]


class PredictRequest(BaseModel):
    """Texts to score; ``explain`` reasons per text (0 for none)."""

    model_config = ConfigDict(extra="forbid")
    texts: list[StrictStr] = Field(description="The texts, one result each, in order.")
    explain: StrictInt = Field(0, ge=0, description="How many reasons (TF-IDF terms with exact weights) per text.")


class Reason(BaseModel):
    term: str
    weight: float


class TextResult(BaseModel):
    labels: list[str] = Field(description="The predicted class (multilabel: every label at or above its threshold).")
    probabilities: dict[str, float]
    explained: str | None = Field(description="The class the reasons are for.")
    reasons: list[Reason]
    answered_by: str | None = Field(None, description="A cascade: which part answered this text (fast or fallback).")


class PredictResponse(BaseModel):
    model: str
    results: list[TextResult]
