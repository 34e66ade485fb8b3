"""Source files and spans: where in the user's text a thing was written."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .errors import AblError


@dataclass(frozen=True)
class Span:
    """A half-open character range [start, end) with 1-based line/column of both ends."""

    start: int
    end: int
    line: int
    column: int
    end_line: int
    end_column: int

    @staticmethod
    def unknown() -> "Span":
        return Span(0, 0, 1, 1, 1, 1)

    def merge(self, other: "Span") -> "Span":
        first, last = (self, other) if self.start <= other.start else (other, self)
        return Span(first.start, max(self.end, other.end), first.line, first.column,
                    last.end_line, last.end_column)


MAX_SPEC_BYTES = 10_000_000


@dataclass(frozen=True)
class SourceFile:
    """The text of one spec, decoded, with line endings normalised to LF."""

    path: str
    text: str
    _line_starts: tuple[int, ...] = field(default=(), repr=False, compare=False)

    @staticmethod
    def from_text(text: str, path: str = "<string>") -> "SourceFile":
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        if text.startswith("\ufeff"):
            text = text[1:]
        starts = [0]
        for index, char in enumerate(text):
            if char == "\n":
                starts.append(index + 1)
        return SourceFile(path, text, tuple(starts))

    @staticmethod
    def read(path: str | Path) -> "SourceFile":
        """Read a spec; raises SourceReadError with a user-facing message on any failure."""
        p = Path(path)
        if p.is_dir():
            raise SourceReadError(str(path), "is a directory, not a spec file")
        if p.exists() and not p.is_file():
            # a FIFO or a device (`/dev/zero`) would block or never end
            raise SourceReadError(str(path), "is not a regular file")
        try:
            with open(p, "rb") as handle:
                raw = handle.read(MAX_SPEC_BYTES + 1)
            if len(raw) > MAX_SPEC_BYTES:
                raise SourceReadError(str(path), f"is larger than {MAX_SPEC_BYTES // 1_000_000} MB; "
                                                 "a spec is a short text")
        except FileNotFoundError:
            raise SourceReadError(str(path), "no such file") from None
        except OSError as error:
            raise SourceReadError(str(path), error.strerror or str(error)) from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            line = raw[: error.start].count(b"\n") + 1
            raise SourceReadError(
                str(path), f"is not valid UTF-8 (bad byte 0x{raw[error.start]:02x} on line {line})"
            ) from None
        return SourceFile.from_text(text, str(path))

    def line_text(self, line: int) -> str:
        if not self._line_starts or line < 1 or line > len(self._line_starts):
            return ""
        start = self._line_starts[line - 1]
        end = self.text.find("\n", start)
        return self.text[start:] if end == -1 else self.text[start:end]

    def offset(self, line: int, column: int) -> int:
        """The character offset of 1-based (line, column), clamped to the text and to the end of
        the line (a column past it, as Lark gives for a token ending the line, is the line's end).
        The one line/column -> offset: the parser (positions found in a re-parsed copy whose broken
        lines were blanked, which keeps line numbers) and the lowering use it."""
        if not self._line_starts:
            return 0
        line = max(1, min(line, len(self._line_starts)))
        return self._line_starts[line - 1] + max(0, min(column - 1, len(self.line_text(line))))

    def position(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of a character offset."""
        import bisect

        offset = max(0, min(offset, len(self.text)))
        line_index = bisect.bisect_right(self._line_starts, offset) - 1
        return line_index + 1, offset - self._line_starts[line_index] + 1

    def span(self, start: int, end: int) -> Span:
        start = max(0, min(start, len(self.text)))
        end = max(start, min(end, len(self.text)))
        line, column = self.position(start)
        end_line, end_column = self.position(end)
        return Span(start, end, line, column, end_line, end_column)


class SourceReadError(AblError):
    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
