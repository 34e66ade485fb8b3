"""Recording: one pass per (model, stimuli, interventions) over the stimuli, keeping the layer
statistics that selections, mean ablations, activations, selectivity indices and probes read."""

from __future__ import annotations

import math
from typing import Callable

from abl.interpreter.backend.conditions import Condition
from abl.interpreter.errors import RunError
from abl.interpreter.plan.plan import Plan
from abl.interpreter.plan.recordings import recording_requirements
from abl.interpreter.plan.units import ScaleConnection, split_recorded
from abl.interpreter.run.loading import Loader

RecordingKey = tuple[str, str, tuple]         # (model, stimuli, interventions)


class Recordings:
    """Layer statistics by (model, stimuli, interventions) and layer as written."""

    def __init__(self):
        self._stats: dict[RecordingKey, dict] = {}

    def stats(self, model: str, stimuli: str, layer: str, interventions: tuple = ()):
        try:
            return self._stats[(model, stimuli, interventions)][layer]
        except KeyError:
            raise RunError(f"internal: no recording of layer {layer} for {model} on {stimuli}") from None

    def add(self, key: RecordingKey, by_layer: dict) -> None:
        self._stats.setdefault(key, {}).update(by_layer)

    def clear(self) -> None:
        self._stats.clear()

    def export(self, keys: list[RecordingKey]) -> tuple:
        """The statistics as plain entries (key's position in `keys`, layer, stats): what a
        recording shard hands its conditions shards."""
        return tuple((keys.index(key), layer, stats) for key, by_layer in self._stats.items()
                     for layer, stats in by_layer.items())

    def load(self, keys: list[RecordingKey], entries: tuple) -> None:
        for position, layer, stats in entries:
            self.add(keys[position], {layer: stats})


def layer_stats(*fields):
    """A LayerStats from its fields (the shard store reads recordings back with it)."""
    from abl.interpreter.backend.record import LayerStats

    return LayerStats(*fields)


def check_layers(scope: Plan, loader: Loader) -> None:
    """Every layer the plan names exists in its model, checked before any work, so that an
    unknown layer is reported at the line and column that wrote it."""
    for item in scope.measures:
        model = loader.model(item.model)
        selections = [i.units for i in item.interventions if i.units is not None]
        selections += [item.of_units] if item.of_units is not None else []
        for selection in selections:
            for leaf in selection.leaves():
                try:
                    loader.model(leaf.model).resolve_layer(leaf.layer)
                except RunError as error:
                    raise error.at(leaf.layer_span or leaf.span) from None
        layers = [(item.in_layer, item.span)] if item.in_layer else []
        layers += [(i.layer, i.span) for i in item.interventions if isinstance(i, ScaleConnection)]
        for layer, span in layers:
            try:
                model.resolve_layer(layer)
            except RunError as error:
                raise error.at(span) from None


def record_all(scope: Plan, loader: Loader, recordings: Recordings,
               condition_for: Callable[[str, str, tuple], Condition]) -> int:
    """Every recording the scope needs, into `recordings`; returns the passes made. Recordings
    under interventions build their condition with `condition_for(model, stimuli, interventions)`."""
    from abl.interpreter.backend.record import record_layers

    requirements = recording_requirements(scope)
    passes = 0
    # plain recordings first: selections and mean-ablation values come from them
    for key in sorted(requirements, key=lambda k: bool(k[2])):
        model_key, stimuli_key, interventions = key
        layers, keep = requirements[key]
        model = loader.model(model_key)
        stimuli = loader.stimuli(stimuli_key)
        condition = condition_for(model_key, stimuli_key, interventions) if interventions else None
        num_classes = max(len(stimuli.class_names), int(stimuli.labels.max()) + 1)
        batch_size = loader.row_plan(model_key, stimuli_key).batch
        total = math.ceil(stimuli.n / batch_size)
        recordings.add(key, {})
        # channel units and element units of a layer are two reductions: one pass each
        for per_element in sorted({split_recorded(layer)[1] for layer in layers}):
            chosen = sorted(layer for layer in layers if split_recorded(layer)[1] == per_element)
            paths = {layer: model.resolve_layer(split_recorded(layer)[0]) for layer in chosen}
            keep_paths = {paths[layer] for layer in keep if layer in paths}
            what = f"recording {model_key} on {stimuli_key}" + \
                (" per element" if per_element else "") + (" under interventions" if interventions else "")
            with loader.progress.task(what, total) as task:
                stats = record_layers(model.module, advancing(stimuli.batches(batch_size), task),
                                      sorted(set(paths.values())), num_classes, keep_features=keep_paths,
                                      device=loader.device, condition=condition, per_element=per_element)
            passes += 1
            recordings.add(key, {layer: stats[path] for layer, path in paths.items()})
    return passes


def advancing(batches, task):
    for batch in batches:
        yield batch
        task.advance()
