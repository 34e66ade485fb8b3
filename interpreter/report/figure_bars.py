"""Per-class bars of a measure under each intervention, and histograms of the selectivity index."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np
from abl.interpreter.seeding import sd
from abl.interpreter.report.figure_common import (
    _finite_mean,
    _new_figure,
    _ordered,
    _rows_for,
    _save,
    _slug,
    _sort_values,
    _sweep_colours,
    _value_format,
)
from abl.interpreter.run.table import SELECTIVITY_UNIT, ResultRow, ResultsTable
from matplotlib import colormaps

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
    spread = np.array([[sd(values.get((c, i), []))
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

