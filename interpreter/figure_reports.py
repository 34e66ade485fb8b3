"""`report` statements -> figure files, each drawn from the tidy results table.

Each figure is an independent job. With two or more, the heaviest one (a Hayne heatmap grid) is
drawn in a second process while this one draws the rest: matplotlib is single-threaded, and on
the digits grid the figures are half of a run's wall time. `ABL_FIGURE_WORKERS=0` draws
everything here.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

from .errors import RunError
from .results import SELECTIVITY_UNIT


@dataclass(frozen=True)
class _Job:
    function: str                 # a function of figures.py or figure_sweeps.py, "module.name"
    args: tuple
    text: str                     # the report statement, for errors
    weight: int = 1               # how long it takes, roughly (heatmap grids are heavy)
    kwargs: dict = field(default_factory=dict)


def _draw(job: _Job) -> list[Path]:
    from . import figure_sweeps, figures

    module, name = job.function.split(".")
    function = getattr({"figures": figures, "figure_sweeps": figure_sweeps}[module], name)
    try:
        written = function(*job.args, **job.kwargs)
    except ValueError as error:
        raise RunError(f"report `{job.text}` cannot be drawn: {error}",
                       help="check that the spec measures what the report shows") from None
    return list(written) if isinstance(written, (list, tuple)) else [written]


def _jobs(result, out_dir: Path) -> list[_Job]:
    table = result.table
    title = result.plan.experiment
    jobs: list[_Job] = []
    for item in result.plan.reports:
        if item.kind == "bars":
            jobs.append(_Job("figures.per_class_bars", (table, item.metric, out_dir,
                                                        f"{title}: {item.metric} per class"), item.text))
        elif item.kind == "heatmap":
            from .figures import grid_colormap        # matplotlib: only when a figure is drawn

            rows = [r for r in table if r.measure == item.metric and r.cell is not None]
            if not rows:
                continue
            layers = list(dict.fromkeys(r.layer for r in rows))
            classes = list(dict.fromkeys(r.cls for r in rows))
            n_rows = max(r.cell.row for r in rows) + 1
            n_cols = max(r.cell.col for r in rows) + 1
            jobs.append(_Job("figures.hayne_heatmaps",
                             (table, item.metric, out_dir, f"{title}: {item.metric}", layers, classes,
                              n_rows, n_cols, grid_colormap(item.metric)),
                             item.text, weight=len(layers) * len(classes)))
        elif item.kind == "histogram":
            if any(r.measure == SELECTIVITY_UNIT for r in table):
                jobs.append(_Job("figures.selectivity_histograms",
                                 (table, out_dir, f"{title}: class selectivity index"), item.text))
        elif item.kind == "scatter":
            jobs.append(_Job("figure_sweeps.sweep_scatter",
                             (table, item.versus, item.metric, item.over, out_dir,
                              f"{title}: {item.metric} vs {item.versus}"), item.text))
        elif item.kind == "curve":
            x_dim = item.by[0][0] if item.by else ""
            jobs.append(_Job("figure_sweeps.curves", (table, item.metric, x_dim, item.over, out_dir,
                                                      f"{title}: {item.metric} by {x_dim}"), item.text))
        elif item.kind == "features" and result.feature_images:
            jobs.append(_Job("figures.feature_grid", (result.feature_images, out_dir,
                                                      f"{title}: feature visualisation"), item.text))
    for verdict in result.verdicts:
        if verdict.controls:          # every random-control claim: its null distribution
            jobs.append(_Job("figures.null_distribution", (verdict, out_dir, title), verdict.text))
    heatmaps = [item.metric for item in result.plan.reports if item.kind == "heatmap"]
    if heatmaps and any(r.cell is not None for r in table):
        jobs.append(_Job("figures.hayne_summary",
                         (table, heatmaps, out_dir, f"{title}: grid averaged over layers and classes"),
                         "report heatmap", weight=4))
    return jobs


def write_figures(result, out_dir: Path, progress=None) -> list[Path]:
    from .progress import SilentProgress

    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = _jobs(result, out_dir)
    with (progress or SilentProgress()).task(f"writing {len(jobs)} figures", len(jobs)) as task:
        return _write(jobs, task)


def _write(jobs: list[_Job], task) -> list[Path]:
    def draw(job: _Job) -> list[Path]:
        written = _draw(job)
        task.advance()
        return written

    heaviest = max(range(len(jobs)), key=lambda i: jobs[i].weight, default=None)
    parallel = (len(jobs) >= 2 and jobs[heaviest].weight >= 8
                and os.environ.get("ABL_FIGURE_WORKERS", "1") != "0" and (os.cpu_count() or 1) > 1)
    if not parallel:
        return [path for job in jobs for path in draw(job)]
    written: list[list[Path]] = [[] for _ in jobs]
    try:
        pool = ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn"))
        future = pool.submit(_draw, jobs[heaviest])
    except OSError:                   # no second process to be had: draw everything here
        return [path for job in jobs for path in draw(job)]
    with pool:
        for index, job in enumerate(jobs):
            if index != heaviest:
                written[index] = draw(job)
        try:
            written[heaviest] = future.result()
        except BrokenProcessPool:     # the worker died (killed, out of memory): draw it here
            written[heaviest] = _draw(jobs[heaviest])
        task.advance()
    return [path for paths in written for path in paths]
