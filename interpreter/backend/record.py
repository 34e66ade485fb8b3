"""One recording pass: per-unit class sums for many layers at once, streamed over the stimuli.

A unit is channel dimension 1 of a layer's output (Linear: a feature, Conv: a channel). Conv
outputs are averaged over their spatial dimensions first. The reduction happens inside the hook,
so an in-place op that later overwrites the tensor (AlexNet's `ReLU(inplace=True)` after a conv)
cannot change what was recorded: the recorded value is the module's own output.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Collection, Iterable, Sequence

import numpy as np
import torch
from torch import nn

from abl.interpreter.backend.conditions import Condition, EditMode
from abl.interpreter.errors import RunError
from abl.interpreter.backend.edits import add_edit_hooks, unit_output
from abl.interpreter.backend.hooks import HookSession, eval_mode, forward
from abl.interpreter.backend.patching import add_patch_hooks, sequential_positions
from abl.interpreter.backend.weights import applied_weight_edits


@dataclass
class LayerStats:
    layer: str
    class_sums: np.ndarray        # (C, U) float64: sum of spatially averaged activations per class
    class_counts: np.ndarray      # (C,) int64
    total_sum: np.ndarray         # (U,) float64
    n: int
    features: np.ndarray | None   # (N, U) float32 per-image activations, only when kept
    labels: np.ndarray | None     # (N,) int64
    present: tuple[int, ...]      # classes with at least one image
    active_counts: np.ndarray | None = None   # (U,) int64: images on which |unit| > ACTIVE_EPS

    def class_means(self) -> np.ndarray:
        """(len(present), U): row i is the mean over the images of class present[i]."""
        idx = list(self.present)
        return self.class_sums[idx] / self.class_counts[idx][:, None]

    def class_mean(self, cls: int) -> np.ndarray:
        if cls < 0 or cls >= len(self.class_counts) or self.class_counts[cls] == 0:
            raise RunError(f"class {cls} has no images in the recorded stimuli",
                           help="choose a class the stimuli contain")
        return self.class_sums[cls] / self.class_counts[cls]

    def mean(self) -> np.ndarray:
        """(U,): mean over all images (conv: over images and positions); the mean-ablation values."""
        return self.total_sum / self.n

    def unit_count(self) -> int:
        return int(self.total_sum.shape[0])


def reduce_units(output, layer: str, per_element: bool = False, module=None) -> torch.Tensor:
    """(B, U, ...) -> (B, U) float32 on the units-first view, averaging every dimension after the
    unit dimension (positions, tokens); per element: (B, U * rest), every element its own unit."""
    value = unit_output(output, layer, module).detach()
    if per_element:
        return value.flatten(1).float()
    if value.dim() > 2:
        value = value.flatten(2).mean(2, dtype=torch.float32) if value.is_floating_point() \
            else value.flatten(2).float().mean(2)
    return value.float()


def _non_finite(layer: str) -> RunError:
    return RunError(f"non-finite activations (NaN/inf) in layer {layer} while recording",
                    help="check the stimuli for NaN/inf pixels and the model for NaN weights "
                         "(a diverged training run); retrain with a smaller learning rate if needed")


ACTIVE_EPS = 1e-6     # a unit is active on an image when |its value| (conv: its spatial mean) exceeds this


MAX_STATISTICS_BYTES = 8 * 2**30      # per layer: per-class sums of every unit, in float64


def _check_width(layer: str, units: int, classes: int) -> None:
    """A layer so wide that its per-class statistics would not fit is refused before allocating."""
    needed = (classes + 1) * units * 8
    if needed > MAX_STATISTICS_BYTES:
        raise RunError(f"layer {layer} has {units:,} units; recording their per-class statistics over "
                       f"{classes} classes needs {needed / 2**30:.0f} GiB", code="E400",
                       help="record a narrower layer, or select its channels rather than `per element`")


class _Accumulator:
    def __init__(self, layer: str, num_classes: int, keep: bool):
        self.layer = layer
        self.num_classes = num_classes
        self.keep = keep
        self.class_sums: torch.Tensor | None = None
        self.class_counts = torch.zeros(num_classes, dtype=torch.int64)
        self.total_sum: torch.Tensor | None = None
        self.active_counts: torch.Tensor | None = None
        self.n = 0
        self.features: list[torch.Tensor] = []

    def add(self, reduced: torch.Tensor, labels: torch.Tensor) -> None:
        if self.class_sums is None:
            _check_width(self.layer, reduced.shape[1], self.num_classes)
        values = reduced.cpu().to(torch.float64)
        if self.class_sums is None:
            self.class_sums = torch.zeros(self.num_classes, values.shape[1], dtype=torch.float64)
            self.total_sum = torch.zeros(values.shape[1], dtype=torch.float64)
            self.active_counts = torch.zeros(values.shape[1], dtype=torch.int64)
        self.class_sums.index_add_(0, labels, values)
        self.class_counts += torch.bincount(labels, minlength=self.num_classes)
        self.total_sum += values.sum(0)
        self.active_counts += (values.abs() > ACTIVE_EPS).sum(0)
        self.n += values.shape[0]
        if self.keep:
            self.features.append(reduced.cpu())

    def finish(self, labels: np.ndarray | None) -> LayerStats:
        counts = self.class_counts.numpy()
        features = torch.cat(self.features).numpy() if self.keep else None
        return LayerStats(self.layer, self.class_sums.numpy(), counts, self.total_sum.numpy(), self.n,
                          features, labels, tuple(int(c) for c in np.flatnonzero(counts)),
                          self.active_counts.numpy())


def record_layers(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
                  layers: Sequence[str], num_classes: int, keep_features: Collection[str] = (),
                  device: torch.device = torch.device("cpu"), progress=None,
                  total_batches: int | None = None, condition: Condition | None = None,
                  per_element: bool = False) -> dict[str, LayerStats]:
    """Record every layer in `layers` in ONE pass over `batches` of (images, labels).

    Streams per-class sums (float64); per-image features are kept only for `keep_features`.
    The model is put in eval mode (training flags restored afterwards) and run under
    torch.inference_mode(); hooks are removed afterwards, also on error.

    With a `condition`, the pass runs under its interventions: weight edits applied for the pass
    (and restored bit-identically), activation edits hooked BEFORE the recording hooks, so a
    recorded layer that is itself edited records the edited values.
    With `per_element`, every element of a layer's output is a unit (no spatial averaging).
    """
    layers = list(dict.fromkeys(layers))
    keep = set(keep_features)
    unknown = keep - set(layers)
    if unknown:
        raise ValueError(f"keep_features names layers that are not recorded: {sorted(unknown)}")
    accumulators = {layer: _Accumulator(layer, num_classes, layer in keep) for layer in layers}
    current: dict[str, torch.Tensor] = {}

    def make_hook(layer: str):
        def hook(module, inputs, output):
            reduced = reduce_units(output, layer, per_element, module)
            if not bool(torch.isfinite(reduced).all()):
                raise _non_finite(layer)
            current[layer] = reduced
            return None
        return hook

    session = HookSession(model)
    if condition is not None and any(e.mode is EditMode.PATCH for e in condition.activation_edits):
        add_patch_hooks(session, condition.activation_edits, sequential_positions())   # the set, in order
    elif condition is not None:
        add_edit_hooks(session, condition.activation_edits)
    for layer in layers:
        session.add_output_hook(layer, make_hook(layer))
    all_labels: list[torch.Tensor] = []
    task_cm = progress.task("recording", total_batches) if progress is not None else contextlib.nullcontext()
    weight_edits = condition.weight_edits if condition is not None else ()
    with eval_mode(model), torch.inference_mode(), applied_weight_edits(model, weight_edits), \
            session, task_cm as task:
        for images, labels in batches:
            labels = torch.as_tensor(labels).to("cpu", torch.int64).reshape(-1)
            if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
                raise RunError(f"a label ({int(labels.max())}) lies outside the {num_classes} classes",
                               help="check the stimuli's labels and class names")
            current.clear()
            forward(model, images.to(device))
            for layer in layers:
                if layer not in current:
                    raise RunError(f"layer `{layer}` did not run in the forward pass, so nothing was recorded",
                                   help="choose a module the model's forward actually calls")
                if current[layer].shape[0] != labels.shape[0]:
                    raise RunError(f"layer `{layer}` gave {current[layer].shape[0]} rows for "
                                   f"{labels.shape[0]} images", help="units are dimension 1 of a "
                                   "(batch, units, ...) output; choose another layer")
                accumulators[layer].add(current[layer], labels)
            all_labels.append(labels)
            if task is not None:
                task.advance()
    if not all_labels or sum(len(l) for l in all_labels) == 0:
        raise RunError("the stimuli contain no images", help="check the stimuli definition")
    label_array = torch.cat(all_labels).numpy()
    return {layer: acc.finish(label_array) for layer, acc in accumulators.items()}


def spatial_means(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], layer: str,
                  device: torch.device = torch.device("cpu")) -> np.ndarray:
    """(U,) per-unit mean activation over all images (conv: and positions): mean-ablation values."""
    unlabeled = ((images, torch.zeros(len(images), dtype=torch.int64)) for images, _ in batches)
    return record_layers(model, unlabeled, [layer], 1, device=device)[layer].mean()
