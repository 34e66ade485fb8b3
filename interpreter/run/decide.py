"""Expectations -> verdicts, read off the tidy results table (and the per-image values behind it).

A side of a claim reads the rows its query matches: a family when they differ in some dimensions
(`row_dims`). Dimensions named by `averaged over`, `[KEY in [..]]` and replicate seeds are
averaged; `in every`/`in at least P% of` compare member by member; `is largest at` compares one
member with the others. A single claim is decided by its point value and, where the data allow
it, a one-sided test: paired over the same images (sign-flip permutation), one sample against a
number (bootstrap), or across replicate models (t-tests); a random control ranks the observed drop
among its own draws. The p-values of all tested claims are Holm-adjusted together, and a tested
claim passes when its value says so and its adjusted p is at most its significance level.
"""

from __future__ import annotations

import dataclasses
import math
import operator
from collections import defaultdict
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from abl.spec.families import same_value

from abl.interpreter.seeding import sd
from abl.interpreter.run.claim_sides import ClassNames, ImageValues, Member, SideReader, drop, read_side, resolve, single
from abl.interpreter.errors import RunError
from abl.interpreter.plan.plan import (ChangeClaim, ControlClaim, ExpectItem, ExtremeClaim, NumberClaim, OffTargetClaim,
                                      QuantityClaim)
from abl.interpreter.run.table import ResultsTable
from abl.interpreter.run.inference import settle
from abl.interpreter.run.power import Power
from abl.interpreter.run.statistics import DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, stream_seed
from abl.interpreter.run.claim_tests import TestResult, bootstrap_test, control_test, paired_test, replicate_test

COMPARE = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
           "==": lambda a, b: math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12),
           "!=": lambda a, b: not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)}


@dataclass(frozen=True)
class Verdict:
    text: str
    passed: bool
    detail: str
    observed: float
    reference: float
    p_value: float | None = None
    line: int = 0
    claim: int = 0                # the expectation's number; its own random draws carry it
    p_adjusted: float | None = None     # Holm over every tested claim of the spec
    test: str = ""                      # how p was computed
    effect: float | None = None         # the claim's left side minus its boundary (see _with_test)
    effect_size: float | None = None    # standardised effect (mean difference / sd)
    ci_low: float | None = None         # one-sided interval of the effect, by inverting the test,
    ci_high: float | None = None        # at ci_level (Holm's step level when several are tested)
    n: int | None = None                # images, or replicate models, the test used
    significance: float = 0.05
    controls: tuple[float, ...] = ()    # a random control's own draws (drops, or values)
    ci_level: float | None = None       # the interval's confidence level (1 - its alpha)
    holm_step: str = ""                 # "2 of 3": the claim's step in Holm's order
    tested: TestResult | None = dataclasses.field(default=None, repr=False, compare=False)
    shown_as: tuple[str, float] = ("the effect", 0.0)   # the tested quantity's name, and its boundary
    extra: tuple[tuple[str, object], ...] = ()   # further record fields (lock status)
    power: Power | None = None          # of the claim's test at its n and level (run/power.py)
    bindings: tuple[tuple[str, str], ...] = ()   # the claim's loop iteration (in `text` too)

    def as_record(self) -> dict:
        return {"expectation": self.text, "line": self.line, "claim": self.claim,
                "verdict": "PASS" if self.passed else "FAIL", "detail": self.detail,
                "observed": _finite(self.observed), "reference": _finite(self.reference),
                "p_value": self.p_value, "p_adjusted": self.p_adjusted, "test": self.test or None,
                "effect": _finite(self.effect), "effect_size": _finite(self.effect_size),
                "ci_low": _finite(self.ci_low), "ci_high": _finite(self.ci_high), "n": self.n,
                "ci_level": self.ci_level, "holm_step": self.holm_step or None,
                "significance": self.significance, "bindings": dict(self.bindings),
                **({"control_draws": list(self.controls)} if self.controls else {}),
                **({"power": self.power.as_record()} if self.power is not None else {}), **dict(self.extra)}


def _finite(value):
    return value if isinstance(value, float) and math.isfinite(value) else None


