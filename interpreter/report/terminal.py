"""Terminal views (rich) of a plan and of a run's results table. Every view reads the tidy table."""

from __future__ import annotations


from collections import defaultdict
from pathlib import Path

import numpy as np
from rich.console import Group
from rich.table import Table
from rich.text import Text

from abl.interpreter.plan.plan import (BarsReport, CurveReport, HeatmapReport, HistogramReport, ScatterReport, TableReport)
from abl.interpreter.run.table import SELECTIVITY_UNIT
from abl.interpreter.report.views import identity, mean_grid, per_class_table, summary_table, varying


from abl.interpreter.report.plan_view import count_forwards, expanded, markup_labels, plan_tree  # noqa: F401  (re-exported)


def render_report(result, figures: list[Path], folder: Path):
    parts = []
    table = result.table
    shown: set = set()
    for item in result.plan.reports:
        # two reports may share a table (curves of one measure over one sweep): print it once
        sweep = isinstance(item, (ScatterReport, CurveReport))
        key = (sweep, "" if sweep else type(item).__name__, item.metric, item.versus, item.over)
        if key in shown:
            continue
        shown.add(key)
        view = _report_view(item, table, result.plan.reports)
        if view is not None:
            parts.append(view)
    if not parts:
        parts.append(summary_table(table))
    if result.verdicts:
        parts.append(verdict_table(result.verdicts))
        weak = [f"claim {v.claim}: {v.power.line()}" for v in result.verdicts if v.power and v.power.underpowered]
        if weak:    # one line per claim whose test had less than 80% power (`abl power` says more)
            parts.append(Text("underpowered: " + "\n              ".join(weak), style="yellow"))
    if result.notes:
        parts.append(Text("\n".join(f"warning: {n}" for n in result.notes), style="yellow"))
    # never wrapped (printed with crop=False): the path is copied from the terminal as one piece
    parts.append(Text(f"run folder: {folder}" + (f" ({len(figures)} figures)" if figures else "")
                      + f"; forward passes in {result.plan.precision}",
                      no_wrap=True, overflow="ignore"))
    parts.append(closing_line(result))
    return Group(*parts)


def closing_line(result) -> Text:
    passed = sum(v.passed for v in result.verdicts)
    failed = len(result.verdicts) - passed
    if not result.verdicts:
        return Text("done: no expectations stated", style="bold")
    style = "bold green" if failed == 0 else "bold red"
    return Text(f"{len(result.verdicts)} expectation(s): {passed} passed, {failed} failed", style=style)


def verdict_table(verdicts) -> Table:
    table = Table(title="expectations", show_lines=False, expand=False)
    table.add_column("verdict")
    table.add_column("expectation", overflow="fold")
    table.add_column("evidence", overflow="fold")
    for verdict in verdicts:
        mark = Text("PASS", style="bold green") if verdict.passed else Text("FAIL", style="bold red")
        table.add_row(mark, Text(verdict.text), Text(verdict.detail))
    return table


def _report_view(item, table, plan_reports):
    if isinstance(item, TableReport) or (isinstance(item, BarsReport) and not any(
            isinstance(other, TableReport) and other.metric == item.metric for other in plan_reports)):
        return per_class_table(table, item.metric or "accuracy")
    if isinstance(item, HeatmapReport):
        return mean_grid(table, item.metric, item.by)
    if isinstance(item, HistogramReport):
        return selectivity_summary(table)
    if isinstance(item, (ScatterReport, CurveReport)):
        return sweep_table(table, item)
    return None


