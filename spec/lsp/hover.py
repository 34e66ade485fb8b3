"""Hover text: a diagnostic code's `abl explain`, a keyword's or measure's manual entry, a declared
name's declaration line."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..codes import CODES
from ..source import SourceFile, Span
from . import manual
from .document import Analysis
from .symbols import KIND_WORDS, declaration_of, word_at

_CODE = re.compile(r"\b[EW]\d{3}\b")


@dataclass(frozen=True)
class HoverText:
    markdown: str
    span: Span


def explain_text(code: str) -> str:
    """What `abl explain CODE` prints, as Markdown."""
    entry = CODES[code]
    return (f"**{entry.code}** {entry.name} ({entry.severity.value}): {entry.summary}\n\n"
            f"{entry.explanation}\n\n**example**\n```abl\n{entry.example}\n```\n"
            f"**fix**\n```abl\n{entry.fix}\n```")


def hover(analysis: Analysis, offset: int) -> HoverText | None:
    source = analysis.source
    return (_code_under(source, offset) or _name_under(analysis, offset)
            or _word_under(source, offset) or _diagnostic_under(analysis, offset))


def _code_under(source: SourceFile, offset: int) -> HoverText | None:
    line, column = source.position(offset)
    start = source.offset(line, 1)
    for match in _CODE.finditer(source.line_text(line)):
        if match.start() <= column - 1 <= match.end() and match.group(0) in CODES:
            return HoverText(explain_text(match.group(0)), source.span(start + match.start(), start + match.end()))
    return None


def _name_under(analysis: Analysis, offset: int) -> HoverText | None:
    word = word_at(analysis.source, offset)
    if word is None:
        return None
    declaration = declaration_of(word.name, analysis.declarations, offset)
    if declaration is None or (declaration.kind == "param") != word.text.startswith("$"):
        return None
    line = declaration.span.line
    text = analysis.source.line_text(line).strip()
    return HoverText(f"{KIND_WORDS[declaration.kind]} `{declaration.name}` — line {line}\n```abl\n{text}\n```",
                     word.span)


def _word_under(source: SourceFile, offset: int) -> HoverText | None:
    """A keyword or a (several-word) measure or unit metric around the cursor."""
    line, column = source.position(offset)
    text, start = source.line_text(line), source.offset(line, 1)
    phrases = sorted(manual.MEASURES, key=len, reverse=True) + list(manual.KEYWORDS)
    for phrase in phrases:
        for match in re.finditer(rf"(?<![\w$-]){re.escape(phrase)}(?![\w-])", text):
            if match.start() <= column - 1 <= match.end() and not _in_comment_or_string(text, match.start()):
                return HoverText(manual.entry(phrase) or "", source.span(start + match.start(), start + match.end()))
    return None


def _in_comment_or_string(text: str, column: int) -> bool:
    quoted = False
    for index, char in enumerate(text[:column]):
        if char == '"' and (index == 0 or text[index - 1] != "\\"):
            quoted = not quoted
        elif char == "#" and not quoted:
            return True
    return quoted


def _diagnostic_under(analysis: Analysis, offset: int) -> HoverText | None:
    for diagnostic in analysis.diagnostics:
        if diagnostic.span.start <= offset <= max(diagnostic.span.end, diagnostic.span.start + 1) \
                and diagnostic.code in CODES:
            return HoverText(explain_text(diagnostic.code), diagnostic.span)
    return None
