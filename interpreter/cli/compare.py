"""`abl compare RUN_A RUN_B [--format text|json] [--tolerance T]`: exit 0 when the runs agree,
1 when they differ, 2 on error (a folder that is missing, unreadable or not complete)."""

from __future__ import annotations

import json

from abl.interpreter.cli.common import ExitCode, _consoles

MAX_SHOWN = 40


def cmd_compare(args) -> int:
    from abl.interpreter.results.compare import compare_runs
    from abl.interpreter.results.run_loading import load_run

    out, err = _consoles(args.no_color)
    if not args.tolerance >= 0:
        err.print("error: --tolerance must be a number >= 0")
        return ExitCode.ERROR
    comparison = compare_runs(load_run(args.run_a), load_run(args.run_b), args.tolerance)
    if args.format == "json":
        out.print_json(json.dumps(comparison.as_record(), default=str))
    else:
        for renderable in render(comparison):
            out.print(renderable, crop=False)
    return ExitCode.OK if comparison.agree else ExitCode.FAILED


def render(comparison) -> list:
    from rich.syntax import Syntax
    from rich.table import Table
    from rich.text import Text

    # the folders' paths never wrap (printed with crop=False): they are copied as one piece
    from rich.console import Group

    parts: list = [Group(*(Text.assemble((f"{side} ", "bold"), str(path), no_wrap=True, overflow="ignore")
                           for side, path in (("A", comparison.a), ("B", comparison.b))))]
    if comparison.spec_diff:
        parts.append(Text("specs differ:", style="bold"))
        parts.append(Syntax("\n".join(comparison.spec_diff), "diff", theme="ansi_dark", background_color="default"))
    for title, changes in (("parameters", comparison.params), ("verdicts", comparison.verdicts),
                           ("environment (shown, not counted)", comparison.environment)):
        if changes:
            table = Table(title=title, title_justify="left", show_lines=False)
            for column in ("", "A", "B"):
                table.add_column(column, overflow="fold")
            for change in changes:
                table.add_row(Text(str(change.what)), Text(str(change.a)), Text(str(change.b)))
            parts.append(table)
    if comparison.moved:
        table = Table(title=f"values that moved ({len(comparison.moved)})", title_justify="left")
        for column in ("row", "A", "A interval", "B", "B interval"):
            table.add_column(column, overflow="fold")
        for moved in comparison.moved[:MAX_SHOWN]:
            table.add_row(Text(", ".join(f"{k}={v}" for k, v in moved.key.items())), f"{moved.a:.6g}",
                          Text(_interval(moved.a_interval)), f"{moved.b:.6g}", Text(_interval(moved.b_interval)))
        parts.append(table)
        if len(comparison.moved) > MAX_SHOWN:
            parts.append(Text(f"... and {len(comparison.moved) - MAX_SHOWN} more (--format json lists them all)"))
    summary = (f"rows: {comparison.identical} identical, {comparison.within} within their intervals or the "
               f"tolerance, {len(comparison.moved)} moved, {comparison.only_in_a} only in A, "
               f"{comparison.only_in_b} only in B")
    parts.append(Text(summary))
    parts.append(Text("the runs agree" if comparison.agree else "the runs differ",
                      style="bold green" if comparison.agree else "bold red"))
    return parts


def _interval(interval) -> str:
    return "" if interval is None else f"[{interval[0]:.4g}, {interval[1]:.4g}]"
