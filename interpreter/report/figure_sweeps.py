"""Sweep figures (curves and scatters over a `for each` variable), one line or point set per
distinct condition.

A *condition* is everything that tells values apart besides the axes: the stimuli set (by name,
without its loop bindings), the intervention, the unit set, layer, class, grid cell, the claim
whose draws these are, and every other sweep variable. Values of different conditions are never
pooled into one line or point; the only thing averaged is the random draws (`repeat`) of one
condition, and the legend says so ("mean of 100 draws"), and replicate models (`seed`), whose
spread gives the error bars (a t-interval across seeds); a single value's error bar is its
bootstrap interval over images. The scatter's x axis may average over several conditions (e.g.
the selectivity index of two layers); its label then says which.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from abl.interpreter.plan.units import Cell
from abl.interpreter.report.figure_common import (
    _finite_mean,
    _new_figure,
    _number,
    _rows_for,
    _save,
    _slug,
    _sort_values,
    _sweep_colours,
)
from abl.interpreter.run.statistics import t_interval
from abl.interpreter.run.table import ResultRow, ResultsTable

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
LINESTYLES = ("-", "--", ":", "-.")


@dataclass(frozen=True)
class Condition:
    """What one line (or point set) of a sweep figure is about."""

    stimuli: str
    intervention: str | None          # None: the plain network
    units: str
    layer: str
    cls: str
    cell: Cell | None
    claim: int
    others: tuple[tuple[str, str], ...]     # sweep variables other than the axes

    def label(self) -> str:
        parts = [f"on {self.stimuli}"]
        if self.intervention is not None:
            parts.append(self.intervention)
        if self.layer and (self.intervention is None or self.layer not in self.intervention):
            parts.append(f"in {self.layer}")
        if self.cls:
            parts.append(f"class {self.cls}")
        if self.cell is not None:
            parts.append(f"cell {self.cell}")
        if self.claim:
            parts.append(f"claim {self.claim}'s draws")
        parts += [f"{k}={v}" for k, v in self.others]
        return ", ".join(parts)


@dataclass
class Series:
    condition: Condition
    group: str                                   # value of the `over` variable ("" without one)
    values: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    rows: dict[str, list[ResultRow]] = field(default_factory=lambda: defaultdict(list))

    def points(self, keys: list[str]) -> list[tuple[str, float]]:
        return [(k, _finite_mean(self.values[k])) for k in keys if k in self.values]

    def interval(self, key: str, level: float) -> tuple[float, float]:
        """Error bar at `key`: across replicate seeds a t-interval of their means; one value, its
        bootstrap interval; else none (NaN)."""
        rows = self.rows.get(key, [])
        seeds: dict[str, list[float]] = defaultdict(list)
        for row in rows:
            seeds[row.dim("seed")].append(row.value)
        if len(seeds) > 1:
            interval = t_interval([_finite_mean(v) for v in seeds.values()], level)
            return interval.low, interval.high
        if len(rows) == 1:
            return rows[0].ci_low, rows[0].ci_high
        return math.nan, math.nan

    @property
    def seeds(self) -> int:
        return max((len({r.dim("seed") for r in rows}) for rows in self.rows.values()), default=0)

    @property
    def draws(self) -> int:
        return max((len(v) for v in self.values.values()), default=0) // max(self.seeds, 1)


def _yerr(values: list[float], intervals: list[tuple[float, float]]):
    """matplotlib's asymmetric error bars; None when no point has an interval."""
    if not any(math.isfinite(low) for low, _ in intervals):
        return None
    lower = [v - low if math.isfinite(low) else 0.0 for v, (low, _) in zip(values, intervals)]
    upper = [high - v if math.isfinite(high) else 0.0 for v, (_, high) in zip(values, intervals)]
    return np.clip(np.array([lower, upper]), 0.0, None)


def _condition(table: ResultsTable, row: ResultRow, axes: tuple[str, ...]) -> Condition:
    return Condition(table.declared(row.stimuli), row.intervention, row.units, row.layer, row.cls,
                     row.cell, row.claim, tuple((k, v) for k, v in row.dims if k not in axes + ("seed",)))


