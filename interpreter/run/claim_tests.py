"""The tests a claim is decided by, each with its confidence bound (the test inverted): paired
sign-flip permutation tests, one-sided bootstrap tests, a random control's rank among its draws,
t-tests across replicate models, and Holm's family-wise correction (statistics.py: the intervals
of single values)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from abl.interpreter.run.statistics import Interval, _batch, _mean, stats


@dataclass(frozen=True)
class TestResult:
    """A one-sided test of a claim `estimate OP margin`, and the confidence bound got by inverting
    that same test: at any significance `a`, the test rejects the claim's boundary exactly when
    `bound(a)` lies on the claim's side of 0 (above it for `>`, below for `<`). p is the chance of
    an estimate at least this far on the claim's side if the boundary were true."""

    method: str              # "paired permutation" | "bootstrap" | "one-sample t" | ... | "random control"
    p_value: float
    effect: float            # the estimate minus the margin: positive means above the boundary
    effect_size: float       # standardised: mean difference over its standard deviation
    interval: Interval       # of the effect: one-sided, at the claim's own significance
    n: int                   # images, replicate models, or control draws
    side: str = "greater"    # "greater" (the claim says above) or "less"
    bound: Callable[[float], float] | None = field(default=None, repr=False, compare=False)
    data: tuple = field(default=(), repr=False, compare=False)   # what power simulates (run/power.py)

    def clears(self, bound: float) -> bool:
        """Whether a bound of the effect lies strictly on the claim's side of 0."""
        return bound > 0 if self.side == "greater" else bound < 0


def _alternative(op: str) -> str | None:
    return {">": "greater", ">=": "greater", "<": "less", "<=": "less"}.get(op)


def largest_count(a: float, total: int) -> int:
    """The largest count c of resamples on the wrong side with p = (1 + c) / (total + 1) <= a;
    -1 when even c = 0 is too many (the level is out of reach with this many resamples)."""
    if not a > 0:
        return -1
    c = max(int(math.floor(a * (total + 1))) - 1, -1)
    while c + 1 <= total and (1 + c + 1) / (total + 1) <= a:
        c += 1
    while c >= 0 and (1 + c) / (total + 1) > a:
        c -= 1
    return c


def _order_bound(draws: np.ndarray, side: str, a: float) -> float:
    """The (c+1)-th draw from the claim's wrong end, c = largest_count(a): the test whose p counts
    the draws at or beyond the margin rejects at `a` exactly when the margin is beyond this draw."""
    c = largest_count(a, draws.size)
    if c < 0:
        return -math.inf if side == "greater" else math.inf
    ordered = np.sort(draws)
    return float(ordered[c] if side == "greater" else ordered[::-1][c])


def _interval(side: str, bound: float) -> Interval:
    return Interval(bound, math.inf) if side == "greater" else Interval(-math.inf, bound)


