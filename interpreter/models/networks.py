"""The built-in networks a spec trains (`train mlp [...]`, `train cnn`), shaped from their training
stimuli or from a state dict. Plain torch; models.py loads them, training.py trains them."""

from __future__ import annotations

import math
from typing import Mapping

import torch
from torch import nn

from abl.interpreter.errors import RunError
from abl.interpreter.plan.specs import ModelSpec

BUILTINS = ("mlp", "cnn")
CNN_DEFAULT_WIDTHS = (16, 32, 64)


# ---- built-in networks ---------------------------------------------------------------------------
class MLP(nn.Module):
    """Flatten, then Linear+ReLU per hidden layer (`fc1`, `fc2`, ...), then the Linear `logits`."""

    def __init__(self, widths):
        super().__init__()
        widths = tuple(int(w) for w in widths)
        if len(widths) < 2 or min(widths) < 1:
            raise RunError(f"an mlp needs at least [inputs, outputs], all positive, not {list(widths)}",
                           help="e.g. `train mlp [64, 128, 64, 32, 10] on train`")
        self.widths = widths
        self.flatten = nn.Flatten()
        for k in range(1, len(widths) - 1):
            self.add_module(f"fc{k}", nn.Sequential(nn.Linear(widths[k - 1], widths[k]), nn.ReLU()))
        self.logits = nn.Linear(widths[-2], widths[-1])

    @property
    def hidden(self) -> int:
        return len(self.widths) - 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.flatten(x)
        for k in range(1, self.hidden + 1):
            x = getattr(self, f"fc{k}")(x)
        return self.logits(x)

    def aliases(self) -> dict[str, str]:
        out = {f"fc{k}": f"fc{k}" for k in range(1, self.hidden + 1)}
        out["logits"] = out[f"fc{self.hidden + 1}"] = "logits"
        return out


class DigitsCNN(nn.Module):
    """conv1 (3x3, pad 1) + ReLU, conv2 (3x3, pad 1) + ReLU, 2x2 max-pool, fc1 + ReLU, logits."""

    def __init__(self, in_channels: int, image_size: int, num_classes: int, widths=CNN_DEFAULT_WIDTHS):
        super().__init__()
        widths = tuple(int(w) for w in widths) or CNN_DEFAULT_WIDTHS
        if len(widths) != 3 or min(widths) < 1:
            raise RunError(f"cnn widths are [conv1 channels, conv2 channels, fc1 units], not {list(widths)}",
                           help="e.g. `train cnn [16, 32, 64] on train`, or leave the widths out")
        if image_size < 2:
            raise RunError(f"the cnn needs images of at least 2x2 pixels, not {image_size}x{image_size}")
        c1, c2, hidden = widths
        self.widths = widths
        self.in_channels, self.image_size, self.num_classes = in_channels, image_size, num_classes
        self.conv1 = nn.Sequential(nn.Conv2d(in_channels, c1, 3, padding=1), nn.ReLU())
        self.conv2 = nn.Sequential(nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU())
        self.pool = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        pooled = image_size // 2
        self.fc1 = nn.Sequential(nn.Linear(c2 * pooled * pooled, hidden), nn.ReLU())
        self.logits = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.conv2(self.conv1(x)))
        return self.logits(self.fc1(self.flatten(x)))

    def aliases(self) -> dict[str, str]:
        return {"conv1": "conv1", "conv2": "conv2", "fc1": "fc1", "logits": "logits"}


def builtin_for_stimuli(spec: ModelSpec, stimuli) -> nn.Module:
    """The untrained built-in network for `spec`, checked against the training stimuli's shape."""
    shape = tuple(int(s) for s in stimuli.shape)
    num_classes = len(stimuli.class_names)
    if int(stimuli.labels.max()) >= num_classes:
        num_classes = int(stimuli.labels.max()) + 1
    if spec.arch == "mlp":
        flat = math.prod(shape)
        widths = tuple(spec.widths) or (flat, 128, 64, num_classes)
        if widths[0] != flat:
            raise RunError(f"model `{spec.name}`: the mlp's first width is {widths[0]}, but the images of "
                           f"`{stimuli.spec.name}` have {flat} values ({' x '.join(map(str, shape))})",
                           help=f"start the widths with {flat}: [{flat}, {', '.join(map(str, widths[1:]))}]")
        if widths[-1] != num_classes:
            raise RunError(f"model `{spec.name}`: the mlp's last width is {widths[-1]}, but `{stimuli.spec.name}` "
                           f"has {num_classes} classes",
                           help=f"end the widths with {num_classes}: [{', '.join(map(str, widths[:-1]))}, {num_classes}]")
        return MLP(widths)
    if spec.arch == "cnn":
        if len(shape) != 3 or shape[1] != shape[2]:
            raise RunError(f"model `{spec.name}`: the cnn needs square images, `{stimuli.spec.name}` has "
                           f"{' x '.join(map(str, shape))}", help="use square images, or `preprocess imagenet`")
        return DigitsCNN(shape[0], shape[1], num_classes, tuple(spec.widths) or CNN_DEFAULT_WIDTHS)
    raise RunError(f"model `{spec.name}`: cannot train `{spec.arch}`", help="the spec trains `mlp` or `cnn`")


def _builtin_from_state(arch: str, state: Mapping[str, torch.Tensor], name: str) -> nn.Module:
    """A built-in network shaped like the state dict it will load."""
    try:
        if arch == "mlp":
            hidden = sorted(int(k[2:].split(".")[0]) for k in state if k.startswith("fc") and k.endswith(".0.weight"))
            widths = [int(state["fc1.0.weight"].shape[1])] if hidden else [int(state["logits.weight"].shape[1])]
            widths += [int(state[f"fc{k}.0.weight"].shape[0]) for k in hidden]
            widths.append(int(state["logits.weight"].shape[0]))
            return MLP(widths)
        if arch == "cnn":
            c1, in_channels = state["conv1.0.weight"].shape[:2]
            c2 = state["conv2.0.weight"].shape[0]
            hidden, flat = state["fc1.0.weight"].shape
            pooled = math.isqrt(int(flat) // int(c2))
            num_classes = state["logits.weight"].shape[0]
            size = 2 * pooled
            return DigitsCNN(int(in_channels), size, int(num_classes), (int(c1), int(c2), int(hidden)))
    except (KeyError, IndexError, AttributeError) as error:
        raise RunError(f"model `{name}`: the state dict is not a built-in {arch} (no {error})",
                       help=f"built-in {arch} keys look like "
                            f"{'fc1.0.weight, logits.weight' if arch == 'mlp' else 'conv1.0.weight, fc1.0.weight'}") from None
    raise AssertionError(arch)
