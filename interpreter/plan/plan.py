"""The execution plan: what will be loaded, selected, measured, checked and shown.

Plain frozen data (no torch): families are expanded, names bound, classes resolved to indices.
Selections stay symbolic (they need recorded activations); the executor resolves them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from abl.spec.program import Header, Program
from abl.spec.source import SourceFile, Span
from abl.spec.vocabulary import MEASURES_NEEDING_INTERVENTION

from abl.interpreter.plan.units import Cell, InterventionPlan, Selection
from abl.interpreter.plan.specs import ModelSpec, StimuliSpec


@dataclass(frozen=True)
class MeasureItem:
    metric: str                       # a name from abl.spec.vocabulary.MEASURES
    label: str                        # the `measure` column: "accuracy", "accuracy top-5", ...
    model: str
    stimuli: str                      # the stimuli set's key (identical sets are loaded once)
    interventions: tuple[InterventionPlan, ...] = ()
    intervention_label: str | None = None   # the interventions as written; None: none (the baseline)
    per_class: bool = False
    where_class: int | None = None
    where_not: bool = False           # `where class != C`: the images of every class but where_class
    top: int | None = None
    of_class: int | None = None
    of_units: Selection | None = None
    in_layer: str | None = None
    fit_on: str | None = None
    units_label: str = ""
    layer_label: str = ""
    cell: Cell | None = None          # grid cell of the unit set measured or intervened on
    repeat: int = 0
    dims: tuple[tuple[str, str], ...] = ()
    hidden: bool = False              # planned only because an expectation needs it
    claim: int = 0                    # random draws of expectation `claim` (1-based); 0 otherwise
    stimuli_label: str = ""           # the stimuli as named in this binding (rows carry it)
    fit_label: str = ""               # probes: the stimuli the probe is fitted on
    span: Span = field(default_factory=Span.unknown, compare=False, hash=False)


@dataclass(frozen=True)
class OutputMeasure(MeasureItem):
    """A measure read off the network's outputs under a condition: accuracy, loss, logit,
    probability, rank, rank deficit, rank change."""


@dataclass(frozen=True)
class SelectiveDeficitMeasure(OutputMeasure):
    """The rank deficit of `where class C` against the other classes' (Hayne et al.)."""


@dataclass(frozen=True)
class ProbeMeasure(MeasureItem):
    """A linear probe's balanced accuracy on recorded unit activations."""


@dataclass(frozen=True)
class SelectivityIndexMeasure(MeasureItem):
    """The class selectivity index of a layer's units (mean, and one row per unit)."""


@dataclass(frozen=True)
class ActivationMeasure(MeasureItem):
    """The mean activation of a unit set."""


_MEASURE_TYPES = {"probe accuracy": ProbeMeasure, "selectivity index": SelectivityIndexMeasure,
                  "activation": ActivationMeasure, "selective rank deficit": SelectiveDeficitMeasure}


def measure_type(metric: str) -> type[MeasureItem]:
    """The plan type of a measurement of `metric` (a name of abl.spec.vocabulary.MEASURES): where
    the language's names become types; everything after dispatches on the type."""
    return _MEASURE_TYPES.get(metric, OutputMeasure)


def needs_baseline(item: MeasureItem) -> bool:
    """Measures that compare each image with the unablated network (deficits and changes)."""
    return isinstance(item, OutputMeasure) and item.metric in MEASURES_NEEDING_INTERVENTION


MeasurementId = int                   # a measurement's position in `Plan.measures`


@dataclass(frozen=True)
class ResultQuery:
    """Which rows of the results table a side of an expectation reads: the rows of the
    measurements it names (`measurements`; `baseline_measurements` for the same quantity without
    its interventions), narrowed by the dimensions of `claim_sides.row_dims`: class, layer, row,
    col, model, units, fit_on, seed and loop variables."""

    measure: str                      # the measure as the report shows it
    stimuli: str                      # the stimuli set's key, for its class names
    cls: int | None
    measurements: tuple[MeasurementId, ...]
    baseline_measurements: tuple[MeasurementId, ...] = ()
    dims: tuple[tuple[str, str], ...] = ()       # selected: one value each
    drop: bool = False                # baseline minus this value
    text: str = ""
    layer: str | None = None          # `selectivity index in LAYER`
    among: tuple[tuple[str, tuple[str, ...]], ...] = ()   # `row in [0, 3]`: averaged over these
    context: tuple[tuple[str, str], ...] = ()  # the enclosing `for each class c, each layer L`:
                                               # applied where the rows have the dimension


@dataclass(frozen=True)
class Family:
    """What a claim does with a family of values: average some dimensions, compare members of
    one (`is largest at`), quantify over others. Replicate seeds are averaged unless named."""

    average: tuple[str, ...] = ()
    quantify: tuple[str, ...] = ()
    share: float = 1.0                # `in every`: 1.0; `in at least 80% of`: 0.8
    extreme: str = ""                 # "largest" | "smallest" | ""
    at: tuple[tuple[str, str], ...] = ()   # the member that should be extreme: (("row","3"),("col","3"))


@dataclass(frozen=True, kw_only=True)
class Claim:
    """An expectation: what every kind of claim has. The kinds below add only their own fields."""

    text: str                         # the source line, for the report
    lhs: ResultQuery
    significance: float = 0.05
    family: Family = field(default_factory=Family)
    bindings: tuple[tuple[str, str], ...] = ()   # the loop bindings of the claim's iteration
    span: Span = field(default_factory=Span.unknown, compare=False, hash=False)

    @property
    def shown(self) -> str:
        """The claim as the reports show it: its text, then its iteration (`[target = 3]`)."""
        return self.text + bound_text(self.bindings)


