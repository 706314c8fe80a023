"""The one attribution type every explainer returns, and the word tokeniser behind it.

Every explainer (LIME, exact linear, tree SHAP, model-agnostic SHAP) ends
in the same :class:`Attribution`: the original text, its words as
character spans into that text, and one weight per word for one class.
Keeping spans (not re-joined strings) is what lets a report highlight the
exact characters the user wrote, including IMDB's ``<br />`` markup.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = ["Attribution", "tokenize", "WORD_PATTERN", "BR_PATTERN"]

# Words are maximal runs of word characters, as scikit-learn's default token
# pattern sees them, so TF-IDF terms map back to whole words.
WORD_PATTERN = re.compile(r"\w+")
# HTML line breaks are markup, not words: TF-IDF drops them (clean_text) and
# so must the tokeniser, or "br" would get weights.
BR_PATTERN = re.compile(r"<br\s*/?>", re.IGNORECASE)


def tokenize(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """Words of ``text`` and their ``(start, end)`` character spans, skipping ``<br />`` tags.

    Examples
    --------
    >>> tokenize("Great film!<br /><br />Loved it")
    (['Great', 'film', 'Loved', 'it'], [(0, 5), (6, 10), (23, 28), (29, 31)])
    >>> tokenize("!!! ...")
    ([], [])
    """
    tags = [m.span() for m in BR_PATTERN.finditer(text)]
    tokens: list[str] = []
    spans: list[tuple[int, int]] = []
    t = 0
    for m in WORD_PATTERN.finditer(text):
        s, e = m.span()
        while t < len(tags) and tags[t][1] <= s:
            t += 1
        if t < len(tags) and tags[t][0] <= s < tags[t][1]:
            continue
        tokens.append(m.group())
        spans.append((s, e))
    return tokens, spans


@dataclass
class Attribution:
    """Per-word weights for one text, one model and one class.

    Parameters
    ----------
    text : str
        The original text, exactly as given.
    tokens : list of str
        Words of ``text`` (``text[start:end]`` for each span).
    spans : list of (int, int)
        Character ``(start, end)`` of each token in ``text``.
    weights : list of float
        One weight per token towards ``explained_class`` (positive = for it).
    predicted_class, explained_class : int
        Class (or label) indices into ``class_names``.
    class_names : list of str
    method : str
        ``"lime"``, ``"linear-exact"``, ``"tree-shap"``, ``"static-exact"`` or ``"shap-partition"``.
    settings : dict
        What reproduces it: ``num_samples``, ``random_state``, ...
    model : str
        Name of the explained model.
    base_value : float
        The model output with no words (intercept, expected value, LIME
        intercept); ``base_value + sum(term_weights)`` is the explained output
        for exact methods.
    output : float
        The explained output itself (decision value or probability), ``nan``
        when the method has none.
    terms, term_weights : list
        Feature-level weights before they were spread over words (TF-IDF
        n-grams, or a static student's tokens, for exact methods); empty
        when words are the features.

    Examples
    --------
    >>> a = Attribution("a good film", ["a", "good", "film"], [(0, 1), (2, 6), (7, 11)], [0.0, 0.9, -0.1],
    ...                 1, 1, ["neg", "pos"], "linear-exact")
    >>> a.top(1)
    [('good', 0.9)]
    >>> Attribution.from_json(a.to_json()) == a
    True
    """

    text: str
    tokens: list[str]
    spans: list[tuple[int, int]]
    weights: list[float]
    predicted_class: int
    explained_class: int
    class_names: list[str]
    method: str
    settings: dict[str, Any] = field(default_factory=dict)
    model: str = ""
    base_value: float = 0.0
    output: float = float("nan")
    terms: list[str] = field(default_factory=list)
    term_weights: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.tokens = [str(t) for t in self.tokens]
        self.spans = [(int(s), int(e)) for s, e in self.spans]
        self.weights = [float(w) for w in self.weights]
        self.class_names = [str(c) for c in self.class_names]
        self.terms = [str(t) for t in self.terms]
        self.term_weights = [float(w) for w in self.term_weights]
        self.predicted_class = int(self.predicted_class)
        self.explained_class = int(self.explained_class)
        self.base_value = float(self.base_value)
        self.output = float(self.output)
        if not (len(self.tokens) == len(self.spans) == len(self.weights)):
            from ..errors import InputError

            raise InputError(
                f"an attribution needs one span and one weight per token; got {len(self.tokens)} tokens, "
                f"{len(self.spans)} spans and {len(self.weights)} weights"
            )

    @property
    def explained_name(self) -> str:
        return self.class_names[self.explained_class]

    @property
    def predicted_name(self) -> str:
        return self.class_names[self.predicted_class]

    def word_scores(self) -> dict[str, float]:
        """Weight per lower-cased word, summed over its occurrences (what rankings compare)."""
        out: dict[str, float] = {}
        for tok, w in zip(self.tokens, self.weights, strict=True):
            key = tok.lower()
            out[key] = out.get(key, 0.0) + w
        return out

    def top(self, k: int = 10) -> list[tuple[str, float]]:
        """The ``k`` strongest words by ``|weight|`` (occurrences summed), strongest first."""
        items = [(w, s) for w, s in self.word_scores().items() if s != 0.0]
        items.sort(key=lambda ws: (-abs(ws[1]), ws[0]))
        return items[:k]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (spans as lists)."""
        d = asdict(self)
        d["spans"] = [list(s) for s in self.spans]
        d["settings"] = _jsonable(self.settings)
        for key in ("base_value", "output"):
            d[key] = None if not np.isfinite(d[key]) else d[key]
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Attribution:
        d = dict(data)
        d["spans"] = [tuple(s) for s in d.get("spans", [])]
        for key in ("base_value", "output"):
            if d.get(key) is None:
                d[key] = float("nan") if key == "output" else 0.0
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Attribution:
        return cls.from_dict(json.loads(text))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Attribution):
            return NotImplemented
        a, b = self.to_dict(), other.to_dict()
        return a == b


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj
