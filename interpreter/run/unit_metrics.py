"""Per-unit scores from one recording (LayerStats), for `top/bottom K by METRIC`, thresholds and grids.

- activation: mean activation over the target class's images (over all images without a class)
- magnitude: mean activation over all stimuli
- selectivity: mu_c - mu_o (Hayne et al.; mu_o = mean of the other classes' means); needs a class
- selectivity index: Morcos et al.'s class selectivity index (no class needed)
- rotated magnitude: (mu_c + mu_o) / sqrt(2), the magnitude axis of Hayne et al.'s code; needs a class
Conv units are averaged over space before any of these.
"""

from __future__ import annotations

import math
import operator

import numpy as np

from abl.interpreter.errors import RunError
from abl.interpreter.selectivity import class_selectivity_index, hayne_selectivity, rotated_magnitude

UNIT_METRICS = ("activation", "magnitude", "selectivity", "selectivity index", "rotated magnitude")

_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
        "==": operator.eq, "!=": operator.ne}


def _target_row(stats, target_class: int | None, metric: str) -> int:
    if target_class is None:
        raise RunError(f"{metric} needs the class it is measured for",
                       help=f"write `... by {metric} for class C in LAYER`")
    if target_class not in stats.present:
        raise RunError(f"class {target_class} has no images in the stimuli recorded for {stats.layer}",
                       help="choose a class the stimuli contain")
    if len(stats.present) < 2:
        raise RunError(f"{metric} needs images of at least two classes", help="record on more classes")
    return stats.present.index(target_class)


def unit_scores(stats, metric: str, target_class: int | None = None) -> np.ndarray:
    """(U,) float64 score per unit of the recorded layer."""
    if metric == "activation":
        if target_class is None:
            return np.asarray(stats.mean(), dtype=np.float64)
        return np.asarray(stats.class_mean(target_class), dtype=np.float64)
    if metric == "magnitude":
        return np.asarray(stats.mean(), dtype=np.float64)
    if metric == "selectivity":
        row = _target_row(stats, target_class, metric)
        return np.asarray(hayne_selectivity(stats.class_means(), row), dtype=np.float64)
    if metric == "rotated magnitude":
        row = _target_row(stats, target_class, metric)
        return np.asarray(rotated_magnitude(stats.class_means(), row), dtype=np.float64)
    if metric == "selectivity index":
        if len(stats.present) < 2:
            raise RunError("the selectivity index needs images of at least two classes",
                           help="record on more classes")
        return np.asarray(class_selectivity_index(stats.class_means()), dtype=np.float64)
    raise RunError(f"unknown unit metric `{metric}`", help=f"use one of: {', '.join(UNIT_METRICS)}")


def top_k(scores, k: int, bottom: bool = False) -> tuple[int, ...]:
    """The k highest (bottom: lowest) scoring units, best first; ties go to the lower unit index."""
    scores = np.asarray(scores, dtype=np.float64)
    if not 0 <= k <= scores.shape[0]:       # the selector checked the count (E403)
        raise ValueError(f"top_k: k = {k} of {scores.shape[0]} units")
    if np.isnan(scores).any():
        raise RunError("some unit scores are NaN", help="check the recording for dead or non-finite units")
    key = scores if bottom else -scores
    order = np.lexsort((np.arange(scores.shape[0]), key))
    return tuple(int(i) for i in order[:k])


def threshold(scores, op: str, value: float) -> tuple[int, ...]:
    """Units (ascending index) whose score satisfies `score OP value`."""
    if op not in _OPS:
        raise RunError(f"unknown comparison `{op}`", help=f"use one of: {' '.join(_OPS)}")
    scores = np.asarray(scores, dtype=np.float64)
    return tuple(int(i) for i in np.flatnonzero(_OPS[op](scores, value)))


LIVE_SHARE = 0.01     # a live unit is active (backend.record.ACTIVE_EPS) on at least 1% of the images


def liveness(stats) -> tuple[np.ndarray, np.ndarray]:
    """(dead, rare) boolean masks over the recorded layer's units: dead units are active on no
    image, rarely active ones on some but fewer than LIVE_SHARE of them (at least one image)."""
    if stats.active_counts is None:
        raise RunError(f"layer {stats.layer}: this recording did not count active units",
                       help="record the layer again (abl run records them)")
    counts = np.asarray(stats.active_counts)
    needed = max(1, math.ceil(round(LIVE_SHARE * stats.n, 9)))
    return counts == 0, (counts > 0) & (counts < needed)


def live_units(stats) -> np.ndarray:
    """The live units' indices (ascending): neither dead nor rarely active."""
    dead, rare = liveness(stats)
    return np.flatnonzero(~(dead | rare))


def random_units(n_units: int, k: int, rng: np.random.Generator) -> tuple[int, ...]:
    """k distinct units drawn uniformly without replacement, sorted ascending."""
    if not 0 <= k <= n_units:               # the selector checked the count (E403)
        raise ValueError(f"random_units: k = {k} of {n_units} units")
    return tuple(sorted(int(i) for i in rng.choice(n_units, size=k, replace=False)))
