"""Checks shared by every public entry point that takes texts or labels."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from .errors import InputError


def check_texts(texts: object, *, name: str = "texts", allow_empty_strings: bool = False) -> list[str]:
    """Return ``texts`` as a list of str, or raise :class:`InputError`."""
    if isinstance(texts, str):
        raise InputError(
            f"{name} must be a list of strings, not a single string; wrap it: [{texts[:30]!r}...]"
        )
    if texts is None:
        raise InputError(f"{name} is None; pass a list of strings")
    try:
        out = list(texts.tolist() if hasattr(texts, "tolist") else texts)  # type: ignore[union-attr]
    except TypeError:
        raise InputError(f"{name} must be a list of strings, got {type(texts).__name__}") from None
    if not out:
        raise InputError(f"{name} is empty; pass at least one text")
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise InputError(
                f"{name}[{i}] is {type(t).__name__} ({t!r:.40}), not a string; "
                "convert or drop non-string entries (e.g. missing values) first"
            )
        if not allow_empty_strings and not t.strip():
            raise InputError(f"{name}[{i}] is empty or whitespace only; drop empty texts first")
    return out


def check_same_length(n: int, other: Sequence | np.ndarray | None, what: str, texts_name: str = "texts") -> None:
    if other is not None and len(other) != n:
        raise InputError(
            f"{what} has {len(other)} rows but there are {n} {texts_name}; "
            f"pass one row of {what} per text, in the same order"
        )


def check_labels_known(labels: Iterable, known: Sequence, what: str = "labels") -> None:
    known_set = set(known)
    unknown = sorted({str(v) for v in labels if v not in known_set})
    if unknown:
        raise InputError(
            f"{what} contain values not among the label names {list(known)!r}: {unknown[:5]!r}; "
            "fix the labels or pass the full list of label names"
        )
