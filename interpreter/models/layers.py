"""`abl layers`: what a model's layers are, as abl sees them, from one forward pass of one stimulus.

For every module path: its aliases, its type, its output shape for one image, where abl finds its
units (backend/units.py: features of (N, D), channels of (N, C, H, W), the last axis of a token
sequence (N, T, D); positions and tokens are averaged for statistics) and how many there are,
and the traps: an
in-place activation (`inplace=True`: it overwrites its input, so the module before it records the
activated values), a module called more than once per forward (hooks see each call: its
statistics mix the calls), a module not called at all, and an output that is not one tensor
(not addressable as units).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from abl.interpreter.backend.units import layout


@dataclass(frozen=True)
class LayerInfo:
    path: str
    kind: str                                  # the module's class name
    aliases: tuple[str, ...] = ()
    output_shape: tuple[int, ...] | None = None    # for one stimulus (no batch dimension)
    calls: int = 0                             # per forward of one stimulus
    inplace: bool = False
    not_a_tensor: str = ""                     # the output's type when it is not one tensor
    layout: str = ""                           # features | channels | tokens (backend/units.py)

    @property
    def unit_axis(self) -> str:
        if self.output_shape is None:
            return ""
        if self.layout == "tokens":
            return f"features x {self.output_shape[0]} tokens"
        return self.layout or "channels"

    @property
    def units(self) -> int | None:
        if not self.output_shape:
            return None
        return self.output_shape[-1] if self.layout == "tokens" else self.output_shape[0]

    @property
    def elements(self) -> int | None:
        if not self.output_shape:
            return None
        count = 1
        for size in self.output_shape:
            count *= size
        return count

    @property
    def traps(self) -> tuple[str, ...]:
        found = []
        if self.inplace:
            found.append("in-place")
        if self.calls > 1:
            found.append(f"called {self.calls} times per forward")
        if self.calls == 0:
            found.append("not called")
        if self.not_a_tensor:
            found.append(f"outputs {self.not_a_tensor}, not one tensor")
        return tuple(found)

    def as_record(self) -> dict:
        return {"path": self.path, "type": self.kind, "aliases": list(self.aliases),
                "output_shape": list(self.output_shape) if self.output_shape is not None else None,
                "unit_axis": self.unit_axis, "layout": self.layout, "units": self.units, "elements": self.elements,
                "calls": self.calls, "traps": list(self.traps)}


@dataclass(frozen=True)
class ModelLayers:
    model: str
    input_shape: tuple[int, ...]
    layers: tuple[LayerInfo, ...] = field(default=())

    def as_record(self) -> dict:
        return {"model": self.model, "input_shape": list(self.input_shape),
                "layers": [layer.as_record() for layer in self.layers]}


def inspect_layers(name: str, module: nn.Module, aliases: dict[str, str], image: torch.Tensor) -> ModelLayers:
    """One forward pass of `image` (C, H, W) with a hook on every submodule; hooks removed after."""
    by_path: dict[str, list[str]] = {}
    for alias, path in aliases.items():
        by_path.setdefault(path, []).append(alias)
    seen: dict[str, dict] = {}
    handles = []

    def hook_for(path):
        def hook(hooked, _inputs, output):
            record = seen.setdefault(path, {"calls": 0})
            record["calls"] += 1
            if "shape" not in record and "type" not in record:
                if isinstance(output, torch.Tensor) and output.dim() >= 2:
                    record["shape"] = tuple(int(s) for s in output.shape[1:])
                    record["layout"] = layout(hooked, output)
                else:
                    record["type"] = type(output).__name__ if not isinstance(output, torch.Tensor) else \
                        f"a tensor of shape {tuple(output.shape)}"
        return hook

    named = [(path, sub) for path, sub in module.named_modules() if path]
    was_training = module.training
    try:
        for path, sub in named:
            handles.append(sub.register_forward_hook(hook_for(path)))
        module.eval()
        device = next((p.device for p in module.parameters()), torch.device("cpu"))
        with torch.no_grad():
            module(image.unsqueeze(0).to(device))
    finally:
        for handle in handles:
            handle.remove()
        module.train(was_training)
    layers = tuple(LayerInfo(path, type(sub).__name__, tuple(by_path.get(path, ())),
                             seen.get(path, {}).get("shape"), seen.get(path, {}).get("calls", 0),
                             bool(getattr(sub, "inplace", False)), seen.get(path, {}).get("type", ""),
                             seen.get(path, {}).get("layout", ""))
                   for path, sub in named)
    return ModelLayers(name, tuple(int(s) for s in image.shape), layers)


def layers_tree(layers: ModelLayers):
    """A rich Tree following the module hierarchy."""
    from rich.markup import escape
    from rich.text import Text
    from rich.tree import Tree

    shape = "x".join(str(s) for s in layers.input_shape)
    root = Tree(Text.from_markup(f"[bold]{escape(layers.model)}[/]  input {shape}  ({len(layers.layers)} modules)"))
    nodes: dict[str, Tree] = {"": root}
    for layer in layers.layers:
        parent = layer.path.rsplit(".", 1)[0] if "." in layer.path else ""
        name = layer.path.rsplit(".", 1)[-1]
        text = f"[bold]{escape(name)}[/]"
        aliases = [alias for alias in layer.aliases if alias != layer.path]
        if aliases:
            text += f" [cyan]({escape(', '.join(aliases))})[/]"
        text += f"  {escape(layer.kind)}"
        if layer.output_shape is not None:
            if len(layer.output_shape) > 1:
                text += f"  {'x'.join(str(s) for s in layer.output_shape)}"
            text += f"  [green]{layer.units} {layer.unit_axis}[/]"
        if layer.traps:
            text += f"  [yellow]! {escape('; '.join(layer.traps))}[/]"
        nodes[layer.path] = nodes.get(parent, root).add(Text.from_markup(text))
    return root
