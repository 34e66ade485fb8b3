"""What every figure shares: the Agg canvas, atomic saving, value ordering, colours and the
table look-ups that say what is missing.

Headless by construction: figures are `matplotlib.figure.Figure` objects drawn on the Agg canvas,
never pyplot figures, so nothing is left open in pyplot's registry and no display is needed.
No backend is selected, ever: a notebook's (or a script's) pyplot keeps whatever backend it has.

A table that lacks what a figure needs raises `ValueError` with a sentence that says what is
missing, before matplotlib is touched. Where a figure needs one number but the table holds
several (repeats of a random control, several stimuli or layers, extra sweep variables), the mean
is drawn; each function says which, and the figure says so.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from abl.interpreter.atomic import atomic_path
from abl.interpreter.run.table import ResultRow, ResultsTable
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import LinearSegmentedColormap, Normalize, TwoSlopeNorm
from matplotlib.figure import Figure

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

