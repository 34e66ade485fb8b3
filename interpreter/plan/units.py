"""The plan's unit sets and interventions: one type per kind, each with only its own fields.

A unit set is bound to one model and stays symbolic (ranking needs recorded activations); the
executor resolves it (selections.py). Plain frozen data, no torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar, NamedTuple

from abl.spec.source import Span

ELEMENTS = " per element"


def recorded_layer(layer: str, per_element: bool) -> str:
    """The key of a layer's recording: the layer as written for channel units, `LAYER per element`
    for element units (a space never occurs in a module path, so the two never collide)."""
    return layer + ELEMENTS if per_element else layer


def split_recorded(key: str) -> tuple[str, bool]:
    """`recorded_layer`'s inverse: (layer as written, per element)."""
    return (key[:-len(ELEMENTS)], True) if key.endswith(ELEMENTS) else (key, False)


class Cell(NamedTuple):
    """A grid cell: `row` counts along the first metric, `col` along the second."""

    row: int
    col: int

    def __str__(self) -> str:                 # the results table's `cell` column
        return f"{self.row},{self.col}"


# ---- unit sets ---------------------------------------------------------------------------------

class _Units:
    """What every unit set answers: its layers, its leaves, whether it draws at random."""

    kind: ClassVar[str]               # the name selections.json gives the kind

    def leaves(self) -> tuple["UnitLeaf", ...]:
        raise NotImplementedError

    def layers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(leaf.layer for leaf in self.leaves()))

    def recorded_layers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(leaf.recorded_layer for leaf in self.leaves()))

    @property
    def is_random(self) -> bool:
        return any(isinstance(leaf, RandomUnits) for leaf in self.leaves()) or \
            any(getattr(child, "is_random", False) for child in getattr(self, "children", ()))


@dataclass(frozen=True, kw_only=True)
class UnitLeaf(_Units):
    """A unit set chosen in one layer of one model."""

    model: str
    layer: str                        # as written: an alias or a module path
    stimuli: str                      # stimuli key the statistics are recorded on
    name: str                         # the unit set's name in the spec, for labels
    seed: int = 0
    target_class: int | None = None   # `for class C`
    per_element: bool = False         # units are the elements of the output (C, H, W), not channels
    bindings: tuple[tuple[str, str], ...] = ()   # the loop bindings where the unit set is defined
    span: Span = field(default_factory=Span.unknown, compare=False, hash=False)
    layer_span: Span | None = field(default=None, compare=False, hash=False)    # where the layer is written

    def leaves(self) -> tuple["UnitLeaf", ...]:
        return (self,)

    @property
    def recorded_layer(self) -> str:
        """The recording this leaf's statistics come from: see `recorded_layer`."""
        return recorded_layer(self.layer, self.per_element)


@dataclass(frozen=True, kw_only=True)
class RankedUnits(UnitLeaf):
    """`top|bottom N by METRIC`."""

    kind: ClassVar[str] = "ranked"
    metric: str
    count: int
    bottom: bool = False
    fraction: float | None = None     # `top 10%`: the count is this share of the layer (unit_count)


@dataclass(frozen=True, kw_only=True)
class RandomUnits(UnitLeaf):
    """`random N`: drawn afresh per draw, from the stream of whoever measures it."""

    kind: ClassVar[str] = "random"
    count: int
    fraction: float | None = None     # `random 10%`: as RankedUnits
    draw: int = 0                     # which draw (fresh per repeat)
    stream: int = 0                   # 0 for `measure` statements, j for expectation j's own draws
    among_live: bool = False          # `among live`: only units active on >= LIVE_SHARE of the stimuli
    matching: "Selection | None" = None   # `matching SET by METRIC`: one unit per unit of SET, same decile
    match_metric: str = ""

    def leaves(self) -> tuple["UnitLeaf", ...]:
        return (self,) + (self.matching.leaves() if self.matching is not None else ())


@dataclass(frozen=True, kw_only=True)
class ExplicitUnits(UnitLeaf):
    """`units [3, 17]`."""

    kind: ClassVar[str] = "explicit"
    indices: tuple[int, ...]


@dataclass(frozen=True, kw_only=True)
class AllUnits(UnitLeaf):
    """`all`."""

    kind: ClassVar[str] = "all"


@dataclass(frozen=True, kw_only=True)
class ThresholdUnits(UnitLeaf):
    """`where METRIC > X`."""

    kind: ClassVar[str] = "threshold"
    metric: str
    op: str
    threshold: float


