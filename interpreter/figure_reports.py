"""`report` statements -> figure files, each drawn from the tidy results table."""

from __future__ import annotations

from pathlib import Path

from .errors import RunError


def _slug(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


def write_figures(result, out_dir: Path) -> list[Path]:
    from . import figure_sweeps, figures

    out_dir.mkdir(parents=True, exist_ok=True)
    table = result.table
    written: list[Path] = []
    title = result.plan.experiment
    for item in result.plan.reports:
        try:
            if item.kind == "bars":
                written.append(figures.per_class_bars(table, item.metric, out_dir, f"{title}: {item.metric} per class"))
            elif item.kind == "heatmap":
                rows = [r for r in table if r.measure == item.metric and r.cell]
                if not rows:
                    continue
                layers = list(dict.fromkeys(r.layer for r in rows))
                classes = list(dict.fromkeys(r.cls for r in rows))
                n_rows = max(int(r.cell.split(",")[0]) for r in rows) + 1
                n_cols = max(int(r.cell.split(",")[1]) for r in rows) + 1
                written.extend(figures.hayne_heatmaps(table, item.metric, out_dir, f"{title}: {item.metric}",
                                                      layers, classes, n_rows, n_cols,
                                                      "magma" if "deficit" in item.metric else "viridis"))
            elif item.kind == "histogram":
                if any(r.measure == "selectivity index unit" for r in table):
                    written.append(figures.selectivity_histograms(table, out_dir, f"{title}: class selectivity index"))
            elif item.kind == "scatter":
                written.append(figure_sweeps.sweep_scatter(table, item.versus, item.metric, item.over, out_dir,
                                                     f"{title}: {item.metric} vs {item.versus}"))
            elif item.kind == "curve":
                x_dim = item.by[0][0] if item.by else ""
                written.append(figure_sweeps.curves(table, item.metric, x_dim, item.over, out_dir,
                                              f"{title}: {item.metric} by {x_dim}"))
            elif item.kind == "features" and result.feature_images:
                written.append(figures.feature_grid(result.feature_images, out_dir, f"{title}: feature visualisation"))
        except ValueError as error:
            raise RunError(f"report `{item.text}` cannot be drawn: {error}",
                           help="check that the spec measures what the report shows") from None
    heatmaps = [item.metric for item in result.plan.reports if item.kind == "heatmap"]
    if heatmaps and any(r.cell for r in table):
        written.extend(figures.hayne_summary(table, heatmaps, out_dir, f"{title}: grid averaged over layers and classes"))
    return written
