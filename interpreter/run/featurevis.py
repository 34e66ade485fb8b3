"""Feature visualisation (seed 002): optimise an input image to excite one unit.

Start from seeded noise around mid-grey, then gradient ascent (Adam) on the pixels to maximise
the unit's activation (conv: averaged over space). Each step rolls the image by a random shift
of at most `jitter` pixels (robustness to translation), and afterwards decays the image towards
mid-grey by the factor `l2` (an L2 prior) and clips it to [0, 1]. The model's parameters are not
changed, no gradient is left on them, their requires_grad flags and the training flags are
restored, and the hook is removed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from abl.interpreter.seeding import seed63
from abl.interpreter.errors import RunError, check_range
from abl.interpreter.backend.hooks import HookSession, eval_mode
from abl.interpreter.backend.units import units_first


@dataclass
class FeatureVisResult:
    image: np.ndarray          # (C, H, W) float32 in [0, 1]
    activation: float          # the unit's activation for the final image
    start_activation: float    # ... and for the starting noise


class _Reached(Exception):
    """Raised by the hook to skip the rest of the network once the unit's value is known."""


def _unit_value(model: nn.Module, layer_path: str, unit: int, x: torch.Tensor) -> torch.Tensor:
    captured: list[torch.Tensor] = []

    def hook(module, inputs, output):
        if not isinstance(output, torch.Tensor) or output.dim() < 2:
            raise RunError(f"layer `{layer_path}` has no unit dimension to visualise",
                           help="units are the features, channels or (for a token sequence) the last axis")
        output = units_first(module, output)
        check_range((unit,), output.shape[1], "unit", f"layer `{layer_path}`")
        value = output[:, unit]
        captured.append(value.reshape(value.shape[0], -1).mean(1).sum())
        raise _Reached

    session = HookSession(model)
    session.add_output_hook(layer_path, hook)
    with session:
        try:
            model(x)
        except _Reached:
            pass
        except RuntimeError as error:
            raise RunError(f"the forward pass failed during feature visualisation: {str(error).splitlines()[0]}",
                           help="check the input shape given for the model") from error
    if not captured:
        raise RunError(f"layer `{layer_path}` did not run in the forward pass",
                       help="choose a module the model's forward actually calls")
    return captured[0]


def visualize_unit(model: nn.Module, layer_path: str, unit: int, input_shape, steps: int = 128,
                   lr: float = 0.05, seed: int = 0, jitter: int = 1, l2: float = 1e-3,
                   device: torch.device = torch.device("cpu")) -> FeatureVisResult:
    """An image (C, H, W) in [0, 1] that excites `unit` of the layer at `layer_path`."""
    shape = tuple(int(s) for s in input_shape)
    generator = torch.Generator().manual_seed(seed63(seed))
    start = (0.5 + 0.1 * torch.randn((1,) + shape, generator=generator)).clamp_(0, 1)
    params = list(model.parameters())
    flags = [p.requires_grad for p in params]
    try:
        for p in params:
            p.requires_grad_(False)
        with eval_mode(model), torch.enable_grad():
            x = start.clone().to(device).requires_grad_(True)
            optimiser = torch.optim.Adam([x], lr=lr)
            for _ in range(steps):
                optimiser.zero_grad(set_to_none=True)
                shifted = x
                if jitter > 0:
                    dy, dx = (int(v) for v in torch.randint(-jitter, jitter + 1, (2,), generator=generator))
                    shifted = torch.roll(x, shifts=(dy, dx), dims=(-2, -1))
                loss = -_unit_value(model, layer_path, unit, shifted)
                if not torch.isfinite(loss):
                    raise RunError(f"non-finite activation (NaN/inf) of unit {unit} in {layer_path}",
                                   help="check the model weights")
                loss.backward()
                optimiser.step()
                with torch.no_grad():
                    x.sub_(0.5).mul_(1.0 - l2).add_(0.5).clamp_(0.0, 1.0)
            final = x.detach()
            with torch.no_grad():
                value = float(_unit_value(model, layer_path, unit, final))
                start_value = float(_unit_value(model, layer_path, unit, start.to(device)))
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad_(flag)
    image = final[0].cpu().numpy().astype(np.float32)
    return FeatureVisResult(image, value, start_value)
