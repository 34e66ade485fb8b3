"""Which images each condition of a plan must see, and what to keep of them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from abl.spec.vocabulary import MEASURES_OF_OUTPUTS

from .plan import MeasureItem, Plan, condition_groups


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
    from .measures import quantities_for

    runs: dict[tuple[str, str], dict[tuple, ConditionRun]] = {}
    for group_key, group in condition_groups(plan).items():
        classes: dict[tuple, set | None] = {key: set() for key in group}
        quantities: dict[tuple, set] = {key: set() for key in group}

        def need(key: tuple, wanted: set | None, needed) -> None:
            quantities[key] |= set(needed)
            classes[key] = None if classes[key] is None or wanted is None else classes[key] | wanted

        for item in plan.measures:
            if (item.model, item.stimuli) != group_key or item.metric not in MEASURES_OF_OUTPUTS:
                continue
            wanted = None if (item.where_class is None or item.per_class) else {item.where_class}
            if item.metric == "selective rank deficit":
                wanted = None           # the class's images and every other class's
            need(item.interventions, wanted, quantities_for(item.metric, item.top, item.of_class))
            if item.interventions and item.metric in ("rank deficit", "selective rank deficit", "rank change"):
                need((), wanted, [("rank",)])
        runs[group_key] = {key: ConditionRun(group[key], None if classes[key] is None else frozenset(classes[key]),
                                             frozenset(quantities[key]))
                           for key in group if quantities[key]}
    return runs
