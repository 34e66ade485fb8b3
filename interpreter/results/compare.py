"""`abl compare RUN_A RUN_B`: what differs between two complete run folders.

Two runs *agree* when their specs and parameters are the same, every expectation has the same
verdict, both have the same result rows, and no value moved. A value moved when it lies outside
the other run's interval for it (rows with bootstrap intervals in both runs), or, for rows
without intervals (probe accuracies fitted in-sample, selectivity indices, activations), when it
differs by more than `tolerance` (absolute; default 1e-9). Values that differ within those bounds
are counted, not reported as differences. Versions, data hashes (stimuli, weights) and the
thread count are shown when they differ but do not by themselves make runs differ: a run that
reproduces after an upgrade agrees.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field

from abl.interpreter.run.table import KEY_COLUMNS
from abl.interpreter.results.run_loading import LoadedRun

DEFAULT_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Change:
    what: str                         # e.g. "param epochs", "torch", "stimuli test sha256"
    a: object
    b: object


@dataclass(frozen=True)
class MovedValue:
    key: dict                         # the row's key columns (and sweep variables) that are set
    a: float
    b: float
    a_interval: tuple[float, float] | None
    b_interval: tuple[float, float] | None

    def as_record(self) -> dict:
        return {"key": self.key, "a": _json_float(self.a), "b": _json_float(self.b),
                "a_interval": list(self.a_interval) if self.a_interval else None,
                "b_interval": list(self.b_interval) if self.b_interval else None}


@dataclass(frozen=True)
class Comparison:
    a: str
    b: str
    spec_diff: tuple[str, ...] = ()
    params: tuple[Change, ...] = ()
    verdicts: tuple[Change, ...] = ()
    moved: tuple[MovedValue, ...] = ()
    only_in_a: int = 0
    only_in_b: int = 0
    within: int = 0                   # rows whose values differ within their intervals/tolerance
    identical: int = 0                # rows whose values are bit for bit the same
    environment: tuple[Change, ...] = field(default=())   # versions, hashes, threads: shown only

    @property
    def agree(self) -> bool:
        return not (self.spec_diff or self.params or self.verdicts or self.moved or self.only_in_a
                    or self.only_in_b)

    def as_record(self) -> dict:
        def changes(items):
            return [{"what": c.what, "a": c.a, "b": c.b} for c in items]

        return {"a": self.a, "b": self.b, "agree": self.agree, "spec_diff": list(self.spec_diff),
                "params": changes(self.params), "verdicts": changes(self.verdicts),
                "moved": [m.as_record() for m in self.moved], "rows_only_in_a": self.only_in_a,
                "rows_only_in_b": self.only_in_b, "rows_within_bounds": self.within,
                "rows_identical": self.identical, "environment": changes(self.environment)}


def compare_runs(a: LoadedRun, b: LoadedRun, tolerance: float = DEFAULT_TOLERANCE) -> Comparison:
    spec_diff = tuple(difflib.unified_diff(a.spec.splitlines(), b.spec.splitlines(), f"{a.path}/spec.abl",
                                           f"{b.path}/spec.abl", lineterm=""))
    params = tuple(Change(f"param {name}", a.params.get(name), b.params.get(name))
                   for name in sorted(set(a.params) | set(b.params)) if a.params.get(name) != b.params.get(name))
    verdicts = _verdict_changes(a, b)
    moved, only_a, only_b, within, identical = _values(a, b, tolerance)
    return Comparison(str(a.path), str(b.path), spec_diff, params, verdicts, tuple(moved), only_a, only_b,
                      within, identical, tuple(_environment(a.manifest, b.manifest)))


def _verdict_changes(a: LoadedRun, b: LoadedRun) -> list[Change]:
    def verdicts(run):
        if run.verdicts.empty:
            return {}
        return {(int(r["claim"]), r["expectation"]): r["verdict"] for r in run.verdicts.to_dict("records")}

    va, vb = verdicts(a), verdicts(b)
    return [Change(f"claim {claim}: {text}", va.get((claim, text), "absent"), vb.get((claim, text), "absent"))
            for claim, text in sorted(set(va) | set(vb)) if va.get((claim, text)) != vb.get((claim, text))]


def _row_key(record: dict, dims: list[str]) -> tuple:
    return tuple(str(record[c]) for c in KEY_COLUMNS) + tuple(
        "" if _missing(record.get(d)) else str(record.get(d)) for d in dims)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value) in ("", "<NA>")


def _values(a: LoadedRun, b: LoadedRun, tolerance: float):
    from abl.interpreter.run.table import COLUMNS

    dims = sorted((set(a.results.columns) | set(b.results.columns)) - set(COLUMNS))

    def rows(run):
        frame = run.results
        for d in dims:
            if d not in frame.columns:
                frame = frame.assign(**{d: ""})
        return {_row_key(r, dims): r for r in frame.astype(object).to_dict("records")}

    ra, rb = rows(a), rows(b)
    moved, within, identical = [], 0, 0
    for key in ra.keys() & rb.keys():
        x, y = ra[key], rb[key]
        va, vb = float(x["value"]), float(y["value"])
        if va == vb or (math.isnan(va) and math.isnan(vb)):
            identical += 1
            continue
        ia, ib = _interval(x), _interval(y)
        if ia and ib:
            apart = not (ib[0] <= va <= ib[1]) or not (ia[0] <= vb <= ia[1])
        else:
            apart = not abs(va - vb) <= tolerance
        if apart:
            names = list(KEY_COLUMNS) + dims
            shown = {n: v for n, v in zip(names, key)
                     if v != "" and not (n in ("repeat", "claim") and v == "0")}
            moved.append(MovedValue(shown, va, vb, ia, ib))
        else:
            within += 1
    moved.sort(key=lambda m: sorted(m.key.items()))
    return moved, len(ra.keys() - rb.keys()), len(rb.keys() - ra.keys()), within, identical


def _interval(record: dict) -> tuple[float, float] | None:
    low, high = float(record["ci_low"]), float(record["ci_high"])
    return (low, high) if math.isfinite(low) and math.isfinite(high) else None


def _environment(a: dict, b: dict) -> list[Change]:
    changes = []
    for name in sorted(set(a.get("versions", {})) | set(b.get("versions", {}))):
        va, vb = a.get("versions", {}).get(name), b.get("versions", {}).get(name)
        if va != vb:
            changes.append(Change(name, va, vb))
    for kind, field_name in (("stimuli", "sha256"), ("models", "weights_sha256")):
        sa, sb = a.get(kind, {}), b.get(kind, {})
        for key in sorted(set(sa) | set(sb)):
            ha, hb = sa.get(key, {}).get(field_name), sb.get(key, {}).get(field_name)
            if ha != hb:
                changes.append(Change(f"{kind} {key} {field_name}", ha, hb))
    for name in ("seed", "device", "precision"):
        if a.get(name, "fp32" if name == "precision" else None) != b.get(name, "fp32" if name == "precision" else None):
            changes.append(Change(name, a.get(name), b.get(name)))
    ta, tb = a.get("execution", {}).get("threads"), b.get("execution", {}).get("threads")
    if ta != tb:
        changes.append(Change("threads", ta, tb))
    return changes


def _json_float(value: float):
    return value if math.isfinite(value) else None
