"""Which recording passes a plan needs: (model, stimuli, interventions) -> the layers to record and
those whose per-image features to keep. One function for the executor and for `abl plan`'s cost
line, so the two never disagree."""

from __future__ import annotations

from collections import defaultdict

from abl.interpreter.plan.plan import Plan, ProbeMeasure
from abl.interpreter.plan.units import MeanAblate, Selection, split_recorded


def recording_requirements(plan: Plan) -> dict[tuple[str, str, tuple], tuple[set[str], set[str]]]:
    """(model, stimuli, interventions) -> (layers to record, layers whose per-image features
    to keep), as recorded-layer keys (plan.recorded_layer: `conv1`, or `conv1 per element`).
    Interventions `()` is the plain network; a unit measurement under interventions
    (`activation of U ... ablating V`) gets a recording pass of its own with them applied."""
    needs: dict[tuple[str, str, tuple], tuple[set[str], set[str]]] = defaultdict(lambda: (set(), set()))

    def add_selection(selection: Selection, features_on: tuple[str, ...] = ()) -> None:
        for leaf in selection.leaves():
            needs[(leaf.model, leaf.stimuli, ())][0].add(leaf.recorded_layer)
            for stimuli in features_on:
                needs[(leaf.model, stimuli, ())][0].add(leaf.recorded_layer)
                needs[(leaf.model, stimuli, ())][1].add(leaf.recorded_layer)

    for item in plan.measures:
        for intervention in item.interventions:
            if intervention.units is not None:
                add_selection(intervention.units)
                if isinstance(intervention, MeanAblate):
                    for layer in intervention.units.recorded_layers():
                        needs[(item.model, item.stimuli, ())][0].add(layer)
        if item.of_units is not None:
            if isinstance(item, ProbeMeasure):
                add_selection(item.of_units, (item.fit_on or item.of_units.leaves()[0].stimuli, item.stimuli))
            else:
                add_selection(item.of_units)
                for layer in item.of_units.recorded_layers():
                    needs[(item.model, item.stimuli, item.interventions)][0].add(layer)
        if item.in_layer:
            needs[(item.model, item.stimuli, item.interventions)][0].add(item.in_layer)
    for report in plan.reports:
        for selection in report.units:
            add_selection(selection)
    return needs


def recording_passes(plan: Plan) -> int:
    """Passes over stimuli sets for recording: one per (model, stimuli, interventions) and kind of
    unit (channels, elements)."""
    return sum(len({split_recorded(layer)[1] for layer in layers})
               for layers, _ in recording_requirements(plan).values())
