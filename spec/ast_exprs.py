"""The typed AST, part one: values and the expressions statements are made of (unit selections,
interventions, quantities, expectation tests, family clauses). Re-exported by ast.py, which holds
the statements; everything is used as `ast.Name`, `ast.Quantity`, ...
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from .source import Span


# ---- values ------------------------------------------------------------------

@dataclass(frozen=True)
class Number:
    value: float
    text: str
    span: Span

    @property
    def is_int(self) -> bool:
        return float(self.value).is_integer() and "." not in self.text and "e" not in self.text.lower()


@dataclass(frozen=True)
class Percent:
    """`3%`: stands for the fraction 0.03 (percentage points of a rate)."""
    value: float          # already divided by 100
    text: str
    span: Span


@dataclass(frozen=True)
class String:
    value: str
    span: Span


@dataclass(frozen=True)
class Name:
    """A bare word: a defined name, a layer, a dataset, a loop variable, an option word."""
    value: str
    span: Span


@dataclass(frozen=True)
class ParamRef:
    name: str             # without the `$`
    span: Span


@dataclass(frozen=True)
class ListValue:
    items: tuple["Value", ...]
    span: Span


Value = Union[Number, Percent, String, Name, ParamRef, ListValue]
SCALARS = (Number, Percent, String, Name)   # the values a loop can take, once `$params` are substituted


@dataclass(frozen=True)
class Option:
    """A keyword option of a statement: `split train`, `epochs 40`, `per class 50`."""
    key: str
    value: Value | None
    span: Span
    extra: Value | None = None     # `regularize selectivity A in LAYERS`: the layers


# ---- units -------------------------------------------------------------------

@dataclass(frozen=True)
class Metric:
    words: tuple[str, ...]
    span: Span

    @property
    def text(self) -> str:
        return " ".join(self.words)


@dataclass(frozen=True)
class RankedSelection:
    """`top K by METRIC [for class C] in LAYER [on STIMULI]` (or `bottom`)."""
    bottom: bool
    count: Value
    metric: Metric
    target_class: Value | None
    layer: Value
    stimuli: Name | None
    span: Span
    per_element: bool = False      # units are the elements (C, H, W) of the output, not its channels


@dataclass(frozen=True)
class RandomSelection:
    """`random K in LAYER [among live]`, or `random K from SET` (`layer` None, `pool` the set)."""
    count: Value
    layer: Value | None
    span: Span
    per_element: bool = False      # units are the elements (C, H, W) of the output, not its channels
    among_live: bool = False       # only units active on at least LIVE_SHARE of the stimuli
    pool: "UnitExpr | None" = None  # `from SET`: drawn from SET's units
    matching: "UnitExpr | None" = None   # `matching SET by METRIC`: one unit per unit of SET, same decile
    match_metric: "Metric | None" = None


@dataclass(frozen=True)
class ExplicitSelection:
    indices: ListValue
    layer: Value
    span: Span


@dataclass(frozen=True)
class AllSelection:
    layer: Value
    span: Span
    per_element: bool = False      # units are the elements (C, H, W) of the output, not its channels


@dataclass(frozen=True)
class ThresholdSelection:
    metric: Metric
    op: str
    threshold: Value
    target_class: Value | None
    layer: Value
    stimuli: Name | None
    span: Span


@dataclass(frozen=True)
class GridSelection:
    """`grid RxC over A,B [for class C] in LAYER [on STIMULI]`: a family of R*C unit sets."""
    rows: int
    cols: int
    size_span: Span
    row_metric: Metric
    col_metric: Metric
    target_class: Value | None
    layer: Value
    stimuli: Name | None
    span: Span
    per_element: bool = False      # units are the elements (C, H, W) of the output, not its channels


@dataclass(frozen=True)
class UnitRef:
    name: Name
    span: Span


@dataclass(frozen=True)
class SetOperation:
    op: str               # "|", "&", "-"
    left: "UnitExpr"
    right: "UnitExpr"
    span: Span


UnitExpr = Union[RankedSelection, RandomSelection, ExplicitSelection, AllSelection,
                 ThresholdSelection, GridSelection, UnitRef, SetOperation]


# ---- interventions -----------------------------------------------------------

@dataclass(frozen=True)
class ActivationIntervention:
    """`ablating U` (zero), `mean-ablating U`, `clamping U to V`, `scaling U by F`, optionally
    `at token T` (a token sequence's units edited at one token only; not with mean-ablating,
    which the checker refuses)."""
    kind: str             # "zero" | "mean" | "clamp" | "scale" | "patch"
    units: UnitExpr
    value: Value | None   # clamp: the value; scale: the factor; patch: the source stimuli's Name
    span: Span
    token: Value | None = None


@dataclass(frozen=True)
class WeightIntervention:
    """`zeroing incoming weights of U`, `scaling outgoing weights of U by F`,
    `zeroing weight [o, i] of LAYER`."""
    direction: str        # "incoming" | "outgoing" | "connection"
    units: UnitExpr | None
    connection: ListValue | None
    layer: Value | None
    factor: Value | None  # None = zeroing
    span: Span


Intervention = Union[ActivationIntervention, WeightIntervention]


# ---- quantities -------------------------------------------------------------

@dataclass(frozen=True)
class MetricPhrase:
    """`accuracy top 5 per class`, `logit of class 3`, `probe accuracy of cells`,
    `selectivity index in conv1`."""
    metric: Metric
    top: Value | None
    per_class: bool
    of_class: Value | None
    of_units: UnitExpr | None
    in_layer: Value | None
    span: Span

    @property
    def text(self) -> str:
        return self.metric.text


@dataclass(frozen=True)
class Selector:
    """`[class 7]`, `[alpha = -1]`, `[cell = 3,3]` (value: a list of two numbers) or
    `[row in [0, 3]]` (`among`: the mean over those values) after a metric in an expectation."""
    key: str              # "class", "not class" (`[class != c]`: the other classes' mean), "layer",
                          # "cell", "row", "col", "seed" or a loop variable's name
    value: Value
    span: Span
    among: bool = False   # `KEY in [..]`: the values are averaged


@dataclass(frozen=True)
class Quantity:
    """A measured value: metric on stimuli, optionally for one class's images, of one model,
    under interventions."""
    metric: MetricPhrase | None        # None only for an elided right-hand side (`drop ablating r`)
    stimuli: Name | None
    where_class: Value | None
    model: Name | None
    fit_on: Name | None
    interventions: tuple[Intervention, ...]
    selectors: tuple[Selector, ...]
    drop: bool                          # `drop of M ...`: baseline minus intervened value
    span: Span
    where_not: bool = False             # `where class != C`: the images of every class but C


# ---- expectations -----------------------------------------------------------

@dataclass(frozen=True)
class ChangeTest:
    """`drops by at least 3%`, `rises by at most 0.1`: the intervened value vs the baseline."""
    direction: str        # "drops" | "rises"
    bound: str            # "at least" | "at most"
    amount: Value
    span: Span


@dataclass(frozen=True)
class CompareNumber:
    op: str
    value: Value
    span: Span


@dataclass(frozen=True)
class CompareQuantity:
    op: str
    rhs: Quantity
    offset_sign: str | None
    offset: Value | None
    span: Span


@dataclass(frozen=True)
class ExtremeTest:
    """`is largest at [cell = 3,3]`: the quantity at the selected member exceeds every other
    member of the family the selector ranges over."""
    largest: bool
    at: tuple[Selector, ...]
    span: Span


ExpectTest = Union[ChangeTest, CompareNumber, CompareQuantity, ExtremeTest]


@dataclass(frozen=True)
class FamilyClause:
    """`averaged over class, layer` (share None), `in every class x layer` (share 1.0) or
    `in at least 80% of class x layer` (share 0.8): what a claim does with a family of values."""
    dims: tuple[str, ...]
    share: Value | None        # None: averaging; a Percent/Number: the share of members
    every: bool
    span: Span
    dim_spans: tuple[Span, ...] = ()

    @property
    def averaging(self) -> bool:
        return self.share is None and not self.every
