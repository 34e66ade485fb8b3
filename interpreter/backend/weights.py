"""Weight edits that are undone bit-identically: scale a unit's incoming or outgoing weights.

INCOMING: rows (dim 0) of the module's `weight` for the given output units, and their `bias`
entries. OUTGOING: columns (dim 1) of the `weight` of the module that reads the units.
A connection (out, in): one element of `weight` (for a conv, that pair's whole kernel).
The original values of every touched slice are saved before the edit and written back in
`finally`, in reverse order, so the parameters are bit-identical afterwards even on error.
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Sequence

import torch
from torch import nn

from abl.interpreter.backend.conditions import WeightEdit, WeightTarget
from abl.interpreter.errors import RunError, check_range
from abl.interpreter.backend.hooks import module_at

WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def _out_dim(module: nn.Module) -> int:
    return module.out_features if isinstance(module, nn.Linear) else module.out_channels


def _in_dim(module: nn.Module) -> int:
    return module.in_features if isinstance(module, nn.Linear) else module.in_channels


def _weighted(model: nn.Module, path: str) -> nn.Module:
    module = module_at(model, path)
    if not isinstance(module, WEIGHTED):
        raise RunError(f"`{path}` is a {type(module).__name__}; weight edits need a Linear or Conv module",
                       help="edit the weights of a linear or convolution layer, or ablate activations instead")
    return module


def weight_module_for(model: nn.Module, path: str, direction: str) -> str:
    """The path of the Linear/Conv whose weights hold the units of the layer at `path`.

    incoming: the layer itself when it is a Linear/Conv, else the last Linear/Conv at or inside it
    in registration order (e.g. the linear before a ReLU alias). outgoing: the first Linear/Conv
    registered after the layer and outside it (the layer that reads it in a sequential model).
    Registration order is execution order for sequential models only: check the path in the
    manifest for branching architectures.
    """
    module_at(model, path)
    names = [name for name, _ in model.named_modules()]
    modules = dict(model.named_modules())
    position = names.index(path) if path in names else None
    if position is None:
        raise RunError(f"`{path}` is a shared alias of another module; use its first name",
                       help="address the module by the path under which named_modules() lists it")
    inside = [i for i, name in enumerate(names)
              if name == path or path == "" or name.startswith(path + ".")]
    end = max(inside)
    before = [names[i] for i in range(end + 1) if isinstance(modules[names[i]], WEIGHTED)]
    after = [names[i] for i in range(end + 1, len(names)) if isinstance(modules[names[i]], WEIGHTED)]
    if direction in ("incoming", "connection"):
        if not before:
            raise RunError(f"no linear or convolution layer computes `{path}`, so it has no incoming weights",
                           help="edit a layer that follows a linear or convolution layer")
        return before[-1]
    if direction == "outgoing":
        if not after:
            raise RunError(f"no linear or convolution layer reads `{path}`, so it has no outgoing weights",
                           help="the output layer has no outgoing weights; edit its incoming weights")
        reader = modules[after[0]]
        if before:
            producer = modules[before[-1]]
            if _out_dim(producer) != _in_dim(reader):
                raise RunError(f"`{after[0]}` reads {_in_dim(reader)} inputs but `{before[-1]}` makes "
                               f"{_out_dim(producer)} units (a flatten in between?), so a unit's outgoing "
                               "weights are not one column", help="zero the units' activations instead, "
                               "or edit the incoming weights of the next layer's units")
        if not isinstance(reader, nn.Linear) and reader.groups != 1:
            raise RunError(f"`{after[0]}` is a grouped convolution; its columns are not the layer's units",
                           help="edit incoming weights instead")
        return after[0]
    raise ValueError(f"unknown weight direction {direction!r}")


def _check_units(units: Sequence[int], size: int, what: str, path: str) -> list[int]:
    check_range(units, size, "unit", f"the {what} of `{path}`")
    return list(units)


@contextlib.contextmanager
def applied_weight_edits(model: nn.Module, edits: Sequence[WeightEdit]) -> Iterator[nn.Module]:
    """Apply `edits` in place for the duration of the block; restore bit-identically afterwards."""
    # Validate everything before touching any parameter.
    plans = []
    for edit in edits:
        module = _weighted(model, edit.module)
        weight = module.weight
        if edit.connection is not None:
            out_unit, in_unit = edit.connection
            _check_units([out_unit], weight.shape[0], "outputs", edit.module)
            _check_units([in_unit], weight.shape[1], "inputs", edit.module)
            plans.append((weight, (out_unit, in_unit), edit.factor))
        elif edit.target is WeightTarget.INCOMING:
            units = _check_units(edit.units, weight.shape[0], "outputs", edit.module)
            plans.append((weight, (units,), edit.factor))
            if module.bias is not None:
                plans.append((module.bias, (units,), edit.factor))
        elif edit.target is WeightTarget.OUTGOING:
            if not isinstance(module, nn.Linear) and module.groups != 1:
                raise RunError(f"`{edit.module}` is a grouped convolution; its columns are not units",
                               help="edit incoming weights instead")
            units = _check_units(edit.units, weight.shape[1], "inputs", edit.module)
            plans.append((weight, (slice(None), units), edit.factor))
        else:  # pragma: no cover
            raise ValueError(edit.target)
    saved: list[tuple[torch.Tensor, tuple, torch.Tensor]] = []
    try:
        with torch.no_grad():
            for param, index, factor in plans:
                saved.append((param, index, param.data[index].clone()))
                param.data[index] = param.data[index] * factor
        yield model
    finally:
        with torch.no_grad():
            for param, index, original in reversed(saved):
                param.data[index] = original

