"""Image corruptions for robustness measurements, applied in [0, 1] pixel space (before any
normalisation) and deterministic from a seed.

| kind    | severity | what it does                                                              |
| ------- | -------- | ------------------------------------------------------------------------- |
| `noise` | sigma    | x + sigma * N(0, 1) per pixel and channel, clamped to [0, 1]              |
| `blur`  | sigma    | Gaussian blur, kernel 2 * ceil(3 * sigma) + 1 (at most 2 * side - 1), reflect padding; sigma 0 = identity |
"""

from __future__ import annotations

import math

import torch

from abl.interpreter.errors import RunError

CORRUPTIONS = ("noise", "blur")


def apply_corruption(images01: torch.Tensor, kind: str, severity: float, seed: int) -> torch.Tensor:
    """Corrupt a batch (N, C, H, W) of images with values in [0, 1]; returns a new tensor."""
    severity = float(severity)
    if kind not in CORRUPTIONS:
        raise RunError(f"unknown corruption `{kind}`", help=f"corruptions: {', '.join(CORRUPTIONS)}")
    if not math.isfinite(severity) or severity < 0:
        raise RunError(f"{kind} strength must be a number >= 0, not {severity:g}",
                       help=f"e.g. `{kind} 0.5`")
    images01 = images01.to(torch.float32)
    if severity == 0:
        return images01.clone()
    if kind == "noise":
        generator = torch.Generator().manual_seed(int(seed))
        noise = torch.randn(images01.shape, generator=generator, dtype=torch.float32)
        return (images01 + severity * noise.to(images01.device)).clamp_(0.0, 1.0)
    from torchvision.transforms.functional import gaussian_blur

    height, width = images01.shape[-2:]
    kernel = 2 * math.ceil(3 * severity) + 1
    # reflect padding needs pad < side, i.e. kernel <= 2 * side - 1 (odd)
    kernel = max(1, min(kernel, 2 * min(height, width) - 1))
    if kernel == 1:
        return images01.clone()
    return gaussian_blur(images01, [kernel, kernel], [severity, severity])
