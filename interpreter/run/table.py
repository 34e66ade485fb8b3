"""The tidy results table: one row per measured value. Every report is a view of it."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from abl.interpreter.plan.units import Cell

SELECTIVITY_UNIT = "selectivity index unit"   # the per-unit detail rows of `selectivity index`
BASELINE = "none"            # how the table's `intervention` column writes "no intervention"
COLUMNS = ("measure", "stimuli", "model", "class", "layer", "units", "cell",
           "intervention", "repeat", "value", "ci_low", "ci_high", "n", "fit_on", "claim")
KEY_COLUMNS = tuple(c for c in COLUMNS if c not in ("value", "ci_low", "ci_high", "n"))


def intervention_text(intervention: str | None) -> str:
    """The `intervention` column's text: the interventions as written, `none` for the baseline."""
    return BASELINE if intervention is None else intervention


class DuplicateResultError(RuntimeError):
    """Two different values under one result key: a bug in abl, never a user error."""


@dataclass(frozen=True)
class ResultRow:
    measure: str                 # e.g. "accuracy", "accuracy top-5", "rank deficit", "probe accuracy"
    stimuli: str
    value: float
    n: int                       # how many stimuli (images) the value is computed over
    model: str = ""
    cls: str = ""                # class label the value is about ("" = all classes)
    layer: str = ""
    units: str = ""              # the unit set's name as written in the spec
    cell: Cell | None = None     # a grid cell's units: the cell (the column writes `r,c`)
    intervention: str | None = None   # e.g. "ablating hot7"; None: the plain network (baseline)
    repeat: int = 0              # draw index for random controls
    dims: tuple[tuple[str, str], ...] = ()   # sweep variables: (("alpha", "-1.0"),)
    fit_on: str = ""             # probes: the stimuli the probe was fitted on
    claim: int = 0               # a claim's own random draws: the expectation's number (1-based)
    ci_low: float = math.nan     # bootstrap interval over images (measures of the outputs; else NaN)
    ci_high: float = math.nan
    # the measurements (ids: positions in the plan's `measures`) whose value this row is; a row
    # several measurements share is one row with all their ids. Not a column: it is the plan's.
    measurements: frozenset[int] = field(default=frozenset(), compare=False)

    def as_record(self) -> dict[str, object]:
        record: dict[str, object] = {
            "measure": self.measure, "stimuli": self.stimuli, "model": self.model,
            "class": self.cls, "layer": self.layer, "units": self.units, "cell": _text(self.cell),
            "intervention": intervention_text(self.intervention), "repeat": self.repeat,
            "value": self.value, "ci_low": self.ci_low, "ci_high": self.ci_high, "n": self.n, "fit_on": self.fit_on, "claim": self.claim,
        }
        for key, value in self.dims:
            record[key] = value
        return record

    def dim(self, key: str) -> str:
        return dict(self.dims).get(key, "")

    @property
    def key(self) -> tuple:
        """Everything that identifies the value (as the files write it; it also seeds the row's
        bootstrap): two measurements share it only when they measure the same value."""
        return (self.measure, self.stimuli, self.model, self.cls, self.layer, self.units, _text(self.cell),
                intervention_text(self.intervention), self.repeat, self.fit_on, self.claim, tuple(sorted(self.dims)))


@dataclass
class ResultsTable:
    rows: list[ResultRow] = field(default_factory=list)
    _keys: dict[tuple, int] = field(default_factory=dict, repr=False, compare=False)   # key -> position
    confidence: float = field(default=0.95, compare=False)   # the level of the rows' intervals
    # the `stimuli`/`model` keys' declared names (`noisy[alpha=0.5]` -> `noisy`), from the plan
    names: dict[str, str] = field(default_factory=dict, compare=False)
    _positions: dict[int, list[int]] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        rows, self.rows = self.rows, []
        self.extend(rows)

    def add(self, row: ResultRow) -> None:
        """Adds a row; the same measurement twice (same key, same value) is kept once, with the
        ids of both, and two different values under one key raise DuplicateResultError."""
        key = row.key
        self._positions = None
        at = self._keys.get(key)
        if at is not None:
            earlier = self.rows[at]
            if earlier.value == row.value or (math.isnan(earlier.value) and math.isnan(row.value)):
                if not row.measurements <= earlier.measurements:
                    self.rows[at] = dataclasses.replace(
                        earlier, measurements=earlier.measurements | row.measurements)
                return
            raise DuplicateResultError(
                f"two different values ({earlier.value!r}, {row.value!r}) share the result key "
                f"{dict(zip(KEY_COLUMNS, key))}")
        self._keys[key] = len(self.rows)
        self.rows.append(row)

    def extend(self, rows: Iterable[ResultRow]) -> None:
        for row in rows:
            self.add(row)

    def __iter__(self) -> Iterator[ResultRow]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def where(self, predicate: Callable[[ResultRow], bool]) -> "ResultsTable":
        return ResultsTable([row for row in self.rows if predicate(row)], confidence=self.confidence,
                            names=self.names)

    def declared(self, key: str) -> str:
        """A `stimuli` or `model` value's declared name, without its loop bindings."""
        return self.names.get(key, key)

    def of_measurements(self, ids) -> list[ResultRow]:
        """The rows of these measurements (ids: positions in the plan's `measures`), in table order."""
        if self._positions is None:
            self._positions = {}
            for position, row in enumerate(self.rows):
                for measurement in row.measurements:
                    self._positions.setdefault(measurement, []).append(position)
        positions = sorted({p for i in ids for p in self._positions.get(i, ())})
        return [self.rows[p] for p in positions]

    def dim_names(self) -> list[str]:
        names: list[str] = []
        for row in self.rows:
            for key, _ in row.dims:
                if key not in names:
                    names.append(key)
        return names

    def write_csv(self, path: Path) -> None:
        extra = self.dim_names()
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(list(COLUMNS) + extra)
            for row in self.rows:
                record = row.as_record()
                writer.writerow([_cell(record[c]) for c in COLUMNS] +
                                [_cell(record.get(k, "")) for k in extra])

    def write_jsonl(self, path: Path) -> None:
        with open(path, "w", encoding="utf-8") as handle:
            for row in self.rows:
                record = row.as_record()
                for column in ("value", "ci_low", "ci_high"):
                    if isinstance(record[column], float) and not math.isfinite(record[column]):
                        record[column] = None
                handle.write(json.dumps(record) + "\n")


def _text(cell: Cell | None) -> str:
    return "" if cell is None else str(cell)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    return str(value)
