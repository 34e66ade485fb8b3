"""Hayne et al.'s equal-count grid."""

import numpy as np
import pytest

from abl.interpreter.errors import RunError
from abl.interpreter.run.grid import equal_count_grid


def check_partition(grid, n):
    units = [u for row in grid for cell in row for u in cell]
    assert sorted(units) == list(range(n))           # disjoint and covering


@pytest.mark.parametrize("n,rows,cols", [(64, 4, 4), (67, 4, 4), (10, 3, 3), (16, 4, 4), (7, 1, 3)])
def test_counts_follow_array_split(n, rows, cols):
    rng = np.random.default_rng(n)
    grid = equal_count_grid(rng.normal(size=n), rng.normal(size=n), rows, cols)
    check_partition(grid, n)
    strips = [len(s) for s in np.array_split(np.arange(n), rows)]
    assert [sum(len(c) for c in row) for row in grid] == strips
    for row, size in zip(grid, strips):
        assert [len(c) for c in row] == [len(s) for s in np.array_split(np.arange(size), cols)]


def test_cells_are_ordered_by_both_scores():
    rng = np.random.default_rng(0)
    sel, mag = rng.normal(size=90), rng.normal(size=90)
    grid = equal_count_grid(sel, mag, 3, 3)
    for r in range(2):     # every unit of a lower strip has lower selectivity
        low = [u for c in grid[r] for u in c]
        high = [u for c in grid[r + 1] for u in c]
        assert sel[low].max() <= sel[high].min()
    for row in grid:
        for c in range(2):
            assert mag[list(row[c])].max() <= mag[list(row[c + 1])].min()


def test_ties_break_by_unit_index_and_known_answer():
    grid = equal_count_grid(np.zeros(4), np.array([1.0, 1.0, 0.0, 0.0]), 2, 2)
    # rows by tie -> units [0, 1] and [2, 3]; columns within each strip by magnitude then index
    assert grid == [[(0,), (1,)], [(2,), (3,)]]
    sel = np.array([5.0, 1.0, 3.0, 2.0, 4.0, 0.0])
    mag = np.array([0.0, 1.0, 0.0, 0.0, 1.0, 1.0])
    assert equal_count_grid(sel, mag, 2, 1) == [[(1, 3, 5)], [(0, 2, 4)]]
    assert equal_count_grid(sel, mag, 1, 2) == [[(0, 2, 3), (1, 4, 5)]]


def test_too_small_layer_is_an_error():
    with pytest.raises(RunError, match="empty") as error:
        equal_count_grid(np.arange(15.0), np.arange(15.0), 4, 4)
    assert "3x" in error.value.help or "4x3" in error.value.help
    with pytest.raises(RunError):
        equal_count_grid(np.arange(4.0), np.arange(4.0), 0, 2)
