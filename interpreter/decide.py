"""Expectations -> verdicts, read off the tidy results table.

A change test compares a quantity with its own baseline; a comparison compares two quantities
or a quantity and a number; a random control ranks the observed drop among the drops of the
claim's own random draws: p = (1 + #{control drops at least as extreme}) / (draws + 1).
"""

from __future__ import annotations

import dataclasses
import math
import operator
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .errors import RunError
from .plan import ExpectItem, ResultQuery
from .results import ResultsTable

ClassNames = Callable[[str], Sequence[str]]     # stimuli key -> its class names


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

    def as_record(self) -> dict:
        return {"expectation": self.text, "line": self.line, "claim": self.claim,
                "verdict": "PASS" if self.passed else "FAIL", "detail": self.detail,
                "observed": _finite(self.observed), "reference": _finite(self.reference),
                "p_value": self.p_value}


def _finite(value: float):
    return value if isinstance(value, float) and math.isfinite(value) else None


@dataclass(frozen=True)
class _Reader:
    table: ResultsTable
    class_names: ClassNames


def decide(expectations: Sequence[ExpectItem], table: ResultsTable, class_names: ClassNames) -> list[Verdict]:
    """A verdict per expectation (numbered from 1: its claim), from the results table."""
    reader = _Reader(table, class_names)
    return [dataclasses.replace(_decide(expectation, reader), claim=number)
            for number, expectation in enumerate(expectations, start=1)]

def _values(query: ResultQuery, reader: "_Reader", intervention: str | None = None) -> dict[int, float]:
    """{draw: value} of the rows the query reads: `intervention="none"` reads its baseline."""
    wanted = query.intervention if intervention is None else intervention
    claim = query.claim if intervention is None else query.baseline_claim
    cls_label = ""
    if query.cls is not None:
        cls_label = reader.class_names(query.stimuli)[query.cls]
    stimuli = query.stimuli_label or query.stimuli
    rows = [r for r in reader.table if r.measure == query.measure and r.stimuli == stimuli
            and r.intervention == wanted and r.cls == cls_label and r.claim == claim
            and (query.model is None or r.model == query.model)
            and (query.layer is None or r.layer == query.layer)
            and all(_same(r.dim(k), v) for k, v in query.dims)]
    if not rows:
        raise RunError(f"no measured value matches `{query.text}`",
                       help="measure it with a `measure` statement (check the selectors and stimuli)")
    by_repeat: dict[int, list[float]] = defaultdict(list)
    for row in rows:
        by_repeat[row.repeat].append(row.value)
    groups = {len(v) for v in by_repeat.values()}
    if groups != {1}:
        raise RunError(f"`{query.text}` matches several measured values",
                       help="narrow it with selectors, e.g. `[alpha = 0]`, or `where class == C`")
    return {repeat: values[0] for repeat, values in sorted(by_repeat.items())}

def _value(query: ResultQuery, reader: "_Reader") -> float:
    values = _values(query, reader)
    value = float(np.mean(list(values.values())))
    if query.drop:
        base = float(np.mean(list(_values(query, reader, intervention="none").values())))
        return base - value
    return value

def _decide(item: ExpectItem, reader: "_Reader") -> Verdict:
    line = item.span.line
    if item.kind == "change":
        base = float(np.mean(list(_values(item.lhs, reader, intervention="none").values())))
        after = float(np.mean(list(_values(item.lhs, reader).values())))
        change = base - after if item.direction == "drops" else after - base
        ok = change >= item.number if item.bound == "at least" else change <= item.number
        detail = (f"{item.lhs.measure} {base:.4g} -> {after:.4g}: {item.direction[:-1]} of "
                  f"{change:.4g} (needs {item.bound} {item.number:.4g})")
        return Verdict(item.text, ok, detail, change, item.number, line=line)
    if item.kind == "compare-number":
        value = _value(item.lhs, reader)
        ok = COMPARE[item.op](value, item.number)
        return Verdict(item.text, ok, f"{value:.4g} {item.op} {item.number:.4g}", value, item.number, line=line)
    if item.kind == "compare-quantity":
        left = _value(item.lhs, reader)
        right = _value(item.rhs, reader) + item.number
        ok = COMPARE[item.op](left, right)
        offset = f" (incl. offset {item.number:+.4g})" if item.number else ""
        return Verdict(item.text, ok, f"{left:.4g} {item.op} {right:.4g}{offset}", left, right, line=line)
    observed = _value(item.lhs, reader)
    control_values = _values(item.rhs, reader)
    base = float(np.mean(list(_values(item.rhs, reader, intervention="none").values())))
    controls = np.array([base - v if item.rhs.drop else v for v in control_values.values()])
    if item.op in (">", ">="):
        extreme = int(np.sum(controls >= observed))
    else:
        extreme = int(np.sum(controls <= observed))
    p_value = (1 + extreme) / (len(controls) + 1)
    ok = p_value <= item.significance and COMPARE[item.op](observed, float(np.mean(controls)))
    detail = (f"observed {observed:.4g} vs control mean {np.mean(controls):.4g} "
              f"(sd {np.std(controls):.3g}, {len(controls)} draws); p = {p_value:.3g}, "
              f"needs p <= {item.significance:g}")
    return Verdict(item.text, ok, detail, observed, float(np.mean(controls)), p_value, line=line)


def _same(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        return math.isclose(float(a), float(b))
    except ValueError:
        return False
