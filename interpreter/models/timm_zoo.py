"""timm networks: `model net = timm ARCH [weights auto|none|imagenet|"file"]`, built offline.

timm is an optional extra (`pip install 'abl[timm]'`). Architectures are `timm.list_models()`
names (`resnet50`, `convnext_tiny`, `vit_small_patch16_224`, `deit_small_patch16_224`,
`efficientnet_b0`, ...), with or without a pretrained tag (`vit_small_patch16_224.augreg_in1k`).

Layer aliases (any module path of `named_modules()` works as well; a ViT block's output is a token
sequence (N, T, D) whose units are its D features, see backend/units.py):

| family | alias | module | which tensor |
| --- | --- | --- | --- |
| ResNet, ResNeXt, Wide ResNet (timm `ResNet`) | conv1 | act1 | stem: post-ReLU output of conv1 + bn1, before max-pooling |
| resnet | layer1 ... layer4; layerS.B | module paths | output of a stage / of one residual block (post-ReLU) |
| resnet | logits | fc | the class logits |
| ConvNeXt | stem; stage1 ... stage4 | stem; stages.0 ... stages.3 | the patchify stem's output; the output of each stage (channels first) |
| convnext | logits | head.fc | the class logits |
| EfficientNet, MobileNet (timm `EfficientNet`) | stem | bn1 | post-activation output of the stem conv (BatchNormAct2d) |
| efficientnet | block0 ... blockN | blocks.0 ... blocks.N | output of a stage of MBConv blocks |
| efficientnet | conv_head; logits | bn2; classifier | the last 1x1 conv after its activation; the class logits |
| ViT, DeiT (timm `VisionTransformer`) | patch_embed | patch_embed | the patch tokens (N, 196, D), before the class token is prepended |
| vit | block0 ... blockN | blocks.0 ... blocks.N | the residual stream after each block: (N, 1 + 196, D), token 0 the class token |
| vit | norm; logits | norm; head | the final LayerNorm's tokens; the class logits |

Weights follow the policy of weights_policy.py (as torchvision's): nothing is ever downloaded. `weights auto`
looks for the architecture's pretrained file in the local Hugging Face cache
(`$HF_HUB_CACHE/models--timm--ARCH.TAG/snapshots/*/model.safetensors` or `pytorch_model.bin`),
then in the torch hub cache (`$TORCH_HOME/hub/checkpoints/`, the file named in the config's
URL), and uses random weights with a warning when neither is there; `weights imagenet` makes a
missing file an error; `weights none` is random (seeded); `weights "file"` loads a state dict
(`.safetensors`, `.pth`, `.bin`, a checkpoint with a `state_dict` key).

Input normalisation: abl's `preprocess imagenet` normalises with ImageNet's mean and std. Some
timm weights expect other statistics (augreg ViTs: mean = std = 0.5). With pretrained weights
and a first convolution without padding (every ViT/DeiT patch embedding), abl folds the change of
statistics into that convolution's weights and bias, which is exact; otherwise it says so.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from abl.interpreter.errors import RunError, import_extra
from abl.interpreter.data.folders import IMAGENET_MEAN, IMAGENET_STD
from abl.interpreter.models.weights_policy import weights_file



def _timm():
    return import_extra("timm", "a `timm` model", "timm", "timm")


def check_architecture(arch: str) -> str:
    timm = _timm()
    base = arch.split(".", 1)[0]
    if not timm.is_model(base):
        from abl.spec.diagnostics import did_you_mean

        raise RunError(f"unknown timm architecture `{arch}`",
                       help=did_you_mean(base, timm.list_models()) or "see timm.list_models()")
    return arch


def construct(arch: str) -> nn.Module:
    """The architecture with timm's random initialisation (pretrained=False: never downloads)."""
    timm = _timm()
    check_architecture(arch)
    try:
        return timm.create_model(arch, pretrained=False)
    except Exception as error:  # noqa: BLE001 - timm raises RuntimeError/ValueError for bad tags
        raise RunError(f"timm cannot build `{arch}`: {error}", help="check the architecture's name and tag") from None


def build(spec, progress) -> tuple[nn.Module, bool]:
    """The network of `model NAME = timm ARCH [weights W]` (a ModelSpec) and whether its weights
    were loaded, following the weights policy of the module docstring."""
    arch = check_architecture(str(spec.arch))
    module = construct(arch)
    found, where = find_weights(module)
    file = weights_file(spec.name, arch, spec.weights or "auto", found, where, "timm", progress)
    if file is not None:
        load_weights(module, file, spec.name)
        note = match_input_statistics(module)
        if note:
            progress.note(f"{arch}: {note}")
    return module, file is not None


def pretrained_config(module: nn.Module) -> dict:
    cfg = getattr(module, "pretrained_cfg", None) or {}
    return dict(cfg) if not hasattr(cfg, "to_dict") else cfg.to_dict()


def input_shape(module: nn.Module) -> tuple[int, int, int]:
    size = pretrained_config(module).get("input_size") or (3, 224, 224)
    return tuple(int(s) for s in size)


