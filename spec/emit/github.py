"""Diagnostics as GitHub Actions workflow commands (annotations on the pull request diff).

    ::error file=examples/bad.abl,line=3,col=22,endLine=3,endColumn=30,title=E302::unknown metric ...

Escaping follows @actions/core: data escapes `%`, CR and LF; property values also `:` and `,`.
`endColumn` is the column of the span's last character (inclusive), and is only given when the
span stays on one line, since GitHub ignores columns on multi-line annotations.
"""

from __future__ import annotations

from typing import Iterable

from ..diagnostics import Diagnostic, Severity
from ._paths import relative_path


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(diagnostic: Diagnostic) -> str:
    span = diagnostic.span
    command = "error" if diagnostic.severity is Severity.ERROR else "warning"
    props = [("file", relative_path(diagnostic.path)), ("line", str(span.line)), ("col", str(span.column)),
             ("endLine", str(max(span.end_line, span.line)))]
    if span.end_line <= span.line:
        props.append(("endColumn", str(max(span.end_column - 1, span.column))))
    props.append(("title", diagnostic.code))
    message = diagnostic.message
    if diagnostic.help:
        message += f"\nhelp: {diagnostic.help}"
    properties = ",".join(f"{key}={escape_property(value)}" for key, value in props)
    return f"::{command} {properties}::{escape_data(message)}"


def render_github(diagnostics: Iterable[Diagnostic]) -> str:
    return "\n".join(annotation(d) for d in diagnostics)
