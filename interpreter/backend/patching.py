"""Activation patching (`patching U from S`): each image's chosen units take their values on the
image at the same position of another stimuli set, as activation patching in nnsight and
TransformerLens: a first pass records the units' values on the source images (`layer_values`),
the patched pass replaces them image by image (`patch_hook`).

Unlike the other edits, a patch is not a per-unit affine map: its values differ per image, so the
batched condition runs give each patched condition a forward of its own (run.py), told which
image positions each batch holds.
"""

from __future__ import annotations

from typing import Callable, Iterable, Sequence

import torch
from torch import nn

from abl.interpreter.backend.conditions import ActivationEdit, EditMode
from abl.interpreter.backend.edits import checked_output, slicewise_hook, SliceEdits
from abl.interpreter.backend.hooks import HookSession, eval_mode, forward
from abl.interpreter.backend.units import units_back
from abl.interpreter.errors import RunError


def layer_values(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], layer: str,
                 units: Sequence[int], elementwise: bool = False,
                 device: torch.device = torch.device("cpu")) -> torch.Tensor:
    """(N, len(units), ...) the units-first values of `units` of `layer` on every image, in order
    (elementwise: (N, len(units)) of the flattened elements)."""
    parts: list[torch.Tensor] = []
    index = torch.as_tensor(list(units), dtype=torch.long)

    def hook(module, inputs, output):
        view = checked_output(output, layer, module)
        view = view.flatten(1) if elementwise else view
        parts.append(view.index_select(1, index.to(view.device)).detach().cpu())
        return None

    session = HookSession(model)
    session.add_output_hook(layer, hook)
    with eval_mode(model), torch.inference_mode(), session:
        for images, _ in batches:
            forward(model, images.to(device))
    return torch.cat(parts)


def patch_hook(edit: ActivationEdit, positions: Callable[[int], torch.Tensor]):
    """A hook setting the edit's units to `edit.patch` at the positions of the batch it sees
    (`positions(rows)`: the source positions of the rows, in order)."""
    if edit.token is not None:
        raise RunError("`patching ... at token` is not supported", help="patch the units at every token")

    def hook(module, inputs, output):
        view = checked_output(output, edit.layer, module)
        where = positions(view.shape[0])
        values = edit.patch.index_select(0, where).to(view.device, view.dtype)
        flat = view.flatten(1).clone() if edit.elementwise else view.clone()
        flat[:, list(edit.units)] = values
        return units_back(module, output, flat.reshape(view.shape))
    return hook


def sequential_positions() -> Callable[[int], torch.Tensor]:
    """Positions 0, 1, 2, ... handed out batch by batch (a pass over the whole set in order)."""
    seen = [0]

    def take(rows: int) -> torch.Tensor:
        start = seen[0]
        seen[0] += rows
        return torch.arange(start, start + rows)
    return take


def add_patch_hooks(session: HookSession, edits: Sequence[ActivationEdit], positions) -> None:
    """Every edit of one condition in edit order: the patches with `positions`, the rest as usual."""
    for edit in edits:
        if edit.mode is EditMode.PATCH:
            session.add_output_hook(edit.layer, patch_hook(edit, positions))
        else:
            session.add_output_hook(edit.layer, slicewise_hook(SliceEdits(edit.layer, [[edit]]), 1))


def run_patched(model: nn.Module, x: torch.Tensor, edits: Sequence[ActivationEdit],
                batch_positions: torch.Tensor) -> torch.Tensor:
    """One patched forward of batch `x`, whose rows are the images at `batch_positions`."""
    session = HookSession(model)
    add_patch_hooks(session, edits, lambda rows: batch_positions)
    with session:
        out = forward(model, x)
    if not isinstance(out, torch.Tensor) or out.shape[0] != x.shape[0]:
        raise RunError("the model's output does not keep the batch", help="abl needs one row per image")
    return out.detach().float().cpu()
