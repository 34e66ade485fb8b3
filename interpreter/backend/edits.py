"""Activation edits as hooks: every edit is a per-unit affine map on the unit axis of a layer's
output, `x * alpha + beta` (see run.py's module docstring for how the modes fold into it), made on
the units-first view (units.py: a token sequence (N, T, D) is edited as (N, D, T) and moved back).
Shared by the batched condition runs and by recording passes under interventions."""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
import torch

from abl.interpreter.backend.conditions import ActivationEdit, EditMode
from abl.interpreter.errors import RunError, check_range
from abl.interpreter.backend.hooks import HookSession
from abl.interpreter.backend.units import is_token_sequence, units_back, units_first


def unit_output(output, layer: str, module=None) -> torch.Tensor:
    """The layer's output as a units-first view (batch, units, ...), checked to be one tensor."""
    if not isinstance(output, torch.Tensor):
        raise RunError(f"layer `{layer}` outputs {type(output).__name__}, not a tensor",
                       help="address a module whose output is one tensor (e.g. a conv, linear or block)")
    if output.dim() < 2:
        raise RunError(f"layer `{layer}` outputs a tensor of shape {tuple(output.shape)} without a unit dimension",
                       help="units are the features of (batch, features), the channels of (batch, "
                            "channels, ...) or the last axis of a token sequence (batch, tokens, features)")
    return units_first(module, output)


# ---- the per-unit affine maps --------------------------------------------------------------------
def edit_affine(edits: Sequence[ActivationEdit], n_units: int, layer: str) -> tuple[np.ndarray, np.ndarray]:
    """(alpha, beta), each (U,) float64, with edited output = x * alpha + beta (edits in order)."""
    alpha = np.ones(n_units)
    beta = np.zeros(n_units)
    for edit in edits:
        units = list(edit.units)
        check_range(units, n_units, "unit", f"layer `{layer}`")
        mask = np.zeros(n_units)
        mask[units] = 1.0
        a = np.zeros(n_units)
        b = np.zeros(n_units)
        if edit.mode is EditMode.ZERO:
            pass
        elif edit.mode is EditMode.MEAN:
            if len(edit.means) != len(units):
                raise RunError(f"internal: mean ablation of {len(units)} units in `{layer}` "
                               f"got {len(edit.means)} means")
            b[units] = np.asarray(edit.means, dtype=np.float64)
        elif edit.mode is EditMode.CLAMP:
            b[units] = edit.value
        elif edit.mode is EditMode.SCALE:
            a[units] = edit.value
        else:  # pragma: no cover
            raise ValueError(edit.mode)
        keep = 1.0 - mask + a * mask
        alpha = alpha * keep
        beta = beta * keep + b * mask
    return alpha, beta


