"""The number format of forward passes (`precision fp32|bf16|fp16`).

Reduced precision is for the forwards only: the model's floating parameters and buffers are cast
to the format, and a forward pre-hook on the model casts its floating inputs to it, so that every
caller (recording, condition runs, layer checks) feeds the network the same way. What comes out
is cast back before anything is added up: `reduce_units` averages in float32 and the recording
accumulates float64 (record.py), condition outputs are float32 logits (run.py), so sums,
probes, intervals and p-values never see the reduced format.

fp32 changes nothing: no cast, no hook, the same bytes as a run without a precision.
No `channels_last` memory layout: on the AlexNet grid it gave the same rank deficits but no
measurable speed-up of the ablation phase (docs/language.md, Precision).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from abl.interpreter.errors import RunError

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}

# the tolerance within which a replicated slice must reproduce the plain forward (run.py's
# prefix-mode check): float32 rounding, or the reduced format's (bf16 keeps 8 bits of mantissa,
# fp16 11, and a different batch size may pick a different kernel)
RTOL = {"fp32": 1e-4, "bf16": 5e-2, "fp16": 1e-2}


@dataclass(frozen=True)
class Precision:
    name: str = "fp32"

    @property
    def dtype(self) -> torch.dtype:
        return DTYPES[self.name]

    @property
    def reduced(self) -> bool:
        return self.name != "fp32"


FP32 = Precision()


def check_precision(name: str, device: torch.device) -> Precision:
    """The precision `name` on `device`, or RunError for a combination torch cannot run."""
    if name not in DTYPES:
        raise RunError(f"unknown precision `{name}`", help="use `fp32` (the default), `bf16` or `fp16`")
    if name == "fp16" and device.type == "cpu":
        raise RunError("precision `fp16` was asked for on the CPU, which has no fast float16 convolutions",
                       help="use `precision bf16` on the CPU (or `fp32`); fp16 runs on a CUDA or MPS GPU")
    if name == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise RunError(f"precision `bf16` was asked for, but the GPU ({torch.cuda.get_device_name(device)}) "
                       "has no bfloat16 support", help="use `precision fp16` on this GPU (or `fp32`)")
    return Precision(name)


def _cast_inputs(dtype: torch.dtype):
    def cast(value):
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            return value.to(dtype)
        return value

    def hook(module, args, kwargs):
        return tuple(cast(a) for a in args), {k: cast(v) for k, v in kwargs.items()}
    return hook


def _output_layer(module: nn.Module) -> nn.Module | None:
    """The last Linear module (in registration order): the classifier whose outputs are the logits."""
    return next((m for m in reversed(list(module.modules())) if isinstance(m, nn.Linear)), None)


def apply_precision(module: nn.Module, precision: Precision) -> nn.Module:
    """Cast `module` (in place) to the precision and make it cast its inputs; fp32 does nothing.

    The output layer (the last Linear) stays float32, its input cast up: logits rounded to bf16's
    8 bits would tie among many classes and move ranks that fp32 tells apart, at the cost of one
    layer's work in float32."""
    if not precision.reduced:
        return module
    module.to(precision.dtype)          # floating parameters and buffers only
    module.register_forward_pre_hook(_cast_inputs(precision.dtype), with_kwargs=True)
    output = _output_layer(module)
    if output is not None:
        output.to(torch.float32)
        output.register_forward_pre_hook(_cast_inputs(torch.float32), with_kwargs=True)
    return module


def module_rtol(module: nn.Module) -> float:
    """The relative tolerance of two forwards of `module` that should agree (run.py): by the
    format of its first floating parameter (the output layer may be float32)."""
    dtype = next((p.dtype for p in module.parameters() if p.is_floating_point()), torch.float32)
    name = next((n for n, d in DTYPES.items() if d == dtype), "fp32")
    return RTOL[name]