def _flip_means(d: np.ndarray, resamples: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """For each random sign flip of the differences, the mean of d over the flipped images, and
    the number of draws that flip none (those count as extreme at every margin)."""
    batch = _batch(d.size, resamples)
    chunks, untouched = [], 0
    for start in range(0, resamples, batch):
        flipped = rng.random((min(batch, resamples - start), d.size)) < 0.5
        counts = flipped.sum(axis=1)
        untouched += int(np.sum(counts == 0))
        sums = flipped[counts > 0].astype(np.float64) @ d
        chunks.append(sums / counts[counts > 0])
    return (np.concatenate(chunks) if chunks else np.empty(0)), untouched


def paired_test(differences: np.ndarray, op: str, margin: float, alpha: float, resamples: int,
                rng: np.random.Generator) -> TestResult | None:
    """Per-image differences d (left minus right, on the same images): is mean(d) OP margin?
    A sign-flip permutation test of d - margin, inverted into its confidence bound: with the flips
    fixed, flip j is at least as extreme as the data exactly when the margin is on the claim's side
    of t_j, the mean of d over the images flip j flips. So p(margin) = (1 + #{t_j beyond the
    margin}) / (resamples + 1), and the bound at level a is an order statistic of the t_j.
    None for `==`/`!=`, which no one-sided test decides."""
    side = _alternative(op)
    if side is None:
        return None
    d = np.asarray(differences, dtype=np.float64).reshape(-1)
    t, untouched = _flip_means(d, resamples, rng)
    # draws that flip nothing are always extreme: they lower the budget of each level by their count
    pad = np.full(untouched, -math.inf if side == "greater" else math.inf)
    draws = np.concatenate([pad, t])
    wrong = np.sum(draws <= margin) if side == "greater" else np.sum(draws >= margin)
    p = float((1 + wrong) / (resamples + 1))
    sd = float(np.std(d, ddof=1)) if d.size > 1 else 0.0
    effect = float(np.mean(d)) - margin

    def bound(a: float) -> float:
        return _order_bound(draws, side, a) - margin

    return TestResult("paired permutation", p, effect, (effect + margin) / sd if sd > 0 else math.nan,
                      _interval(side, bound(alpha)), int(d.size), side, bound, ("images", d, margin))


def bootstrap_test(values: np.ndarray, op: str, margin: float, alpha: float, resamples: int,
                   rng: np.random.Generator) -> TestResult | None:
    """One sample against a number: p = (1 + #{bootstrap means on the wrong side of the number})
    / (resamples + 1), the bootstrap's one-sided p for `mean OP number`; its bound at level a is
    the matching order statistic of the same bootstrap means (the one-sided percentile bound)."""
    side = _alternative(op)
    if side is None:
        return None
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    if np.ptp(x) > 0:
        batch = _batch(x.size, resamples)
        chunks = []
        for start in range(0, resamples, batch):
            size = min(batch, resamples - start)
            chunks.append(_mean(x[rng.integers(0, x.size, size=(size, x.size))]))
        means = np.concatenate(chunks)
    else:
        means = np.full(resamples, x[0])
    wrong = means <= margin if side == "greater" else means >= margin
    p = float((1 + np.sum(wrong)) / (resamples + 1))
    sd = float(np.std(x, ddof=1)) if x.size > 1 else 0.0
    effect = float(np.mean(x)) - margin

    def bound(a: float) -> float:
        return _order_bound(means, side, a) - margin

    return TestResult("bootstrap", p, effect, effect / sd if sd > 0 else math.nan,
                      _interval(side, bound(alpha)), int(x.size), side, bound, ("images", x, margin))


def control_test(observed: float, controls: np.ndarray, op: str, alpha: float,
                 observed_images: np.ndarray | None = None) -> TestResult | None:
    """A random control: the observed value ranked among the control's own draws, p = (1 +
    #{draws at least as far on the claim's side}) / (draws + 1). Inverted under a shift model
    (the targeted value is a random draw moved by delta), the bound of delta at level a is the
    observed value minus the matching order statistic of the draws; the effect shown is the
    observed value minus the draws' mean."""
    side = _alternative(op)
    if side is None:
        return None
    c = np.asarray(controls, dtype=np.float64).reshape(-1)
    extreme = int(np.sum(c >= observed)) if side == "greater" else int(np.sum(c <= observed))
    p = (1 + extreme) / (c.size + 1)
    flipped = "less" if side == "greater" else "greater"    # the draws' far end on the claim's side

    def bound(a: float) -> float:
        return observed - _order_bound(c, flipped, a)

    sd = float(np.std(c, ddof=1)) if c.size > 1 else 0.0
    effect = observed - float(np.mean(c))
    return TestResult("random control", p, effect, effect / sd if sd > 0 else math.nan,
                      _interval(side, bound(alpha)), int(c.size), side, bound,
                      ("control", c, observed, observed_images))


def replicate_test(left: Sequence[float], right: Sequence[float] | None, op: str, margin: float,
                   alpha: float, paired: bool) -> TestResult | None:
    """Across replicate models (each value one trained model): is mean(left) - mean(right) OP
    margin? Welch's t-test for independent models, a paired t-test when both sides are the same
    models (by seed), a one-sample t-test against a number (`right` None); the bound is the same
    test's one-sided confidence bound (`confidence_interval` of scipy's result)."""
    side = _alternative(op)
    a = np.asarray(left, dtype=np.float64)
    if side is None or a.size < 2:
        return None
    if right is None or paired:
        differences = a - margin if right is None else a - np.asarray(right, dtype=np.float64) - margin
        result = stats.ttest_1samp(differences, 0.0, alternative=side)
        method = "one-sample t" if right is None else "paired t (by seed)"
        effect = float(np.mean(differences))
        sd = float(np.std(differences, ddof=1))
    else:
        b = np.asarray(right, dtype=np.float64)
        if b.size < 2:
            return None
        result = stats.ttest_ind(a - margin, b, equal_var=False, alternative=side)
        method = "welch t"
        effect = float(np.mean(a) - np.mean(b)) - margin
        sd = float(np.sqrt((np.var(a, ddof=1) + np.var(b, ddof=1)) / 2))
    p = float(result.pvalue) if np.isfinite(result.pvalue) else 1.0

    def bound(level_a: float) -> float:
        if sd == 0:
            return effect
        ci = result.confidence_interval(1 - level_a)
        value = float(ci.low if side == "greater" else ci.high)
        return value if math.isfinite(value) else (-math.inf if side == "greater" else math.inf)

    return TestResult(method, p, effect, (effect + margin) / sd if sd > 0 else math.nan,
                      _interval(side, bound(alpha)), int(a.size), side, bound)


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjustment: sort the m p-values ascending, multiply the i-th (from 0) by
    m - i, carry the running maximum, cap at 1. None (an untested claim) stays None and does not
    count in m."""
    tested = [(p, i) for i, p in enumerate(p_values) if p is not None]
    m = len(tested)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(tested)):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def holm_levels(p_values: Sequence[float | None], alphas: Sequence[float]) -> list[float | None]:
    """The level at which each tested claim's interval is shown so that it clears its boundary
    exactly when Holm's step-down rejects it: a Bonferroni level at the claim's step, alpha / (m -
    k) for the claim at step k (from 0, p-values ascending), or at the step where Holm stopped for
    this claim's alpha, if that came first (a claim after the stop is not rejected, and its
    p-value, no smaller than the stopping one, is above that level). None stays None."""
    tested = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m = len(tested)
    levels: list[float | None] = [None] * len(p_values)
    for rank, (p, i) in enumerate(tested):
        alpha = alphas[i]
        stop = next((r for r in range(rank + 1) if (m - r) * tested[r][0] > alpha), rank)
        levels[i] = alpha / (m - stop)
    return levels
