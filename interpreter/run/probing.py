"""Probes: every probe measurement's balanced accuracy, probes that share their features fitted
together in one batched solve (run/probes.py)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from abl.interpreter.errors import RunError
from abl.interpreter.plan.plan import MeasureItem, Plan, ProbeMeasure
from abl.interpreter.plan.units import recorded_layer
from abl.interpreter.progress import Progress
from abl.interpreter.run.recording import Recordings
from abl.interpreter.run.selections import Selector


@dataclass
class ProbeFits:
    """Each probe's balanced accuracy, and (truth, predicted) on held-out images where it has them."""

    scores: dict[MeasureItem, float] = field(default_factory=dict)
    predictions: dict[MeasureItem, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


def fit_probes(scope: Plan, recordings: Recordings, selector: Selector, progress: Progress) -> ProbeFits:
    """Probes that share their features (the cells of one class and layer's grid: same model, fit
    and evaluation stimuli, target class and layers) are fitted together."""
    groups: dict[tuple, list[tuple[MeasureItem, list[int]]]] = defaultdict(list)
    for item in scope.measures:
        if not isinstance(item, ProbeMeasure):
            continue
        selection = item.of_units
        target = item.where_class if item.where_class is not None else selection.leaves()[0].target_class
        if target is None:
            raise RunError("a probe needs the class it decodes",
                           help="select the units `for class C`, or add `where class == C`")
        fit_key = item.fit_on or selection.leaves()[0].stimuli
        elementwise = {leaf.layer: leaf.per_element for leaf in selection.leaves()}
        resolved = {recorded_layer(layer, elementwise[layer]): units
                    for layer, units in selector.resolve(selection).items()}
        layers = tuple(sorted(resolved))
        widths = [recordings.stats(item.model, fit_key, layer).unit_count() for layer in layers]
        offsets = dict(zip(layers, np.cumsum([0] + widths[:-1])))
        columns = [int(offsets[layer]) + u for layer, units in resolved.items() for u in units]
        groups[(item.model, fit_key, item.stimuli, target, layers)].append((item, columns))
    fits = ProbeFits()
    probes = sum(len(members) for members in groups.values())
    if probes:
        with progress.task(f"fitting {probes} probes", probes) as task:
            _fit_groups(groups, recordings, scope.seed, fits, task)
    return fits


def _fit_groups(groups, recordings: Recordings, seed: int, fits: ProbeFits, task) -> None:
    from abl.interpreter.run.probes import probe_accuracies

    for (model, fit_key, stimuli, target, layers), members in groups.items():
        fit = np.concatenate([recordings.stats(model, fit_key, layer).features for layer in layers], axis=1)
        fit_labels = recordings.stats(model, fit_key, layers[0]).labels
        same = fit_key == stimuli
        evaluated = None if same else \
            np.concatenate([recordings.stats(model, stimuli, layer).features for layer in layers], axis=1)
        eval_labels = None if same else recordings.stats(model, stimuli, layers[0]).labels
        task.describe(f"fitting probes of {model} for class {target}")
        predictions: list = []
        scores = probe_accuracies(fit, fit_labels, evaluated, eval_labels, target,
                                  [columns for _, columns in members], seed, predictions=predictions)
        task.advance(len(members))
        fits.scores.update({item: score for (item, _), score in zip(members, scores)})
        fits.predictions.update({item: pair for (item, _), pair in zip(members, predictions)})
