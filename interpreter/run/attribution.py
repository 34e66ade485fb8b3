"""Attribution as a selection rule, through Captum: `top K by conductance for class C in L` and
`top K by integrated gradients for class C in L`.

A unit's score is its attribution to class C's logit, computed on the images of class C in the
stimuli its set is chosen on, summed over the unit's positions (a conv channel: over its map) and
averaged over those images:

- conductance: `captum.attr.LayerConductance(model, L).attribute(x, baselines=0, target=C,
  n_steps=STEPS)`, the total conductance through each unit of L;
- integrated gradients: `captum.attr.LayerIntegratedGradients(model, L).attribute(x, baselines=0,
  target=C, n_steps=STEPS)`, the integrated gradients of the logit with respect to L's output.

The baseline is the all-zeros input, STEPS = 50 (Captum's default, Gauss-Legendre points); both
are recorded in selections.json (`attribution`).
"""

from __future__ import annotations

import numpy as np
import torch

from abl.interpreter.errors import RunError, import_extra

ATTRIBUTION_METRICS = {"conductance": "LayerConductance", "integrated gradients": "LayerIntegratedGradients"}
STEPS = 50
BATCH = 16           # images per attribute() call (each runs STEPS forward/backward rows per image)


def attribution_record(metric: str, images: int) -> dict:
    import captum

    return {"method": f"captum.attr.{ATTRIBUTION_METRICS[metric]}", "baseline": "zeros", "steps": STEPS,
            "images": images, "captum": captum.__version__}


def unit_attributions(model: torch.nn.Module, module: torch.nn.Module, images: torch.Tensor, metric: str,
                      target: int, per_element: bool = False,
                      device: torch.device = torch.device("cpu")) -> np.ndarray:
    """(U,) float64: each unit's attribution, summed over its positions, averaged over `images`."""
    attr = import_extra("captum.attr", f"`by {metric}`", "captum", "attribution")
    method = getattr(attr, ATTRIBUTION_METRICS[metric])(model, module)
    was_training = model.training
    model.eval()
    total = None
    try:
        for start in range(0, len(images), BATCH):
            x = images[start:start + BATCH].to(device)
            values = method.attribute(x, baselines=torch.zeros_like(x), target=int(target), n_steps=STEPS)
            if isinstance(values, (tuple, list)):
                values = values[0]
            values = values.detach().double().cpu()
            if values.dim() < 2:
                raise RunError(f"`by {metric}`: the layer's output has no unit dimension")
            per_unit = values.flatten(1) if per_element else \
                (values.flatten(2).sum(2) if values.dim() > 2 else values)
            summed = per_unit.sum(0)
            total = summed if total is None else total + summed
    finally:
        model.train(was_training)
    if total is None:
        raise RunError(f"`by {metric}`: no image of class {target} in the stimuli",
                       help="choose a class the stimuli contain")
    return (total / len(images)).numpy()