@dataclass(frozen=True, kw_only=True)
class GridCellUnits(UnitLeaf):
    """One cell of `grid RxC over METRIC, COLUMN_METRIC`."""

    kind: ClassVar[str] = "grid-cell"
    metric: str
    column_metric: str
    rows: int
    cols: int
    cell: Cell


@dataclass(frozen=True, kw_only=True)
class UnitSetOperation(_Units):
    """`a | b`, `a & b`, `a - b`."""

    op: str                           # union | intersection | difference
    left: "Selection"
    right: "Selection"
    model: str
    name: str
    span: Span = field(default_factory=Span.unknown, compare=False, hash=False)

    @property
    def kind(self) -> str:
        return self.op

    @property
    def children(self) -> tuple["Selection", "Selection"]:
        return (self.left, self.right)

    def leaves(self) -> tuple[UnitLeaf, ...]:
        return self.left.leaves() + self.right.leaves()


@dataclass(frozen=True, kw_only=True)
class PooledRandomUnits(_Units):
    """`random N from SET`: N of SET's units (over all of its layers), drawn afresh per draw."""

    kind: ClassVar[str] = "random-from"
    pool: "Selection"
    count: int
    model: str
    name: str
    seed: int = 0
    fraction: float | None = None     # `random 10% from SET`: of SET's units
    draw: int = 0
    stream: int = 0
    span: Span = field(default_factory=Span.unknown, compare=False, hash=False)

    @property
    def layer(self) -> str:           # the seed's identity (planner.selection_seed)
        cell = getattr(self.pool, "cell", None)         # a grid's cells draw apart
        return f"from {self.pool.name}" + (f" {cell}" if cell is not None else "")

    @property
    def is_random(self) -> bool:
        return True

    def leaves(self) -> tuple[UnitLeaf, ...]:
        return self.pool.leaves()


Selection = (RankedUnits | RandomUnits | ExplicitUnits | AllUnits | ThresholdUnits | GridCellUnits
             | UnitSetOperation | PooledRandomUnits)


# ---- interventions ------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class ActivationIntervention:
    """An edit of the units' activations: at every token of a token sequence, or at `token`."""

    mode: ClassVar[str]               # the backend's EditMode value
    units: Selection | None = None    # None until the planner binds the unit set
    token: int | None = None
    span: Span = field(default_factory=Span.unknown, compare=False, hash=False)


@dataclass(frozen=True, kw_only=True)
class Ablate(ActivationIntervention):
    mode: ClassVar[str] = "zero"


@dataclass(frozen=True, kw_only=True)
class MeanAblate(ActivationIntervention):
    """To each unit's mean over the stimuli it is measured on (a recording of its own)."""

    mode: ClassVar[str] = "mean"


@dataclass(frozen=True, kw_only=True)
class Clamp(ActivationIntervention):
    mode: ClassVar[str] = "clamp"
    value: float


@dataclass(frozen=True, kw_only=True)
class Scale(ActivationIntervention):
    mode: ClassVar[str] = "scale"
    factor: float


@dataclass(frozen=True, kw_only=True)
class Patch(ActivationIntervention):
    """`patching U from S`: each image's units set to their values on the image at the same
    position of stimuli S (activation patching)."""

    mode: ClassVar[str] = "patch"
    source: str                       # the source stimuli's key
    source_label: str = ""            # as written


@dataclass(frozen=True, kw_only=True)
class ScaleWeights:
    """`scaling incoming|outgoing weights of U by F`."""

    direction: str                    # incoming | outgoing
    factor: float
    units: Selection | None = None
    span: Span = field(default_factory=Span.unknown, compare=False, hash=False)


@dataclass(frozen=True, kw_only=True)
class ScaleConnection:
    """`scaling connection [i, j] of LAYER by F`: one weight."""

    units: ClassVar[None] = None      # no unit set: the connection names its units
    layer: str                        # as written
    connection: tuple[int, int]
    factor: float
    span: Span = field(default_factory=Span.unknown, compare=False, hash=False)


InterventionPlan = Ablate | MeanAblate | Clamp | Scale | Patch | ScaleWeights | ScaleConnection


def unit_count(selection, n_units: int) -> int:
    """A `top|bottom|random` count: N as written, or P% of the layer's `n_units` rounded to the
    nearest whole number, halves up, and at least 1 (10% of 16 units is 2, 25% of 10 is 3)."""
    if selection.fraction is None:
        return selection.count
    return max(1, math.floor(round(selection.fraction * n_units, 9) + 0.5))
