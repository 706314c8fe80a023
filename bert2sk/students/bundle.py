"""What every student saved as a folder shares: its card file, read with clear errors."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import ModelFileError

__all__ = ["CARD_FILE", "read_card"]

#: the JSON card inside a student folder (a Hugging Face model or an ONNX graph)
CARD_FILE = "bert2sk_student.json"


def read_card(directory: str | os.PathLike, expected_format: str | None = None) -> dict[str, Any]:
    """The card of the student folder ``directory``; refuse a folder of another format."""
    root = Path(directory)
    try:
        card = json.loads((root / CARD_FILE).read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        raise ModelFileError(f"{root} is a folder without a readable {CARD_FILE}, so it is not a saved student; "
                             "pass a .skops file or a student folder written by bert2sk") from None
    if not isinstance(card, dict):
        raise ModelFileError(f"{root / CARD_FILE} is not a student card; save the student again")
    if expected_format is not None and card.get("format") != expected_format:
        raise ModelFileError(f"{root} holds a {card.get('format')!r} model, not {expected_format}")
    return card
