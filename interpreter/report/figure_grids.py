"""Hayne et al.'s grids: per class and layer heatmaps of a grid measure, and their mean summary."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
from abl.interpreter.report.figure_common import (
    MISSING,
    _available,
    _new_figure,
    _ordered,
    _save,
    _slug,
    _value_format,
)
from abl.interpreter.run.table import ResultRow, ResultsTable
from matplotlib import colormaps
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

DEFICITS = ("rank deficit", "selective rank deficit")


def grid_colormap(measure: str) -> str:
    """Deficits (damage) in magma, everything else (accuracies, probes) in viridis."""
    return "magma" if measure in DEFICITS else "viridis"


def _grid_rows(table: ResultsTable, measure: str) -> list[ResultRow]:
    rows = [row for row in table if row.measure == measure and row.cell is not None]
    if not rows:
        if any(row.measure == measure for row in table):
            raise ValueError(f"the `{measure}` values are not per grid cell, so there is no grid to draw "
                             f"(measure them on units selected by `grid RxC over selectivity, magnitude`)")
        raise ValueError(f"the results have no `{measure}` values to draw as a grid "
                         f"(measures present: {_available(table)})")
    return rows


def _grid_array(rows: list[ResultRow], classes: list[str], layers: list[str],
                n_rows: int, n_cols: int) -> np.ndarray:
    """Mean value per (class, layer, r, c); NaN where nothing was measured."""
    sums = np.zeros((len(classes), len(layers), n_rows, n_cols))
    counts = np.zeros_like(sums)
    class_index = {c: i for i, c in enumerate(classes)}
    layer_index = {l: i for i, l in enumerate(layers)}
    for row in rows:
        r, c = row.cell
        if r >= n_rows or c >= n_cols:
            raise ValueError(f"grid cell `{row.cell}` lies outside a {n_rows}x{n_cols} grid")
        k, l = class_index.get(row.cls), layer_index.get(row.layer)
        if k is None or l is None or not math.isfinite(row.value):
            continue
        sums[k, l, r, c] += row.value
        counts[k, l, r, c] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _nanmean(array: np.ndarray, axis) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(array, axis=axis)


def _range(*arrays: np.ndarray) -> tuple[float, float]:
    values = np.concatenate([np.asarray(a, dtype=float).ravel() for a in arrays])
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 1.0
    low, high = float(values.min()), float(values.max())
    if high <= low:
        pad = abs(low) * 0.05 or 0.5
        low, high = low - pad, high + pad
    return low, high


def _draw_grid(ax, grid: np.ndarray, cmap, norm: Normalize):
    image = ax.imshow(np.ma.masked_invalid(grid), origin="lower", cmap=cmap, norm=norm,
                      aspect="auto", interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_linewidth(0.5)
    return image


def _label_axes_once(ax, n_rows: int, n_cols: int, fontsize: float = 6) -> None:
    ax.set_xticks([0, n_cols - 1] if n_cols > 1 else [0])
    ax.set_xticklabels(["low", "high"] if n_cols > 1 else ["-"], fontsize=fontsize)
    ax.set_yticks([0, n_rows - 1] if n_rows > 1 else [0])
    ax.set_yticklabels(["low", "high"] if n_rows > 1 else ["-"], fontsize=fontsize)
    ax.tick_params(length=2, pad=1)


def _grid_size(rows: list[ResultRow], n_rows: int | None, n_cols: int | None) -> tuple[int, int]:
    cells = [row.cell for row in rows]
    need_r = max(r for r, _ in cells) + 1
    need_c = max(c for _, c in cells) + 1
    return (n_rows or need_r), (n_cols or need_c)


def hayne_heatmaps(table: ResultsTable, measure: str, out_dir: Path | str, title: str,
                   layers_order: Sequence[str] | None = None, classes_order: Sequence[str] | None = None,
                   rows: int | None = None, cols: int | None = None, cmap: str = "viridis") -> list[Path]:
    """Hayne et al. Figure 2: one panel per (class, layer), each the RxC grid of cells.

    Rows of panels are classes (`classes_order`), columns are layers (`layers_order`); both default
    to the order the table first mentions them, and only the listed ones are drawn. A final row
    "mean" averages the classes per layer, a final column "mean" averages the layers per class,
    and the bottom-right panel is the grand mean. Inside a panel, cell "r,c" is drawn with the
    selectivity strip r increasing upward (r = 0, least selective, at the bottom) and magnitude c
    increasing to the right; the bottom-left panel carries the low/high ticks for both.

    Colour is scaled per row of panels, as in the paper ("the colorbar displays the range in scores
    for each class"): each class row, its mean panel included, has its own colour bar, and so does
    the "mean" row. Values measured several times for one cell (random repeats, several stimuli)
    are averaged; cells never measured are grey. One figure per model in the table (the model name
    is appended to the file name when there are several). Writes PNG and SVG; returns all paths.
    """
    grid_rows = _grid_rows(table, measure)
    n_rows, n_cols = _grid_size(grid_rows, rows, cols)
    if n_rows < 1 or n_cols < 1:
        raise ValueError(f"a heatmap grid needs at least one row and column, not {n_rows}x{n_cols}")
    models = _ordered(row.model for row in grid_rows)
    written: list[Path] = []
    for model in models:
        model_rows = [row for row in grid_rows if row.model == model]
        layers = list(layers_order) if layers_order else _ordered(r.layer for r in model_rows)
        classes = list(classes_order) if classes_order else _ordered(r.cls for r in model_rows)
        grid = _grid_array(model_rows, classes, layers, n_rows, n_cols)
        if not np.isfinite(grid).any():
            raise ValueError(f"no `{measure}` values fall in the classes {classes} and layers {layers} "
                             f"asked for")
        suffix = f"-{_slug(model)}" if len(models) > 1 else ""
        heading = f"{title} ({model})" if len(models) > 1 and model else title
        figure = _hayne_figure(grid, classes, layers, measure, heading, colormaps[cmap].with_extremes(bad=MISSING))
        written.extend(_save(figure, out_dir, f"heatmap-{_slug(measure)}{suffix}", svg=True))
    return written


PROBE_ACCURACY = "probe accuracy"


def _mark_chance(bar, measure: str) -> None:
    """A probe's balanced accuracy at chance is 0.5: a dashed line on its colour bar, when in range."""
    if measure != PROBE_ACCURACY:
        return
    low, high = bar.mappable.get_clim()
    bar.set_label("balanced accuracy; chance 0.5" + ("" if low <= 0.5 <= high else " (below the scale)"),
                  fontsize=6)
    if low <= 0.5 <= high:
        bar.ax.axhline(0.5, color="white", linestyle="--", linewidth=1.0)
        bar.ax.axhline(0.5, color="black", linestyle=":", linewidth=1.0)


def _hayne_figure(grid: np.ndarray, classes: list[str], layers: list[str], measure: str,
                  title: str, cmap) -> Figure:
    n_classes, n_layers, n_rows, n_cols = grid.shape
    class_means = _nanmean(grid, axis=1)                 # (K, R, C)
    layer_means = _nanmean(grid, axis=0)                 # (L, R, C)
    grand = _nanmean(grid, axis=(0, 1))                  # (R, C)

    panel = 1.0 if max(n_classes, n_layers) <= 5 else 0.8
    panel_h = panel * min(max(n_rows / n_cols, 0.5), 2.0)
    label_w = 0.35 + 0.065 * max([len(c) for c in classes] + [4])
    width = max(label_w + (n_layers + 1.25) * panel + 1.0, 6.0)
    height = max(1.3 + (n_classes + 1.25) * panel_h, 4.6)
    figure = _new_figure(width, height)
    spacer = 0.25
    grid_spec = figure.add_gridspec(
        n_classes + 2, n_layers + 3,
        height_ratios=[1] * n_classes + [spacer, 1],
        width_ratios=[1] * n_layers + [spacer, 1, 0.12])
    small = 7 if n_classes <= 6 else 6

    def row_of_panels(row_index: int, label: str, panels: list[np.ndarray], mean_panel: np.ndarray,
                      bold: bool) -> None:
        low, high = _range(*panels, mean_panel)
        norm = Normalize(vmin=low, vmax=high)
        image = None
        for l, values in enumerate(panels + [mean_panel]):
            column = l if l < n_layers else n_layers + 1
            ax = figure.add_subplot(grid_spec[row_index, column])
            image = _draw_grid(ax, values, cmap, norm)
            if row_index == 0:
                ax.set_title(layers[l] if l < n_layers else "mean", fontsize=8,
                             fontweight="bold" if l == n_layers else "normal")
            if l == 0:
                ax.set_ylabel(label, fontsize=8, fontweight="bold" if bold else "normal",
                              rotation=0, ha="right", va="center")
            if bold and l == 0:
                _label_axes_once(ax, n_rows, n_cols, small)
        cax = figure.add_subplot(grid_spec[row_index, n_layers + 2])
        bar = figure.colorbar(image, cax=cax)
        bar.locator = MaxNLocator(nbins=3)
        bar.update_ticks()
        bar.ax.tick_params(labelsize=small, length=2, pad=1)
        bar.outline.set_linewidth(0.5)
        _mark_chance(bar, measure)

    for k, name in enumerate(classes):
        row_of_panels(k, name or "all", [grid[k, l] for l in range(n_layers)], class_means[k], bold=False)
    row_of_panels(n_classes + 1, "mean", [layer_means[l] for l in range(n_layers)], grand, bold=True)

    figure.suptitle(title, fontsize=10)
    chance = " (chance 0.5: the dashed line on each colour bar)" if measure == PROBE_ACCURACY else ""
    figure.supxlabel(f"within each panel: activation magnitude → (cells c = 0..{n_cols - 1})\n"
                     f"colour: {measure}, scaled per row of panels{chance}", fontsize=8)
    figure.supylabel(f"within each panel: class selectivity → (strips r = 0..{n_rows - 1})", fontsize=8)
    return figure


def hayne_summary(table: ResultsTable, measures: Sequence[str], out_dir: Path | str, title: str) -> list[Path]:
    """Hayne et al. Figure 3: per model (rows), the grid averaged over layers and classes, one
    panel per measure (columns), each with its own colour bar and the cell values printed.

    The average gives every (class, layer) grid the same weight. Measures without grid values are
    left out; raises ValueError when none has any. Writes PNG and SVG; returns both paths.
    """
    measures = _ordered(measures)
    present = [m for m in measures if any(r.measure == m and r.cell is not None for r in table)]
    if not present:
        raise ValueError(f"none of {', '.join(f'`{m}`' for m in measures) or 'the measures'} has "
                         f"per-cell values to summarise (measures present: {_available(table)})")
    models = _ordered(r.model for r in table if r.cell is not None and r.measure in present)
    panel = 2.2
    figure = _new_figure(0.8 + panel * 1.25 * len(present), 0.9 + panel * len(models))
    axes = figure.subplots(len(models), len(present), squeeze=False)
    for m_index, model in enumerate(models):
        for j, measure in enumerate(present):
            ax = axes[m_index][j]
            rows = [r for r in table if r.measure == measure and r.cell is not None and r.model == model]
            if not rows:
                ax.set_axis_off()
                ax.set_title(f"{measure}: not measured", fontsize=8)
                continue
            n_rows, n_cols = _grid_size(rows, None, None)
            classes = _ordered(r.cls for r in rows)
            layers = _ordered(r.layer for r in rows)
            mean = _nanmean(_grid_array(rows, classes, layers, n_rows, n_cols), axis=(0, 1))
            low, high = _range(mean)
            cmap = colormaps[grid_colormap(measure)].with_extremes(bad=MISSING)
            norm = Normalize(vmin=low, vmax=high)
            image = _draw_grid(ax, mean, cmap, norm)
            fmt = _value_format(mean[np.isfinite(mean)].tolist())
            for r in range(n_rows):
                for c in range(n_cols):
                    if math.isfinite(mean[r, c]):
                        shade = norm(mean[r, c])
                        ax.text(c, r, fmt.format(mean[r, c]), ha="center", va="center", fontsize=7,
                                color="black" if shade > 0.55 else "white")
            _label_axes_once(ax, n_rows, n_cols, 7)
            ax.set_xlabel("activation magnitude →", fontsize=8)
            ax.set_ylabel((f"{model}\n" if model and j == 0 else "") + "class selectivity →", fontsize=8)
            if m_index == 0:
                ax.set_title(measure, fontsize=9)
            bar = figure.colorbar(image, ax=ax, shrink=0.85)
            bar.ax.tick_params(labelsize=7)
            _mark_chance(bar, measure)
    figure.suptitle(title, fontsize=10)
    return _save(figure, out_dir, "summary-grid", svg=True)

