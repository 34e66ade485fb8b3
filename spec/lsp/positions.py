"""abl spans (character offsets, 1-based line/column counted in code points) <-> LSP positions
(0-based line, `character` counted in UTF-16 code units, as the protocol's default encoding)."""

from __future__ import annotations

from dataclasses import dataclass

from ..source import SourceFile, Span


@dataclass(frozen=True)
class Position:
    line: int           # 0-based
    character: int      # UTF-16 code units from the start of the line


@dataclass(frozen=True)
class Range:
    start: Position
    end: Position


def utf16_length(text: str) -> int:
    return sum(2 if ord(char) > 0xFFFF else 1 for char in text)


def position_of(source: SourceFile, offset: int) -> Position:
    """The LSP position of a character offset into the source's text."""
    line, column = source.position(offset)
    prefix = source.line_text(line)[: column - 1]
    return Position(line - 1, utf16_length(prefix))


def range_of(source: SourceFile, span: Span) -> Range:
    return Range(position_of(source, span.start), position_of(source, span.end))


def offset_of(source: SourceFile, position: Position) -> int:
    """The character offset of an LSP position, clamped to its line (and the line to the text)."""
    line = max(0, position.line) + 1
    text = source.line_text(line)
    units, column = 0, 0
    while column < len(text) and units < position.character:
        units += 2 if ord(text[column]) > 0xFFFF else 1
        column += 1
    return source.offset(line, column + 1)
