"""Figures drawn from the tidy results table: PNG (dpi 150) and, for the grids, SVG.

Headless by construction: figures are `matplotlib.figure.Figure` objects drawn on the Agg canvas,
never pyplot figures, so nothing is left open in pyplot's registry and no display is needed.
(The Agg backend is also selected at import, unless the caller already imported pyplot and chose
a backend of their own.)

Every function takes the `ResultsTable` (or, for `feature_grid`, arrays), writes into `out_dir`,
and returns the path(s) written. A table that lacks what a figure needs raises `ValueError` with a
sentence that says what is missing, before matplotlib is touched.

Where a figure needs one number but the table holds several (repeats of a random control, several
stimuli or layers, extra sweep variables), the mean is drawn; each function says which, and the
figure says so. The sweep curves and scatters live in figure_sweeps.py.
"""

from __future__ import annotations

import math
import re
import sys
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Iterable, Sequence

import matplotlib

if "matplotlib.pyplot" not in sys.modules:
    matplotlib.use("Agg")

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import LinearSegmentedColormap, Normalize, TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .atomic import atomic_path
from .results import SELECTIVITY_UNIT, ResultRow, ResultsTable

DPI = 150
MISSING = "#d9d9d9"          # colour of grid cells with no value
# sweep values: blue below 0, grey at 0, red above (the colours of Leavitt & Morcos' figures)
SWEEP_CMAP = LinearSegmentedColormap.from_list("abl-sweep", ["#2c5fa8", "#8a8a8a", "#c0262d"])


# ---- shared helpers ----------------------------------------------------------------------------

def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "figure"


