"""Terminal views (rich) of a plan and of a run's results table. Every view reads the tidy table."""

from __future__ import annotations

import math

from collections import defaultdict
from pathlib import Path

import numpy as np
from rich.console import Group
from rich.markup import escape as _escape
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from abl.interpreter.seeding import sd
from abl.interpreter.plan.plan import (BarsReport, ControlClaim, CurveReport, HeatmapReport, HistogramReport, Plan,
                                        ScatterReport, TableReport, condition_groups)
from abl.interpreter.run.table import SELECTIVITY_UNIT, intervention_text


def count_forwards(plan: Plan) -> tuple[int, int]:
    """(passes over stimuli sets, distinct conditions): the recording passes the executor will make
    (recordings.py, the same function it uses) plus one batched run per (model, stimuli)."""
    from abl.interpreter.plan.recordings import recording_passes

    runs = condition_groups(plan)
    conditions = sum(len(c) for c in runs.values())
    return recording_passes(plan) + len(runs), conditions


def plan_tree(plan: Plan) -> Tree:
    root = Tree(f"[bold]{_escape(plan.experiment)}[/]  seed {plan.seed}, device {plan.device}, "
                f"precision {plan.precision}, "
                f"random controls x{plan.repeats}, {plan.confidence:.0%} intervals from {plan.resamples} resamples")
    if plan.params:
        params = root.add("[bold]parameters[/]")
        for name, value in plan.params:
            params.add(_escape(f"{name} = {value!r}"))
    stimuli = root.add("[bold]load stimuli[/]")
    for key, spec in plan.stimuli:
        bits = [spec.source + (f" {spec.path!r}" if spec.path else "")]
        if spec.split:
            bits.append(f"split {spec.split} (holdout {spec.test_fraction:g})")
        if spec.classes:
            bits.append(f"classes {list(spec.classes)}")
        if spec.per_class:
            bits.append(f"per class {spec.per_class}")
        for corruption in spec.corruptions:
            bits.append(f"{corruption.kind} {corruption.severity:g}")
        if spec.preprocess != "auto":
            bits.append(f"preprocess {spec.preprocess}")
        stimuli.add(_escape(f"{key}: " + ", ".join(bits)))
    models = root.add("[bold]build models[/]")
    for key, spec in plan.models:
        if spec.kind == "train":
            text = (f"train {spec.arch} {list(spec.widths) if spec.widths else ''} on {spec.train_on}, "
                    f"{spec.epochs} epochs, lr {spec.lr:g}, batch {spec.batch_size}, seed {spec.seed}")
            if spec.regularize:
                text += f", selectivity regulariser {spec.regularize:+g}"
            text += " (cached after the first run)"
        elif spec.kind in ("torchvision", "timm"):
            text = f"{spec.kind} {spec.arch}, weights {spec.weights}"
        else:
            text = f"{spec.kind} {spec.path}"
        models.add(_escape(f"{key}: {text}"))
    forwards, conditions = count_forwards(plan)
    from abl.interpreter.plan.shards import plan_shards

    shards = len(plan_shards(plan))
    measures = root.add(f"[bold]measure[/] ({len(plan.measures)} values in {conditions} conditions, "
                        f"about {forwards} passes over stimuli sets, in {shards} independent "
                        f"shard{'s' if shards != 1 else ''})")
    grouped: dict[tuple, list] = defaultdict(list)
    for item in plan.measures:
        grouped[(item.label, item.stimuli, item.intervention_label, item.hidden, item.claim)].append(item)
    for (label, stimuli_key, intervention, hidden, claim), items in grouped.items():
        cells = {i.cell for i in items if i.cell is not None}
        draws = {i.repeat for i in items}
        extra = []
        if cells:
            extra.append(f"{len(cells)} grid cells")
        if len(draws) > 1:
            extra.append(f"{len(draws)} random draws")
        families = len(items) // max(1, len(cells) or 1) // max(1, len(draws))
        if families > 1:
            extra.append(f"x{families} bindings")
        text = _escape(f"{label} on {stimuli_key}")
        if intervention is not None:
            text += " " + _escape(intervention)
        if extra:
            text += " [dim](" + ", ".join(extra) + ")[/]"
        if claim:
            text += f" [dim](claim {claim}'s own draws)[/]"
        elif hidden:
            text += " [dim](for an expectation)[/]"
        measures.add(text)
    if plan.expectations:
        expect = root.add("[bold]decide expectations[/]")
        for item in plan.expectations:
            suffix = f" [dim]({item.repeats} random draws, p <= {item.significance:g})[/]" if isinstance(item, ControlClaim) else ""
            expect.add(f"{_escape(item.text)}{suffix}")
    if plan.reports:
        reports = root.add("[bold]report[/]")
        for item in plan.reports:
            reports.add(_escape(item.text))
    return markup_labels(root)


