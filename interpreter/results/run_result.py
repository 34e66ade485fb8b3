"""The whole run put together from its shards (run/outputs.py: what one shard hands back).

`merge` orders the shards' rows by measurement, as one process computing the plan in order
would, and decides the expectations over the whole table.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field

import numpy as np

from abl.interpreter.run.decide import Verdict, decide
from abl.interpreter.plan.plan import Plan
from abl.interpreter.run.outputs import ModelRecord, ShardResult, StimuliRecord
from abl.interpreter.run.table import ResultsTable


@dataclass(repr=False)
class RunResult:
    """The whole run (`Experiment.run()`): its table and verdicts; everything else is read off
    its shards.

    Attributes:
        plan: the plan that ran.
        table: the tidy results (`ResultRow`s, typed: `intervention` None for the plain network,
            `cell` a `Cell(row, col)`); `to_pandas()` gives them as a DataFrame.
        verdicts: one `Verdict` per expectation, in the spec's order; `verdicts_frame()` gives
            them as a DataFrame with the columns of expectations.json (and of
            `load_run(...).verdicts_frame()`).
        stimuli, models: what was loaded in this process (key -> Stimuli / LoadedModel).
        shards: every shard's result, in shard order.
    """

    plan: Plan
    table: ResultsTable
    verdicts: list[Verdict]
    stimuli: dict                     # key -> Stimuli, when loaded in this process (else empty)
    models: dict                      # key -> LoadedModel, likewise
    shards: list[ShardResult] = field(default_factory=list)     # in shard order

    @functools.cached_property
    def notes(self) -> list[str]:
        from abl.interpreter.results.dead_units import control_notes, layer_notes

        notes = [note for shard in self.shards for note in shard.notes]
        notes += layer_notes(self.selections) + control_notes(self.plan, self.selections)
        return list(dict.fromkeys(notes))

    @functools.cached_property
    def exemplars(self) -> list[tuple[dict, np.ndarray]]:
        """`report exemplars`: (record, its images) per unit (exemplars.json holds the records)."""
        return [pair for shard in self.shards for pair in shard.exemplars]

    @functools.cached_property
    def feature_images(self) -> dict[str, np.ndarray]:
        return {label: image for shard in self.shards for label, image in shard.feature_images}

    @property
    def forward_passes(self) -> int:
        return sum(shard.forward_passes for shard in self.shards)

    @functools.cached_property
    def per_image(self) -> dict:
        """Row key -> ImageValues (the measures of the outputs)."""
        return _per_image(self.shards)

    @functools.cached_property
    def selections(self) -> list[dict]:
        """Every unit set as run (ResolvedSelection records), once each (a network's recording
        and its conditions shards may both resolve one)."""
        import json

        seen: dict[str, dict] = {}
        for record in (record for shard in self.shards for record in shard.selections):
            seen.setdefault(json.dumps(record, sort_keys=True, default=str), record)
        return list(seen.values())

    @functools.cached_property
    def stimuli_records(self) -> dict[str, StimuliRecord]:
        return _stimuli_records(self.shards)

    @functools.cached_property
    def model_records(self) -> dict[str, ModelRecord]:
        return {record.key: record for shard in self.shards for record in shard.models}

    @property
    def all_passed(self) -> bool:
        return all(v.passed for v in self.verdicts)

    def to_pandas(self):
        """The results table as a DataFrame (frames.py: columns and types as results.parquet's)."""
        from abl.interpreter.results.frames import results_frame

        return results_frame(self.table)

    def __repr__(self) -> str:
        passed = sum(v.passed for v in self.verdicts)
        return (f"<RunResult {self.plan.experiment!r}: {len(self.table)} rows, {len(self.verdicts)} "
                f"expectation(s), {passed} passed>")

    def _repr_html_(self) -> str:
        """In a notebook: the verdicts as a table, and the size of the results."""
        import html

        passed = sum(v.passed for v in self.verdicts)
        head = (f"<p><b>{html.escape(self.plan.experiment)}</b>: {len(self.table)} result rows; "
                f"{len(self.verdicts)} expectation(s), {passed} passed, {len(self.verdicts) - passed} failed</p>")
        if not self.verdicts:
            return head
        frame = self.verdicts_frame()[["claim", "expectation", "verdict", "detail"]]
        return head + frame.to_html(index=False, escape=True)

    def show_figures(self, folder=None) -> list:
        """Draws the spec's `report` figures (into `folder`, else a temporary folder) and, in a
        notebook, displays them inline. Returns the files written."""
        import tempfile
        from pathlib import Path

        from abl.interpreter.report.draw import write_figures

        out = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="abl-figures-"))
        written = write_figures(self, out)
        try:
            from IPython.display import Image, display
        except ModuleNotFoundError:
            return written
        for path in written:
            if str(path).endswith(".png"):
                display(Image(filename=str(path)))
        return written

    def verdicts_frame(self):
        """One row per expectation, as expectations.json."""
        import pandas as pd

        return pd.DataFrame.from_records([v.as_record() for v in self.verdicts])


def merge(plan: Plan, shards: list[ShardResult], stimuli: dict | None = None,
          models: dict | None = None) -> RunResult:
    """The run's result from all of its shards (in any order)."""
    shards = sorted(shards, key=lambda s: s.index)
    rows = sorted((pair for shard in shards for pair in shard.rows), key=lambda pair: pair[0])
    table = ResultsTable(confidence=plan.confidence, names=dict(plan.declared))
    for index, item_rows in rows:
        # a measurement's values are its rows under its own label; the others are details
        # (`selectivity index unit`: one per unit) that no claim reads
        label = plan.measures[index].label
        table.extend(dataclasses.replace(row, measurements=frozenset({index})) if row.measure == label
                     else row for row in item_rows)
    records = _stimuli_records(shards)
    verdicts = decide(plan.expectations, table, lambda key: records[key].class_names, _per_image(shards),
                      plan.confidence, plan.resamples, plan.seed)
    return RunResult(plan, table, verdicts, dict(stimuli or {}), dict(models or {}), shards)


def _per_image(shards: list[ShardResult]) -> dict:
    return {key: values for shard in shards for key, values in shard.per_image}


def _stimuli_records(shards: list[ShardResult]) -> dict[str, StimuliRecord]:
    return {record.key: record for shard in shards for record in shard.stimuli}