def _new_figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, out_dir: Path | str, stem: str, svg: bool = False) -> list[Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.png"] + ([out / f"{stem}.svg"] if svg else [])
    try:
        for path in paths:
            with atomic_path(path) as temporary:      # a whole figure or none
                figure.savefig(temporary, dpi=DPI, format=path.suffix[1:])
            # the layout is solved on the first save; the SVG copy keeps it instead of solving again
            figure.set_layout_engine("none")
    finally:
        figure.clear()
    return paths


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _ordered(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _sort_values(values: Iterable[str]) -> list[str]:
    """Distinct values, numerically when all are numbers, else in order of appearance."""
    distinct = _ordered(values)
    if distinct and all(_number(v) is not None for v in distinct):
        return sorted(distinct, key=lambda v: _number(v))
    return distinct


def _available(table: ResultsTable) -> str:
    names = _ordered(row.measure for row in table)
    return ", ".join(f"`{n}`" for n in names) if names else "none: the table is empty"


def _rows_for(table: ResultsTable, measure: str) -> list[ResultRow]:
    rows = [row for row in table if row.measure == measure]
    if not rows:
        raise ValueError(f"the results have no `{measure}` values (measures present: {_available(table)})")
    return rows


def _prefer(rows: list[ResultRow], keep) -> list[ResultRow]:
    """The rows for which `keep` holds, when there are any; otherwise all rows."""
    kept = [row for row in rows if keep(row)]
    return kept or rows


def _finite_mean(values: Sequence[float]) -> float:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def _value_format(values: Iterable[float]) -> str:
    finite = [v for v in values if math.isfinite(v)]
    if finite and all(0.0 <= v <= 1.0 for v in finite):
        return "{:.2f}"
    return "{:.3g}"


def _sweep_colours(values: Sequence[str]):
    """(colour per value, ScalarMappable or None). Numbers get a diverging map centred at 0
    (blue: negative, grey: 0, red: positive, as in Leavitt & Morcos); labels get tab10."""
    numbers = [_number(v) for v in values]
    if values and all(n is not None for n in numbers):
        low, high = min(numbers), max(numbers)
        if low < 0 < high:
            norm: Normalize = TwoSlopeNorm(vcenter=0.0, vmin=low, vmax=high)
        else:
            norm = Normalize(vmin=low, vmax=high if high > low else low + 1)
        cmap = SWEEP_CMAP
        return [cmap(norm(n)) for n in numbers], ScalarMappable(norm=norm, cmap=cmap)
    cmap = colormaps["tab10"]
    return [cmap(i % 10) for i in range(len(values))], None


# ---- Hayne et al. grids ------------------------------------------------------------------------

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


# ---- bars, histograms, sweeps ------------------------------------------------------------------

def per_class_bars(table: ResultsTable, measure: str, out_dir: Path | str, title: str) -> Path:
    """Grouped bars: one group per class, one bar per intervention (baseline, i.e. `none`, first),
    each labelled with its value. The all-classes value (rows with no class) is the last group,
    "all". Random controls measured in several draws show their mean with a ±1 sd error bar (the
    legend says how many draws); values from different stimuli, models or sweep bindings get bars
    of their own, never pooled. A claim's own control draws are summarised by its verdict and
    are not drawn here."""
    rows = [r for r in _rows_for(table, measure) if not r.claim]
    several = {name: len({key(r) for r in rows}) > 1 for name, key in
               (("stimuli", lambda r: r.stimuli), ("model", lambda r: r.model), ("dims", lambda r: r.dims))}

    def condition(row: ResultRow) -> tuple[str | None, str]:
        """(the interventions, what else tells the bar apart)."""
        parts = []
        if several["stimuli"]:
            parts.append(f"on {row.stimuli}")
        if several["model"]:
            parts.append(f"using {row.model}")
        if several["dims"]:
            parts += [f"{k}={v}" for k, v in row.dims]
        return (row.intervention, " ".join(parts))

    interventions = _ordered(condition(r) for r in rows)
    baselines = [i for i in interventions if i[0] is None]
    interventions = baselines + [i for i in interventions if i not in baselines]
    classes = [c for c in _ordered(r.cls for r in rows) if c]
    if any(not r.cls for r in rows):
        classes.append("")
    values: dict[tuple[str, tuple], list[float]] = defaultdict(list)
    single: dict[tuple[str, tuple], ResultRow] = {}
    for row in rows:
        values[(row.cls, condition(row))].append(row.value)
        single[(row.cls, condition(row))] = row
    means = np.array([[_finite_mean(values.get((c, i), [])) for i in interventions] for c in classes])
    spread = np.array([[float(np.std(values[(c, i)])) if len(values.get((c, i), [])) > 1 else 0.0
                        for i in interventions] for c in classes])
    # a single measured value: its bootstrap interval over images (asymmetric)
    lower, upper = spread.copy(), spread.copy()
    for a, c in enumerate(classes):
        for b, i in enumerate(interventions):
            row = single.get((c, i))
            if len(values.get((c, i), [])) == 1 and math.isfinite(row.ci_low):
                lower[a, b] = max(row.value - row.ci_low, 0.0)
                upper[a, b] = max(row.ci_high - row.value, 0.0)
    has_intervals = bool(np.any(upper > 0))
    fmt = _value_format(means[np.isfinite(means)].tolist())

    n_groups, n_bars = len(classes), len(interventions)
    width = min(max(1.5 + n_groups * (0.2 + 0.2 * n_bars), 5.0), 14.0)
    figure = _new_figure(width, 4.6)
    ax = figure.add_subplot()
    bar_width = 0.8 / n_bars
    x = np.arange(n_groups)
    colours = ["#7f7f7f"] + [colormaps["tab10"](i) for i in (3, 0, 2, 1, 4, 5, 6, 8, 9)]
    rotate = n_groups * n_bars > 16
    for j, intervention in enumerate(interventions):
        draws = max((len(values.get((c, intervention), [])) for c in classes), default=1)
        label = " ".join(part for part in ("baseline" if intervention[0] is None else intervention[0],
                                           intervention[1]) if part)
        if draws > 1:
            label += f" (mean ± sd of {draws} draws)"
        heights = np.nan_to_num(means[:, j], nan=0.0)
        errors = np.array([lower[:, j], upper[:, j]]) if (draws > 1 or has_intervals) else None
        bars = ax.bar(x - 0.4 + bar_width * (j + 0.5), heights, bar_width * 0.92, label=label,
                      color=colours[j % len(colours)], yerr=errors, capsize=2 if errors is not None else 0,
                      error_kw={"elinewidth": 0.8})
        labels = ["n/a" if not math.isfinite(v) else fmt.format(v) for v in means[:, j]]
        ax.bar_label(bars, labels=labels, fontsize=6 if rotate else 7, rotation=90 if rotate else 0,
                     padding=2)
    ax.set_xticks(x)
    ax.set_xticklabels([c if c else "all" for c in classes], fontsize=8)
    ax.set_xlabel("class")
    ax.set_ylabel(measure + (f" ({table.confidence:.0%} bootstrap intervals)" if has_intervals else ""))
    finite = means[np.isfinite(means)]
    if finite.size and finite.min() >= 0:
        top = float((finite + upper[np.isfinite(means)]).max())
        bottom = float((finite - lower[np.isfinite(means)]).min())
        span = max(top - bottom, 1e-9)
        # the axis starts near the smallest value, so the differences show (it says so)
        low = 0.0 if bottom < 0.5 * top else max(0.0, np.floor((bottom - 0.15 * span) * 20) / 20)
        ax.set_ylim(low, top + (0.28 if rotate else 0.16) * (top - low))
        if low > 0:
            ax.set_ylabel(ax.get_ylabel() + f"\n(axis from {low:g}, not 0)", fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=min(n_bars, 3),
              frameon=False)
    ax.set_title(title, fontsize=10)
    return _save(figure, out_dir, f"bars-{_slug(measure)}")[0]


def selectivity_histograms(table: ResultsTable, out_dir: Path | str, title: str) -> Path:
    """One histogram per layer of the per-unit class selectivity index (rows with measure
    "selectivity index unit", one per unit). When the table holds several distributions for a
    layer (a sweep such as alpha, several models or stimuli) they are overlaid as outlines, one
    colour each, with shared bins."""
    rows = _rows_for(table, SELECTIVITY_UNIT)
    layers = _ordered(r.layer for r in rows)
    varying = [name for name in ("model", "stimuli") if len({getattr(r, name) for r in rows}) > 1]

    varying = [name for name in varying if not (name == "model" and any(r.dim("seed") for r in rows))]

    def group_of(row: ResultRow) -> str:
        # replicate seeds are pooled: one distribution per sweep value, coloured as in the curves
        parts = [f"{k}={v}" for k, v in row.dims if k != "seed"]
        parts += [getattr(row, name) for name in varying]
        return ", ".join(parts)

    groups = _ordered(group_of(r) for r in rows)
    dim_keys = {tuple(k for k, _ in r.dims if k != "seed") for r in rows}
    if not varying and len(dim_keys) == 1 and len(next(iter(dim_keys))) == 1:
        # a single sweep (e.g. alpha): order and colour the distributions by its value
        key = next(iter(dim_keys))[0]
        values = _sort_values(r.dim(key) for r in rows)
        groups = [f"{key}={v}" for v in values]
        colours, _ = _sweep_colours(values)
    else:
        colours, _ = _sweep_colours(groups)
    colour_of = dict(zip(groups, colours))

    n_cols = min(len(layers), 4)
    n_rows = math.ceil(len(layers) / n_cols)
    figure = _new_figure(0.6 + 3.4 * n_cols, 0.8 + 2.8 * n_rows)
    axes = figure.subplots(n_rows, n_cols, squeeze=False)
    for index, layer in enumerate(layers):
        ax = axes[index // n_cols][index % n_cols]
        layer_rows = [r for r in rows if r.layer == layer and math.isfinite(r.value)]
        values = np.array([r.value for r in layer_rows])
        if values.size == 0:
            ax.set_axis_off()
            continue
        low, high = float(values.min()), float(values.max())
        bins = np.linspace(low, high if high > low else low + 1e-6, 21)
        for group in groups:
            chunk = [r.value for r in layer_rows if group_of(r) == group]
            if not chunk:
                continue
            if len(groups) == 1:
                ax.hist(chunk, bins=bins, color="#4c72b0", edgecolor="white", linewidth=0.5)
            else:
                ax.hist(chunk, bins=bins, histtype="step", linewidth=1.4, color=colour_of[group], label=group)
        seeds = len({r.dim("seed") for r in layer_rows if r.dim("seed")})
        units = len(layer_rows) // max(len(groups), 1) // max(seeds, 1)
        ax.set_title(f"{layer} ({units} units" + (f" x {seeds} seeds)" if seeds > 1 else ")"), fontsize=9)
        ax.set_xlabel("class selectivity index", fontsize=8)
        ax.set_ylabel("units", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.spines[["top", "right"]].set_visible(False)
    for index in range(len(layers), n_rows * n_cols):
        axes[index // n_cols][index % n_cols].set_axis_off()
    if len(groups) > 1:
        handles, labels = axes[0][0].get_legend_handles_labels()
        figure.legend(handles, labels, loc="outside right upper", fontsize=7, frameon=False)
    figure.suptitle(title, fontsize=10)
    return _save(figure, out_dir, "histogram-selectivity-index")[0]


# ---- feature visualisations --------------------------------------------------------------------

def feature_grid(images: dict[str, np.ndarray], out_dir: Path | str, title: str) -> Path:
    """A grid of feature visualisations, one panel per unit titled by its name. Each image is
    (C, H, W) with C = 1 (grey) or 3 (RGB), values in [0, 1] (clipped); (H, W) is taken as grey."""
    if not images:
        raise ValueError("there are no feature visualisations to draw")
    prepared: list[tuple[str, np.ndarray]] = []
    for name, image in images.items():
        array = np.asarray(image, dtype=float)
        if array.ndim == 2:
            array = array[None]
        if array.ndim != 3 or array.shape[0] not in (1, 3, 4):
            raise ValueError(f"feature image `{name}` has shape {tuple(np.shape(image))}; "
                             f"expected (C, H, W) with C = 1 or 3")
        array = np.clip(np.nan_to_num(array), 0.0, 1.0).transpose(1, 2, 0)
        prepared.append((name, array[:, :, 0] if array.shape[2] == 1 else array[:, :, :3]))
    n_cols = min(len(prepared), max(1, math.ceil(math.sqrt(len(prepared)))), 8)
    n_rows = math.ceil(len(prepared) / n_cols)
    figure = _new_figure(0.4 + 1.9 * n_cols, 0.7 + 2.0 * n_rows)
    axes = figure.subplots(n_rows, n_cols, squeeze=False)
    shown = None
    for index, ax in enumerate(axes.ravel()):
        ax.set_axis_off()
        if index < len(prepared):
            name, array = prepared[index]
            shown = ax.imshow(array, cmap="gray" if array.ndim == 2 else None, vmin=0, vmax=1,
                              aspect="equal", interpolation="nearest")
            ax.set_title(name, fontsize=7)
    if shown is not None and prepared[-1][1].ndim == 2:
        bar = figure.colorbar(shown, ax=axes.ravel().tolist(), shrink=0.8)
        bar.set_label("pixel value (input scale 0..1)", fontsize=7)
    figure.suptitle(title + "\n(panel: unit; act: its activation on the start noise -> on the image)",
                    fontsize=9)
    return _save(figure, out_dir, "features")[0]


def null_distribution(verdict, out_dir: Path | str, title: str) -> Path:
    """A random-control claim: its control draws as a histogram, the observed value as a line,
    the claim's p (raw and Holm-adjusted) in the legend."""
    controls = np.asarray(verdict.controls, dtype=float)
    figure = _new_figure(5.8, 3.8)
    ax = figure.add_subplot()
    label = f"{len(controls)} random draws (mean {np.mean(controls):.3g})"
    values, counts = np.unique(np.round(controls, 12), return_counts=True)
    if len(values) <= 30:             # few distinct values (a drop in whole images): one bar each
        gaps = np.diff(np.append(values, [verdict.observed]))
        width = 0.8 * (np.min(gaps[gaps > 0]) if np.any(gaps > 0) else 1.0)
        ax.bar(values, counts, width=width, color="#1f77b4", alpha=0.75, label=label)
    else:
        ax.hist(controls, bins=30, color="#1f77b4", alpha=0.75, label=label)
    p_text = f"p = {verdict.p_value:.3g}" if verdict.p_value is not None else ""
    if verdict.p_adjusted is not None:
        p_text += f", Holm {verdict.p_adjusted:.3g}"
    ax.axvline(verdict.observed, color="#d62728", linewidth=2,
               label=f"observed {verdict.observed:.3g} ({p_text})")
    ax.set_xlabel("value under each random draw (a drop: baseline minus value)", fontsize=8)
    ax.set_ylabel("draws")
    ax.legend(fontsize=7, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    wrapped = verdict.text if len(verdict.text) <= 70 else verdict.text[:67] + "..."
    ax.set_title(f"{title}\nclaim {verdict.claim}: {wrapped} ({'PASS' if verdict.passed else 'FAIL'})",
                 fontsize=8)
    return _save(figure, out_dir, f"null-claim-{verdict.claim}")[0]
