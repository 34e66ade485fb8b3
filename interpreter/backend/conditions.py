"""What an intervention does, as plain data the backend applies through hooks (no torch here)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class EditMode(enum.Enum):
    ZERO = "zero"      # x -> 0 on the chosen units
    MEAN = "mean"      # x -> per-unit dataset mean (conv: mean over images and positions)
    CLAMP = "clamp"    # x -> value
    SCALE = "scale"    # x -> value * x
    PATCH = "patch"    # x -> the units' values on the paired image of another stimuli set (`patch`)


@dataclass(frozen=True)
class ActivationEdit:
    """Replace the output of `layer` (a resolved module path) on `units` (indices on its unit axis,
    backend/units.py).

    Implemented as x * (1 - m) + r * m with m the unit mask, r the replacement per `mode`.
    `means` holds one value per entry of `units` for EditMode.MEAN, else is empty.
    """

    layer: str
    units: tuple[int, ...]
    mode: EditMode
    value: float = 0.0
    means: tuple[float, ...] = ()
    elementwise: bool = False     # units index the flattened (C, H, W) elements, not channels
    token: int | None = None      # a token sequence's units edited at this token only (else at all)
    source: str = ""              # PATCH: the source stimuli's key (identifies `patch`)
    patch: object = field(default=None, compare=False, hash=False, repr=False)
    # PATCH: (N, len(units), ...) torch tensor, the units-first values on the source's N images


class WeightTarget(enum.Enum):
    INCOMING = "incoming"   # the unit's row of weight (and its bias)
    OUTGOING = "outgoing"   # the unit's column in the next layer that reads it


@dataclass(frozen=True)
class WeightEdit:
    """Scale (0 = zero) weights of a parameterised module, undone after the condition.

    `module` is the resolved path of the Linear/Conv module whose `weight` is edited.
    For INCOMING, `units` index dim 0 (output channels); for OUTGOING, dim 1 (input channels).
    `connection` (out, in) edits a single weight instead of whole rows/columns.
    """

    module: str
    target: WeightTarget
    units: tuple[int, ...]
    factor: float = 0.0
    connection: tuple[int, int] | None = None


@dataclass(frozen=True)
class Condition:
    """One way of running the network: a set of edits applied together. No edits = baseline."""

    label: str
    activation_edits: tuple[ActivationEdit, ...] = ()
    weight_edits: tuple[WeightEdit, ...] = ()

    @property
    def is_baseline(self) -> bool:
        return not self.activation_edits and not self.weight_edits


BASELINE = Condition("baseline")
