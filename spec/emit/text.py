"""Human diagnostics in the rustc / ruff style, built from `Diagnostic` records.

    examples/bad.abl:3:22: E302 error: unknown metric `activaton`
      |
    3 | units hot = top 5 by activaton for class 7 in fc2
      |                      ^^^^^^^^^
      |
      = help: did you mean `activation`?

The first line is always `path:line:col: CODE severity: message`, so editors that understand
`path:line:col:` can jump to it. Colour (rich) is used only when asked for; the plain text has
no escape codes. Tabs are expanded and wide / combining characters measured, so the carets stay
under the span whatever the line contains.
"""

from __future__ import annotations

import io
import unicodedata
from typing import Iterable, Sequence

from ..diagnostics import Diagnostic, Severity

TAB_WIDTH = 4


# ---- display-width helpers ------------------------------------------------------------------

def _char_width(char: str) -> int:
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def _display(text: str, start_column: int = 0) -> tuple[str, int]:
    """(printable text, its display width); tabs expanded relative to `start_column`."""
    out: list[str] = []
    width = start_column
    for char in text:
        if char == "\t":
            pad = TAB_WIDTH - width % TAB_WIDTH
            out.append(" " * pad)
            width += pad
        elif unicodedata.category(char) == "Cc":
            out.append("\ufffd")     # never write raw control characters (ESC, ...) to a terminal
            width += 1
        else:
            out.append(char)
            width += _char_width(char)
    return "".join(out), width - start_column


def _last_line(diagnostic: Diagnostic) -> int:
    """The last line the span covers a character of (a span ending just after a newline ends
    on the line before)."""
    span = diagnostic.span
    if span.end_line > span.line and span.end_column == 1:
        return span.end_line - 1
    return max(span.end_line, span.line)


def _caret_geometry(diagnostic: Diagnostic) -> tuple[str, int, int]:
    """(displayed source line, caret offset, caret count) in display columns."""
    line = diagnostic.source_line
    span = diagnostic.span
    start = max(span.column - 1, 0)
    if _last_line(diagnostic) > span.line:
        end = len(line)                               # multi-line: carets to the end of the first line
    else:
        end = max(span.end_column - 1, start)
    shown, _ = _display(line)
    _, offset = _display(line[:start])
    _, length = _display(line[start:end], offset)
    if start > len(line):                             # a span past the end of the line (e.g. at EOF)
        offset += start - len(line)
    return shown, offset, max(length, 1)


# ---- rendering -------------------------------------------------------------------------------

def _pieces(diagnostic: Diagnostic) -> list[list[tuple[str, str]]]:
    """The diagnostic as lines of (text, rich style) pieces; plain and colour share this."""
    severity = diagnostic.severity.value
    accent = "bold red" if diagnostic.severity is Severity.ERROR else "bold yellow"
    span = diagnostic.span
    lines: list[list[tuple[str, str]]] = [[
        (f"{diagnostic.path}:{span.line}:{span.column}:", "bold"),
        (" ", ""),
        (diagnostic.code, accent),
        (" ", ""),
        (f"{severity}:", accent),
        (" ", ""),
        (diagnostic.message, "bold"),
    ]]
    if diagnostic.source_line.strip():
        number = str(span.line)
        pad = " " * len(number)
        gutter = "bold blue"
        shown, offset, length = _caret_geometry(diagnostic)
        carets = "^" * length
        if _last_line(diagnostic) > span.line:
            carets += f" (continues to line {_last_line(diagnostic)})"
        lines += [
            [(f"{pad} |", gutter)],
            [(f"{number} |", gutter), (" " + shown, "")],
            [(f"{pad} |", gutter), (" " + " " * offset, ""), (carets, accent)],
        ]
        if diagnostic.help:
            lines += [[(f"{pad} |", gutter)],
                      [(f"{pad} = ", gutter), ("help:", "bold cyan"), (" " + _one_line(diagnostic.help), "")]]
    elif diagnostic.help:
        lines.append([("  = ", "bold blue"), ("help:", "bold cyan"), (" " + _one_line(diagnostic.help), "")])
    return lines


def _one_line(text: str) -> str:
    return " ".join(text.splitlines())


def render_one(diagnostic: Diagnostic, color: bool = False) -> str:
    return _render([_pieces(diagnostic)], color)


def render_text(diagnostics: Iterable[Diagnostic], color: bool = False) -> str:
    """All diagnostics, one block each, blank line between; ends with a newline ("" if none)."""
    blocks = [_pieces(d) for d in diagnostics]
    if not blocks:
        return ""
    return _render(blocks, color)


def _render(blocks: Sequence[list[list[tuple[str, str]]]], color: bool) -> str:
    if not color:
        return "\n\n".join("\n".join("".join(text for text, _ in line).rstrip() for line in block)
                           for block in blocks) + "\n"
    from rich.console import Console
    from rich.text import Text

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, no_color=False, color_system="standard",
                      width=100_000, soft_wrap=True, highlight=False, emoji=False, markup=False,
                      force_jupyter=False, legacy_windows=False)
    for index, block in enumerate(blocks):
        if index:
            console.print()
        for line in block:
            text = Text()
            for piece, style in line:
                text.append(piece, style=style or None)
            text.rstrip()
            console.print(text)
    return buffer.getvalue()


def summary_line(diagnostics: Sequence[Diagnostic], files_checked: int) -> str:
    """One closing line: "2 errors, 1 warning in 2 of 3 files" or "all 4 files clean"."""
    diagnostics = list(diagnostics)
    errors = sum(d.is_error for d in diagnostics)
    warnings = len(diagnostics) - errors
    if not diagnostics:
        if files_checked == 0:
            return "no files checked"
        return "1 file clean" if files_checked == 1 else f"all {files_checked} files clean"
    parts = []
    if errors:
        parts.append(_plural(errors, "error"))
    if warnings:
        parts.append(_plural(warnings, "warning"))
    affected = len({d.path for d in diagnostics})
    total = max(files_checked, affected)
    where = _plural(total, "file") if affected == total else f"{affected} of {total} files"
    return f"{', '.join(parts)} in {where}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"