def selectivity_summary(table) -> Table:
    """Per layer and sweep binding (replicate seeds pooled: their units together), the units'
    class selectivity index."""
    rows = [r for r in table if r.measure == SELECTIVITY_UNIT and not r.claim]
    dims = [d for d in table.dim_names() if d != "seed" and any(r.dim(d) for r in rows)]
    seeds = len({r.dim("seed") for r in rows if r.dim("seed")})
    view = Table(title="class selectivity index per layer", expand=False)
    if seeds > 1:
        view.caption = f"units of {seeds} seeds pooled"
    # replicate seeds' models pool; declared models and stimuli sets that differ are columns
    named = [c for c, get in (("model", lambda r: table.declared(r.model)),
                              ("stimuli", lambda r: table.declared(r.stimuli)))
             if len({get(r) for r in rows}) > 1]
    for column in named + dims + ["layer", "units", "mean", "median", "max"]:
        view.add_column(column, justify="right" if column in ("units", "mean", "median", "max") else "left",
                        no_wrap=column in ("units", "mean", "median", "max"))
    groups = defaultdict(list)
    for r in rows:
        groups[(table.declared(r.model), table.declared(r.stimuli), tuple(r.dim(d) for d in dims),
                r.layer)].append(r.value)
    for (model, stimuli, binding, layer), values in groups.items():
        values = np.asarray(values)
        shown = [{"model": model, "stimuli": stimuli}[c] for c in named]
        view.add_row(*[Text(str(b)) for b in shown + list(binding)], Text(layer), str(len(values)),
                     f"{values.mean():.3f}", f"{np.median(values):.3f}", f"{values.max():.3f}")
    return view


def sweep_table(table, item) -> Table:
    """The swept values, one row per condition and one column per value of the sweep variable
    (or the other way round when the conditions are few): labels fold, numbers never truncate.
    Replicate seeds are averaged (the caption says how many)."""
    dim = item.over or (item.by[0][0] if isinstance(item, CurveReport) and item.by else "")
    measures = [m for m in (item.metric, item.versus) if m]
    rows = [r for r in table if r.measure in measures and r.intervention is None and not r.cls]

    # replicate seeds pool (their models with them); every other column that varies names a condition
    seeded = any(r.dim("seed") for r in rows)
    columns = [c for c in varying(rows, handled=(dim, "measure", "layer", "seed"), derived=("stimuli",))
               if not (seeded and c == "model") and c != "stimuli"]
    stimuli_vary = "stimuli" in varying(rows, handled=(dim, "measure", "layer", "seed"), derived=("stimuli",))
    models = len({table.declared(r.model) for r in rows}) > 1

    def condition(r):
        ident = identity(r)
        others = ",".join(f"{k}={ident.get(k, '')}" for k in columns if k != "model")
        return f"{r.measure} {r.stimuli if stimuli_vary else table.declared(r.stimuli)}" + (f" {table.declared(r.model)}" if models else "") + \
            (f" {r.layer}" if r.layer else "") + (f" {others}" if others else "")

    conditions = list(dict.fromkeys(condition(r) for r in rows))
    values = list(dict.fromkeys(r.dim(dim) for r in rows))
    cells: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in rows:
        cells[(condition(r), r.dim(dim))].append(r.value)
    seeds = len({r.dim("seed") for r in rows if r.dim("seed")})
    view = Table(title=f"{' vs '.join(measures)} over {dim}", expand=False)
    if seeds > 1:
        view.caption = f"means over {seeds} seeds"

    def number(key):
        found = cells.get(key)
        return f"{np.mean(found):.4f}" if found else ""

    if len(conditions) <= 3 or (len(conditions) <= 4 and len(conditions) <= len(values)):
        view.add_column(Text(dim), no_wrap=True)
        for label in conditions:
            view.add_column(Text(label), justify="right", min_width=6, overflow="fold")
        for value in values:
            view.add_row(Text(value), *[number((label, value)) for label in conditions])
    else:
        view.add_column(Text(f"condition \\ {dim}"), overflow="fold", ratio=1)
        for value in values:
            view.add_column(Text(value), justify="right", min_width=6, no_wrap=True)
        for label in conditions:
            view.add_row(Text(label), *[number((label, value)) for value in values])
    return view