def sweep_series(table: ResultsTable, measure: str, x_dim: str, group_dim: str = "") -> list[Series]:
    """The rows of `measure` that carry `x_dim`, one Series per (condition, group value); only the
    random draws of one condition are averaged. All-class rows are drawn when a measurement has
    them (per-class rows are then left out, not pooled)."""
    rows = [r for r in _rows_for(table, measure) if r.dim(x_dim) != ""]
    if not rows:
        raise ValueError(f"the `{measure}` values do not vary over `{x_dim}` "
                         f"(sweep variables present: {', '.join(table.dim_names()) or 'none'})")
    axes = (x_dim, group_dim) if group_dim else (x_dim,)
    all_class = {(table.declared(r.stimuli), r.intervention, r.units, r.layer, r.cell, r.claim)
                 for r in rows if r.cls == ""}
    series: dict[tuple[Condition, str], Series] = {}
    for row in rows:
        identity = (table.declared(row.stimuli), row.intervention, row.units, row.layer, row.cell, row.claim)
        if row.cls and identity in all_class:
            continue
        condition = _condition(table, row, axes)
        group = row.dim(group_dim) if group_dim else ""
        entry = series.setdefault((condition, group), Series(condition, group))
        entry.values[row.dim(x_dim)].append(row.value)
        entry.rows[row.dim(x_dim)].append(row)
    return list(series.values())


def _legend(series: Series, group_dim: str, single_condition: bool) -> str:
    parts = []
    if group_dim and series.group:
        parts.append(f"{group_dim} = {series.group}")
    if not single_condition or not parts:
        parts.append(series.condition.label())
    if series.draws > 1:
        parts.append(f"mean of {series.draws} draws")
    if series.seeds > 1:
        parts.append(f"mean of {series.seeds} seeds")
    return "; ".join(parts)


