"""One value per class and layer (`report heatmap METRIC by class x layer` over a family of unit
sets selected per class and layer, no grid): the matrix both the figure (figure_matrix.py) and
the terminal report draw."""

from __future__ import annotations

import math

import numpy as np
from rich.table import Table

from abl.interpreter.run.table import ResultRow

ALONG = {"class": lambda row: row.cls, "layer": lambda row: row.layer}


def matrix_rows(table, measure: str) -> list[ResultRow]:
    """The measure's rows that carry a class and a layer and no grid cell."""
    return [row for row in table if row.measure == measure and row.cls and row.layer and row.cell is None]


def matrix_values(rows: list[ResultRow], by: tuple[str, ...]) -> tuple[list[str], list[str], np.ndarray]:
    """(row names, column names, values): rows are `by[0]` (class or layer), columns `by[-1]`, in
    the order the rows first mention them; values measured several times (random repeats) are
    averaged, pairs never measured are NaN."""
    down, across = ALONG[by[0]], ALONG[by[-1]]
    row_names = list(dict.fromkeys(map(down, rows)))
    col_names = list(dict.fromkeys(map(across, rows)))
    found: dict[tuple[str, str], list[float]] = {}
    for row in rows:
        if row.value is not None and math.isfinite(row.value):
            found.setdefault((down(row), across(row)), []).append(row.value)
    grid = np.full((len(row_names), len(col_names)), np.nan)
    for (r, c), values in found.items():
        grid[row_names.index(r), col_names.index(c)] = float(np.mean(values))
    return row_names, col_names, grid


def matrix_table(rows: list[ResultRow], measure: str, by: tuple[str, ...] = ("class", "layer")) -> Table:
    row_names, col_names, grid = matrix_values(rows, by)
    view = Table(title=f"mean {measure} per {by[0]} x {by[-1]}", expand=False)
    view.add_column(f"{by[0]} \\ {by[-1]}")
    for name in col_names:
        view.add_column(name, justify="right", no_wrap=True)
    for name, values in zip(row_names, grid):
        view.add_row(name, *(f"{v:.4f}" if math.isfinite(v) else "-" for v in values))
    return view
