"""Many conditions, few forward passes.

Every activation edit is a per-unit affine map on dimension 1 of a layer's output:
`x * (1 - m) + r * m` with r = 0 (zero), the unit's mean (mean), a value (clamp) or value * x
(scale) folds into `x * alpha + beta` with alpha = 1 - m + a * m, beta = b * m (r = a * x + b).
Several edits on one layer compose into one such map. Unedited units get alpha = 1, beta = 0,
which leaves them bit-identical.

Strategies, per input batch (one pass over the stimuli for all conditions):

* baseline conditions: one plain forward.
* conditions whose activation edits all sit in ONE layer, no weight edits ("prefix" mode): the
  network up to the layer runs once; the layer's hook replicates its output K times along the
  batch dimension, slice k edited by condition k, and the rest runs on K*B rows. When the rest
  of the network cannot take K*B rows (a residual branch adds a tensor of the old batch size:
  RuntimeError) or, on the first batch, an unedited slice riding along does not reproduce the
  plain forward, the layer falls back to "input" mode.
* "input" mode: the input is repeated K times and every hooked layer edits slice k for
  condition k (always correct, used for conditions that edit several layers too).
* conditions with weight edits: one forward each, the weights edited and restored around it.

K is chunked so that K * B stays at most `max_batch_images` (at least one condition a chunk); in
prefix mode, where only the network after the layer carries K * B rows, at most `rows_after(layer)`
(budget.py charges those rows only what the network after the layer holds).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
from torch import nn

from abl.interpreter.backend.conditions import ActivationEdit, Condition
from abl.interpreter.errors import RunError
from abl.interpreter.backend.edits import SliceEdits, replicating_hook, slicewise_hook
from abl.interpreter.backend.hooks import HookSession, eval_mode, forward
from abl.interpreter.backend.precision import module_rtol
from abl.interpreter.backend.weights import applied_weight_edits

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]


def _split(logits: torch.Tensor, k: int, batch: int) -> list[torch.Tensor]:
    if logits.dim() < 1 or logits.shape[0] != k * batch:
        raise RuntimeError(f"model output has {logits.shape[0] if logits.dim() else 0} rows, "
                           f"expected {k * batch}")
    return list(logits.reshape((k, batch) + tuple(logits.shape[1:])).detach().float().cpu().unbind(0))


def _run_prefix(model: nn.Module, x: torch.Tensor, layer: str,
                per_condition: Sequence[Sequence[ActivationEdit]]) -> list[torch.Tensor]:
    """May raise RuntimeError when the network after `layer` cannot take K*B rows."""
    session = HookSession(model)
    session.add_output_hook(layer, replicating_hook(SliceEdits(layer, per_condition)))
    with session:
        out = model(x)
    if not isinstance(out, torch.Tensor):
        raise RunError(f"the model returned {type(out).__name__}, not a tensor of logits",
                       help="use a model whose forward returns one (N, classes) tensor")
    return _split(out, len(per_condition), x.shape[0])


def _run_input(model: nn.Module, x: torch.Tensor,
               conditions: Sequence[Sequence[ActivationEdit]]) -> list[torch.Tensor]:
    """Input mode: K conditions, each a list of activation edits (any layers)."""
    k = len(conditions)
    layers = list(dict.fromkeys(e.layer for edits in conditions for e in edits))
    session = HookSession(model)
    for layer in layers:
        per_condition = [[e for e in edits if e.layer == layer] for edits in conditions]
        session.add_output_hook(layer, slicewise_hook(SliceEdits(layer, per_condition), k))
    xs = x if k == 1 else x.repeat((k,) + (1,) * (x.dim() - 1))
    with session:
        out = forward(model, xs)
    try:
        return _split(out, k, x.shape[0])
    except RuntimeError as error:
        raise RunError(f"the model's output does not keep the batch: {error}",
                       help="abl needs a model whose output has one row per image") from None


def _close(a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-4) -> bool:
    if a.shape != b.shape:
        return False
    if not (bool(torch.isfinite(a).all()) and bool(torch.isfinite(b).all())):
        return False            # non-finite outputs: take the plain path; the caller reports them
    scale = float(b.abs().max()) if b.numel() else 0.0
    return bool(torch.allclose(a, b, rtol=rtol, atol=rtol / 10 * max(scale, 1e-6)))


# ---- grouping ------------------------------------------------------------------------------------
@dataclass
class _LayerGroup:
    layer: str
    indices: list[int] = field(default_factory=list)
    mode: str = "prefix"        # or "input"
    validated: bool = False


def _chunks(items: list[int], size: int) -> list[list[int]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _progress_task(progress, total):
    if progress is None:
        return contextlib.nullcontext()
    return progress.task("running conditions", total)


def _total(batches) -> int | None:
    try:
        return len(batches)  # type: ignore[arg-type]
    except TypeError:
        return None


def run_conditions(model: nn.Module, batches: Batches, conditions: Sequence[Condition],
                   device: torch.device = torch.device("cpu"), progress=None,
                   max_batch_images: int = 4096, info: dict | None = None,
                   reduce: Callable[[torch.Tensor, torch.Tensor], dict] | None = None,
                   advance: Callable[[int], None] | None = None,
                   rows_after: Callable[[str], int] | None = None,
                   positions: np.ndarray | None = None) -> list:
    """One (N, outputs) float32 CPU logits tensor per condition, in order, in one pass over `batches`.

    Batched as described in the module docstring; gives the same numbers as
    `run_conditions_naive` up to floating-point differences between batch sizes.
    `info`, when given, receives {layer: "prefix" | "input"}: the strategy each layer ended with.
    With `reduce(logits, labels) -> {key: (B,) array}`, each condition's logits are reduced batch
    by batch as they come and never kept: the result is one {key: (N,) array} per condition.
    `advance(k)` is called as conditions finish a batch (k of them): progress in condition-batches.
    `rows_after(layer)`, when given, is how many rows the network after `layer` may carry at once
    (prefix mode replicates rows only there); else `max_batch_images` bounds every forward.
    `positions`: the image positions the batches hold, in order (default 0, 1, ...); a patched
    condition (backend/patching.py) runs a forward of its own per batch, told those positions.
    """
    from abl.interpreter.backend.conditions import EditMode
    from abl.interpreter.backend.patching import run_patched

    tick = advance or (lambda k: None)
    conditions = list(conditions)
    baseline: list[int] = []
    by_layer: dict[str, _LayerGroup] = {}
    multi: list[int] = []
    weighted: list[int] = []
    patched: list[int] = []
    for index, condition in enumerate(conditions):
        layers = {e.layer for e in condition.activation_edits}
        if any(e.mode is EditMode.PATCH for e in condition.activation_edits):
            patched.append(index)
        elif condition.weight_edits:
            weighted.append(index)
        elif not layers:
            baseline.append(index)
        elif len(layers) == 1:
            layer = next(iter(layers))
            by_layer.setdefault(layer, _LayerGroup(layer)).indices.append(index)
        else:
            multi.append(index)
    results: list[list[torch.Tensor]] = [[] for _ in conditions]
    seen = False
    offset = 0
    with eval_mode(model), torch.inference_mode(), _progress_task(progress, _total(batches)) as task:
        for images, _labels in batches:
            seen = True
            x = images.to(device)
            batch = x.shape[0]
            where = torch.arange(offset, offset + batch) if positions is None else \
                torch.as_tensor(positions[offset:offset + batch], dtype=torch.long)
            offset += batch
            per_chunk = max(1, max_batch_images // max(batch, 1))
            plain = None
            if baseline or any(not g.validated for g in by_layer.values()):
                plain = forward(model, x).detach().float().cpu()
                for index in baseline:
                    results[index].append(plain)
            tick(len(baseline))
            for group in by_layer.values():
                prefix_chunk = max(1, rows_after(group.layer) // max(batch, 1)) if rows_after else per_chunk
                _run_layer_group(model, x, group, conditions, results, plain, per_chunk, tick, prefix_chunk)
            for chunk in _chunks(multi, per_chunk):
                outs = _run_input(model, x, [conditions[i].activation_edits for i in chunk])
                for index, out in zip(chunk, outs):
                    results[index].append(out)
                tick(len(chunk))
            for index in weighted:
                condition = conditions[index]
                with applied_weight_edits(model, condition.weight_edits):
                    out = _run_input(model, x, [condition.activation_edits])[0]
                results[index].append(out)
                tick(1)
            for index in patched:
                condition = conditions[index]
                with applied_weight_edits(model, condition.weight_edits):
                    results[index].append(run_patched(model, x, condition.activation_edits, where))
                tick(1)
            if reduce is not None:
                for parts in results:
                    parts[-1] = reduce(parts[-1], _labels)
            if task is not None:
                task.advance()
    if not seen:
        raise RunError("the stimuli contain no images", help="check the stimuli definition")
    if info is not None:
        info.update({layer: group.mode for layer, group in by_layer.items()})
    if reduce is not None:
        return [{key: np.concatenate([part[key] for part in parts]) for key in parts[0]} for parts in results]
    return [torch.cat(parts) for parts in results]


def _run_layer_group(model, x, group: _LayerGroup, conditions, results, plain, per_chunk,
                     tick: Callable[[int], None] = lambda k: None, prefix_chunk: int | None = None) -> None:
    """The group's conditions over one batch: `prefix_chunk` at a time in prefix mode (only the
    network after the layer carries the replicated rows), `per_chunk` at a time in input mode
    (the whole network does); a group that falls back to input mode re-chunks what is left."""
    prefix_chunk = prefix_chunk or per_chunk
    pending = list(group.indices)
    while pending:
        if group.mode == "prefix":
            # one condition per forward replicates nothing (it is the input mode's computation):
            # nothing to validate, and a check slice would exceed the rows the budget allows
            check = not group.validated and prefix_chunk > 1
            size = prefix_chunk - 1 if check else prefix_chunk
            chunk, rest = pending[:size], pending[size:]
            edits = [conditions[i].activation_edits for i in chunk]
            try:
                outs = _run_prefix(model, x, group.layer, edits + [()] if check else edits)
            except RuntimeError:
                group.mode = "input"
                continue
            if check:
                identity = outs.pop()
                group.validated = True
                if not _close(identity, plain, module_rtol(model)):
                    group.mode = "input"
                    continue
        else:
            chunk, rest = pending[:per_chunk], pending[per_chunk:]
            outs = _run_input(model, x, [conditions[i].activation_edits for i in chunk])
        for index, out in zip(chunk, outs):
            results[index].append(out)
        tick(len(chunk))
        pending = rest
    group.validated = True


def run_conditions_naive(model: nn.Module, batches: Batches, conditions: Sequence[Condition],
                         device: torch.device = torch.device("cpu"), progress=None,
                         max_batch_images: int = 4096) -> list[torch.Tensor]:
    """The reference: one hooked forward per condition and batch (what the seeds' code does)."""
    conditions = list(conditions)
    results: list[list[torch.Tensor]] = [[] for _ in conditions]
    seen = False
    with eval_mode(model), torch.inference_mode(), _progress_task(progress, _total(batches)) as task:
        for images, _labels in batches:
            seen = True
            x = images.to(device)
            for index, condition in enumerate(conditions):
                with applied_weight_edits(model, condition.weight_edits):
                    if condition.activation_edits:
                        out = _run_input(model, x, [condition.activation_edits])[0]
                    else:
                        out = forward(model, x).detach().float().cpu()
                results[index].append(out)
            if task is not None:
                task.advance()
    if not seen:
        raise RunError("the stimuli contain no images", help="check the stimuli definition")
    return [torch.cat(parts) for parts in results]
