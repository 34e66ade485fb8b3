"""What every `abl` command shares: exit codes, consoles, reading paths and `--set` flags."""

from __future__ import annotations

import enum
import os
import sys
from pathlib import Path

from abl.spec.diagnostics import Diagnostic

from abl.interpreter.version import abl_version


class ExitCode(enum.IntEnum):
    OK = 0            # clean lint; every expectation holds; nothing to reformat
    FAILED = 1        # lint found problems; an expectation was falsified; fmt --check would reformat
    ERROR = 2         # usage, I/O, a spec that does not compile (for run/plan), a run-time error
    INTERRUPTED = 130     # Ctrl-C (SIGINT)
    TERMINATED = 143      # SIGTERM


def run_error_diagnostic(error, spec_path: str | None) -> Diagnostic:
    """A run-time error as a diagnostic: at the statement that caused it when it knows one (the
    same fields and rendering as a lint diagnostic), else at no position (line 0)."""
    from abl.spec.codes import Severity
    from abl.spec.source import SourceFile, SourceReadError, Span

    span, line = getattr(error, "span", None), ""
    if span is not None and spec_path:
        try:
            line = SourceFile.read(spec_path).line_text(span.line)
        except SourceReadError:
            span = None
    else:
        span = None
    return Diagnostic(error.code or "E400", Severity.ERROR, error.message, spec_path or "",
                      span or Span(0, 0, 0, 0, 0, 0), line, error.help)


def _consoles(no_color: bool = False):
    from rich.console import Console

    disable = no_color or bool(os.environ.get("NO_COLOR"))
    # markup off: what the user typed (flags, paths, spec text) is printed as typed, brackets and
    # all; colour comes from `labelled` and rich Text, never from markup in a formatted string
    out = Console(no_color=disable, highlight=False, soft_wrap=False, markup=False, emoji=False)
    err = Console(stderr=True, no_color=disable, highlight=False, soft_wrap=True, markup=False, emoji=False)
    return out, err


def labelled(label: str, style: str, message: str):
    """`label message` with only the label styled: the message is plain text, never markup."""
    from rich.text import Text

    return Text.assemble((label, style), " ", message)


def _parse_sets(values: list[str] | None, err) -> dict[str, str] | None:
    overrides: dict[str, str] = {}
    for item in values or []:
        if "=" not in item:
            err.print(labelled("error:", "red", f"--set takes NAME=VALUE, got `{item}`"))
            return None
        name, value = item.split("=", 1)
        overrides[name.strip()] = value.strip()
    return overrides


def _spec_files(paths: list[str]) -> tuple[list[Path], list[str]]:
    files, problems = [], []
    for raw in paths:
        path = Path(raw)
        try:
            if path.is_dir():
                found = sorted(p for p in path.rglob("*.abl") if p.is_file())
                if not found:
                    problems.append(f"{raw}: no .abl files in this folder")
                files.extend(found)
            elif path.exists():
                files.append(path)
            else:
                problems.append(f"{raw}: no such file or folder")
        except (OSError, ValueError) as error:     # a name too long, a NUL byte
            problems.append(f"{raw}: {getattr(error, 'strerror', None) or error}")
    return files, problems


def _print_diagnostics(diagnostics: list[Diagnostic], err, fmt: str = "text",
                       collected: list | None = None) -> None:
    """Diagnostics in `fmt`; with `collected` (`abl run --format json`), kept for the one JSON
    array the command prints when it ends."""
    from abl.spec.emit import emit

    if collected is not None:
        collected.extend(diagnostics)
        return
    if not diagnostics:
        return
    text = emit(diagnostics, fmt, color=err.is_terminal and not err.no_color, tool_version=abl_version())
    if fmt == "text":
        err.file.write(text if text.endswith("\n") else text + "\n")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