def markup_labels(tree: Tree) -> Tree:
    """The tree's labels (markup with the user's text escaped) as rich Text, so that they look the
    same on a console that reads no markup (abl's consoles print text as it is)."""
    if isinstance(tree.label, str):
        tree.label = Text.from_markup(tree.label)
    for child in tree.children:
        markup_labels(child)
    return tree


# ---- results -----------------------------------------------------------------------------

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
        parts.append(_summary_table(table))
    if result.verdicts:
        parts.append(verdict_table(result.verdicts))
    if result.notes:
        parts.append(Text("\n".join(f"warning: {n}" for n in result.notes), style="yellow"))
    parts.append(Text(f"run folder: {folder}" + (f" ({len(figures)} figures)" if figures else "")
                      + f"; forward passes in {result.plan.precision}"))
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
        return mean_grid(table, item.metric)
    if isinstance(item, HistogramReport):
        return selectivity_summary(table)
    if isinstance(item, (ScatterReport, CurveReport)):
        return sweep_table(table, item)
    return None


def _interval(rows) -> str:
    """` [low, high]` of a single measured value (its bootstrap interval over images)."""
    if len(rows) != 1 or not (math.isfinite(rows[0].ci_low) and math.isfinite(rows[0].ci_high)):
        return ""
    return f" [{rows[0].ci_low:.3f}, {rows[0].ci_high:.3f}]"


def per_class_table(table, measure: str) -> Table:
    # a claim's own random draws are summarised by its verdict, not pooled with the measured ones
    rows = [r for r in table if r.measure == measure and not r.claim]
    interventions = list(dict.fromkeys([None] + [r.intervention for r in rows]))
    interventions = [i for i in interventions if any(r.intervention == i for r in rows)]
    groups = list(dict.fromkeys((r.stimuli, r.model, r.dims) for r in rows))
    view = Table(title=f"{measure} per class", expand=False)
    view.add_column("class")
    for intervention in interventions:
        view.add_column(Text(intervention if intervention is not None else "baseline"), justify="right")
    for stimuli, model, dims in groups:
        classes = list(dict.fromkeys(r.cls for r in rows if (r.stimuli, r.model, r.dims) == (stimuli, model, dims)))
        classes = [c for c in classes if c] + ([""] if "" in classes else [])
        for cls in classes:
            cells = []
            base = None
            for intervention in interventions:
                matching = [r for r in rows if r.cls == cls and r.intervention == intervention
                            and (r.stimuli, r.model, r.dims) == (stimuli, model, dims)]
                values = [r.value for r in matching]
                if not values:
                    cells.append("")
                    continue
                value = float(np.mean(values))
                if intervention is None:
                    base = value
                    cells.append(f"{value:.4f}{_interval(matching)}")
                else:
                    delta = "" if base is None else f" ({value - base:+.4f})"
                    spread = f" ±{sd(values):.3f}" if len(values) > 1 else ""
                    style = "red" if base is not None and value - base < -1e-9 else ""
                    cells.append(Text(f"{value:.4f}{_interval(matching)}{spread}{delta}", style=style))
            label = cls if cls else "all"
            if len(groups) > 1:
                label = f"{label} ({stimuli}{''.join(f', {k}={v}' for k, v in dims)})"
            view.add_row(Text(label), *[Text(c) if isinstance(c, str) else c for c in cells])
    return view


def _grid_cells(rows) -> tuple[int, int]:
    cells = [r.cell for r in rows if r.cell is not None]
    return (max(c.row for c in cells) + 1, max(c.col for c in cells) + 1) if cells else (0, 0)


