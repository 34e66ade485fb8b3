"""`report exemplars U on S top N`: each unit's N most activating images of S.

A unit's activation on an image is its output (a conv channel: averaged over positions, as
everywhere in abl; `per element`: the element); the N highest, ties to the lower image position.
Each unit gives one record (exemplars.json) and its N images (the figure).
"""

from __future__ import annotations

import numpy as np


def unit_exemplars(report, resolve, model, stimuli, batch_size: int, device) -> list[tuple[dict, np.ndarray]]:
    """[(record, (N, C, H, W) images)] per unit of the report's unit sets, in set and unit order."""
    from abl.interpreter.backend.patching import layer_values

    out = []
    labels = stimuli.labels.numpy()
    for selection in report.units:
        elementwise = {leaf.layer: leaf.per_element for leaf in selection.leaves()}
        for layer, units in resolve(selection).items():
            values = layer_values(model.module, stimuli.batches(batch_size), model.resolve_layer(layer), units,
                                  elementwise[layer], device)
            acts = (values.flatten(2).double().mean(2) if values.dim() > 2 else values.double()).numpy()
            for j, unit in enumerate(units):
                order = np.lexsort((np.arange(len(acts)), -acts[:, j]))[:report.top]
                record = {"report": report.text, "units": selection.name, "model": selection.model,
                          "stimuli": report.stimuli, "layer": layer, "unit": int(unit),
                          "images": [int(i) for i in order],
                          "activations": [round(float(acts[i, j]), 6) for i in order],
                          "labels": [stimuli.class_names[int(labels[i])] for i in order]}
                out.append((record, stimuli.take(order).numpy()))
    return out
