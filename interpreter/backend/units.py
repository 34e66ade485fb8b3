"""Which axis of a layer's output holds its units.

A unit is what a layer computes once per position: a Linear feature, a Conv channel, a
transformer's feature dimension. So the unit axis follows the output's layout:

| output | layout | units | statistics | an intervention applies |
| --- | --- | --- | --- | --- |
| (N, D) | features | D, axis 1 | as is | to the feature |
| (N, C, H, W) | channels first | C, axis 1 | averaged over H x W | at every position |
| (N, T, D) | token sequence (ViT, DeiT, any transformer) | D, the last axis | averaged over the T tokens | at every token, or at one (`at token 0`: the class token) |
| (N, C, L) from a 1-d conv, batch-norm or pooling module | channels first | C, axis 1 | averaged over L | at every position |

Everything downstream works on the *units-first view*: the output with its unit axis moved to
axis 1 (a view, no copy), so a token sequence (N, T, D) is handled as (N, D, T). Edits made on the
view are moved back before the network sees them. A 3-D output of any other module is read as a
token sequence; an elementwise module (a ReLU) right after a Conv1d is the one case this misreads:
address the Conv1d or its BatchNorm1d instead.
"""

from __future__ import annotations

import torch
from torch import nn

CHANNELS_FIRST_1D = (nn.Conv1d, nn.ConvTranspose1d, nn.BatchNorm1d, nn.InstanceNorm1d, nn.MaxPool1d,
                     nn.AvgPool1d, nn.AdaptiveMaxPool1d, nn.AdaptiveAvgPool1d, nn.LPPool1d)


def is_token_sequence(module: nn.Module | None, output: torch.Tensor) -> bool:
    """A (N, T, D) output whose units are its last axis."""
    return output.dim() == 3 and not isinstance(module, CHANNELS_FIRST_1D)


def units_first(module: nn.Module | None, output: torch.Tensor) -> torch.Tensor:
    """The output with its unit axis at 1: (N, D, T) for a token sequence, else unchanged."""
    return output.movedim(-1, 1) if is_token_sequence(module, output) else output


def units_back(module: nn.Module | None, output: torch.Tensor, edited_view: torch.Tensor) -> torch.Tensor:
    """An edited units-first view back in the layout of `output` (the original the module made)."""
    if is_token_sequence(module, output):
        return edited_view.movedim(1, -1).contiguous()
    return edited_view


def layout(module: nn.Module | None, output: torch.Tensor) -> str:
    """`features`, `channels` or `tokens`: how the unit axis was chosen (for `abl layers`)."""
    if output.dim() == 2:
        return "features"
    return "tokens" if is_token_sequence(module, output) else "channels"