@dataclass(frozen=True)
class _Reader(SideReader):
    confidence: float
    resamples: int
    seed: int


def decide(expectations: Sequence[ExpectItem], table: ResultsTable, class_names: ClassNames,
           per_image: Mapping[tuple, ImageValues] | None = None, confidence: float = DEFAULT_CONFIDENCE,
           resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> list[Verdict]:
    """A verdict per expectation (numbered from 1: its claim), from the results table."""
    reader = _Reader(table, class_names, per_image or {}, confidence, resamples, seed)
    drafts = [dataclasses.replace(_decide(expectation, reader, number), claim=number, text=expectation.shown,
                                  bindings=expectation.bindings)
              for number, expectation in enumerate(expectations, start=1)]
    return settle(drafts, seed)


# ---- tests -----------------------------------------------------------------------------------

def _test_pair(left: Member, right: Member | None, op: str, margin: float, reader: _Reader,
               item: ExpectItem, number: int, paired_models: bool) -> TestResult | None:
    rng = stream_seed(reader.seed, "claim", number)
    alpha = item.significance
    if right is None:
        if len(left.seeds) > 1:
            return replicate_test(list(left.seeds.values()), None, op, margin, alpha, False)
        if left.images is not None:
            return bootstrap_test(left.images.values, op, margin, alpha, reader.resamples, rng)
        return None
    if len(left.seeds) > 1 and len(right.seeds) > 1:
        paired = paired_models and left.seeds.keys() == right.seeds.keys()
        a = list(left.seeds.values())
        b = [right.seeds[s] for s in left.seeds] if paired else list(right.seeds.values())
        return replicate_test(a, b, op, margin, alpha, paired)
    if left.images is not None and right.images is not None and \
            left.images.stimuli == right.images.stimuli and \
            np.array_equal(left.images.positions, right.images.positions):
        return paired_test(left.images.values - right.images.values, op, margin, alpha,
                           reader.resamples, rng)
    return None


def _test_change(change: Member, op: str, margin: float, reader: _Reader, number: int,
                 alpha: float) -> TestResult | None:
    """A change against its own baseline is paired: per seed (replicates), else per image."""
    if len(change.seeds) > 1:
        test = replicate_test(list(change.seeds.values()), None, op, margin, alpha, False)
        return None if test is None else dataclasses.replace(test, method="paired t (by seed)")
    if change.images is not None:
        return paired_test(change.images.values, op, margin, alpha, reader.resamples,
                           stream_seed(reader.seed, "claim", number))
    return None


def _with_test(verdict: Verdict, test: TestResult | None, significance: float) -> Verdict:
    """A tested claim keeps its test; `settle` shows the interval and decides. Every verdict's
    effect is its left side minus its boundary (threshold, amount, or right side plus offset)."""
    if test is None:
        return dataclasses.replace(verdict, significance=significance,
                                   effect=verdict.observed - verdict.reference)
    return dataclasses.replace(verdict, p_value=test.p_value, test=test.method, effect=test.effect,
                               effect_size=test.effect_size, n=test.n, significance=significance,
                               tested=test)


def _key_text(key: tuple) -> str:
    dims = dict(key)
    if "row" in dims and "col" in dims:
        rest = ", ".join(f"{k} {v}" for k, v in key if k not in ("row", "col"))
        cell = f"cell {dims['row']},{dims['col']}"
        return f"{rest}, {cell}" if rest else cell
    return ", ".join(f"{k} {v}" for k, v in key) or "all"


def _decide(item: ExpectItem, reader: _Reader, number: int) -> Verdict:
    line = item.span.line
    family = item.family
    if isinstance(item, ControlClaim):
        return _control(item, reader, line)
    if isinstance(item, ExtremeClaim):
        return _extreme(item, reader, line)
    if isinstance(item, OffTargetClaim):
        from abl.interpreter.run.off_target import off_target

        left, reference, others, test = off_target(item, reader, number, reader.resamples, reader.seed)
        detail = (f"class {reader.class_names(item.lhs.stimuli)[item.target]}: "
                  f"{left.value:.4g}, needed {item.op} {reference:.4g} (the mean over the {len(others)} other classes)")
        verdict = Verdict(item.text, COMPARE[item.op](left.value, reference), detail, left.value, reference,
                          line=line, shown_as=("left minus the other classes' mean", 0.0))
        return _with_test(verdict, test, item.significance)
    lhs = resolve(item.lhs, reader, item)
    if isinstance(item, ChangeClaim):
        base = read_side(item.lhs, reader, item, baseline=True)
        pairs = {}
        for key, draws in lhs.items():
            after = single({key: draws})
            before = single({key: base[key]}) if key in base else single(base)
            change = drop(after, before)
            if item.direction == "rises":
                change = Member(-change.value,
                                 None if change.images is None else dataclasses.replace(
                                     change.images, values=-change.images.values),
                                 {s: -v for s, v in change.seeds.items()})
            pairs[key] = (before, after, change)
        op = ">=" if item.bound == "at least" else "<="
        if family.quantify:
            return _quantified(item, {k: (c.value, item.amount) for k, (_, _, c) in pairs.items()}, op, line)
        before, after, change = pairs[next(iter(pairs))]
        ok = COMPARE[op](change.value, item.amount)
        detail = (f"{item.lhs.measure} {before.value:.4g} -> {after.value:.4g}: {item.direction[:-1]} of "
                  f"{change.value:.4g} (needs {item.bound} {item.amount:.4g})")
        verdict = Verdict(item.text, ok, detail, change.value, item.amount, line=line)
        verdict = dataclasses.replace(verdict, shown_as=(f"the {item.direction[:-1]}", item.amount))
        return _with_test(verdict, _test_change(change, op, item.amount, reader, number, item.significance),
                          item.significance)
    if isinstance(item, NumberClaim):
        if family.quantify:
            return _quantified(item, {k: (single({k: d}).value, item.threshold) for k, d in lhs.items()},
                               item.op, line)
        left = single(lhs)
        ok = COMPARE[item.op](left.value, item.threshold)
        verdict = Verdict(item.text, ok, f"observed {left.value:.4g}, needed {item.op} {item.threshold:.4g}",
                          left.value, item.threshold, line=line, shown_as=("the value", item.threshold))
        return _with_test(verdict, _test_pair(left, None, item.op, item.threshold, reader, item, number, False),
                          item.significance)
    assert isinstance(item, QuantityClaim), item
    rhs = resolve(item.rhs, reader, item)
    if family.quantify:
        keys = [k for k in lhs if k in rhs] if len(rhs) > 1 else list(lhs)
        members = {k: (single({k: lhs[k]}).value,
                       single({k: rhs[k] if k in rhs else next(iter(rhs.values()))}).value + item.offset)
                   for k in keys}
        return _quantified(item, members, item.op, line)
    left, right = single(lhs), single(rhs)
    reference = right.value + item.offset
    ok = COMPARE[item.op](left.value, reference)
    offset = f" (the right side {right.value:.4g} {item.offset:+.4g})" if item.offset else ""
    verdict = Verdict(item.text, ok, f"observed {left.value:.4g}, needed {item.op} {reference:.4g}{offset}",
                      left.value, reference, line=line, shown_as=("left minus right", item.offset))
    return _with_test(verdict, _test_pair(left, right, item.op, item.offset, reader, item, number,
                                          item.same_models),
                      item.significance)


def _quantified(item: ExpectItem, members: dict[tuple, tuple[float, float]], op: str, line: int) -> Verdict:
    """`in every ...` / `in at least P% of ...`: the claim member by member, and the share that holds."""
    family = item.family
    if not members:
        raise RunError(f"`{item.text}` has no members to quantify over",
                       help="check that both sides are measured over the same family")
    holds = {k: COMPARE[op](a, b) for k, (a, b) in members.items()}
    count = sum(holds.values())
    share = count / len(holds)
    ok = share >= family.share - 1e-12
    over = " x ".join(family.quantify)
    failing = [k for k, v in holds.items() if not v]
    needs = "every one" if family.share >= 1 else f"at least {family.share:.0%}"
    detail = f"holds in {count} of {len(holds)} {over} ({share:.0%}; needs {needs})"
    if failing:
        shown = "; ".join(f"{_key_text(k)}: {members[k][0]:.4g} vs {members[k][1]:.4g}" for k in failing[:3])
        detail += f"; fails at {shown}" + (" ..." if len(failing) > 3 else "")
    return Verdict(item.text, ok, detail, share, family.share, line=line, significance=item.significance)


def _extreme(item: ExtremeClaim, reader: _Reader, line: int) -> Verdict:
    """`is largest at [cell = 3,3]`: within each quantified member (or once, averaged), the value at
    the named member against every other member of the dimension it names."""
    family = item.family
    side = resolve(item.lhs, reader, item)
    at_keys = tuple(k for k, _ in family.at)
    groups: dict[tuple, dict[tuple, float]] = defaultdict(dict)
    for key, draws in side.items():
        dims = dict(key)
        outer = tuple((k, dims[k]) for k in family.quantify)
        inner = tuple((k, dims[k]) for k in at_keys)
        groups[outer][inner] = single({key: draws}).value
    largest = family.extreme == "largest"
    results = {}
    for outer, values in groups.items():
        target = next((k for k in values if all(same_value(dict(k)[name], v) for name, v in family.at)), None)
        if target is None:
            raise RunError(f"`{item.text}`: no measured value at {_key_text(family.at)}",
                           help=f"the members are {', '.join(_key_text(k) for k in list(values)[:6])}")
        others = {k: v for k, v in values.items() if k != target}
        if not others:
            raise RunError(f"`{item.text}` compares {_key_text(family.at)} with nothing",
                           help="the values must range over the dimension `at` names")
        best = max(others, key=others.get) if largest else min(others, key=others.get)
        holds = values[target] > others[best] if largest else values[target] < others[best]
        results[outer] = (holds, values[target], best, others[best])
    word = "largest" if largest else "smallest"
    at_text = _key_text(family.at)
    if family.quantify:
        count = sum(r[0] for r in results.values())
        share = count / len(results)
        ok = share >= family.share - 1e-12
        needs = "every one" if family.share >= 1 else f"at least {family.share:.0%}"
        detail = (f"{at_text} is the {word} in {count} of {len(results)} {' x '.join(family.quantify)} "
                  f"({share:.0%}; needs {needs})")
        return Verdict(item.text, ok, detail, share, family.share, line=line, significance=item.significance)
    holds, value, best, other = results[()]
    averaged = f" (mean over {', '.join(family.average)})" if family.average else ""
    detail = f"{at_text}: {value:.4g}{averaged}; {'next' if holds else word} elsewhere {_key_text(best)}: {other:.4g}"
    return Verdict(item.text, holds, detail, value, other, line=line, significance=item.significance)


def _control(item: ControlClaim, reader: _Reader, line: int) -> Verdict:
    targeted = single(resolve(item.lhs, reader, item))
    observed = targeted.value
    draws = read_side(item.rhs, reader, item, by_repeat=True)
    base = single(read_side(item.rhs, reader, item, baseline=True))
    if len(draws) != 1:
        raise RunError(f"`{item.rhs.text}` matches several random controls",
                       help="narrow it with selectors, e.g. `[class 7]`")
    control_values = next(iter(draws.values()))
    controls = np.array([base.value - m.value if item.rhs.drop else m.value for _, m in sorted(control_values.items())])
    mean = float(np.mean(controls))
    test = control_test(observed, controls, item.op, item.significance,
                        None if targeted.images is None else targeted.images.values)
    detail = f"observed {observed:.4g} vs control mean {mean:.4g} (sd {sd(controls):.3g}, {len(controls)} draws)"
    verdict = Verdict(item.text, COMPARE[item.op](observed, mean), detail, observed, mean, line=line,
                      controls=tuple(float(c) for c in controls),
                      shown_as=("the shift over a random draw", 0.0))
    return _with_test(verdict, test, item.significance)
