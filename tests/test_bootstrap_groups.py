"""Bootstrap intervals of many values over the same images, drawn together (issue 26): the same
intervals as scipy.stats.bootstrap on the same draws."""

import numpy as np
import pytest
from scipy import stats

from abl.interpreter.run.statistics import _batch, bootstrap_mean_ci, bootstrap_mean_cis


def _scipy(x, level, resamples, seed):
    result = stats.bootstrap((x,), lambda a, axis=-1: np.mean(a, axis=axis, dtype=np.float64),
                             n_resamples=resamples, confidence_level=level, method="percentile",
                             vectorized=True, random_state=np.random.default_rng(seed),
                             batch=_batch(x.size, resamples))
    return result.confidence_interval.low, result.confidence_interval.high


@pytest.mark.parametrize("n, resamples, level", [(55, 1000, 0.95), (7, 250, 0.9), (300, 2000, 0.99)])
def test_each_row_gets_scipys_interval_from_the_same_draws(n, resamples, level):
    rng = np.random.default_rng(n)
    values = np.floor(rng.random((16, n)) * rng.random((16, 1)) * 6)     # rank deficits: whole numbers
    values[5] = rng.normal(size=n)                                        # and one real-valued row
    values[9] = 2.0                                                       # and a constant one
    intervals = bootstrap_mean_cis(values, level, resamples, np.random.default_rng(123))
    for row, interval in zip(values, intervals):
        if np.ptp(row) == 0:
            assert interval.low == interval.high == row[0]
            continue
        low, high = _scipy(row, level, resamples, 123)
        # the same indices; a resampled mean is a sum in another order (exact for whole numbers)
        assert interval.low == pytest.approx(low, rel=1e-12, abs=1e-12)
        assert interval.high == pytest.approx(high, rel=1e-12, abs=1e-12)


def test_one_row_alone_equals_the_same_row_in_a_group():
    rng = np.random.default_rng(0)
    values = rng.integers(0, 4, (8, 40)).astype(float)
    together = bootstrap_mean_cis(values, 0.95, 1000, np.random.default_rng(9))
    alone = bootstrap_mean_cis(values[3], 0.95, 1000, np.random.default_rng(9))
    assert together[3] == alone[0]


def test_batches_of_resamples_draw_as_scipy_does():
    # n large enough that the resamples are drawn in several batches (_ELEMENTS_PER_BATCH)
    x = np.random.default_rng(1).integers(0, 3, 5000).astype(float)
    [interval] = bootstrap_mean_cis(x, 0.95, 1000, np.random.default_rng(4))
    low, high = _scipy(x, 0.95, 1000, 4)
    assert (interval.low, interval.high) == pytest.approx((low, high), rel=1e-12)
    assert bootstrap_mean_ci(x, 0.95, 1000, np.random.default_rng(4)) == interval


def test_empty_and_constant_samples():
    assert all(np.isnan([i.low, i.high]).all() for i in bootstrap_mean_cis(np.zeros((3, 0)), 0.95, 100,
                                                                           np.random.default_rng(0)))
    [a, b] = bootstrap_mean_cis(np.array([[1.0, 1.0], [0.0, 0.0]]), 0.95, 100, np.random.default_rng(0))
    assert (a.low, a.high, b.low, b.high) == (1.0, 1.0, 0.0, 0.0)
