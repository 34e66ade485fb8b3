"""Off-target claims, `Q[class c] OP Q[class != c]`: Q on class c's images against the mean of Q's
per-class values over the other classes (each class weighing the same), and the claim's test.

The test is a stratified bootstrap: each class's per-image values are resampled within that class,
and the statistic (the target's mean minus the mean of the other classes' means) recomputed; p is
(1 + #{resampled statistics on the wrong side of the margin}) / (resamples + 1), and the one-sided
bound at level a is the matching order statistic of the same resampled statistics, as for the
one-sample bootstrap of the other claims (run/statistics.py). The two sides hold different images,
so no per-image pairing exists; the drops within each side are paired (baseline and ablated on the
same image).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np

from abl.interpreter.errors import RunError
from abl.interpreter.plan.plan import Family, OffTargetClaim
from abl.interpreter.run.claim_sides import Member, SideReader, resolve, single
from abl.interpreter.run.statistics import _batch, stream_seed
from abl.interpreter.run.claim_tests import TestResult, _alternative, _interval, _order_bound


def class_contrast_test(target: np.ndarray, others: Sequence[np.ndarray], op: str, margin: float, alpha: float,
                        resamples: int, rng: np.random.Generator) -> TestResult | None:
    """Is mean(target) - mean_k(mean(others[k])) OP margin? (the stratified bootstrap above)."""
    side = _alternative(op)
    groups = [np.asarray(g, dtype=np.float64).reshape(-1) for g in [target, *others]]
    if side is None or not others or any(g.size == 0 for g in groups):
        return None
    means = []
    for g in groups:
        batch = _batch(g.size, resamples)
        means.append(np.concatenate([g[rng.integers(0, g.size, size=(min(batch, resamples - s), g.size))].mean(1)
                                     for s in range(0, resamples, batch)]))
    draws = means[0] - np.mean(means[1:], axis=0)
    estimate = float(groups[0].mean() - np.mean([g.mean() for g in groups[1:]]))
    wrong = draws <= margin if side == "greater" else draws >= margin
    p = float((1 + np.sum(wrong)) / (resamples + 1))
    residuals = np.concatenate([g - g.mean() for g in groups])
    sd = float(np.std(residuals, ddof=len(groups))) if residuals.size > len(groups) else 0.0

    def bound(a: float) -> float:
        return _order_bound(draws, side, a) - margin

    return TestResult("stratified bootstrap", p, estimate - margin, estimate / sd if sd > 0 else math.nan,
                      _interval(side, bound(alpha)), int(sum(g.size for g in groups)), side, bound)


def off_target(item: OffTargetClaim, reader: SideReader, number: int, resamples: int,
               seed: int) -> tuple[Member, float, list[str], TestResult | None]:
    """(the left side, the other classes' mean, their names, the test)."""
    left = single(resolve(item.lhs, reader, item))
    per_class = dataclasses.replace(item, family=Family(quantify=("class",)))
    names = list(reader.class_names(item.rhs.stimuli))
    target = names[item.target]
    side = resolve(item.rhs, reader, per_class)
    others = {dict(key)["class"]: single({key: draws}) for key, draws in side.items()
              if dict(key)["class"] in names and dict(key)["class"] != target}
    if not others:
        raise RunError(f"`{item.rhs.text}`: no other class than {target} is measured",
                       help="measure on stimuli with several classes")
    reference = float(np.mean([m.value for m in others.values()]))
    test = None
    if left.images is not None and all(m.images is not None for m in others.values()):
        test = class_contrast_test(left.images.values, [m.images.values for m in others.values()], item.op,
                                   0.0, item.significance, resamples, stream_seed(seed, "claim", number))
    return left, reference, sorted(others, key=names.index), test