def curves(table: ResultsTable, measure: str, x_dim: str, group_dim: str, out_dir: Path | str,
           title: str) -> Path:
    """`measure` against sweep variable `x_dim`, one line per distinct condition and value of
    `group_dim` (colour: the group value; marker and line style: the condition)."""
    if not x_dim:
        raise ValueError(f"a curve of `{measure}` needs the variable on its x axis (`by NAME`)")
    series = sweep_series(table, measure, x_dim, group_dim)
    x_values = _sort_values(k for s in series for k in s.values)
    numeric_x = all(_number(v) is not None for v in x_values)
    groups = _sort_values(s.group for s in series)
    conditions = list(dict.fromkeys(s.condition for s in series))
    if group_dim and groups != [""]:
        colours, _ = _sweep_colours(groups)
        colour_of = dict(zip(groups, colours))
    else:
        palette, _ = _sweep_colours([c.label() for c in conditions])
        colour_of = None
    figure = _new_figure(6.8 if len(series) > 1 else 5.8, 4.2)
    ax = figure.add_subplot()
    ordered = sorted(series, key=lambda s: (conditions.index(s.condition), groups.index(s.group)))
    # error bars of different lines at one x are set apart a little, so that each can be read
    positions = [_number(x) for x in x_values] if numeric_x else list(range(len(x_values)))
    step = (max(positions) - min(positions)) / max(len(positions) - 1, 1) if len(positions) > 1 else 1.0
    dodge = 0.12 * step / max(len(ordered) - 1, 1) if len(ordered) > 1 else 0.0
    for number, s in enumerate(ordered):
        index = conditions.index(s.condition)
        colour = colour_of[s.group] if colour_of else palette[index]
        points = s.points(x_values)
        shift = (number - (len(ordered) - 1) / 2) * dodge
        px = [(_number(x) if numeric_x else x_values.index(x)) + shift for x, _ in points]
        py = [y for _, y in points]
        ax.errorbar(px, py, yerr=_yerr(py, [s.interval(x, table.confidence) for x, _ in points]),
                    marker=MARKERS[index % len(MARKERS)], markersize=4, capsize=2, elinewidth=0.8,
                    linestyle=LINESTYLES[index % len(LINESTYLES)], color=colour,
                    label=_legend(s, group_dim, len(conditions) == 1))
    if not numeric_x:
        ax.set_xticks(range(len(x_values)))
        ax.set_xticklabels(x_values)
    ax.set_xlabel(x_dim)
    ax.set_ylabel(measure + (f" ({conditions[0].label()})" if len(conditions) == 1 else "")
                  + _bars_note(series, table.confidence), fontsize=8)
    ax.grid(alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    if len(series) > 1:
        figure.legend(fontsize=6, loc="outside right upper", frameon=False)
    ax.set_title(title, fontsize=10)
    return _save(figure, out_dir, f"curve-{_slug(measure)}-by-{_slug(x_dim)}")[0]


def _bars_note(series: list[Series], level: float) -> str:
    seeds = max((s.seeds for s in series), default=0)
    if seeds > 1:
        return f"\nmean of {seeds} seeds, {level:.0%} t-interval across seeds"
    return f"\n{level:.0%} bootstrap interval over images"


def _clean(series: list[Series]) -> list[Series]:
    """The series with the fewest other sweep variables (the clean stimuli of a robustness sweep
    rather than its corrupted copies, which carry a severity variable)."""
    fewest = min(len(s.condition.others) for s in series)
    return [s for s in series if len(s.condition.others) == fewest]


def sweep_values(table: ResultsTable, measure: str, dim: str) -> tuple[dict[str, float], str]:
    """The x axis of a sweep scatter: `measure` per value of `dim`, and what was averaged.
    Several conditions (e.g. two layers) are averaged, and the description names them."""
    series = _clean(sweep_series(table, measure, dim))
    grouped: dict[str, list[float]] = defaultdict(list)
    for s in series:
        for key, values in s.values.items():
            grouped[key].append(_finite_mean(values))
    labels = [s.condition.label() for s in series]
    if len(labels) == 1:
        context = labels[0]
    else:
        context = f"mean of {len(labels)}: " + " | ".join(labels)
    return {k: _finite_mean(v) for k, v in grouped.items()}, context


def sweep_intervals(table: ResultsTable, measure: str, dim: str) -> dict[str, tuple[float, float]]:
    """The x axis's error bars: the one condition's intervals, or none when several are averaged."""
    series = _clean(sweep_series(table, measure, dim))
    if len(series) != 1:
        return {}
    return {k: series[0].interval(k, table.confidence) for k in series[0].values}


def sweep_scatter(table: ResultsTable, x_measure: str, y_measure: str, sweep_dim: str,
                  out_dir: Path | str, title: str) -> Path:
    """One point per value of `sweep_dim` and condition of `y_measure`: x is `x_measure` (averaged
    over its conditions, as the axis label says), y each distinct condition of `y_measure`
    (its own marker, in the legend), coloured by the sweep value and joined in sweep order."""
    if not sweep_dim:
        raise ValueError("a scatter over a sweep needs the sweep variable (`over NAME`)")
    xs, x_context = sweep_values(table, x_measure, sweep_dim)
    x_intervals = sweep_intervals(table, x_measure, sweep_dim)
    y_series = _clean(sweep_series(table, y_measure, sweep_dim))
    keys = [k for k in _sort_values(list(xs) + [k for s in y_series for k in s.values])
            if k in xs and any(k in s.values for s in y_series)]
    if not keys:
        raise ValueError(f"`{x_measure}` and `{y_measure}` share no value of `{sweep_dim}`")
    colours, mappable = _sweep_colours(keys)
    colour_of = dict(zip(keys, colours))
    figure = _new_figure(6.4 if len(y_series) > 1 else 5.6, 4.4)
    ax = figure.add_subplot()
    for index, s in enumerate(y_series):
        points = [(k, y) for k, y in s.points(keys) if k in xs]
        px, py = [xs[k] for k, _ in points], [y for _, y in points]
        marker = MARKERS[index % len(MARKERS)]
        ax.plot(px, py, color="#bbbbbb", linewidth=0.8, zorder=1)
        nan = (math.nan, math.nan)
        ax.errorbar(px, py, yerr=_yerr(py, [s.interval(k, table.confidence) for k, _ in points]),
                    xerr=_yerr(px, [x_intervals.get(k, nan) for k, _ in points]), fmt="none",
                    ecolor="#555555", elinewidth=0.8, capsize=2, zorder=1.5)
        ax.scatter(px, py, s=55, c=[colour_of[k] for k, _ in points], marker=marker,
                   edgecolors="black", linewidths=0.5, zorder=2,
                   label=_legend(s, "", False) if len(y_series) > 1 else None)
        for k, x, y in zip([k for k, _ in points], px, py):
            ax.annotate(k, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=7)
    ax.set_xlabel(f"{x_measure} ({x_context})", fontsize=8)
    y_context = y_series[0].condition.label() if len(y_series) == 1 else "one marker per condition"
    ax.set_ylabel(f"{y_measure} ({y_context}){_bars_note(y_series, table.confidence)}", fontsize=8)
    ax.grid(alpha=0.3)
    if len(y_series) > 1:
        ax.legend(fontsize=6)
    if mappable is not None:
        bar = figure.colorbar(mappable, ax=ax)
        bar.set_label(sweep_dim)
    ax.set_title(title, fontsize=10)
    return _save(figure, out_dir, f"scatter-{_slug(x_measure)}-vs-{_slug(y_measure)}")[0]