def bound_text(bindings) -> str:
    return " [" + ", ".join(f"{k} = {v}" for k, v in bindings) + "]" if bindings else ""


@dataclass(frozen=True, kw_only=True)
class ChangeClaim(Claim):
    """`Q drops by at least 2% ablating U`: the change from Q's own baseline."""

    amount: float
    direction: str                    # drops | rises
    bound: str                        # at least | at most


@dataclass(frozen=True, kw_only=True)
class NumberClaim(Claim):
    """`Q > 0.9`."""

    op: str
    threshold: float


@dataclass(frozen=True, kw_only=True)
class QuantityClaim(Claim):
    """`Q op R [+ offset]`, two measured quantities."""

    rhs: ResultQuery
    op: str
    offset: float = 0.0
    same_models: bool = False         # both sides read the same model(s): replicate seeds pair


@dataclass(frozen=True, kw_only=True)
class ControlClaim(Claim):
    """`Q op R` where R draws random units: Q ranked among R's `repeats` own draws."""

    rhs: ResultQuery
    op: str
    repeats: int


@dataclass(frozen=True, kw_only=True)
class OffTargetClaim(Claim):
    """`Q[class c] OP Q[class != c]`: Q on class c against the mean of Q's per-class values over
    the other classes (`rhs` reads them: one row per class)."""

    rhs: ResultQuery
    op: str
    target: int                       # c, a class index of the left side's stimuli


@dataclass(frozen=True, kw_only=True)
class ExtremeClaim(Claim):
    """`Q is largest at [cell = 3,3]`: the member and the direction are the family's."""


ExpectItem = ChangeClaim | NumberClaim | QuantityClaim | ControlClaim | OffTargetClaim | ExtremeClaim


@dataclass(frozen=True)
class ReportItem:
    """A `report` statement; each form is a subclass, and views dispatch on the type."""

    metric: str = ""
    by: tuple[tuple[str, ...], ...] = ()
    versus: str = ""
    over: str = ""
    stimuli: str = ""
    units: tuple[Selection, ...] = ()
    steps: int = 128
    text: str = ""
    span: Span = field(default_factory=Span.unknown, compare=False, hash=False)

    kind: ClassVar[str] = ""          # the form's keyword, for messages only


@dataclass(frozen=True)
class TableReport(ReportItem):
    kind: ClassVar[str] = "table"


@dataclass(frozen=True)
class BarsReport(ReportItem):
    kind: ClassVar[str] = "bars"


@dataclass(frozen=True)
class HeatmapReport(ReportItem):
    kind: ClassVar[str] = "heatmap"


@dataclass(frozen=True)
class HistogramReport(ReportItem):
    kind: ClassVar[str] = "histogram"


@dataclass(frozen=True)
class CurveReport(ReportItem):
    kind: ClassVar[str] = "curve"


@dataclass(frozen=True)
class ScatterReport(ReportItem):
    kind: ClassVar[str] = "scatter"


@dataclass(frozen=True)
class FeaturesReport(ReportItem):
    kind: ClassVar[str] = "features"


@dataclass(frozen=True)
class ExemplarsReport(ReportItem):
    """`report exemplars U on S top N`: each unit's N most activating images of S."""

    kind: ClassVar[str] = "exemplars"
    top: int = 9


REPORT_TYPES: dict[str, type[ReportItem]] = {cls.kind: cls for cls in (
    TableReport, BarsReport, HeatmapReport, HistogramReport, CurveReport, ScatterReport, FeaturesReport,
    ExemplarsReport)}


@dataclass(frozen=True)
class Plan:
    program: Program                  # the checked program: its header is the plan's
    stimuli: tuple[tuple[str, StimuliSpec], ...]
    models: tuple[tuple[str, ModelSpec], ...]
    measures: tuple[MeasureItem, ...]
    expectations: tuple[ExpectItem, ...]
    reports: tuple[ReportItem, ...]
    declared: tuple[tuple[str, str], ...] = ()    # key of a stimuli set or model -> its declared name

    @property
    def source(self) -> SourceFile:
        return self.program.source

    @property
    def header(self) -> Header:
        """The checked program's header: the same object."""
        return self.program.header

    @property
    def experiment(self) -> str:
        return self.header.experiment

    @property
    def seed(self) -> int:
        return self.header.seed

    @property
    def device(self) -> str:
        return self.header.device

    @property
    def precision(self) -> str:
        """Of the forward passes: fp32, bf16 or fp16."""
        return self.header.precision

    @property
    def repeats(self) -> int:
        return self.header.repeats

    @property
    def params(self) -> tuple[tuple[str, object], ...]:
        return self.header.params

    @property
    def confidence(self) -> float:
        return self.header.confidence

    @property
    def resamples(self) -> int:
        return self.header.resamples

    def declared_name(self, key: str) -> str:
        """The name the spec declares for a key: `noisy` for `noisy[alpha=0.5]`."""
        return dict(self.declared).get(key, key)

    def stimuli_spec(self, key: str) -> StimuliSpec:
        return dict(self.stimuli)[key]

    def model_spec(self, key: str) -> ModelSpec:
        return dict(self.models)[key]



def condition_groups(plan: Plan) -> dict[tuple[str, str], dict[tuple, MeasureItem | None]]:
    """(model, stimuli) -> {interventions: the first measurement using them} for every measure read
    off the network's outputs; the baseline `()` joins every group that intervenes (deficits and
    drops compare with it). Each group is one batched run over its stimuli."""
    groups: dict[tuple[str, str], dict[tuple, MeasureItem | None]] = {}
    for item in plan.measures:
        if not isinstance(item, OutputMeasure):
            continue
        group = groups.setdefault((item.model, item.stimuli), {})
        group.setdefault(item.interventions, item)
        if item.interventions:
            group.setdefault((), None)
    return groups
