"""Report data -> one self-contained HTML file (Jinja2, autoescape on, no JavaScript)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .._io import atomic_write_bytes

__all__ = ["render_html", "render_report", "write_report"]

_TEMPLATE = "report.html.j2"


def _env():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    # autoescape everywhere: every user string (texts, label and model names) is escaped by default;
    # only the SVG figures, which matplotlib wrote and escaped itself, are marked safe in the template
    return Environment(loader=FileSystemLoader(str(Path(__file__).parent / "templates")), autoescape=True,
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render_html(data: dict[str, Any]) -> str:
    """The report as an HTML string.

    Examples
    --------
    >>> html = render_html({"title": "<t>", "minimal": True})
    >>> "&lt;t&gt;" in html and "<script" not in html
    True
    """
    data = {"minimal": False, **data}
    return _env().get_template(_TEMPLATE).render(**data)


def _atomic_write(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def render_report(data: dict[str, Any], path: str | os.PathLike) -> Path:
    """Render report data (from :func:`build_report_data`) to ``path``, atomically; returns the path."""
    path = Path(path)
    _atomic_write(path, render_html(data))
    return path


def write_report(result: Any, path: str | os.PathLike, **kwargs: Any) -> Path:
    """Build the data of ``result`` (a StudyResult) and write the HTML report to ``path``.

    ``kwargs`` go to :func:`~bert2sk.report.build_report_data` (``n_docs``,
    ``doc_indices``, ``teacher_docs``, ``lime_samples``, ``seed``, ...).
    """
    from .data import build_report_data

    return render_report(build_report_data(result, **kwargs), path)
