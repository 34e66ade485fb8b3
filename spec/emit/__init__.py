"""Diagnostic output formats. Every format is built from the same `Diagnostic` records."""

from __future__ import annotations

from typing import Iterable

from ..diagnostics import Diagnostic
from .github import render_github
from .json import render_json
from .sarif import render_sarif
from .text import render_text, summary_line

FORMATS = ("text", "json", "github", "sarif")

__all__ = ["FORMATS", "emit", "render_github", "render_json", "render_sarif", "render_text",
           "summary_line"]


def emit(diagnostics: Iterable[Diagnostic], fmt: str, color: bool = False, tool_version: str = "0") -> str:
    """Render `diagnostics` in format `fmt` (one of FORMATS); raises ValueError on any other."""
    diagnostics = list(diagnostics)
    if fmt == "text":
        return render_text(diagnostics, color)
    if fmt == "json":
        return render_json(diagnostics)
    if fmt == "github":
        return render_github(diagnostics)
    if fmt == "sarif":
        return render_sarif(diagnostics, tool_version)
    raise ValueError(f"unknown output format `{fmt}` (expected one of {', '.join(FORMATS)})")
