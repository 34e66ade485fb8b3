"""The resolved program, part one: values (`Const`, `Var`) and the expressions statements are
made of (unit sets, interventions, quantities, claims). Re-exported by resolved.py, which holds
the declarations; everything is used as `resolved.Const`, `resolved.Quantity`, ...
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from .source import Span

SPAN_FIELD = dict(compare=False, hash=False, repr=False)    # a span never takes part in `==`


# ---- values ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Const:
    """A value as Python sees it: int (a whole number written without a point), float (other
    numbers; percentages as fractions) or str (a quoted string, or a bare word)."""
    value: int | float | str
    text: str                          # as written: `0.5`, `50%`, `"junco"`, `fc2`
    bare: bool = False                 # a bare word (an unbound name), not a quoted string
    span: Span = field(default_factory=Span.unknown, **SPAN_FIELD)


@dataclass(frozen=True)
class Var:
    """A loop variable: its value is bound when the planner expands the family."""
    name: str
    span: Span = field(default_factory=Span.unknown, **SPAN_FIELD)

    @property
    def text(self) -> str:
        return self.name


Scalar = Union[Const, Var]


@dataclass(frozen=True)
class Option:
    """`split train`, `epochs 40`, `classes [3, 7]`, `noise 0.2 seed 3`."""
    key: str
    value: Scalar | tuple[Scalar, ...] | None
    extra: Scalar | tuple[Scalar, ...] | None = None    # `seed N` of a corruption, `in LAYERS`
    span: Span = field(default_factory=Span.unknown, **SPAN_FIELD)


# ---- unit sets ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class RankedSelection:
    bottom: bool
    count: Scalar
    metric: str
    target_class: Scalar | None
    layer: Scalar
    stimuli: str | None
    text: str
    per_element: bool = False
    span: Span = field(default_factory=Span.unknown, **SPAN_FIELD)


@dataclass(frozen=True)
class RandomSelection:
    count: Scalar
    layer: Scalar | None               # None with `from SET`
    text: str
    per_element: bool = False
    span: Span = field(default_factory=Span.unknown, **SPAN_FIELD)
    among_live: bool = False
    pool: "UnitExpr | None" = None
    matching: "UnitExpr | None" = None
    match_metric: str = ""


@dataclass(frozen=True)
class ExplicitSelection:
    indices: tuple[Scalar, ...]
    layer: Scalar
    text: str
    span: Span = field(default_factory=Span.unknown, **SPAN_FIELD)


@dataclass(frozen=True)
class AllSelection:
    layer: Scalar
    text: str
    per_element: bool = False
    span: Span = field(default_factory=Span.unknown, **SPAN_FIELD)


@dataclass(frozen=True)
class ThresholdSelection:
    metric: str
    op: str
    threshold: Scalar
    target_class: Scalar | None
    layer: Scalar
    stimuli: str | None
    text: str
    span: Span = field(default_factory=Span.unknown, **SPAN_FIELD)


@dataclass(frozen=True)
class GridSelection:
    rows: int
    cols: int
    row_metric: str
    col_metric: str
    target_class: Scalar | None
    layer: Scalar
    stimuli: str | None
    text: str
    per_element: bool = False
    span: Span = field(default_factory=Span.unknown, **SPAN_FIELD)


@dataclass(frozen=True)
class UnitRef:
    name: str
    text: str
    span: Span = field(default_factory=Span.unknown, **SPAN_FIELD)


@dataclass(frozen=True)
class SetOperation:
    op: str                            # "|", "&", "-"
    left: "UnitExpr"
    right: "UnitExpr"
    text: str
    span: Span = field(default_factory=Span.unknown, **SPAN_FIELD)


UnitExpr = Union[RankedSelection, RandomSelection, ExplicitSelection, AllSelection, ThresholdSelection,
                 GridSelection, UnitRef, SetOperation]


# ---- interventions -----------------------------------------------------------------------------

@dataclass(frozen=True)
class ActivationIntervention:
    kind: str                          # "zero" | "mean" | "clamp" | "scale" | "patch" (value: the stimuli)
    units: UnitExpr
    value: Scalar | None
    text: str
    token: Scalar | None = None
    span: Span = field(default_factory=Span.unknown, **SPAN_FIELD)


@dataclass(frozen=True)
class WeightIntervention:
    direction: str                     # "incoming" | "outgoing" | "connection"
    units: UnitExpr | None
    connection: tuple[Scalar, ...] | None
    layer: Scalar | None
    factor: Scalar | None              # None: zeroing
    text: str
    span: Span = field(default_factory=Span.unknown, **SPAN_FIELD)


Intervention = Union[ActivationIntervention, WeightIntervention]


# ---- quantities and claims ---------------------------------------------------------------------

@dataclass(frozen=True)
class MetricPhrase:
    metric: str                        # the metric's words: `accuracy`, `rank deficit`
    top: Scalar | None
    per_class: bool
    of_class: Scalar | None
    of_units: UnitExpr | None
    in_layer: Scalar | None
    span: Span = field(default_factory=Span.unknown, **SPAN_FIELD)

    @property
    def text(self) -> str:
        return self.metric


@dataclass(frozen=True)
class Selector:
    key: str
    value: Scalar | tuple[Scalar, ...]  # `cell = 3,3` and `row in [0, 3]`: a tuple
    among: bool = False
    span: Span = field(default_factory=Span.unknown, **SPAN_FIELD)


@dataclass(frozen=True)
class Quantity:
    metric: MetricPhrase | None
    stimuli: str | None
    where_class: Scalar | None
    model: str | None
    fit_on: str | None
    interventions: tuple[Intervention, ...]
    selectors: tuple[Selector, ...]
    drop: bool
    text: str
    span: Span = field(default_factory=Span.unknown, **SPAN_FIELD)
    where_not: bool = False           # `where class != C`


@dataclass(frozen=True)
class ChangeTest:
    direction: str                     # "drops" | "rises"
    bound: str                         # "at least" | "at most"
    amount: Scalar
    span: Span = field(default_factory=Span.unknown, **SPAN_FIELD)


@dataclass(frozen=True)
class CompareNumber:
    op: str
    value: Scalar
    span: Span = field(default_factory=Span.unknown, **SPAN_FIELD)


@dataclass(frozen=True)
class CompareQuantity:
    op: str
    rhs: Quantity
    offset: float | None               # signed
    span: Span = field(default_factory=Span.unknown, **SPAN_FIELD)


@dataclass(frozen=True)
class ExtremeTest:
    largest: bool
    at: tuple[Selector, ...]
    span: Span = field(default_factory=Span.unknown, **SPAN_FIELD)


ExpectTest = Union[ChangeTest, CompareNumber, CompareQuantity, ExtremeTest]


@dataclass(frozen=True)
class FamilyClause:
    """`averaged over class, layer`, `in every class x layer`, `in at least 80% of ...`."""
    dims: tuple[str, ...]
    share: float | None                # None: averaging, or `every`
    every: bool
    span: Span = field(default_factory=Span.unknown, **SPAN_FIELD)

    @property
    def averaging(self) -> bool:
        return self.share is None and not self.every
