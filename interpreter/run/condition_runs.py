"""Conditions: which images each condition of a plan must see, what to keep of them, and the
batched runs that produce each condition's per-image outputs."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import torch

from abl.interpreter.plan.plan import (MeasureItem, OutputMeasure, Plan, SelectiveDeficitMeasure, condition_groups,
                                        needs_baseline)


def subset_batches(stimuli, positions: np.ndarray, batch_size: int):
    for start in range(0, len(positions), batch_size):
        index = torch.as_tensor(positions[start:start + batch_size])
        yield stimuli.take(index), stimuli.labels[index]


@dataclass(frozen=True)
class ConditionRun:
    """One condition of a (model, stimuli) group: the images it must see and what to keep of them."""

    first: MeasureItem | None           # a measurement that uses it (None: the baseline)
    classes: frozenset | None           # only these classes' images; None: every image
    quantities: frozenset               # per-image quantities (see measures.per_image)


def condition_runs(plan: Plan) -> dict[tuple[str, str], dict[tuple, ConditionRun]]:
    """(model, stimuli) -> {interventions: ConditionRun}, refining `plan.condition_groups` with the
    images each condition needs: the union of its measurements' `where class` subsets (every image
    when one of them has none or is per class). The baseline sees the images its own measurements
    read, plus those of every rank deficit or change, which compare with it image by image."""
    from abl.interpreter.run.measures import quantities_for

    runs: dict[tuple[str, str], dict[tuple, ConditionRun]] = {}
    for group_key, group in condition_groups(plan).items():
        classes: dict[tuple, set | None] = {key: set() for key in group}
        quantities: dict[tuple, set] = {key: set() for key in group}

        def need(key: tuple, wanted: set | None, needed) -> None:
            quantities[key] |= set(needed)
            classes[key] = None if classes[key] is None or wanted is None else classes[key] | wanted

        for item in plan.measures:
            if (item.model, item.stimuli) != group_key or not isinstance(item, OutputMeasure):
                continue
            wanted = None if (item.where_class is None or item.per_class or item.where_not) else {item.where_class}
            if isinstance(item, SelectiveDeficitMeasure):
                wanted = None           # the class's images and every other class's
            need(item.interventions, wanted, quantities_for(item.metric, item.top, item.of_class))
            if item.interventions and needs_baseline(item):
                need((), wanted, [("rank",)])
        runs[group_key] = {key: ConditionRun(group[key], None if classes[key] is None else frozenset(classes[key]),
                                             frozenset(quantities[key]))
                           for key in group if quantities[key]}
    return runs


class ConditionOutputs:
    """Per (model, stimuli): {interventions: (image positions, {quantity: per-image values})}."""

    def __init__(self):
        self._outputs: dict[tuple[str, str], dict] = {}

    def of(self, item: MeasureItem, baseline: bool = False) -> tuple[np.ndarray, dict]:
        """(image positions, {quantity: per-image values}) of the item's condition (or its baseline)."""
        key = () if baseline else item.interventions
        return self._outputs[(item.model, item.stimuli)][key]

    def set(self, group: tuple[str, str], outputs: dict) -> None:
        self._outputs.setdefault(group, {}).update(outputs)

    def has_baseline(self, group: tuple[str, str]) -> bool:
        return () in self._outputs.get(group, {})

    def baselines(self) -> tuple:
        """((model, stimuli), positions, ((quantity, values), ...)) of every baseline run: what a
        recording shard hands its conditions shards, so that the baseline runs once."""
        return tuple((group, outputs[()][0], tuple(sorted(outputs[()][1].items())))
                     for group, outputs in self._outputs.items() if () in outputs)

    def load_baselines(self, entries: tuple) -> None:
        for group, positions, values in entries:
            self.set(tuple(group), {(): (positions, dict(values))})

    def clear(self) -> None:
        self._outputs.clear()


def run_all_conditions(scope: Plan, loader, builder, outputs: ConditionOutputs, only: str = "") -> int:
    """Every condition over only the images its measurements read (the union of their `where
    class` subsets; the baseline over the union of all), conditions with the same images
    batched together; outputs reduced to per-image values as the batches come. Returns the
    passes made (one per (model, stimuli) group). `only="baseline"`: the baselines alone (a
    recording shard's); a baseline already in `outputs` (a conditions shard's) is not run again."""
    from abl.interpreter.backend.conditions import Condition
    from abl.interpreter.backend.run import run_conditions
    from abl.interpreter.errors import RunError
    from abl.interpreter.run.measures import per_image

    passes = 0
    for (model_key, stimuli_key), runs in condition_runs(scope).items():
        if only == "baseline":
            runs = {key: run for key, run in runs.items() if key == ()}
        elif outputs.has_baseline((model_key, stimuli_key)):
            runs = {key: run for key, run in runs.items() if key != ()}
        if not runs:
            continue
        model = loader.model(model_key)
        stimuli = loader.stimuli(stimuli_key)
        labels = stimuli.labels.numpy()
        row_plan = loader.row_plan(model_key, stimuli_key)
        batch_size = row_plan.batch
        by_images: dict = defaultdict(list)
        for key, run in runs.items():
            by_images[run.classes].append(key)
        group: dict[tuple, tuple[np.ndarray, dict]] = {}
        for classes, keys in by_images.items():
            positions = np.arange(len(labels)) if classes is None else \
                np.flatnonzero(np.isin(labels, sorted(classes)))
            if len(positions) == 0:
                continue
            built = [builder.for_item(runs[key].first) if key else Condition("baseline") for key in keys]
            quantities = sorted(set().union(*(runs[key].quantities for key in keys)))

            def reduce(logits, batch_labels, quantities=quantities):
                if not bool(torch.isfinite(logits).all()):
                    raise RunError(f"non-finite outputs (NaN/inf) from {model_key} on {stimuli_key}",
                                   help="check the stimuli for NaN/inf pixels and the model for NaN weights")
                return per_image(logits, batch_labels, quantities)

            batches = stimuli.batches(batch_size) if classes is None else \
                subset_batches(stimuli, positions, batch_size)
            total = math.ceil(len(positions) / batch_size) * len(built)     # condition-batches
            what = f"{len(built)} conditions of {model_key} on {stimuli_key}"
            if classes is not None:
                what += f" ({len(positions)} images of class{'es' if len(classes) > 1 else ''} " \
                        f"{', '.join(stimuli.class_names[c] for c in sorted(classes))})"
            with loader.progress.task(what, total) as task:
                values = run_conditions(model.module, batches, built, device=loader.device, reduce=reduce,
                                        max_batch_images=row_plan.rows, advance=task.advance,
                                        rows_after=row_plan.rows_after, positions=positions)
            for key, per_condition in zip(keys, values):
                group[key] = (positions, per_condition)
        passes += 1
        outputs.set((model_key, stimuli_key), group)
    return passes