def mean_grid(table, measure: str):
    rows = [r for r in table if r.measure == measure and r.cell is not None]
    if not rows:
        return Text(f"(no grid rows for {measure})", style="dim")
    n_rows, n_cols = _grid_cells(rows)
    grid = np.full((n_rows, n_cols), np.nan)
    for r in range(n_rows):
        for c in range(n_cols):
            values = [row.value for row in rows if row.cell == (r, c)]
            if values:
                grid[r, c] = float(np.mean(values))
    low, high = np.nanmin(grid), np.nanmax(grid)
    view = Table(title=f"mean {measure} per cell (over {len({x.cls for x in rows})} classes x "
                       f"{len({x.layer for x in rows})} layers)", expand=False)
    # rows are printed most selective first, so selectivity rises upwards; `row`/`col` as in claims
    view.add_column("row (selectivity ↑) \\ col (magnitude →)", overflow="fold")
    for c in range(n_cols):
        view.add_column(f"col {c}", justify="right", no_wrap=True)
    for r in reversed(range(n_rows)):
        cells = []
        for c in range(n_cols):
            value = grid[r, c]
            shade = 0.0 if high == low else (value - low) / (high - low)
            level = int(232 + round(shade * 23))
            cells.append(Text(f"{value:.4f}", style=f"black on color({level})" if shade > 0.5 else f"white on color({level})"))
        label = f"row {r}" + (" (most selective)" if r == n_rows - 1 else " (least)" if r == 0 else "")
        view.add_row(label, *cells)
    best = Table(title=f"cell with the largest {measure} per layer", expand=False)
    best.add_column("layer")
    best.add_column("cell (selectivity, magnitude)")
    best.add_column(measure, justify="right")
    for layer in dict.fromkeys(r.layer for r in rows):
        layer_rows = [r for r in rows if r.layer == layer]
        cells = defaultdict(list)
        for r in layer_rows:
            cells[r.cell].append(r.value)
        cell, values = max(cells.items(), key=lambda kv: np.mean(kv[1]))
        best.add_row(Text(layer), Text(str(cell)), f"{np.mean(values):.4g}")
    return Group(view, best)


def selectivity_summary(table) -> Table:
    """Per layer and sweep binding (replicate seeds pooled: their units together), the units'
    class selectivity index."""
    rows = [r for r in table if r.measure == SELECTIVITY_UNIT and not r.claim]
    dims = [d for d in table.dim_names() if d != "seed" and any(r.dim(d) for r in rows)]
    seeds = len({r.dim("seed") for r in rows if r.dim("seed")})
    view = Table(title="class selectivity index per layer", expand=False)
    if seeds > 1:
        view.caption = f"units of {seeds} seeds pooled"
    for column in dims + ["layer", "units", "mean", "median", "max"]:
        view.add_column(column, justify="right" if column in ("units", "mean", "median", "max") else "left",
                        no_wrap=column in ("units", "mean", "median", "max"))
    groups = defaultdict(list)
    for r in rows:
        groups[(table.declared(r.model), tuple(r.dim(d) for d in dims), r.layer,
                table.declared(r.stimuli))].append(r.value)
    for (model, binding, layer, stimuli), values in groups.items():
        values = np.asarray(values)
        view.add_row(*[Text(str(b)) for b in binding], Text(layer), str(len(values)), f"{values.mean():.3f}", f"{np.median(values):.3f}",
                     f"{values.max():.3f}")
    return view


def sweep_table(table, item) -> Table:
    """The swept values, one row per condition and one column per value of the sweep variable
    (or the other way round when the conditions are few): labels fold, numbers never truncate.
    Replicate seeds are averaged (the caption says how many)."""
    dim = item.over
    measures = [m for m in (item.metric, item.versus) if m]
    rows = [r for r in table if r.measure in measures and r.intervention is None and not r.cls]

    def condition(r):
        others = ",".join(f"{k}={v}" for k, v in r.dims if k not in (dim, "seed"))
        return f"{r.measure} {table.declared(r.stimuli)}" + (f" {r.layer}" if r.layer else "") + \
            (f" {others}" if others else "")

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


def _summary_table(table) -> Table:
    view = Table(title="results (means over repeats)", expand=False)
    for column in ("measure", "stimuli", "class", "layer", "cell", "intervention", "value", "n"):
        view.add_column(column, justify="right" if column in ("value", "n") else "left")
    if any(math.isfinite(r.ci_low) for r in table):
        view.columns[6].header = "value [interval]"
    groups = defaultdict(list)
    for r in table:
        if r.measure == SELECTIVITY_UNIT:
            continue
        groups[(r.measure, r.stimuli, r.cls, r.layer, r.cell, r.intervention, r.dims, r.claim)].append(r)
    for (measure, stimuli, cls, layer, cell, intervention, dims, claim), rows in list(groups.items())[:60]:
        intervention = intervention_text(intervention)
        if claim:
            intervention += f" (claim {claim}'s {len(rows)} draws)"
        view.add_row(*[Text(x) for x in (measure, stimuli + "".join(f" {k}={v}" for k, v in dims), cls,
                                         layer, "" if cell is None else str(cell), intervention)],
                     f"{np.mean([r.value for r in rows]):.4g}{_interval(rows)}", str(rows[0].n))
    if len(groups) > 60:
        view.caption = f"{len(groups) - 60} more groups in results.csv"
    return view
