"""`report` statements -> figure files, each drawn from the tidy results table.

Each figure is an independent job. With two or more, the heaviest one (a Hayne heatmap grid) is
drawn in a second process while this one draws the rest: matplotlib is single-threaded, and on
the digits grid the figures are half of a run's wall time. `ABL_FIGURE_WORKERS=0` draws
everything here.
"""

from __future__ import annotations

import functools
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Callable

from abl.interpreter.errors import RunError
from abl.interpreter.plan.plan import (BarsReport, CurveReport, ExemplarsReport, FeaturesReport, HeatmapReport,
                                        HistogramReport, ReportItem, ScatterReport)
from abl.interpreter.run.table import SELECTIVITY_UNIT


@dataclass(frozen=True)
class _Job:
    function: Callable            # a figure function (figures.py, figure_sweeps.py): picklable by name
    args: tuple
    text: str                     # the report statement, for errors
    weight: int = 1               # how long it takes, roughly (heatmap grids are heavy)
    kwargs: dict = field(default_factory=dict)


def _draw(job: _Job) -> list[Path]:
    try:
        written = job.function(*job.args, **job.kwargs)
    except ValueError as error:
        raise RunError(f"report `{job.text}` cannot be drawn: {error}",
                       help="check that the spec measures what the report shows") from None
    return list(written) if isinstance(written, (list, tuple)) else [written]


# matplotlib is imported only when a figure is drawn: each form's jobs import their figure module
@functools.singledispatch
def _report_jobs(item: ReportItem, result, out_dir: Path, title: str) -> list[_Job]:
    return []                     # tables are printed, not drawn


@_report_jobs.register
def _(item: BarsReport, result, out_dir: Path, title: str) -> list[_Job]:
    from abl.interpreter.report import figures

    return [_Job(figures.per_class_bars, (result.table, item.metric, out_dir, f"{title}: {item.metric} per class"),
                 item.text)]


@_report_jobs.register
def _(item: HeatmapReport, result, out_dir: Path, title: str) -> list[_Job]:
    from abl.interpreter.report import figures

    rows = [r for r in result.table if r.measure == item.metric and r.cell is not None]
    if not rows:
        return _matrix_job(item, result, out_dir, title)
    layers = list(dict.fromkeys(r.layer for r in rows))
    classes = list(dict.fromkeys(r.cls for r in rows))
    n_rows = max(r.cell.row for r in rows) + 1
    n_cols = max(r.cell.col for r in rows) + 1
    return [_Job(figures.hayne_heatmaps,
                 (result.table, item.metric, out_dir, f"{title}: {item.metric}", layers, classes,
                  n_rows, n_cols, figures.grid_colormap(item.metric)),
                 item.text, weight=len(layers) * len(classes))]


def _matrix_job(item: HeatmapReport, result, out_dir: Path, title: str) -> list[_Job]:
    """No grid: one value per class and layer (a family of unit sets per class and layer), drawn
    as a class x layer matrix in the order `by class x layer` names them."""
    from abl.interpreter.report import figure_matrix
    from abl.interpreter.report.figure_grids import grid_colormap
    from abl.interpreter.report.matrix import matrix_rows

    if not matrix_rows(result.table, item.metric):
        return []
    by = next((dims for dims in item.by if set(dims) == {"class", "layer"}), ("class", "layer"))
    return [_Job(figure_matrix.class_layer_heatmap,
                 (result.table, item.metric, out_dir, f"{title}: {item.metric}", tuple(by),
                  grid_colormap(item.metric)), item.text)]


@_report_jobs.register
def _(item: HistogramReport, result, out_dir: Path, title: str) -> list[_Job]:
    from abl.interpreter.report import figures

    if not any(r.measure == SELECTIVITY_UNIT for r in result.table):
        return []
    return [_Job(figures.selectivity_histograms, (result.table, out_dir, f"{title}: class selectivity index"),
                 item.text)]


@_report_jobs.register
def _(item: ScatterReport, result, out_dir: Path, title: str) -> list[_Job]:
    from abl.interpreter.report import figure_sweeps

    return [_Job(figure_sweeps.sweep_scatter, (result.table, item.versus, item.metric, item.over, out_dir,
                                                f"{title}: {item.metric} vs {item.versus}"), item.text)]


@_report_jobs.register
def _(item: CurveReport, result, out_dir: Path, title: str) -> list[_Job]:
    from abl.interpreter.report import figure_sweeps

    x_dim = item.by[0][0] if item.by else ""
    return [_Job(figure_sweeps.curves, (result.table, item.metric, x_dim, item.over, out_dir,
                                         f"{title}: {item.metric} by {x_dim}"), item.text)]


@_report_jobs.register
def _(item: FeaturesReport, result, out_dir: Path, title: str) -> list[_Job]:
    from abl.interpreter.report import figures

    if not result.feature_images:
        return []
    return [_Job(figures.feature_grid, (result.feature_images, out_dir, f"{title}: feature visualisation"),
                 item.text)]


@_report_jobs.register
def _(item: ExemplarsReport, result, out_dir: Path, title: str) -> list[_Job]:
    from abl.interpreter.report import figure_exemplars

    mine = [(record, images) for record, images in getattr(result, "exemplars", ()) if record["report"] == item.text]
    return [_Job(figure_exemplars.exemplar_grid, (mine, out_dir, title), item.text)] if mine else []


def _jobs(result, out_dir: Path) -> list[_Job]:
    table = result.table
    title = result.plan.experiment
    jobs: list[_Job] = []
    for item in result.plan.reports:
        jobs.extend(_report_jobs(item, result, out_dir, title))
    verdicts = [verdict for verdict in result.verdicts if verdict.controls]
    if verdicts:                  # every random-control claim: its null distribution
        from abl.interpreter.report import figures

        jobs.extend(_Job(figures.null_distribution, (verdict, out_dir, title), verdict.text) for verdict in verdicts)
    heatmaps = [item.metric for item in result.plan.reports if isinstance(item, HeatmapReport)]
    if heatmaps and any(r.cell is not None for r in table):
        from abl.interpreter.report import figures

        jobs.append(_Job(figures.hayne_summary,
                         (table, heatmaps, out_dir, f"{title}: grid averaged over layers and classes"),
                         "report heatmap", weight=4))
    return jobs


def write_figures(result, out_dir: Path, progress=None) -> list[Path]:
    from abl.interpreter.progress import SilentProgress

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
