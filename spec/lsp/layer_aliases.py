"""Layer aliases of the built-in and torchvision networks, as plain data (no torch): what
completion offers after `in`. The interpreter derives the same names from the built modules
(interpreter/models/build.py and zoo.py document them; docs/language.md "Layer aliases")."""

from __future__ import annotations

from .. import ast
from ..vocabulary import TORCHVISION_ARCHITECTURES
from ..visit import nodes_of

_VGG_BLOCKS = {"vgg11": (1, 1, 2, 2, 2), "vgg13": (2, 2, 2, 2, 2), "vgg16": (2, 2, 3, 3, 3),
               "vgg19": (2, 2, 4, 4, 4)}
MOBILENET_V2_BLOCKS = 18    # features.0 .. features.17 (block0 .. block17), then conv_last


def aliases_of(arch: str, widths: int | None = None) -> tuple[str, ...]:
    """The aliases of a network; `widths`: how many widths an mlp was given (`[in, h1.., out]`)."""
    if arch == "mlp":
        hidden = max(1, (widths or 4) - 2)
        return tuple(f"fc{k}" for k in range(1, hidden + 2)) + ("logits",)      # fc{hidden+1} is the logits
    if arch == "cnn":
        return ("conv1", "conv2", "fc1", "logits")
    if arch == "alexnet":
        return ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8", "logits")
    family = arch.removesuffix("_bn")
    if family in _VGG_BLOCKS:
        convs = tuple(f"conv{block}_{index}" for block, count in enumerate(_VGG_BLOCKS[family], 1)
                      for index in range(1, count + 1))
        return convs + ("fc6", "fc7", "fc8", "logits")
    if arch.startswith(("resnet", "resnext", "wide_resnet")):
        return ("conv1", "layer1", "layer2", "layer3", "layer4", "fc", "logits")
    if arch == "mobilenet_v2":
        return tuple(f"block{i}" for i in range(MOBILENET_V2_BLOCKS)) + ("conv_last", "logits")
    return ("logits",) if arch in TORCHVISION_ARCHITECTURES else ()


def _widths(model: ast.TrainModel) -> int | None:
    return len(model.widths.items) if isinstance(model.widths, ast.ListValue) else None


def spec_layer_aliases(spec: ast.Spec) -> tuple[str, ...]:
    """The aliases of every network the spec declares (or names in a parameter), in order."""
    found: list[str] = []
    for model in nodes_of(ast.TrainModel, spec.statements):
        found.extend(aliases_of(model.arch.value, _widths(model)))
    for model in nodes_of(ast.TorchvisionModel, spec.statements):
        found.extend(aliases_of(model.arch.value))
    for value in nodes_of(ast.Name, tuple(p.value for p in nodes_of(ast.Param, spec.statements))):
        found.extend(aliases_of(value.value))
    for value in nodes_of(ast.String, tuple(p.value for p in nodes_of(ast.Param, spec.statements))):
        found.extend(aliases_of(value.value))
    for model in nodes_of(ast.ModelRef, spec.statements):
        if isinstance(model.value, ast.Name):
            found.extend(aliases_of(model.value.value))
    return tuple(dict.fromkeys(found))
