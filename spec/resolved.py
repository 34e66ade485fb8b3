"""The checked program's statements: what the planner consumes, with no syntax left to read.

The checker resolves the typed syntax tree (ast.py) into these: header statements become the
program's Header, `$params` are substituted, every value is a Python value (`Const`) or a loop
variable the planner binds when it expands a family (`Var`), references to declarations are
their names, metrics are their words, and every unit set, intervention and quantity carries
its text as written (the labels of rows and claims). Frozen dataclasses with spans (excluded
from `==`), like the AST; no Lark, no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from .resolved_exprs import (SPAN_FIELD, Const, Var, Scalar, Option, RankedSelection, RandomSelection,
                             ExplicitSelection, AllSelection, ThresholdSelection, GridSelection, UnitRef,
                             SetOperation, UnitExpr, ActivationIntervention, WeightIntervention,
                             Intervention, MetricPhrase, Selector, Quantity, ChangeTest, CompareNumber,
                             CompareQuantity, ExtremeTest, ExpectTest, FamilyClause)
from .source import Span

__all__ = ["Const", "Var", "Scalar", "Option", "RankedSelection", "RandomSelection", "ExplicitSelection",
           "AllSelection", "ThresholdSelection", "GridSelection", "UnitRef", "SetOperation",
           "UnitExpr", "ActivationIntervention", "WeightIntervention", "Intervention",
           "MetricPhrase", "Selector", "Quantity", "ChangeTest", "CompareNumber", "CompareQuantity",
           "ExtremeTest", "ExpectTest", "FamilyClause", "Dataset", "Folder", "Derived",
           "StimuliDecl", "TrainModel", "TorchvisionModel", "TimmModel", "FileModel",
           "FactoryModel", "ModelRef", "ModelExpr", "ModelDecl", "UnitsDecl", "MeasureDecl",
           "ExpectDecl", "ReportDecl", "Binder", "ForBlock", "Statement"]


# ---- declarations ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Dataset:
    """An embedded or packaged dataset (`digits`, `mnist`, `photos`), `path` for those read
    from a folder."""
    name: str
    path: str | None = None


@dataclass(frozen=True)
class Folder:
    """An image folder, one subfolder per class."""
    path: str


@dataclass(frozen=True)
class Derived:
    """Another stimuli set's images, with options of their own (`stimuli noisy = test noise 0.2`)."""
    stimuli: str


@dataclass(frozen=True)
class StimuliDecl:
    name: str
    source: Dataset | Folder | Derived
    options: tuple[Option, ...]
    span: Span = field(default_factory=Span.unknown, **SPAN_FIELD)


@dataclass(frozen=True)
class TrainModel:
    arch: str
    widths: tuple[Scalar, ...]
    train_on: str
    options: tuple[Option, ...]
    span: Span = field(default_factory=Span.unknown, **SPAN_FIELD)


@dataclass(frozen=True)
class TorchvisionModel:
    arch: str
    weights: str | None
    span: Span = field(default_factory=Span.unknown, **SPAN_FIELD)


@dataclass(frozen=True)
class TimmModel:
    arch: str
    weights: str | None
    span: Span = field(default_factory=Span.unknown, **SPAN_FIELD)


@dataclass(frozen=True)
class FileModel:
    path: str
    arch: str | None
    span: Span = field(default_factory=Span.unknown, **SPAN_FIELD)
    arch_python: str | None = None


@dataclass(frozen=True)
class FactoryModel:
    target: str
    span: Span = field(default_factory=Span.unknown, **SPAN_FIELD)
    kwargs: tuple[tuple[str, object], ...] = ()     # keyword arguments: numbers and strings


@dataclass(frozen=True)
class ModelRef:
    """Another declared model (`model net = digits_cnn`, after `--set model=...`)."""
    name: str
    span: Span = field(default_factory=Span.unknown, **SPAN_FIELD)


ModelExpr = Union[TrainModel, TorchvisionModel, TimmModel, FileModel, FactoryModel, ModelRef]


@dataclass(frozen=True)
class ModelDecl:
    name: str
    expr: ModelExpr
    span: Span = field(default_factory=Span.unknown, **SPAN_FIELD)


@dataclass(frozen=True)
class UnitsDecl:
    name: str
    expr: UnitExpr
    span: Span = field(default_factory=Span.unknown, **SPAN_FIELD)


@dataclass(frozen=True)
class MeasureDecl:
    quantity: Quantity
    span: Span = field(default_factory=Span.unknown, **SPAN_FIELD)


@dataclass(frozen=True)
class ExpectDecl:
    quantity: Quantity
    test: ExpectTest
    repeats: int | None                # `repeats N`: the claim's own random draws
    significance: float
    families: tuple[FamilyClause, ...]
    text: str                          # the source line, for the report
    span: Span = field(default_factory=Span.unknown, **SPAN_FIELD)


@dataclass(frozen=True)
class ReportDecl:
    kind: str
    metric: MetricPhrase | None
    by: tuple[tuple[str, ...], ...]    # `by class x layer` -> (("class", "layer"),)
    versus: MetricPhrase | None
    over: str | None
    stimuli: str | None
    steps: int
    units: UnitExpr | None
    text: str                          # the source line
    span: Span = field(default_factory=Span.unknown, **SPAN_FIELD)
    top: int = 9                       # `report exemplars U top N`


@dataclass(frozen=True)
class Binder:
    """`each class c [in [..]]`, `each layer L in [..]`, `each alpha in [..]`."""
    kind: str | None                   # "class" | "layer" | None
    variable: str
    domain: tuple[Scalar, ...] | None  # None: every class of the stimuli
    span: Span = field(default_factory=Span.unknown, **SPAN_FIELD)


@dataclass(frozen=True)
class ForBlock:
    binders: tuple[Binder, ...]
    body: tuple["Statement", ...]
    span: Span = field(default_factory=Span.unknown, **SPAN_FIELD)


Statement = Union[StimuliDecl, ModelDecl, UnitsDecl, MeasureDecl, ExpectDecl, ReportDecl, ForBlock]
