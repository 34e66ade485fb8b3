"""Uncertainty of single values, from scipy.stats and numpy: seeded bootstrap intervals over
images (one value, a group of values over the same images, differences, balanced accuracy) and
t-intervals across seeds. The tests claims are decided by live in claim_tests.py.

Every random draw comes from a generator seeded by `stream_seed(seed, *identity)`, so a value's
interval and a claim's p-value are the same on every run of the same spec.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np


class _SciPyStats:
    """scipy.stats, imported on first use: it takes most of a second, and `abl layers`, `abl
    run` stopped by a spec error, and runs that measure nothing never use it."""

    def __getattr__(self, name: str):
        from scipy import stats as module

        return getattr(module, name)


stats = _SciPyStats()

DEFAULT_CONFIDENCE = 0.95
DEFAULT_RESAMPLES = 1000
_ELEMENTS_PER_BATCH = 4_000_000     # bootstrap resamples are drawn in batches of this many values


def stream_seed(seed: int, *identity: object) -> np.random.Generator:
    """A generator for one value or claim: the spec's seed and the first 8 bytes of SHA-256 of
    the identity's text."""
    text = "|".join(str(part) for part in identity)
    digest = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    from abl.interpreter.seeding import generator

    return generator(seed, digest)        # the whole seed (seeding.py)


def _mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis, dtype=np.float64)


def _batch(n: int, resamples: int) -> int:
    return max(1, min(resamples, _ELEMENTS_PER_BATCH // max(n, 1)))


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    @staticmethod
    def none() -> "Interval":
        return Interval(math.nan, math.nan)


def bootstrap_mean_ci(values: np.ndarray, level: float, resamples: int,
                      rng: np.random.Generator) -> Interval:
    """Percentile bootstrap interval of the mean over images (`scipy.stats.bootstrap`). A constant
    sample (every image correct, say) has the zero-width interval at its value."""
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    if x.size == 0:
        return Interval.none()
    if np.ptp(x) == 0:
        return Interval(float(x[0]), float(x[0]))
    result = stats.bootstrap((x,), _mean, n_resamples=resamples, confidence_level=level,
                             method="percentile", vectorized=True, random_state=rng,
                             batch=_batch(x.size, resamples))
    return Interval(float(result.confidence_interval.low), float(result.confidence_interval.high))


def _quantiles(distribution: np.ndarray, level: float) -> np.ndarray:
    """(2, rows): the percentile interval of each column of a (resamples, rows) bootstrap
    distribution, by the quantile function scipy.stats.bootstrap uses (`scipy.stats.quantile`,
    linear interpolation; numpy's before scipy 1.15)."""
    alpha = (1 - level) / 2
    probabilities = np.array([alpha, 1 - alpha])
    if hasattr(stats, "quantile"):
        try:
            return stats.quantile(distribution.T, probabilities, axis=-1).T
        except AttributeError:
            pass
    return np.quantile(distribution, probabilities, axis=0)


def bootstrap_mean_cis(samples: np.ndarray, level: float, resamples: int,
                       rng: np.random.Generator) -> list[Interval]:
    """Percentile bootstrap intervals of the means of the rows of `samples` (rows, n): values of
    the SAME n images (the cells of a grid measured on one class's images), resampled together.

    One resample of the images serves every row: the resample's counts of each image (a
    (resamples, n) matrix) times the values give every row's resampled mean in one product.
    The indices are drawn exactly as `scipy.stats.bootstrap((x,), mean, method="percentile",
    batch=...)` draws them from `rng`, so a row's interval equals scipy's for a generator in the
    same state (up to the rounding of a sum taken in another order); a constant row has the
    zero-width interval at its value, as bootstrap_mean_ci."""
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim == 1:
        x = x[None, :]
    rows, n = x.shape
    if n == 0:
        return [Interval.none()] * rows
    constant = np.ptp(x, axis=1) == 0
    if constant.all():
        return [Interval(float(v), float(v)) for v in x[:, 0]]
    batch = _batch(n, resamples)
    parts = []
    for start in range(0, resamples, batch):
        size = min(batch, resamples - start)
        index = rng.integers(0, n, (size, n))
        flat = (np.arange(size)[:, None] * n + index).reshape(-1)
        counts = np.bincount(flat, minlength=size * n).reshape(size, n).astype(np.float64)
        # (size, rows) resampled means; einsum, not BLAS: small products pay BLAS's thread start-up
        parts.append(np.einsum("sn,rn->sr", counts, x) / n)
    bounds = _quantiles(np.concatenate(parts), level)
    return [Interval(float(x[r, 0]), float(x[r, 0])) if constant[r] else
            Interval(float(bounds[0, r]), float(bounds[1, r])) for r in range(rows)]


def _difference(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return _mean(a, axis) - _mean(b, axis)


def bootstrap_difference_ci(a: np.ndarray, b: np.ndarray, level: float, resamples: int,
                            rng: np.random.Generator) -> Interval:
    """Percentile bootstrap interval of mean(a) - mean(b), the two groups of images resampled
    independently (`scipy.stats.bootstrap` with two samples)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    if a.size == 0 or b.size == 0:
        return Interval.none()
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        value = float(a[0] - b[0])
        return Interval(value, value)
    result = stats.bootstrap((a, b), _difference, n_resamples=resamples, confidence_level=level,
                             method="percentile", vectorized=True, random_state=rng,
                             batch=_batch(a.size + b.size, resamples))
    return Interval(float(result.confidence_interval.low), float(result.confidence_interval.high))


def _balanced_accuracy(truth: np.ndarray, predicted: np.ndarray, axis: int = -1) -> np.ndarray:
    positive = truth == 1
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.sum(positive & (predicted == 1), axis=axis) / np.sum(positive, axis=axis)
        specificity = np.sum(~positive & (predicted == 0), axis=axis) / np.sum(~positive, axis=axis)
    return (recall + specificity) / 2


def bootstrap_balanced_accuracy_ci(truth: np.ndarray, predicted: np.ndarray, level: float,
                                   resamples: int, rng: np.random.Generator) -> Interval:
    """Percentile bootstrap interval of a probe's balanced accuracy over its evaluation images
    (image and prediction resampled together: `scipy.stats.bootstrap(paired=True)`)."""
    truth = np.asarray(truth).reshape(-1)
    predicted = np.asarray(predicted).reshape(-1)
    if truth.size == 0:
        return Interval.none()
    if np.array_equal(truth, predicted):
        return Interval(1.0, 1.0)
    with warnings.catch_warnings():
        # a resample without one of the two classes has no balanced accuracy (NaN); scipy warns
        # about it, and a non-finite interval is reported as none below
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        result = stats.bootstrap((truth, predicted), _balanced_accuracy, paired=True, vectorized=True,
                                 n_resamples=resamples, confidence_level=level, method="percentile",
                                 random_state=rng, batch=_batch(truth.size, resamples))
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    return Interval(low, high) if math.isfinite(low) and math.isfinite(high) else Interval.none()


def t_interval(values: Sequence[float], level: float) -> Interval:
    """Student-t interval of the mean of a few values (replicate models); one value: none."""
    x = np.asarray(values, dtype=np.float64)
    if x.size < 2:
        return Interval.none()
    mean = float(np.mean(x))
    sem = float(stats.sem(x))
    if sem == 0:
        return Interval(mean, mean)
    low, high = stats.t.interval(level, x.size - 1, loc=mean, scale=sem)
    return Interval(float(low), float(high))
