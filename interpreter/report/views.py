"""Terminal views of the results table grouped by every identity column that varies among their
rows (model, stimuli, loop bindings, unit sets, ...): a view averages only what it says it averages
(random draws, and the classes and layers of a grid), never two models or two iterations."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
from rich.console import Group
from rich.table import Table
from rich.text import Text

from abl.interpreter.seeding import sd
from abl.interpreter.run.table import SELECTIVITY_UNIT, ResultRow, intervention_text

# columns a view may leave out of its groups when another column it shows or pools determines them
# (`ablating hot` names its units and layer; `for each class c`'s `c` follows from `class`); a
# model, stimuli set or claim is always grouped
DERIVED = ("units", "layer", "cell", "fit_on")


def identity(row: ResultRow) -> dict[str, str]:
    """What names a row's value apart from its random draw: its columns and its loop bindings."""
    found = {"model": row.model, "stimuli": row.stimuli, "units": row.units, "fit_on": row.fit_on,
             "layer": row.layer, "cell": "" if row.cell is None else str(row.cell),
             "intervention": intervention_text(row.intervention), "class": row.cls,
             "claim": str(row.claim) if row.claim else ""}
    found.update(row.dims)
    return found


def varying(rows, handled=(), derived=()) -> list[str]:
    """The identity columns with several values among `rows`, less those the view shows or pools
    itself (`handled`) and those that such a column determines (of DERIVED, loop bindings and
    `derived`)."""
    idents = [identity(r) for r in rows]
    columns = list(dict.fromkeys(k for i in idents for k in i))
    values = {k: {i.get(k, "") for i in idents} for k in columns}
    several = [k for k in columns if len(values[k]) > 1]

    def determined(key, by) -> bool:
        seen: dict[str, str] = {}
        return all(seen.setdefault(i.get(by, ""), i.get(key, "")) == i.get(key, "") for i in idents)

    loop = {k for r in rows for k, _ in r.dims}
    return [k for k in several if k not in handled and not (
        (k in DERIVED or k in loop or k in derived) and any(determined(k, by) for by in handled if by in several))]


def key_of(row: ResultRow, columns) -> tuple[str, ...]:
    ident = identity(row)
    return tuple(ident.get(c, "") for c in columns)


def label_of(key, columns) -> str:
    """`model=a, k=3`: a group's varying columns."""
    return ", ".join(f"{column}={value if value != '' else '-'}" for column, value in zip(columns, key))


def interval(rows) -> str:
    """` [low, high]` of a single measured value (its bootstrap interval over images)."""
    if len(rows) != 1 or not (math.isfinite(rows[0].ci_low) and math.isfinite(rows[0].ci_high)):
        return ""
    return f" [{rows[0].ci_low:.3f}, {rows[0].ci_high:.3f}]"


def per_class_table(table, measure: str) -> Table:
    # a claim's own random draws are summarised by its verdict, not pooled with the measured ones
    rows = [r for r in table if r.measure == measure and not r.claim]
    interventions = list(dict.fromkeys([None] + [r.intervention for r in rows]))
    interventions = [i for i in interventions if any(r.intervention == i for r in rows)]
    columns = varying(rows, handled=("class", "intervention"))
    groups: dict[tuple, list[ResultRow]] = defaultdict(list)
    for r in rows:
        groups[key_of(r, columns)].append(r)
    view = Table(title=f"{measure} per class", expand=False)
    view.add_column("class")
    for intervention in interventions:
        view.add_column(Text(intervention if intervention is not None else "baseline"), justify="right")
    for key, members in groups.items():
        classes = list(dict.fromkeys(r.cls for r in members))
        classes = [c for c in classes if c] + ([""] if "" in classes else [])
        for cls in classes:
            cells = []
            base = None
            for intervention in interventions:
                matching = [r for r in members if r.cls == cls and r.intervention == intervention]
                values = [r.value for r in matching]
                if not values:
                    cells.append(Text(""))
                    continue
                value = float(np.mean(values))
                if intervention is None:
                    base = value
                    cells.append(Text(f"{value:.4f}{interval(matching)}"))
                else:
                    delta = "" if base is None else f" ({value - base:+.4f})"
                    spread = f" ±{sd(values):.3f}" if len(values) > 1 else ""
                    style = "red" if base is not None and value - base < -1e-9 else ""
                    cells.append(Text(f"{value:.4f}{interval(matching)}{spread}{delta}", style=style))
            label = cls if cls else "all"
            if columns:
                label = f"{label} ({label_of(key, columns)})"
            view.add_row(Text(label), *cells)
    return view


