"""Diagnostic records: the one structure every output format (text, JSON, GitHub, SARIF) is built from."""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from .errors import AblError
from .severity import Severity  # noqa: F401 (re-exported: diagnostics carry it)
from .source import SourceFile, Span


@dataclass(frozen=True)
class Diagnostic:
    code: str
    severity: Severity
    message: str
    path: str
    span: Span
    source_line: str
    help: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def sort_key(self) -> tuple:
        return (self.path, self.span.start, self.code)


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b")


class DiagnosticSink:
    """Collects diagnostics for one source file; the same (code, span) is only reported once."""

    def __init__(self, source: SourceFile):
        self.source = source
        self._items: list[Diagnostic] = []
        self._seen: set[tuple[str, int, int, str]] = set()

    def report(self, code: str, message: str, span: Span, help: str | None = None) -> None:
        from .codes import severity_of

        message = _ANSI.sub("", message)            # never a raw terminal escape in a message
        help = _ANSI.sub("", help) if help else help
        key = (code, span.start, span.end, message)
        if key in self._seen:
            return
        self._seen.add(key)
        self._items.append(
            Diagnostic(code, severity_of(code), message, self.source.path, span,
                       self.source.line_text(span.line), help)
        )

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return sorted(self._items, key=Diagnostic.sort_key)

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self._items)


def closest(word: str, candidates: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(word, sorted(set(candidates)), n=1, cutoff=0.6)
    return matches[0] if matches else None


_BARE_NAME = re.compile(r"([A-Za-z_][A-Za-z0-9_]*|\d+(\.\d+)*\.(?![eE][+-]?\d)[A-Za-z_][A-Za-z0-9_]*)(\.[A-Za-z0-9_]+)*")


def spec_form(name: str) -> str:
    """A name as it is written in a spec: bare when the grammar reads it as a name (`fc2`,
    `1._blocks.5`), else quoted (an all-number module path: `"0"`, `"1.0"`)."""
    return name if _BARE_NAME.fullmatch(name) else json.dumps(name)


def did_you_mean(word: str, candidates: Iterable[str], prefix: str = "", pasteable: bool = False) -> str | None:
    """A `help:` text proposing the closest candidate, or None. `pasteable`: the candidate as it
    is written in a spec (`spec_form`)."""
    match = closest(word, candidates)
    if match and pasteable:
        match = spec_form(match)
    return f"did you mean `{prefix}{match}`?" if match else None


def listing(candidates: Sequence[str], limit: int = 12, pasteable: bool = False) -> str:
    items = [spec_form(c) if pasteable else c for c in candidates]
    shown = ", ".join(f"`{c}`" for c in items[:limit])
    if len(items) > limit:
        shown += f", … ({len(items) - limit} more)"
    return shown


class SpecError(AblError):
    """Raised by the front-end's pipeline when a spec has errors; carries every diagnostic."""

    def __init__(self, diagnostics: list[Diagnostic]):
        errors = sum(d.is_error for d in diagnostics)
        super().__init__(f"{errors} error(s) in spec")
        self.diagnostics = diagnostics

    def __str__(self) -> str:
        # what a notebook or a traceback shows: the diagnostics themselves, one line each
        lines = [f"{self.args[0]}:"]
        for d in self.diagnostics:
            lines.append(f"{d.path}:{d.span.line}:{d.span.column}: {d.code} {d.severity.value}: {d.message}")
            if d.help:
                lines.append(f"  = help: {d.help}")
        return "\n".join(lines)
