"""torchvision networks: layer aliases, and pretrained weights read from the local torch cache.

Layer aliases. An alias names a module; the tensor recorded or ablated is that module's OUTPUT.
AlexNet and VGG use `nn.ReLU(inplace=True)`: their conv aliases name the ReLU modules, whose
output is the rectified tensor (the Conv module's output is overwritten in place by the ReLU, so
never record from the Conv). ResNet blocks call one shared `relu` module several times: address
block outputs (`layer4.1`) or their conv/bn modules, never `layer1.0.relu`.

| network | alias | module | which tensor |
| --- | --- | --- | --- |
| alexnet | conv1, conv2, conv3, conv4, conv5 | features.1, features.4, features.7, features.9, features.11 | post-ReLU output of each conv layer (before max-pooling) |
| alexnet | fc6, fc7 | classifier.2, classifier.5 | post-ReLU output of the two hidden fully connected layers |
| alexnet | fc8, logits | classifier.6 | the 1000 class logits |
| vgg11/13/16/19 (and _bn) | convB_I (conv1_1 ... conv5_3) | the ReLU after the I-th conv of block B, e.g. vgg16 conv1_1 = features.1, conv5_3 = features.29 | post-ReLU conv output (before pooling) |
| vgg | fc6, fc7 | classifier.1, classifier.4 | post-ReLU output of the hidden fully connected layers |
| vgg | fc8, logits | classifier.6 | the class logits |
| resnet18/34/50/101/152, resnext, wide_resnet | conv1 | relu (the top-level `relu`, called once per forward) | stem: post-ReLU output of conv1 + bn1, before max-pooling |
| resnet | layer1 ... layer4; layerS.B (e.g. layer4.2) | module paths, no alias needed | post-ReLU output of a stage / of one residual block |
| resnet | logits (also fc) | fc | the class logits |
| mobilenet_v2 | block0 | features.0 | post-ReLU6 output of the stem conv |
| mobilenet_v2 | block1 ... block17 | features.1 ... features.17 | output of an inverted-residual block: a LINEAR bottleneck (plus skip), can be negative |
| mobilenet_v2 | conv_last | features.18 | post-ReLU6 output of the last 1x1 conv (1280 channels) |
| mobilenet_v2 | logits | classifier.1 | the class logits |
| any other torchvision network | logits | its last Linear module | the class logits |

Any module path from `named_modules()` is accepted as well (`features.3`, `layer2.1.conv1`).

Weights. `weights auto` looks for the file named in torchvision's weights URL (for example
`alexnet-owt-7be5be79.pth`) in `torch.hub.get_dir()/checkpoints/` (`$TORCH_HOME/hub/checkpoints/`)
and uses random weights, with a warning, when it is not there; `weights imagenet` makes a missing
file an error; `weights none` always means random weights (seeded); `weights "file.pth"` loads
that state dict (GoogLeNet / Inception v3: torchvision's checkpoints from the cache get its
input re-normalisation, `transform_input=True`; a file given by path does not). Nothing is ever
downloaded.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import torch
from torch import nn

from abl.interpreter.errors import RunError

INPUT_SHAPES = {"inception_v3": (3, 299, 299)}
_AUX = ("googlenet", "inception_v3")


@functools.lru_cache(maxsize=1)
def _architectures() -> tuple[str, ...]:
    import torchvision

    return tuple(sorted(torchvision.models.list_models(module=torchvision.models)))


def architectures() -> list[str]:
    """The torchvision classification architectures."""
    return list(_architectures())


def is_torchvision(arch: str | None) -> bool:
    return bool(arch) and arch in _architectures()


def check_architecture(arch: str | None) -> str:
    if not is_torchvision(arch):
        from abl.spec.diagnostics import did_you_mean

        raise RunError(f"unknown torchvision architecture `{arch}`",
                       help=did_you_mean(str(arch), architectures()) or "see torchvision.models.list_models()")
    return str(arch)


def input_shape(arch: str) -> tuple[int, int, int]:
    return INPUT_SHAPES.get(arch, (3, 224, 224))


def construct(arch: str, aux_logits: bool = False, transform_input: bool = False) -> nn.Module:
    """The architecture with torchvision's default random initialisation; never downloads.

    GoogLeNet / Inception v3 only: `aux_logits` builds the auxiliary heads (torchvision's own
    checkpoints hold them; `finish` drops them after loading), `transform_input` re-normalises
    the input the way torchvision's ImageNet checkpoints expect.
    """
    import torchvision

    check_architecture(arch)
    kwargs: dict = {}
    if arch in _AUX:
        kwargs = {"aux_logits": aux_logits, "transform_input": transform_input, "init_weights": True}
    return torchvision.models.get_model(arch, weights=None, **kwargs)


def has_aux_keys(state: dict) -> bool:
    return any(key.startswith(("aux1.", "aux2.", "AuxLogits.")) for key in state)


def finish(arch: str, module: nn.Module) -> nn.Module:
    """Drop the auxiliary heads (unused in eval mode) after loading GoogLeNet / Inception weights."""
    if arch == "googlenet" and getattr(module, "aux_logits", False):
        module.aux_logits = False
        module.aux1 = None
        module.aux2 = None
    if arch == "inception_v3" and getattr(module, "aux_logits", False):
        module.aux_logits = False
        module.AuxLogits = None
    return module


def weight_files(arch: str) -> list[str]:
    """Candidate checkpoint file names, preferred first (IMAGENET1K_V1, then other ImageNet-1k
    weights with the same architecture)."""
    import torchvision

    try:
        enum = torchvision.models.get_model_weights(arch)
    except (ValueError, KeyError):
        return []
    members = list(enum.__members__.items())
    ordered = sorted((item for item in members if item[0] != "DEFAULT" and "SWAG" not in item[0]),
                     key=lambda item: item[0] != "IMAGENET1K_V1")
    names: list[str] = []
    for _, weights in ordered:
        name = Path(weights.url).name
        if name not in names:
            names.append(name)
    return names


def checkpoint_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def find_weights(arch: str) -> tuple[Path | None, Path | None]:
    """(the file found or None, the preferred path to report)."""
    names = weight_files(arch)
    folder = checkpoint_dir()
    preferred = folder / names[0] if names else None
    for name in names:
        if (folder / name).is_file():
            return folder / name, preferred
    return None, preferred


_DENSENET_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$")


def fix_state_dict(arch: str, state: dict) -> dict:
    """torchvision's own key fixes for old checkpoints (DenseNet's `norm.1` -> `norm1`)."""
    if arch.startswith("densenet"):
        fixed = {}
        for key, value in state.items():
            match = _DENSENET_KEY.match(key)
            fixed[match.group(1) + match.group(2) if match else key] = value
        return fixed
    return state


def aliases(arch: str, module: nn.Module) -> dict[str, str]:
    """alias -> module path for a torchvision network (see the module docstring)."""
    paths = dict(module.named_modules())
    out: dict[str, str] = {}
    if arch == "alexnet":
        out = {"conv1": "features.1", "conv2": "features.4", "conv3": "features.7",
               "conv4": "features.9", "conv5": "features.11", "fc6": "classifier.2",
               "fc7": "classifier.5", "fc8": "classifier.6", "logits": "classifier.6"}
    elif arch.startswith("vgg"):
        block, index = 1, 0
        for position, layer in enumerate(module.features):
            if isinstance(layer, nn.ReLU):
                index += 1
                out[f"conv{block}_{index}"] = f"features.{position}"
            elif isinstance(layer, nn.MaxPool2d):
                block, index = block + 1, 0
        relus = [f"classifier.{i}" for i, layer in enumerate(module.classifier) if isinstance(layer, nn.ReLU)]
        for name, path in zip(("fc6", "fc7"), relus):
            out[name] = path
        out["fc8"] = out["logits"] = f"classifier.{len(module.classifier) - 1}"
    elif arch.startswith(("resnet", "resnext", "wide_resnet")):
        out = {"conv1": "relu", "logits": "fc"}
    elif arch == "mobilenet_v2":
        count = len(module.features)
        out = {f"block{i}": f"features.{i}" for i in range(count - 1)}
        out["conv_last"] = f"features.{count - 1}"
        out["logits"] = "classifier.1"
    if "logits" not in out:
        linear = [name for name, sub in paths.items() if isinstance(sub, nn.Linear)]
        if linear:
            out["logits"] = linear[-1]
    return {alias: path for alias, path in out.items() if path in paths}
