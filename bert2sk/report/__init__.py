"""The HTML report: study result -> plain data -> one self-contained, script-free HTML file.

>>> from bert2sk.report import render_html
>>> "<style>" in render_html({"title": "x", "minimal": True})
True
"""

from __future__ import annotations

from .data import build_report_data, highlight_segments
from .render import render_html, render_report, write_report

__all__ = ["build_report_data", "render_report", "render_html", "write_report", "highlight_segments"]
