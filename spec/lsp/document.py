"""One open document, analysed: lint's diagnostics (after `[tool.abl]` and `# abl: ignore`), its
AST and declarations. Everything the requests need, computed once per text."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .. import ast
from ..diagnostics import Diagnostic
from ..frontend import compile_source
from ..settings import LintSettings, SettingsError, apply, find_settings
from ..source import SourceFile
from .symbols import Declaration, declarations

MAX_ANALYSED_CHARS = 1_000_000     # a spec is a short text; larger ones get one notice instead


@dataclass(frozen=True)
class Analysis:
    source: SourceFile
    spec: ast.Spec
    diagnostics: tuple[Diagnostic, ...]     # exactly what `abl lint` reports for this text
    declarations: tuple[Declaration, ...]
    settings_problem: str | None = None     # a broken `[tool.abl]` (lint would refuse to run)
    too_large: bool = False


def settings_for(path: str | None, cache: dict) -> tuple[LintSettings, str | None]:
    """The `[tool.abl]` settings lint would use for a spec at `path` (the working folder's for an
    unsaved buffer), or the defaults and what is wrong with the file."""
    try:
        return find_settings(Path(path) if path else Path.cwd(), cache), None
    except SettingsError as error:
        return LintSettings(), str(error)
    except OSError as error:
        return LintSettings(), f"cannot read settings: {error}"


def analyse(text: str, path: str = "<string>", settings: LintSettings | None = None,
            settings_problem: str | None = None) -> Analysis:
    source = SourceFile.from_text(text, path)
    if len(source.text) > MAX_ANALYSED_CHARS:
        return Analysis(source, ast.Spec(path, ()), (), (), settings_problem, too_large=True)
    result = compile_source(source)
    shown = apply(result.diagnostics, settings or LintSettings(), source.text)
    return Analysis(source, result.spec, tuple(shown), declarations(result.spec), settings_problem)
