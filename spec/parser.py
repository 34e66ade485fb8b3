"""Text -> Lark tree -> typed AST. Lark's exceptions are translated into diagnostics here, and
only here; several syntax errors are reported in one pass by blanking the offending line and
parsing again."""

from __future__ import annotations

import dataclasses
import difflib
import functools
import re
from importlib import resources

from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.indenter import DedentError, Indenter

from . import ast
from .hints import _operator_hint
from .diagnostics import DiagnosticSink
from .lower import lower
from .source import SourceFile

MAX_SYNTAX_ERRORS = 25


class _SpecIndenter(Indenter):
    NL_type = "_NL"
    OPEN_PAREN_types = ["LSQB", "LPAR"]
    CLOSE_PAREN_types = ["RSQB", "RPAR"]
    INDENT_type = "_INDENT"
    DEDENT_type = "_DEDENT"
    tab_len = 4


@functools.lru_cache(maxsize=None)
def grammar_text() -> str:
    return resources.files(__package__).joinpath("grammar.lark").read_text(encoding="utf-8")


@functools.lru_cache(maxsize=None)
def _parser() -> Lark:
    return Lark(grammar_text(), parser="lalr", lexer="contextual", postlex=_SpecIndenter(),
                propagate_positions=True, maybe_placeholders=False, cache=False)


@functools.lru_cache(maxsize=None)
def _value_parser() -> Lark:
    """Parses a single value (for `--set NAME=VALUE`)."""
    text = grammar_text().replace("start: _NL? _statement*", "start: value")
    return Lark(text, parser="lalr", lexer="contextual", propagate_positions=True,
                maybe_placeholders=False, start="start", postlex=None)


# How terminals are shown to users: the text they would type, or a description.
_TERMINAL_WORDS = {
    "NAME": "a name",
    "NUMBER": "a number",
    "PERCENT": "a percentage",
    "STRING": 'a string in double quotes',
    "PARAM_REF": "a `$parameter`",
    "_NL": "end of line",
    "_INDENT": "an indented block",
    "_DEDENT": "the end of the indented block",
    "GRID": "a grid size like `4x4`",
    "COMPARE": "a comparison (`>`, `>=`, `<`, `<=`, `==`, `!=`)",
    "CHANGE": "`drops` or `rises`",
    "BOUND": "`at least` or `at most`",
    "DROP": "`drop`",
    "SIGN": "`+` or `-`",
    "WEIGHT_DIRECTION": "`incoming` or `outgoing`",
    "BINDER_KIND": "`class` or `layer`",
    "MEAN_ABLATING": "`mean-ablating`",
    "EXTREME": "`largest` or `smallest`",
    "IN_EVERY": "`in every`",
    "IN_AT_LEAST": "`in at least`",
    "$END": "end of file",
}

_STATEMENT_KEYWORDS = ("experiment", "seed", "device", "precision", "param", "stimuli", "model", "units",
                       "measure", "expect", "report", "for", "repeats", "confidence", "resamples")


def _describe_terminal(name: str) -> str:
    if name in _TERMINAL_WORDS:
        return _TERMINAL_WORDS[name]
    try:
        pattern = _parser().get_terminal(name).pattern
    except KeyError:
        return name.lower()
    if pattern.type == "str":
        return f"`{pattern.value}`"
    return name.lower()


def _keyword_of(name: str) -> str | None:
    try:
        pattern = _parser().get_terminal(name).pattern
    except KeyError:
        return None
    if pattern.type == "str" and re.fullmatch(r"[a-z][a-z-]*", pattern.value):
        return pattern.value
    return None


def _describe_token(token: Token) -> str:
    if token.type == "_NL":
        return "end of line"
    if token.type in ("_INDENT",):
        return "an indented line"
    if token.type == "_DEDENT":
        return "the end of an indented block"
    if token.type == "$END":
        return "end of file"
    return f"`{token}`"


def _expected_list(expected) -> list[str]:
    words = sorted({_describe_terminal(name) for name in expected if name != "$END"} |
                   ({"end of file"} if "$END" in expected else set()))
    return sorted(words, key=lambda word: not word.startswith("a comparison"))   # operators first


