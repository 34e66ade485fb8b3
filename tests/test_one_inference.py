"""One inference per claim: the interval shown beside a tested claim comes from the same test
that decides it (inverted, one-sided, at the claim's Holm step level), so a claim passes exactly
when its shown interval clears its boundary. Checked on generated claims of every tested kind."""

from __future__ import annotations

import math

import numpy as np
import pytest

from abl.interpreter.run.decide import decide
from abl.interpreter.run.claim_tests import bootstrap_test, control_test, holm_levels, paired_test, replicate_test

from test_claims import HEAD, names, table_of
from test_planner import plan_text

SETUP = HEAD + """model net = train mlp [64, 32, 10] on train epochs 1
units hot = top 3 by activation for class 7 in fc1
units cold = bottom 3 by activation for class 7 in fc1
units rnd = random 3 in fc1
measure accuracy on test
measure accuracy on test ablating hot
measure accuracy on test ablating cold
measure accuracy on test ablating rnd
"""


def clears(record_low, record_high, side_greater: bool) -> bool:
    return record_low > 0 if side_greater else record_high < 0


def generated_claims(rng: np.random.Generator) -> list[str]:
    """A few claims of the tested kinds with random thresholds, directions and levels."""
    claims = []
    for _ in range(int(rng.integers(1, 5))):
        kind = rng.integers(0, 5)
        level = f" significance {rng.choice([0.01, 0.05, 0.1, 0.2])}" if rng.random() < 0.5 else ""
        if kind == 0:
            claims.append(f"expect accuracy on test {rng.choice(['>', '<', '>=', '<='])} "
                          f"{rng.integers(70, 99)}%{level}")
        elif kind == 1:
            claims.append(f"expect accuracy on test {rng.choice(['drops', 'rises'])} by "
                          f"{rng.choice(['at least', 'at most'])} {rng.integers(0, 12)}% ablating hot{level}")
        elif kind == 2:
            claims.append(f"expect accuracy on test ablating hot {rng.choice(['<', '>'])} "
                          f"accuracy on test ablating cold{level}")
        elif kind == 3:
            claims.append(f"expect accuracy on test ablating hot {rng.choice(['<', '>'])} "
                          f"accuracy on test ablating cold + {rng.integers(0, 6)}%{level}")
        else:
            claims.append(f"expect drop of accuracy on test ablating hot {rng.choice(['>', '<'])} "
                          f"drop ablating rnd repeats {rng.integers(5, 60)}{level}")
    return claims


@pytest.mark.parametrize("case", range(12))
def test_generated_claims_pass_exactly_when_their_shown_interval_clears_the_boundary(case):
    rng = np.random.default_rng(100 + case)
    claims = generated_claims(rng)
    plan = plan_text(SETUP + "\n".join(claims) + "\n")
    n = int(rng.integers(30, 300))
    base = (rng.random(n) < rng.uniform(0.75, 0.98)).astype(float)
    keep = {None: 1.0, "ablating hot": rng.uniform(0.8, 1.0), "ablating cold": rng.uniform(0.9, 1.0)}

    def images(item):
        label = item.intervention_label
        if label is not None and "rnd" in label:
            p = rng.uniform(0.9, 1.0)
        else:
            p = keep[label]
        draw = np.random.default_rng(abs(hash((case, label, item.repeat))) % 2**32)
        return base * (draw.random(n) < p)

    cached = {}

    def cached_images(item):
        key = (item.intervention_label, item.repeat)
        if key not in cached:
            cached[key] = images(item)
        return cached[key]

    table, per_image = table_of(plan, lambda item: float(cached_images(item).mean()), images=cached_images)
    verdicts = decide(plan.expectations, table, names, per_image, resamples=499, seed=case)
    tested = [v for v in verdicts if v.test]
    assert len(tested) == len(claims)
    for verdict in tested:
        greater = math.isinf(verdict.ci_high)
        assert verdict.passed == clears(verdict.ci_low, verdict.ci_high, greater), verdict.detail
        # the same statement in words, and the same decision as Holm's adjusted p
        assert (" clears " in verdict.detail) == verdict.passed
        p = verdict.p_adjusted if verdict.p_adjusted is not None else verdict.p_value
        assert verdict.passed == (p <= verdict.significance * (1 + 1e-12)), verdict.detail
        # one meaning of effect: left side minus boundary, and the interval is of the effect
        assert verdict.ci_low <= verdict.effect <= verdict.ci_high or not verdict.passed
        record = verdict.as_record()
        assert record["ci_level"] == pytest.approx(verdict.ci_level)


def test_each_test_rejects_at_a_level_exactly_when_its_bound_clears_zero():
    rng = np.random.default_rng(3)
    for trial in range(40):
        n = int(rng.integers(5, 200))
        d = rng.choice([-1.0, 0.0, 1.0], p=[0.05, 0.85, 0.10], size=n) if trial % 2 else rng.normal(0.05, 0.3, n)
        op = [">", "<", ">=", "<="][trial % 4]
        margin = float(rng.uniform(-0.1, 0.15))
        tests = [paired_test(d, op, margin, 0.05, 299, np.random.default_rng(trial)),
                 bootstrap_test(d, op, margin, 0.05, 299, np.random.default_rng(trial)),
                 control_test(float(rng.normal(0.1, 0.2)), rng.normal(0, 0.2, 99), op, 0.05),
                 replicate_test(rng.normal(0.9, 0.02, 4), rng.normal(0.88, 0.02, 4), op, margin / 10, 0.05,
                                paired=bool(trial % 3))]
        for test in tests:
            for a in (0.001, 0.01, 0.0125, 0.05, 1 / 6, 0.3):
                assert (test.p_value <= a) == test.clears(test.bound(a)), (test.method, a, test.p_value)


def test_holm_levels_are_bonferroni_at_the_step_or_at_the_stop():
    # p ascending: 0.01 (step 0 of 4: 0.05/4 ok), 0.02 (0.05/3 fails: Holm stops), 0.03, 0.04
    levels = holm_levels([0.03, None, 0.01, 0.04, 0.02], [0.05] * 5)
    assert levels == pytest.approx([0.05 / 3, None, 0.05 / 4, 0.05 / 3, 0.05 / 3])
    assert holm_levels([0.2], [0.05]) == [0.05]