def num_classes(module: nn.Module) -> int | None:
    value = getattr(module, "num_classes", None)
    return int(value) if value else None


def _hub_cache() -> Path:
    try:
        from huggingface_hub import constants

        return Path(constants.HF_HUB_CACHE)
    except ImportError:
        return Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hub"


def weight_candidates(module: nn.Module) -> list[Path]:
    """Where a pretrained file for this architecture would be, preferred first."""
    cfg = pretrained_config(module)
    found: list[Path] = []
    hub_id = cfg.get("hf_hub_id")
    if hub_id:
        folder = _hub_cache() / ("models--" + hub_id.replace("/", "--"))
        for snapshot in sorted((folder / "snapshots").glob("*")) if (folder / "snapshots").is_dir() else []:
            for name in ("model.safetensors", "pytorch_model.bin"):
                if (snapshot / name).is_file():
                    found.append(snapshot / name)
    url = cfg.get("url")
    if url:
        found.append(Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name)
    return found


def find_weights(module: nn.Module) -> tuple[Path | None, str]:
    """(the file found or None, where it was looked for)."""
    candidates = weight_candidates(module)
    for path in candidates:
        if path.is_file():
            return path, str(path)
    hub_id = pretrained_config(module).get("hf_hub_id")
    if hub_id:
        return None, str(_hub_cache() / ("models--" + hub_id.replace("/", "--")) / "snapshots" / "<revision>" /
                         "model.safetensors")
    return None, str(candidates[0]) if candidates else str(Path(torch.hub.get_dir()) / "checkpoints")


def load_weights(module: nn.Module, path: Path, name: str) -> None:
    timm = _timm()
    try:
        timm.models.load_checkpoint(module, str(path), strict=True)
    except Exception as error:  # noqa: BLE001 - missing keys, shapes, unreadable files
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise RunError(f"model `{name}`: cannot load {path} into the timm architecture ({first[:300]})",
                       help="give a state dict saved from this architecture (and tag)") from None


def match_input_statistics(module: nn.Module) -> str | None:
    """Make a pretrained network that expects other normalisation statistics read ImageNet-
    normalised images: fold the affine change into its first convolution when that has no
    padding (exact). Returns a note when it cannot."""
    cfg = pretrained_config(module)
    mean = tuple(float(v) for v in cfg.get("mean", IMAGENET_MEAN))
    std = tuple(float(v) for v in cfg.get("std", IMAGENET_STD))
    if all(abs(a - b) < 1e-6 for a, b in zip(mean + std, IMAGENET_MEAN + IMAGENET_STD)):
        return None
    first = next((sub for sub in module.modules() if isinstance(sub, nn.Conv2d)), None)
    unpadded = first is not None and type(first) is nn.Conv2d and (
        first.padding == "valid" or (isinstance(first.padding, tuple) and not any(first.padding)))
    if not unpadded or first.in_channels != 3 or first.groups != 1:
        return (f"its weights expect inputs normalised with mean {mean} and std {std}, but abl's "
                f"`preprocess imagenet` uses ImageNet's; wrap the network with its own normalisation "
                f"(a `python` factory) for exact pretrained behaviour")
    # x_model = (x01 - m) / s with x01 = x_in * S + M  =>  x_model = x_in * (S / s) + (M - m) / s
    scale = torch.tensor(IMAGENET_STD) / torch.tensor(std)
    shift = (torch.tensor(IMAGENET_MEAN) - torch.tensor(mean)) / torch.tensor(std)
    with torch.no_grad():
        weight = first.weight.double()
        added = (weight * shift.double().view(1, 3, 1, 1)).sum(dim=(1, 2, 3))
        first.weight.copy_((weight * scale.double().view(1, 3, 1, 1)).to(first.weight.dtype))
        if first.bias is None:
            first.bias = nn.Parameter(added.to(first.weight.dtype))
        else:
            first.bias.copy_((first.bias.double() + added).to(first.bias.dtype))
    return None


def aliases(module: nn.Module) -> dict[str, str]:
    """alias -> module path for the common timm families (see the module docstring)."""
    kind = type(module).__name__
    paths = dict(module.named_modules())
    out: dict[str, str] = {}
    if kind == "ResNet":
        out = {"conv1": "act1", "logits": "fc"}
    elif kind == "ConvNeXt":
        out = {"stem": "stem", "logits": "head.fc"}
        out.update({f"stage{i + 1}": f"stages.{i}" for i in range(len(module.stages))})
    elif kind == "EfficientNet":
        out = {"stem": "bn1", "conv_head": "bn2", "logits": "classifier"}
        out.update({f"block{i}": f"blocks.{i}" for i in range(len(module.blocks))})
    elif kind == "VisionTransformer":
        out = {"patch_embed": "patch_embed", "norm": "norm", "logits": "head"}
        out.update({f"block{i}": f"blocks.{i}" for i in range(len(module.blocks))})
    if "logits" not in out or out["logits"] not in paths:
        linear = [path for path, sub in paths.items() if isinstance(sub, nn.Linear)]
        if linear:
            out["logits"] = linear[-1]
    return {alias: path for alias, path in out.items() if path in paths}