def _syntax_message(error: UnexpectedInput, source: SourceFile, sink: DiagnosticSink) -> int:
    """Report one syntax error; returns the 1-based line it is on."""
    if isinstance(error, UnexpectedCharacters):
        offset = _offset(source, error.line, error.column)
        char = source.text[offset] if offset < len(source.text) else ""
        span = source.span(offset, min(offset + 1, len(source.text)))
        if char == '"':
            sink.report("E103", "unterminated string", span,
                        help='close the string with `"` on the same line')
        else:
            expected = _expected_list(error.allowed or [])
            help_text = f"expected {_join(expected)}" if expected else None
            sink.report("E101", f"unexpected character `{char}`", span, help=help_text)
        return span.line
    if isinstance(error, (UnexpectedToken, UnexpectedEOF)):
        token = error.token
        expected = set(error.expected or [])
        interactive = getattr(error, "interactive_parser", None)
        if interactive is not None:
            try:
                # what really fits here, not the LALR state's whole lookahead set
                expected = set(interactive.accepts()) or expected
            except Exception:
                pass
        if token.type == "$END" or token.start_pos is None or token.line is None:
            offset = len(source.text.rstrip("\n"))
            span = source.span(max(offset - 1, 0), offset)
        else:
            start = _offset(source, token.line, token.column)
            length = max(len(str(token)), 1) if token.type not in ("_NL", "_INDENT", "_DEDENT") else 1
            span = source.span(start, min(start + length, len(source.text)))
        if token.type in ("_INDENT", "_DEDENT"):
            line = token.end_line or span.line
            text = source.line_text(line)
            indent = len(text) - len(text.lstrip())
            start = _offset(source, line, 1)
            span = source.span(start, start + max(indent, 1))
            if token.type == "_INDENT":
                span = source.span(start + indent, start + max(len(text), indent + 1))
            sink.report("E102", "unexpected indentation", span,
                        help="only the body of a `for each ...:` block is indented")
            return line
        words = _expected_list(expected)
        message = f"unexpected {_describe_token(token)}"
        if words:
            message += f", expected {_join(words)}"
        help_text = _hint(token, expected) or _operator_hint(token, expected, source.text)
        sink.report("E101", message, span, help=help_text)
        return span.line
    raise error


def _hint(token: Token, expected: set[str]) -> str | None:
    keywords = [k for k in (_keyword_of(name) for name in expected) if k]
    if token.type == "NAME" and keywords:
        match = difflib.get_close_matches(str(token), keywords, n=1, cutoff=0.6)
        if match:
            return f"did you mean `{match[0]}`?"
    if token.type == "NAME" and expected & {"NUMBER"} and str(token).isalpha():
        return "counts and sizes are written as digits, e.g. `5`"
    if token.type == "NAME" and "EXPERIMENT" in expected:
        match = difflib.get_close_matches(str(token), _STATEMENT_KEYWORDS, n=1, cutoff=0.6)
        if match:
            return f"did you mean `{match[0]}`?"
        return "every statement starts with one of: " + ", ".join(f"`{k}`" for k in _STATEMENT_KEYWORDS)
    if token.type == "_NL" and "IN" in expected and len(expected) <= 4:
        return "a unit selection names its layer: `... in LAYER`"
    if token.type == "_NL" and "ON" in expected:
        return ("a measurement names its stimuli: `... on STIMULI`; an `on` right after a selection "
                "belongs to the selection (the stimuli its statistics come from): write "
                "`of (top 8 by activation in fc2) on test`, or name the units with `units`")
    return None


