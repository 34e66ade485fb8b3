"""The canonical layout of a spec (`abl fmt`), and the canonical text of AST nodes.

`format_spec(spec, source)` prints a parsed spec back as text:

* one statement per line, in source order; one space between tokens; `name = ...` with single
  spaces; lists as `[a, b, c]`; numbers and percentages exactly as written; strings in double
  quotes with `\\` and `"` escaped; the body of a `for each ...:` block indented 4 spaces per
  level;
* set operations (`|`, `&`, `-`, all of one precedence and left-associative) get parentheses only
  where the grammar needs them: around a right operand that is itself a set operation, and around
  a whole set operation where a single unit term is expected (after `ablating`, `of`, ...);
* at most one blank line between statements: one where the source had one or more; none at the
  start or the end; the file ends with exactly one newline.

Comments are not part of the AST, so they are recovered from the source text, line by line:

* a comment is a `#` outside a string, up to the end of its line (trailing spaces dropped);
* a comment on a line that holds part of a statement is *attached* to that statement. The one on
  the statement's last line stays at the end of the printed line (after two spaces); those on
  earlier lines of a statement written over several lines (a list broken across lines) are moved
  above the statement as full-line comments, in order. For a `for` block, the statement is its
  header line (`for each ...:`);
* every other comment is a full-line comment and keeps its place between the statements around
  it. It is indented like the statement that follows it, except that a comment after the last
  statement of a `for` body and indented deeper than the block's `for` line stays in the block
  (indented like its body).

`format_text(text, path)` parses and formats; when the text has syntax errors it returns no text,
only the diagnostics, so that a caller never rewrites a file it could not parse.

The canonical text of one node comes from unparse.py (re-exported here for the labels the
interpreter shows).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import ast
from .diagnostics import Diagnostic, DiagnosticSink
from .parser import parse_source
from .source import SourceFile
from .unparse import INDENT, statement_text


# ---- comments ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Comment:
    line: int
    indent: int          # columns before the `#` (tabs count 4)
    text: str            # from `#`, trailing spaces dropped
    alone: bool          # nothing but the comment on its line


def _comment_start(line: str) -> int | None:
    """Index of the `#` that starts a comment on this line, outside strings; None if none."""
    in_string = escaped = False
    for index, char in enumerate(line):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "#":
            return index
    return None


def _comments(source: SourceFile) -> dict[int, _Comment]:
    found = {}
    for number, line in enumerate(source.text.split("\n"), start=1):
        start = _comment_start(line)
        if start is None:
            continue
        before = line[:start]
        found[number] = _Comment(number, len(before.expandtabs(4)), line[start:].rstrip(),
                                 not before.strip())
    return found


# ---- layout -----------------------------------------------------------------------------------

def _header_end(statement) -> int:
    if isinstance(statement, ast.ForBlock):
        return max([statement.span.line] + [b.span.end_line for b in statement.binders])
    return max(statement.span.end_line, statement.span.line)


def _flatten(statements) -> list:
    out = []
    for statement in statements:
        out.append(statement)
        if isinstance(statement, ast.ForBlock):
            out.extend(_flatten(statement.body))
    return out


class _Layout:
    def __init__(self, spec: ast.Spec, source: SourceFile):
        self.source = source
        self.lines: list[str] = []
        self.prev_end: int | None = None           # source line of the last emitted item
        comments = _comments(source)
        flat = _flatten(spec.statements)
        self.attached: dict[int, list[_Comment]] = {}
        claimed: set[int] = set()
        for statement in flat:
            first, last = statement.span.line, _header_end(statement)
            mine = [comments[n] for n in range(first, last + 1) if n in comments]
            self.attached[id(statement)] = mine
            claimed.update(c.line for c in mine)
        self.pending = sorted((c for n, c in comments.items() if n not in claimed),
                              key=lambda c: c.line)
        # the source line of the statement after each block (in reading order), for the rule
        # that keeps a deeper-indented comment at the end of its block
        self.after: dict[int, float] = {}
        for index, statement in enumerate(flat):
            if isinstance(statement, ast.ForBlock):
                following = index + len(_flatten([statement]))
                self.after[id(statement)] = (flat[following].span.line if following < len(flat)
                                             else float("inf"))

    def _blank_between(self, start: int) -> bool:
        if self.prev_end is None:
            return False
        return any(not self.source.line_text(n).strip() for n in range(self.prev_end + 1, start))

    def _emit(self, text: str, depth: int, first: int, last: int) -> None:
        if self._blank_between(first):
            self.lines.append("")
        self.lines.append(INDENT * depth + text)
        self.prev_end = max(last, self.prev_end or 0)

    def _emit_comment(self, comment: _Comment, depth: int) -> None:
        self._emit(comment.text, depth, comment.line, comment.line)

    def comments_before(self, line: int, depth: int) -> None:
        while self.pending and self.pending[0].line < line:
            self._emit_comment(self.pending.pop(0), depth)

    def statement(self, statement, depth: int) -> None:
        first, last = statement.span.line, _header_end(statement)
        self.comments_before(first, depth)
        attached = self.attached[id(statement)]
        moved = [c for c in attached if c.line != last]
        trailing = [c for c in attached if c.line == last]
        if moved:
            # comments from inside a statement written over several lines: above it
            self._emit(moved[0].text, depth, first, first)
            for comment in moved[1:]:
                self.lines.append(INDENT * depth + comment.text)
        text = statement_text(statement)
        if trailing:
            text += "  " + trailing[0].text
        self._emit(text, depth, first, last)
        if isinstance(statement, ast.ForBlock):
            for inner in statement.body:
                self.statement(inner, depth + 1)
            indent = len(self.source.line_text(first).expandtabs(4)) - \
                len(self.source.line_text(first).expandtabs(4).lstrip())
            limit = self.after[id(statement)]
            while self.pending and self.pending[0].line < limit and self.pending[0].indent > indent:
                self._emit_comment(self.pending.pop(0), depth + 1)

    def finish(self) -> str:
        self.comments_before(float("inf"), 0)  # type: ignore[arg-type]
        return "\n".join(self.lines) + "\n" if self.lines else ""


def format_spec(spec: ast.Spec, source: SourceFile) -> str:
    """The canonical text of a parsed spec, with the comments of its source kept."""
    layout = _Layout(spec, source)
    for statement in spec.statements:
        layout.statement(statement, 0)
    return layout.finish()


@dataclass(frozen=True)
class FormatResult:
    text: str | None                      # None when the spec has syntax errors
    diagnostics: tuple[Diagnostic, ...]   # the syntax errors (nothing else is checked)

    @property
    def ok(self) -> bool:
        return self.text is not None


def format_text(text: str, path: str = "<string>") -> FormatResult:
    """Parse and format; no text comes back when the spec does not parse."""
    source = SourceFile.from_text(text, path)
    sink = DiagnosticSink(source)
    spec = parse_source(source, sink)
    if sink.has_errors:
        return FormatResult(None, tuple(d for d in sink.diagnostics if d.is_error))
    return FormatResult(format_spec(spec, source), ())