def summary_table(table) -> Table:
    view = Table(title="results (means over repeats)", expand=False)
    rows = [r for r in table if r.measure != SELECTIVITY_UNIT]
    shown = ("measure", "stimuli", "class", "layer", "cell", "intervention")
    columns = varying(rows, handled=shown + ("claim",))
    for column in shown + ("value", "n"):
        view.add_column(column, justify="right" if column in ("value", "n") else "left")
    if any(math.isfinite(r.ci_low) for r in table):
        view.columns[6].header = "value [interval]"
    groups = defaultdict(list)
    for r in rows:
        groups[(r.measure, r.stimuli, r.cls, r.layer, r.cell, r.intervention, r.claim, key_of(r, columns))].append(r)
    for (measure, stimuli, cls, layer, cell, intervention, claim, key), members in list(groups.items())[:60]:
        intervention = intervention_text(intervention)
        if claim:
            intervention += f" (claim {claim}'s {len(members)} draws)"
        context = " ".join(f"{c}={v}" for c, v in zip(columns, key) if c != "stimuli" and v != "")
        view.add_row(*[Text(x) for x in (measure, stimuli + (f" {context}" if context else ""), cls,
                                         layer, "" if cell is None else str(cell), intervention)],
                     f"{np.mean([r.value for r in members]):.4g}{interval(members)}", str(members[0].n))
    if len(groups) > 60:
        view.caption = f"{len(groups) - 60} more groups in results.csv"
    return view


def mean_grid(table, measure: str, by=()):
    """The mean over classes and layers of each grid cell, one grid per group of the other columns."""
    rows = [r for r in table if r.measure == measure and r.cell is not None and not r.claim]
    if not rows:       # one value per class and layer (report/matrix.py), or nothing to show
        from abl.interpreter.report.matrix import matrix_rows, matrix_table

        flat = [r for r in matrix_rows(table, measure) if not r.claim]
        order = next((dims for dims in by if set(dims) == {"class", "layer"}), ("class", "layer"))
        if not flat:
            return Text(f"(no grid rows for {measure})", style="dim")
        columns = varying(flat, handled=("class", "layer"))
        groups = defaultdict(list)
        for r in flat:
            groups[key_of(r, columns)].append(r)
        views = []
        for key, members in groups.items():
            view = matrix_table(members, measure, tuple(order))
            if columns:
                view.title = f"{view.title} ({label_of(key, columns)})"
            views.append(view)
        return Group(*views)
    columns = varying(rows, handled=("class", "layer", "cell"))
    groups = defaultdict(list)
    for r in rows:
        groups[key_of(r, columns)].append(r)
    return Group(*[_grid(members, measure, label_of(key, columns) if columns else "")
                   for key, members in groups.items()])


def _grid(rows, measure: str, label: str):
    cells = [r.cell for r in rows]
    n_rows, n_cols = max(c.row for c in cells) + 1, max(c.col for c in cells) + 1
    grid = np.full((n_rows, n_cols), np.nan)
    for r in range(n_rows):
        for c in range(n_cols):
            values = [row.value for row in rows if row.cell == (r, c)]
            if values:
                grid[r, c] = float(np.mean(values))
    low, high = np.nanmin(grid), np.nanmax(grid)
    suffix = f" ({label})" if label else ""
    view = Table(title=f"mean {measure} per cell (over {len({x.cls for x in rows})} classes x "
                       f"{len({x.layer for x in rows})} layers){suffix}", expand=False)
    # rows are printed most selective first, so selectivity rises upwards; `row`/`col` as in claims
    view.add_column("row (selectivity ↑) \\ col (magnitude →)", overflow="fold")
    for c in range(n_cols):
        view.add_column(f"col {c}", justify="right", no_wrap=True)
    for r in reversed(range(n_rows)):
        row_cells = []
        for c in range(n_cols):
            value = grid[r, c]
            shade = 0.0 if high == low else (value - low) / (high - low)
            level = int(232 + round(shade * 23))
            row_cells.append(Text(f"{value:.4f}", style=f"black on color({level})" if shade > 0.5 else f"white on color({level})"))
        name = f"row {r}" + (" (most selective)" if r == n_rows - 1 else " (least)" if r == 0 else "")
        view.add_row(name, *row_cells)
    best = Table(title=f"cell with the largest {measure} per layer{suffix}", expand=False)
    best.add_column("layer")
    best.add_column("cell (selectivity, magnitude)")
    best.add_column(measure, justify="right")
    for layer in dict.fromkeys(r.layer for r in rows):
        by_cell = defaultdict(list)
        for r in rows:
            if r.layer == layer:
                by_cell[r.cell].append(r.value)
        cell, values = max(by_cell.items(), key=lambda kv: np.mean(kv[1]))
        best.add_row(Text(layer), Text(str(cell)), f"{np.mean(values):.4g}")
    return Group(view, best)