def _join(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    if len(words) > 8:
        return ", ".join(words[:8]) + f", or one of {len(words) - 8} more"
    return ", ".join(words[:-1]) + " or " + words[-1]


def _blank_line(text: str, line: int) -> str:
    lines = text.split("\n")
    if 1 <= line <= len(lines):
        original = lines[line - 1]
        indent = original[: len(original) - len(original.lstrip())]
        if original.rstrip().endswith(":") or original.lstrip().startswith("for "):
            lines[line - 1] = indent + f"for each {ast.BROKEN} in []:"    # its body still parses
        else:
            lines[line - 1] = (indent + "#").ljust(len(original)) if original.strip() else original
    return "\n".join(lines)


MAX_NESTING = 64


def _brackets(text: str):
    """(offset, line, column, bracket) of every `[`, `(`, `]` and `)` outside strings and comments
    (a string or comment ends with its line)."""
    offset = 0
    for number, raw in enumerate(text.split("\n"), start=1):
        in_string = False
        for column, char in enumerate(raw, start=1):
            if in_string:
                in_string = char != '"' or raw[column - 2] == "\\"
            elif char == '"':
                in_string = True
            elif char == "#":
                break
            elif char in "[(])":
                yield offset + column - 1, number, column, char
        offset += len(raw) + 1


def _too_deep(source: SourceFile) -> tuple[int, int, str] | None:
    """(offset, depth, what) of the first place nesting goes past MAX_NESTING: brackets and
    parentheses outside strings and comments, or `for each` blocks by indentation."""
    found = []
    depth = 0
    for offset, _, _, char in _brackets(source.text):
        depth = depth + 1 if char in CLOSING else max(0, depth - 1)
        if depth > MAX_NESTING:
            found.append((offset, depth, "brackets and parentheses"))
            break
    indents, offset = [0], 0
    for raw in source.text.split("\n"):
        if raw.strip() and not raw.lstrip().startswith("#"):
            width = len(raw) - len(raw.lstrip(" \t"))
            while width < indents[-1]:
                indents.pop()
            if width > indents[-1]:
                indents.append(width)
                if len(indents) - 1 > MAX_NESTING:
                    found.append((offset + width, len(indents) - 1, "`for each` blocks"))
                    break
        offset += len(raw) + 1
    return min(found, default=None)


def parse_source(source: SourceFile, sink: DiagnosticSink) -> ast.Spec:
    """Parse a whole spec, reporting every syntax error found; returns the AST of what parsed."""
    deep = _too_deep(source)
    if deep is not None:
        offset, depth, what = deep
        sink.report("E104", f"{what} nest {depth} deep here; abl accepts at most {MAX_NESTING}",
                    source.span(offset, offset + 1),
                    help="flatten the structure: name intermediate unit sets with `units`, or "
                         "bind several variables in one `for each a in [..], each b in [..]:`")
        return ast.Spec(source.path, ())
    text = source.text if source.text.endswith("\n") else source.text + "\n"
    reported_lines: set[int] = set()
    for _ in range(MAX_SYNTAX_ERRORS):
        try:
            tree = _parser().parse(text)
            return dataclasses.replace(lower(tree, source), broken_lines=tuple(sorted(reported_lines)))
        except DedentError:
            line = _dedent_line(text)
            span = source.span(*_line_bounds(source, line))
            sink.report("E102", "this line's indentation matches no enclosing block", span,
                        help="indent it exactly like the other statements of its block")
        except UnexpectedInput as error:
            opened = _unclosed_before(text, getattr(error, "line", None) or 0)
            if opened is not None:      # a bracket left open on an earlier line swallowed this one
                line, column, bracket = opened
                start = _offset(source, line, column)
                sink.report("E101", f"`{bracket}` is not closed on its line", source.span(start, start + 1),
                            help=f"close it with `{CLOSING[bracket]}` before the end of the line")
            else:
                line = _syntax_message(error, source, sink)
        if line in reported_lines:
            break
        reported_lines.add(line)
        text = _blank_line(text, line)
    return ast.Spec(source.path, ())


CLOSING = {"[": "]", "(": ")"}


def _unclosed_before(text: str, error_line: int) -> tuple[int, int, str] | None:
    """(line, column, bracket) of a bracket opened on an earlier line and still open where the
    error is: lists never span lines in abl, so that line is the one to report and blank."""
    if not 1 <= error_line <= text.count("\n") + 1:
        return None
    stack: list[tuple[int, int, str]] = []
    for _, line, column, char in _brackets(text):
        if line >= error_line:
            break
        if char in CLOSING:
            stack.append((line, column, char))
        elif stack:
            stack.pop()
    return stack[-1] if stack else None


def _offset(source: SourceFile, line: int, column: int) -> int:
    """Offset in the ORIGINAL text of a (line, column) found in a re-parsed copy: blanking keeps
    line numbers, and columns on the lines not blanked."""
    return source.offset(line, column)


def _line_bounds(source: SourceFile, line: int) -> tuple[int, int]:
    line_text = source.line_text(line)
    offset = source.offset(line, 1)
    stripped = len(line_text) - len(line_text.lstrip())
    return offset + stripped, offset + max(len(line_text), stripped + 1)


def _dedent_line(text: str) -> int:
    levels = [0]
    for number, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip() or raw.strip().startswith("#"):
            continue
        # counted as the indenter counts (a tab is tab_len columns wherever it stands), not by
        # tab stops: otherwise `" \t"` would be 4 here and 5 there, and the error land on line 1
        leading = raw[: len(raw) - len(raw.lstrip(" \t"))]
        indent = leading.count(" ") + leading.count("\t") * _SpecIndenter.tab_len
        if indent > levels[-1]:
            levels.append(indent)
        else:
            while indent < levels[-1]:
                levels.pop()
            if indent != levels[-1]:
                return number
    return 1


def parse_value(text: str) -> ast.Value | None:
    """Parse the VALUE of `--set NAME=VALUE` as a spec value; None when it is not one."""
    try:
        tree = _value_parser().parse(text)
    except UnexpectedInput:
        return None
    source = SourceFile.from_text(text, "<--set>")
    statements = lower(tree, source).statements
    return statements[0] if statements else None

