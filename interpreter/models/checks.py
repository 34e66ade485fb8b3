"""What a model is without running an experiment: its aliases and module paths described offline
(for `abl lint --deep`), and whether it can read a stimuli set (a trial forward pass)."""

from __future__ import annotations

import itertools
import re

import torch

from abl.interpreter.models import zoo
from abl.interpreter.errors import RunError, user_frame
from abl.interpreter.models.build import LoadedModel
from abl.interpreter.models.networks import BUILTINS, CNN_DEFAULT_WIDTHS, MLP, DigitsCNN
from abl.interpreter.plan.specs import ModelSpec


# ---- offline description and fit checks --------------------------------------------------------------
def describe_model(spec: ModelSpec) -> tuple[dict[str, str], list[str]] | None:
    """(aliases, module paths) without training or loading weights, when that is possible offline:
    built-in architectures and torchvision architectures (and state-dict files naming one)."""
    arch = spec.arch
    if spec.kind == "train" or (spec.kind == "file" and arch in BUILTINS):
        if arch == "mlp":
            if spec.kind == "file" or len(spec.widths) < 2:
                return None
            module = MLP(spec.widths)
        elif arch == "cnn":
            module = DigitsCNN(1, 8, 10, tuple(spec.widths) or CNN_DEFAULT_WIDTHS)
        else:
            return None
        return module.aliases(), [path for path, _ in module.named_modules() if path]
    if spec.kind in ("torchvision", "file") and arch and zoo.is_torchvision(arch):
        with torch.device("meta"):
            module = zoo.finish(arch, zoo.construct(arch))
        return zoo.aliases(arch, module), [path for path, _ in module.named_modules() if path]
    if spec.kind == "timm" and arch:
        from abl.interpreter.models import timm_zoo

        with torch.device("meta"):
            module = timm_zoo.construct(arch)
        return timm_zoo.aliases(module), [path for path, _ in module.named_modules() if path]
    return None


def check_fits(model: LoadedModel, stimuli, device: torch.device | str | None = None) -> None:
    """RunError when `model` cannot read `stimuli` (a trial forward pass on two images) or when a
    label lies outside its outputs."""
    images = stimuli.take(range(min(2, stimuli.n)))
    if device is None:
        try:
            device = next(model.module.parameters()).device
        except StopIteration:
            device = torch.device("cpu")
    shape = tuple(int(s) for s in stimuli.shape)
    expected = f"; it expects {' x '.join(map(str, model.input_shape))}" if model.input_shape else ""
    try:
        with torch.inference_mode():
            output = model.module(images.to(device))
    except Exception as error:  # noqa: BLE001 - shape errors come as RuntimeError, ValueError, ...
        if user_frame(error.__traceback__) is not None:
            raise               # the model's own error: the executor names its file and line
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise RunError(f"model `{model.spec.name}` does not fit stimuli `{stimuli.spec.name}`: the images are "
                       f"{' x '.join(map(str, shape))}{expected} ({first})",
                       help="use stimuli of the shape the model was made for (for an ImageNet network: an "
                            "image folder, or `preprocess imagenet`)") from None
    if isinstance(output, torch.Tensor) and output.dim() == 2 and stimuli.n:
        top = int(stimuli.labels.max())
        if top >= output.shape[1]:
            raise RunError(f"model `{model.spec.name}` has {output.shape[1]} outputs, but stimuli "
                           f"`{stimuli.spec.name}` have label {top} ({stimuli.class_names[top]})",
                           help="measure on stimuli whose classes the model was trained on")


# ---- memory: a network larger than the machine is said before it is allocated -----------------------
def _gib(size: float) -> str:
    return f"{size / 1024 ** 3:,.1f} GiB" if size >= 1024 ** 3 else f"{size / 1024 ** 2:,.0f} MiB"


def _too_large(spec: ModelSpec, what: str, budget: int, available: int) -> RunError:
    return RunError(f"model `{spec.name}` is too large for this machine: {what}, but {_gib(available)} of memory "
                    f"is available (the memory budget for conditions in flight is {_gib(budget)})",
                    help="use smaller widths, or run where there is more memory (`--device cuda`, "
                         "`--memory-budget` sets the budget)")


def check_size(spec: ModelSpec, device: torch.device, budget: int) -> None:
    """RunError naming the network's size when a `train mlp [...]` network's parameters (float32;
    training keeps about 4x: weights, gradients, the optimiser's two moments) exceed the memory
    available, before anything is allocated (the allocator may promise more than it can give)."""
    from abl.interpreter.backend.budget import available_bytes

    if spec.kind != "train" or spec.arch != "mlp" or len(spec.widths) < 2:
        return
    widths = [int(w) for w in spec.widths]
    parameters = sum(a * b + b for a, b in itertools.pairwise(widths))
    available = available_bytes(device)
    if 4 * 4 * parameters > available:
        raise _too_large(spec, f"mlp {widths} has {parameters:,} parameters, {_gib(4 * parameters)} as float32 "
                               f"(training keeps about 4x that)", budget, available)


def out_of_memory(spec: ModelSpec, error: BaseException, device: torch.device, budget: int) -> RunError | None:
    """The RunError for an allocation that failed while building or training `spec`, else None."""
    from abl.interpreter.backend.budget import available_bytes

    text = str(error)
    if not (isinstance(error, (MemoryError, getattr(torch, "OutOfMemoryError", MemoryError))) or "allocate" in text
            and ("memory" in text.lower())):
        return None
    asked = re.search(r"allocate (\d+) bytes", text)
    what = f"one of its tensors needs {_gib(int(asked.group(1)))}" if asked else "allocating its tensors failed"
    return _too_large(spec, what, budget, available_bytes(device))
