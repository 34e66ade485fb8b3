"""Interventions -> Conditions: the plan's intervention variants, with their unit sets resolved,
become the backend's activation and weight edits."""

from __future__ import annotations

from abl.interpreter.backend.conditions import ActivationEdit, Condition, EditMode, WeightEdit, WeightTarget
from abl.interpreter.errors import RunError
from abl.interpreter.plan.plan import MeasureItem
from abl.interpreter.plan.units import (Clamp, InterventionPlan, MeanAblate, Patch, Scale, ScaleConnection,
                                        ScaleWeights, recorded_layer)
from abl.interpreter.run.loading import Loader
from abl.interpreter.run.recording import Recordings
from abl.interpreter.run.selections import Selector
from abl.interpreter.run.table import intervention_text


class ConditionBuilder:
    def __init__(self, loader: Loader, recordings: Recordings, selector: Selector):
        self.loader = loader
        self.recordings = recordings
        self.selector = selector
        self._patches: dict[tuple, object] = {}

    def for_item(self, item: MeasureItem) -> Condition:
        """The condition a measurement runs under, labelled for progress and errors."""
        label = intervention_text(item.intervention_label) + (f" cell {item.cell}" if item.cell is not None else "") + \
            (f" draw {item.repeat}" if item.repeat else "")
        return self.build(item.model, item.stimuli, item.interventions, label)

    def build(self, model_key: str, stimuli_key: str, interventions: tuple[InterventionPlan, ...],
              label: str = "") -> Condition:
        model = self.loader.model(model_key)
        edits: list[ActivationEdit] = []
        weight_edits: list[WeightEdit] = []
        for intervention in interventions:
            if isinstance(intervention, (ScaleWeights, ScaleConnection)):
                weight_edits.extend(self._weight_edits(intervention, model))
                continue
            elementwise = {leaf.layer: leaf.per_element for leaf in intervention.units.leaves()}
            value = intervention.value if isinstance(intervention, Clamp) else \
                intervention.factor if isinstance(intervention, Scale) else 0.0
            for layer, units in self.selector.resolve(intervention.units).items():
                path = model.resolve_layer(layer)
                means: tuple[float, ...] = ()
                if isinstance(intervention, MeanAblate):
                    layer_means = self.recordings.stats(model_key, stimuli_key,
                                                        recorded_layer(layer, elementwise[layer])).mean()
                    means = tuple(float(layer_means[u]) for u in units)
                if intervention.token is not None and elementwise[layer]:
                    raise RunError(f"`at token {intervention.token}` edits whole units at one token, but "
                                   f"`{intervention.units.name}` is selected per element",
                                   help="select the units without `per element`", span=intervention.span)
                patch = self._patch(model_key, stimuli_key, intervention, path, units, elementwise[layer]) \
                    if isinstance(intervention, Patch) else None
                edits.append(ActivationEdit(path, units, EditMode(intervention.mode), value,
                                            means, elementwise[layer], intervention.token,
                                            getattr(intervention, "source", ""), patch))
        return Condition(label, tuple(edits), tuple(weight_edits))

    def _patch(self, model_key: str, stimuli_key: str, intervention: Patch, path: str, units, elementwise: bool):
        """The units' values on the source stimuli, image by image (backend/patching.py)."""
        from abl.interpreter.backend.patching import layer_values

        key = (model_key, intervention.source, path, units, elementwise)
        if key not in self._patches:
            source, target = self.loader.stimuli(intervention.source), self.loader.stimuli(stimuli_key)
            if source.n != target.n:
                raise RunError(f"`patching ... from {intervention.source_label}` pairs images by position, but "
                               f"{intervention.source_label} has {source.n} images and the measured stimuli "
                               f"{target.n}", span=intervention.span,
                               help="patch from a stimuli set with as many images, in the paired order")
            model = self.loader.model(model_key)
            self._patches[key] = layer_values(model.module, source.batches(self.loader.row_plan(
                model_key, intervention.source).batch), path, units, elementwise, self.loader.device)
        return self._patches[key]

    def _weight_edits(self, intervention: ScaleWeights | ScaleConnection, model) -> list[WeightEdit]:
        from abl.interpreter.backend.weights import weight_module_for

        if isinstance(intervention, ScaleConnection):
            path = model.resolve_layer(intervention.layer)
            module = weight_module_for(model.module, path, "incoming")
            out_unit, in_unit = intervention.connection
            return [WeightEdit(module, WeightTarget.INCOMING, (out_unit,), intervention.factor,
                               connection=(out_unit, in_unit))]
        if any(leaf.per_element for leaf in intervention.units.leaves()):
            raise RunError(f"weight edits act on whole units, not on elements: `{intervention.units.name}` "
                           "is selected per element", help="select the units without `per element`")
        edits = []
        for layer, units in self.selector.resolve(intervention.units).items():
            path = model.resolve_layer(layer)
            module = weight_module_for(model.module, path, intervention.direction)
            edits.append(WeightEdit(module, WeightTarget(intervention.direction), units,
                                    intervention.factor))
        return edits
