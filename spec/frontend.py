"""The front-end pipeline: text -> parse tree -> typed AST -> checked Program."""

from __future__ import annotations

from dataclasses import dataclass

from . import ast
from .check import check
from .program import Program
from .diagnostics import Diagnostic, DiagnosticSink
from .parser import parse_source
from .source import SourceFile


@dataclass(frozen=True)
class FrontEndResult:
    source: SourceFile
    spec: ast.Spec
    program: Program | None          # None when there are errors
    diagnostics: tuple[Diagnostic, ...]

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.diagnostics)


def compile_source(source: SourceFile, overrides: dict[str, str] | None = None) -> FrontEndResult:
    sink = DiagnosticSink(source)
    spec = parse_source(source, sink)
    program = check(spec, source, sink, overrides)
    return FrontEndResult(source, spec, program, tuple(sink.diagnostics))


def compile_text(text: str, path: str = "<string>",
                 overrides: dict[str, str] | None = None) -> FrontEndResult:
    return compile_source(SourceFile.from_text(text, path), overrides)


def compile_file(path: str, overrides: dict[str, str] | None = None) -> FrontEndResult:
    """Raises SourceReadError (a missing file, a directory, bad UTF-8) before any parsing."""
    return compile_source(SourceFile.read(path), overrides)
