"""Diagnostics as a JSON array, one object per diagnostic (columns 1-based, end exclusive)."""

from __future__ import annotations

import json
from typing import Iterable

from ..diagnostics import Diagnostic


def as_record(diagnostic: Diagnostic) -> dict[str, object]:
    span = diagnostic.span
    return {
        "path": diagnostic.path,
        "line": span.line,
        "column": span.column,
        "end_line": span.end_line,
        "end_column": span.end_column,
        "code": diagnostic.code,
        "severity": diagnostic.severity.value,
        "message": diagnostic.message,
        "help": diagnostic.help,
    }


def render_json(diagnostics: Iterable[Diagnostic]) -> str:
    return json.dumps([as_record(d) for d in diagnostics], indent=2, ensure_ascii=False)
