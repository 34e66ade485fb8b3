"""The memory budget for batched conditions: activation bytes, not image counts.

Conditions run K at a time over B images, i.e. K*B rows through the network after the ablated
layer. What a row costs is measured, not guessed from the image count: one forward pass of one
image with a hook on every leaf module finds its largest output; a row is charged three times
that (the module's input and output alive together, plus a residual branch or the edit's copy)
plus the image itself. The budget then fixes how many rows run at once:

    rows = budget // row cost,   B = min(batch size, rows) (at least 1),
    conditions per chunk = rows // B (at least 1)

so a network abl has never seen cannot take the machine down by image counts alone. The same
image batch serves the recording passes. The default budget is, on a GPU, a quarter of its free
memory at most 4 GiB (large batches keep it busy); on the CPU, 256 MiB (at most a quarter of the
available memory): measured on 2 cores, large chunks only thrash the caches and the allocator —
EfficientNet-Lite0's grid took 160 s and 3.3 GB RSS at a 4 GiB budget, 76 s and 1.7 GB at
256 MiB, AlexNet's paper-scale grid 144 s / 1.7 GB against 140 s / 1.4 GB, with identical
results (benchmarks/README.md). `abl run --memory-budget 2GB` overrides it.

In prefix mode (conditions that all edit one layer: the network before it runs once on B
images, only the network after it carries the K * B replicated rows, and the two phases do not
overlap) a replicated row is charged only what the network from that layer on holds, so
K * B <= budget // (3 x the largest output from the layer on). Ablating a late layer of a deep
network (VGG16's fc7) thus batches all its conditions, where charging every row the first conv
layer's output would run them one by one.

A model hooks cannot see (TorchScript: `register_forward_hook is not supported on ScriptModules`)
is measured instead under a dispatch mode that sees the output of every operator the compiled
code runs (`unhooked_costs`): a row costs 3x the largest operator output plus the image, and
there are no per-layer costs, so prefix mode charges every row that whole-network cost.
The estimate runs after the model/stimuli check (models/checks.py `check_fits`), so a model that
cannot read the stimuli is reported as such, not as an error of the estimate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

import torch
from torch import nn

from abl.interpreter.backend.hooks import eval_mode

DEFAULT_CAP = 4 * 1024 ** 3          # on a GPU
CPU_DEFAULT = 256 * 1024 ** 2
_UNITS = {"": 1, "B": 1, "K": 1024, "KB": 1024, "KIB": 1024, "M": 1024 ** 2, "MB": 1024 ** 2,
          "MIB": 1024 ** 2, "G": 1024 ** 3, "GB": 1024 ** 3, "GIB": 1024 ** 3}


def parse_size(text: str) -> int:
    """"2GB", "512MiB", "1.5G", "1000000" -> bytes (binary units); ValueError otherwise."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", text)
    if not match or match.group(2).upper() not in _UNITS:
        raise ValueError(f"not a size: {text!r} (e.g. 2GB, 512MB)")
    size = int(float(match.group(1)) * _UNITS[match.group(2).upper()])
    if size <= 0:
        raise ValueError(f"a memory budget must be positive, not {text!r}")
    return size


MEMINFO = "/proc/meminfo"
UNKNOWN_MEMORY = 4 * CPU_DEFAULT     # when no source says: the CPU default budget, a quarter of it


def available_bytes(device: torch.device) -> int:
    """Free GPU memory (CUDA); else the system's available memory (an MPS device shares it):
    psutil on every platform, else MemAvailable from /proc/meminfo, else `os.sysconf` where the
    platform has it (not Windows; macOS lacks SC_AVPHYS_PAGES), else UNKNOWN_MEMORY."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:        # psutil missing, or failing on this platform: the next source
        pass
    try:
        with open(MEMINFO, encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    import os

    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return UNKNOWN_MEMORY


def default_budget(device: torch.device) -> int:
    cap = DEFAULT_CAP if device.type in ("cuda", "mps") else CPU_DEFAULT
    return max(64 * 1024 ** 2, min(cap, available_bytes(device) // 4))


@dataclass(frozen=True)
class RowCosts:
    """Bytes one image costs in flight: through the whole network (`full`: 3x the largest leaf
    output, plus the image), and from a module on (`after[path]`: 3x the largest output of that
    module and of every leaf that finishes after it), which is all a row replicated at that module
    costs in prefix mode: the network before it has run, and freed its tensors, by then."""

    full: int
    after: Mapping[str, int] = field(default_factory=dict)

    def from_layer(self, path: str) -> int:
        return self.after.get(path, self.full)


def row_costs(model: nn.Module, one_image: torch.Tensor) -> RowCosts:
    """One forward of one image with a hook on every module (removed after); for a model hooks
    cannot see (a TorchScript module), `unhooked_costs`."""
    if isinstance(model, torch.jit.ScriptModule):
        return unhooked_costs(model, one_image)
    finished: list[tuple[str, int, bool]] = []       # (path, output bytes, is a leaf), in finishing order

    def hook_for(path: str, leaf: bool):
        def hook(module, inputs, output):
            size = output.numel() * output.element_size() if isinstance(output, torch.Tensor) else 0
            finished.append((path, size, leaf))
        return hook

    handles = [module.register_forward_hook(hook_for(path, not list(module.children())))
               for path, module in model.named_modules() if path]
    try:
        with eval_mode(model), torch.inference_mode():
            model(one_image)
    finally:
        for handle in handles:
            handle.remove()
    largest = max((size for _, size, leaf in finished if leaf), default=0)
    after: dict[str, int] = {}
    tail = 0                  # the largest leaf output from here to the end, walking backwards
    for path, size, leaf in reversed(finished):
        if leaf:
            tail = max(tail, size)
        after[path] = 3 * max(tail, size)       # the first finishing of a module called twice wins
    return RowCosts(3 * largest + one_image.numel() * one_image.element_size(), after)


def unhooked_costs(model: nn.Module, one_image: torch.Tensor) -> RowCosts:
    """The measured estimate for models without module hooks (TorchScript): one forward of one
    image under a dispatch mode that sees every operator's output, compiled code's included. A
    row is charged 3x the largest operator output (no smaller than a leaf module's) plus the
    image; no per-layer costs, so prefix mode charges every row the whole network's cost."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten

    class Largest(TorchDispatchMode):
        largest = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            output = func(*args, **(kwargs or {}))
            for value in tree_flatten(output)[0]:
                if isinstance(value, torch.Tensor):
                    self.largest = max(self.largest, value.numel() * value.element_size())
            return output

    mode = Largest()
    with eval_mode(model), torch.inference_mode(), mode:
        model(one_image)
    return RowCosts(3 * mode.largest + one_image.numel() * one_image.element_size())


def plan_rows(budget: int, per_row: int, batch_size: int) -> tuple[int, int]:
    """(image batch size, rows per forward) within `budget` bytes: the usual batch of images
    while one condition's batch fits, fewer images when it does not; conditions per chunk follow
    as rows // batch (at least one)."""
    rows = max(1, budget // max(per_row, 1))
    batch = max(1, min(batch_size, rows))
    return batch, max(batch, rows)
