"""The execution plan: what will be loaded, selected, measured, checked and shown.

Plain frozen data (no torch): families are expanded, names bound, classes resolved to indices.
Selections stay symbolic (they need recorded activations); the executor resolves them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from abl.spec.program import Program
from abl.spec.source import SourceFile, Span
from abl.spec.vocabulary import MEASURES_OF_OUTPUTS

from .specs import ModelSpec, StimuliSpec


ELEMENTS = " per element"


def recorded_layer(layer: str, per_element: bool) -> str:
    """The key of a layer's recording: the layer as written for channel units, `LAYER per element`
    for element units (a space never occurs in a module path, so the two never collide)."""
    return layer + ELEMENTS if per_element else layer


def split_recorded(key: str) -> tuple[str, bool]:
    """`recorded_layer`'s inverse: (layer as written, per element)."""
    return (key[:-len(ELEMENTS)], True) if key.endswith(ELEMENTS) else (key, False)


@dataclass(frozen=True)
class Selection:
    """A unit selection bound to one model. `kind` is one of:
    ranked | random | explicit | all | threshold | grid-cell | union | intersection | difference."""

    kind: str
    model: str = ""
    layer: str = ""                   # as written: an alias or a module path
    stimuli: str = ""                 # stimuli key the statistics are recorded on
    metric: str = ""
    column_metric: str = ""           # grid: the second axis
    count: int = 0
    bottom: bool = False
    target_class: int | None = None
    indices: tuple[int, ...] = ()
    op: str = ""
    threshold: float = 0.0
    rows: int = 0
    cols: int = 0
    cell: tuple[int, int] | None = None
    draw: int = 0                     # random: which draw (fresh per repeat)
    stream: int = 0                   # random: 0 for `measure` statements, j for expectation j's own draws
    per_element: bool = False         # units are the elements of the output (C, H, W), not channels
    seed: int = 0
    children: tuple["Selection", ...] = ()
    name: str = ""                    # the unit set's name in the spec, for labels
    span: Span = field(default_factory=Span.unknown, compare=False, hash=False)
    layer_span: Span | None = field(default=None, compare=False, hash=False)    # where the layer is written

    def layers(self) -> tuple[str, ...]:
        if self.children:
            seen: list[str] = []
            for child in self.children:
                for layer in child.layers():
                    if layer not in seen:
                        seen.append(layer)
            return tuple(seen)
        return (self.layer,)

    @property
    def recorded_layer(self) -> str:
        """The recording this leaf's statistics come from: see `recorded_layer`."""
        return recorded_layer(self.layer, self.per_element)

    def recorded_layers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(leaf.recorded_layer for leaf in self.leaves()))

    def leaves(self) -> tuple["Selection", ...]:
        if self.children:
            return tuple(leaf for child in self.children for leaf in child.leaves())
        return (self,)

    @property
    def is_random(self) -> bool:
        return any(leaf.kind == "random" for leaf in self.leaves())


@dataclass(frozen=True)
class InterventionPlan:
    """kind: zero | mean | clamp | scale | weights."""

    kind: str
    units: Selection | None
    value: float = 0.0
    direction: str = ""               # weights: incoming | outgoing | connection
    connection: tuple[int, int] | None = None
    layer: str = ""                   # weights/connection: the layer written
    token: int | None = None          # activation edits of a token sequence at one token only
    span: Span = field(default_factory=Span.unknown, compare=False, hash=False)


@dataclass(frozen=True)
class MeasureItem:
    metric: str                       # a name from abl.spec.vocabulary.MEASURES
    label: str                        # the `measure` column: "accuracy", "accuracy top-5", ...
    model: str
    stimuli: str                      # the stimuli set's key (identical sets are loaded once)
    interventions: tuple[InterventionPlan, ...] = ()
    intervention_label: str = "none"
    per_class: bool = False
    where_class: int | None = None
    top: int | None = None
    of_class: int | None = None
    of_units: Selection | None = None
    in_layer: str | None = None
    fit_on: str | None = None
    units_label: str = ""
    layer_label: str = ""
    cell_label: str = ""
    repeat: int = 0
    dims: tuple[tuple[str, str], ...] = ()
    hidden: bool = False              # planned only because an expectation needs it
    claim: int = 0                    # random draws of expectation `claim` (1-based); 0 otherwise
    stimuli_label: str = ""           # the stimuli as named in this binding (rows carry it)
    fit_label: str = ""               # probes: the stimuli the probe is fitted on
    span: Span = field(default_factory=Span.unknown, compare=False, hash=False)


@dataclass(frozen=True)
class ResultQuery:
    """Which rows of the results table a side of an expectation reads. Dimension names are those
    of `decide.row_dims`: class, layer, row, col, model, units, fit_on, seed and loop variables."""

    measure: str
    stimuli: str                      # the stimuli set's key, for its class names
    model: str | None
    cls: int | None
    intervention: str                 # intervention label, "none" for the baseline
    dims: tuple[tuple[str, str], ...] = ()       # selected: one value each
    drop: bool = False                # baseline minus this value
    text: str = ""
    layer: str | None = None          # `selectivity index in LAYER`
    stimuli_label: str = ""           # the rows' `stimuli` (the name as bound in this scope)
    claim: int = 0                    # which claim's random draws the rows are (0: not a claim's own)
    baseline_claim: int = 0           # the same for the quantity without its interventions
    models: tuple[str, ...] = ()      # a replicated model's members (rows of any of them)
    units: str = ""                   # `activation of a`: the unit set's name (rows' `units`)
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


@dataclass(frozen=True)
class ExpectItem:
    """kind: change | compare-number | compare-quantity | control | extreme."""

    kind: str
    text: str
    lhs: ResultQuery
    rhs: ResultQuery | None = None
    op: str = ""
    number: float = 0.0               # threshold, change amount, or offset
    direction: str = ""               # drops | rises
    bound: str = ""                   # at least | at most
    repeats: int = 0
    significance: float = 0.05
    family: Family = field(default_factory=Family)
    span: Span = field(default_factory=Span.unknown, compare=False, hash=False)


@dataclass(frozen=True)
class ReportItem:
    kind: str
    metric: str = ""
    by: tuple[tuple[str, ...], ...] = ()
    versus: str = ""
    over: str = ""
    stimuli: str = ""
    units: tuple[Selection, ...] = ()
    steps: int = 128
    text: str = ""
    span: Span = field(default_factory=Span.unknown, compare=False, hash=False)


@dataclass(frozen=True)
class Plan:
    program: Program                  # the checked program: its header is the plan's
    stimuli: tuple[tuple[str, StimuliSpec], ...]
    models: tuple[tuple[str, ModelSpec], ...]
    measures: tuple[MeasureItem, ...]
    expectations: tuple[ExpectItem, ...]
    reports: tuple[ReportItem, ...]

    @property
    def source(self) -> SourceFile:
        return self.program.source

    @property
    def experiment(self) -> str:
        return self.program.experiment

    @property
    def seed(self) -> int:
        return self.program.seed

    @property
    def device(self) -> str:
        return self.program.device

    @property
    def repeats(self) -> int:
        return self.program.repeats

    @property
    def params(self) -> tuple[tuple[str, object], ...]:
        return self.program.params

    @property
    def confidence(self) -> float:
        return self.program.confidence

    @property
    def resamples(self) -> int:
        return self.program.resamples

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
        if item.metric not in MEASURES_OF_OUTPUTS:
            continue
        group = groups.setdefault((item.model, item.stimuli), {})
        group.setdefault(item.interventions, item)
        if item.interventions:
            group.setdefault((), None)
    return groups
