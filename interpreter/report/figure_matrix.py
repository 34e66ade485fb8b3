"""`report heatmap METRIC by class x layer` without a grid: one value per class and layer (a
family `for each class c in [..], each layer L in [..]` of unit sets selected per class and
layer), drawn as one class x layer matrix per model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from abl.interpreter.report.figure_common import MISSING, _new_figure, _ordered, _save, _slug, _value_format
from abl.interpreter.report.matrix import matrix_rows, matrix_values
from abl.interpreter.run.table import ResultsTable
from matplotlib import colormaps


def class_layer_heatmap(table: ResultsTable, measure: str, out_dir: Path | str, title: str,
                        by: tuple[str, ...] = ("class", "layer"), cmap: str = "viridis") -> list[Path]:
    """The matrix of report/matrix.py (rows `by[0]`, columns `by[-1]`), pairs never measured grey;
    one figure per model; PNG and SVG."""
    rows = matrix_rows(table, measure)
    if not rows:
        raise ValueError(f"the results have no `{measure}` values per class and layer")
    written: list[Path] = []
    models = _ordered(row.model for row in rows)
    for model in models:
        row_names, col_names, grid = matrix_values([row for row in rows if row.model == model], by)
        figure = _new_figure(1.6 + 1.1 * len(col_names), 1.4 + 0.6 * len(row_names))
        ax = figure.add_subplot()
        image = ax.imshow(np.ma.masked_invalid(grid), cmap=colormaps[cmap].with_extremes(bad=MISSING), aspect="auto")
        ax.set_xticks(range(len(col_names)), col_names)
        ax.set_yticks(range(len(row_names)), row_names)
        ax.set_xlabel(by[-1])
        ax.set_ylabel(by[0])
        fmt = _value_format(grid[np.isfinite(grid)].tolist())
        for (i, j), value in np.ndenumerate(grid):
            if np.isfinite(value):
                ax.text(j, i, fmt.format(value), ha="center", va="center", fontsize=8,
                        color="white" if image.norm(value) < 0.5 else "black")
        figure.colorbar(image, ax=ax, label=measure)
        ax.set_title(f"{title} ({model})" if len(models) > 1 and model else title, fontsize=9)
        suffix = f"-{_slug(model)}" if len(models) > 1 else ""
        written.extend(_save(figure, out_dir, f"heatmap-{_slug(measure)}-by-{by[0]}-x-{by[-1]}{suffix}", svg=True))
    return written