class SliceEdits:
    """The edits of K conditions on one layer, built into (K, U) alpha/beta once U is known."""

    def __init__(self, layer: str, per_condition: Sequence[Sequence[ActivationEdit]]):
        self.layer = layer
        self.per_condition = [tuple(e) for e in per_condition]
        self._cache: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def tensors(self, output: torch.Tensor, tokens: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """(alpha, beta) for the units-first view `output`; `tokens`: it is a token sequence."""
        if any(e.elementwise or e.token is not None for edits in self.per_condition for e in edits):
            return self._element_tensors(output, tokens)
        n_units = output.shape[1]
        key = (n_units, output.dim(), output.dtype, output.device)
        if key not in self._cache:
            pairs = [edit_affine(edits, n_units, self.layer) for edits in self.per_condition]
            alpha = torch.as_tensor(np.stack([p[0] for p in pairs]), dtype=output.dtype, device=output.device)
            beta = torch.as_tensor(np.stack([p[1] for p in pairs]), dtype=output.dtype, device=output.device)
            # (K, 1, U, 1, ...) to broadcast against (K, B, U, ...)
            shape = (len(pairs), 1, n_units) + (1,) * (output.dim() - 2)
            self._cache[key] = (alpha.reshape(shape), beta.reshape(shape))
        return self._cache[key]


    def _element_tensors(self, output: torch.Tensor, tokens: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-element edits: (K, 1, C, H, W) alpha/beta over the flattened elements of a row;
        channel edits in the same condition are spread over their channel's elements, an edit at
        one token to that token's element of each unit."""
        shape = tuple(output.shape[1:])
        key = ("elements", shape, output.dtype, output.device)
        if key not in self._cache:
            n_elements = int(np.prod(shape))
            spatial = n_elements // shape[0]
            for edits in self.per_condition:
                for edit in edits:
                    if edit.token is not None and not tokens:
                        raise RunError(f"layer `{self.layer}` outputs {tuple(output.shape[1:])} per image, "
                                       f"not a token sequence: `at token {edit.token}` needs a (batch, tokens, "
                                       f"features) output", help="drop `at token`, or address a transformer block")
                    if edit.token is not None:
                        check_range((edit.token,), spatial, "token", f"layer `{self.layer}`")
            pairs = [edit_affine([as_elements(e, spatial) for e in edits], n_elements, self.layer)
                     for edits in self.per_condition]
            alpha = torch.as_tensor(np.stack([p[0] for p in pairs]), dtype=output.dtype, device=output.device)
            beta = torch.as_tensor(np.stack([p[1] for p in pairs]), dtype=output.dtype, device=output.device)
            full = (len(pairs), 1) + shape
            self._cache[key] = (alpha.reshape(full), beta.reshape(full))
        return self._cache[key]


def as_elements(edit: ActivationEdit, spatial: int) -> ActivationEdit:
    """A channel edit as the same edit of every element of its channels (channel u holds the
    elements u * spatial ... (u + 1) * spatial - 1 of a flattened (C, H, W) row); an edit at
    token t as the edit of element u * spatial + t of each unit u of a units-first (D, T) row."""
    if edit.elementwise:
        return edit
    positions = range(spatial) if edit.token is None else (edit.token,)
    units = tuple(u * spatial + s for u in edit.units for s in positions)
    means = tuple(m for m in edit.means for _ in positions)
    return dataclasses.replace(edit, units=units, means=means, elementwise=True, token=None)


def checked_output(output, layer: str, module=None) -> torch.Tensor:
    """The units-first view of a finite output."""
    output = unit_output(output, layer, module)
    if not bool(torch.isfinite(output).all()):
        raise RunError(f"non-finite activations (NaN/inf) in layer {layer}",
                       help="check the stimuli for NaN/inf pixels and the model for NaN weights")
    return output


def replicating_hook(edits: SliceEdits):
    """Prefix mode: (B, U, ...) -> (K*B, U, ...), slice k edited by condition k."""
    def hook(module, inputs, output):
        view = checked_output(output, edits.layer, module)
        alpha, beta = edits.tensors(view, is_token_sequence(module, output))
        edited = torch.addcmul(beta, view.unsqueeze(0), alpha).reshape((-1,) + tuple(view.shape[1:]))
        return units_back(module, output, edited)
    return hook


def slicewise_hook(edits: SliceEdits, k: int):
    """Input mode: the output already has K*B rows; slice k edited by condition k."""
    def hook(module, inputs, output):
        view = checked_output(output, edits.layer, module)
        if view.shape[0] % k:
            raise RunError(f"layer `{edits.layer}` gave {view.shape[0]} rows for {k} stacked copies",
                           help="address a module whose output has the batch on its first axis")
        alpha, beta = edits.tensors(view, is_token_sequence(module, output))
        shaped = view.reshape((k, -1) + tuple(view.shape[1:]))
        return units_back(module, output, torch.addcmul(beta, shaped, alpha).reshape(view.shape))
    return hook


def add_edit_hooks(session: HookSession, edits: Sequence[ActivationEdit]) -> None:
    """Hooks that apply one condition's activation edits (k = 1), on `session`, in layer order
    (a condition with a patch: backend/patching.py's `add_patch_hooks`)."""
    for layer in dict.fromkeys(e.layer for e in edits):
        session.add_output_hook(layer, slicewise_hook(SliceEdits(layer, [[e for e in edits if e.layer == layer]]), 1))
