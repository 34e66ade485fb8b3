"""One inference per claim: the interval shown beside a tested claim is its test inverted, at
the level the claim is decided at, one-sided on the claim's side; the claim passes exactly when
that interval clears its boundary.

Several tested claims are corrected together by Holm's step-down procedure. The interval shown
for a claim is then a Bonferroni interval at its Holm step's level (`statistics.holm_levels`):
alpha / (m - k) at step k of m, or at the step where Holm stopped, if that came first. With one
tested claim the level is the claim's own significance.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

from abl.interpreter.run.power import control_power, image_power
from abl.interpreter.run.statistics import stream_seed
from abl.interpreter.run.claim_tests import holm, holm_levels


def power_of(test, level: float, seed: int, claim: int):
    """The power of a claim's test at its n and decision level (None: replicate-model tests)."""
    if not test.data:
        return None
    if test.data[0] == "images":
        _, values, margin = test.data
        return image_power(values, margin, test.side, level, lambda n: stream_seed(seed, "power", claim, n))
    _, controls, observed, images = test.data
    return control_power(images, observed, controls, test.side, level, stream_seed(seed, "power", claim))


def settle(drafts: Sequence, seed: int = 0) -> list:
    """Verdicts with their Holm-adjusted p, their shown interval, and their decision."""
    tested = [v.tested is not None for v in drafts]
    p_values = [v.p_value if t else None for v, t in zip(drafts, tested)]
    adjusted = holm(p_values)
    levels = holm_levels(p_values, [v.significance for v in drafts])
    order = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    steps = {i: rank + 1 for rank, (_, i) in enumerate(order)}
    m = len(order)
    settled = []
    for index, verdict in enumerate(drafts):
        test = verdict.tested
        if test is None:
            settled.append(verdict)
            continue
        level = levels[index]
        bound = test.bound(level)
        clears = test.clears(bound)
        low, high = (bound, math.inf) if test.side == "greater" else (-math.inf, bound)
        settled.append(dataclasses.replace(
            verdict, passed=clears, p_adjusted=adjusted[index] if m > 1 else None,
            ci_low=low, ci_high=high, ci_level=1 - level, power=power_of(test, level, seed, verdict.claim), holm_step=f"{steps[index]} of {m}" if m > 1 else "",
            detail=verdict.detail + "; " + interval_text(verdict, bound, level, clears,
                                                         adjusted[index] if m > 1 else None,
                                                         steps[index], m)))
    return settled


def interval_text(verdict, bound: float, level: float, clears: bool, p_adjusted: float | None,
                  step: int, m: int) -> str:
    """`paired permutation test, n = 150: the drop >= 0.0412 (one-sided 95%) clears 0.03; p = 0.012`."""
    test = verdict.tested
    name, boundary = verdict.shown_as
    sign = ">=" if test.side == "greater" else "<="
    shown = bound + boundary
    holm_text = f", Holm step {step} of {m}" if p_adjusted is not None else ""
    size = f", d = {test.effect_size:.2f}" if math.isfinite(test.effect_size) else ""
    verb = "clears" if clears else "does not clear"
    text = (f"{test.method} test, n = {test.n}{size}: {name} {sign} {shown:.4g} "
            f"(one-sided {_percent(1 - level)}{holm_text}) {verb} {boundary:.4g}; p = {test.p_value:.3g}")
    if p_adjusted is not None:
        text += f", Holm-adjusted p = {p_adjusted:.3g}"
    if not clears:
        text += f": not shown at {verdict.significance:g}"
    return text


def _percent(level: float) -> str:
    text = f"{100 * level:.2f}".rstrip("0").rstrip(".")
    return text + "%"
