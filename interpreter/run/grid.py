"""Hayne et al.'s equal-count grid over two per-unit scores."""

from __future__ import annotations

import numpy as np

from abl.interpreter.errors import RunError


def _order(scores: np.ndarray, units: np.ndarray) -> np.ndarray:
    """`units` sorted by ascending score, ties by ascending unit index."""
    return units[np.lexsort((units, scores[units]))]


def equal_count_grid(row_scores, col_scores, rows: int, cols: int) -> list[list[tuple[int, ...]]]:
    """Cut a layer's units into a rows x cols grid of (near-)equal counts.

    The units are sorted by `row_scores` (ascending; ties by lower unit index first) and split into
    `rows` strips of equal counts; each strip is then sorted by `col_scores` the same way and split
    into `cols` cells. When a count does not divide evenly, the first (lowest-scoring) strips or
    cells get one unit more, as in numpy.array_split: 10 units in 3 strips give 4, 3, 3.
    `grid[r][c]` is a sorted tuple of unit indices; r = 0 is the lowest strip of the row score
    (e.g. selectivity), c = 0 the lowest cell of the column score (e.g. magnitude). The cells are
    disjoint and together hold every unit. A grid with an empty cell (fewer than `cols` units in
    some strip) is an error.
    """
    row_scores = np.asarray(row_scores, dtype=np.float64).reshape(-1)
    col_scores = np.asarray(col_scores, dtype=np.float64).reshape(-1)
    if row_scores.shape != col_scores.shape:
        raise ValueError("row and column scores must score the same units")
    if rows < 1 or cols < 1:
        raise RunError(f"a {rows}x{cols} grid has no cells", help="use at least 1x1")
    n = row_scores.shape[0]
    if np.isnan(row_scores).any() or np.isnan(col_scores).any():
        raise RunError("some unit scores are NaN, so the grid cannot sort them",
                       help="check the recording for non-finite activations")
    if n // rows < cols:
        largest = [f"{r}x{c}" for r in range(rows, 0, -1) for c in range(cols, 0, -1) if n // r >= c][:1]
        raise RunError(f"a {rows}x{cols} grid over {n} units would leave cells empty",
                       help=f"use a grid of at most {n} cells (e.g. {largest[0] if largest else '1x1'})")
    strips = np.array_split(_order(row_scores, np.arange(n)), rows)
    grid = []
    for strip in strips:
        cells = np.array_split(_order(col_scores, strip), cols)
        grid.append([tuple(sorted(int(u) for u in cell)) for cell in cells])
    return grid
