"""The typed syntax tree of a spec: frozen dataclasses, each node carrying its source span.

Nothing from Lark appears here; `lower.py` is the only bridge from Lark's tree to these nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from .source import Span


from .ast_exprs import (Number, Percent, String, Name, ParamRef, ListValue, Option, Metric,
                        RankedSelection, RandomSelection, ExplicitSelection, AllSelection,
                        ThresholdSelection, GridSelection, UnitRef, SetOperation,
                        ActivationIntervention, WeightIntervention, MetricPhrase, Selector,
                        Quantity, ChangeTest, CompareNumber, CompareQuantity, ExtremeTest,
                        FamilyClause, Value, SCALARS, UnitExpr, Intervention, ExpectTest)

__all__ = ["Number", "Percent", "String", "Name", "ParamRef", "ListValue", "Option", "Metric",
           "RankedSelection", "RandomSelection", "ExplicitSelection", "AllSelection",
           "ThresholdSelection", "GridSelection", "UnitRef", "SetOperation", "ActivationIntervention",
           "WeightIntervention", "MetricPhrase", "Selector", "Quantity", "ChangeTest", "CompareNumber",
           "CompareQuantity", "ExtremeTest", "FamilyClause", "Value", "SCALARS", "UnitExpr", "Intervention",
           "ExpectTest", "Experiment", "Seed", "Device", "Precision", "Confidence", "Resamples", "Repeats", "Param",
           "StimuliDecl", "TrainModel", "TorchvisionModel", "TimmModel", "FileModel", "FactoryModel",
           "ModelRef", "ModelDecl", "UnitsDecl", "MeasureDecl", "ExpectDecl", "ReportDim",
           "ReportDecl", "Binder", "ForBlock", "Spec", "ModelExpr", "Statement", "BROKEN"]


# ---- statements -------------------------------------------------------------

@dataclass(frozen=True)
class Experiment:
    name: Value
    span: Span


@dataclass(frozen=True)
class Seed:
    value: Value
    span: Span


@dataclass(frozen=True)
class Device:
    value: Value
    span: Span


@dataclass(frozen=True)
class Precision:
    """`precision fp32|bf16|fp16`: the number format of the networks' forward passes."""
    value: Value
    span: Span


@dataclass(frozen=True)
class Confidence:
    """`confidence 95%`: the level of every interval."""
    value: Value
    span: Span


@dataclass(frozen=True)
class Resamples:
    """`resamples 1000`: bootstrap and permutation resamples for intervals and tests."""
    value: Value
    span: Span


@dataclass(frozen=True)
class Repeats:
    """`repeats 100`: how many draws a random unit set gets when used as a control."""
    value: Value
    span: Span


@dataclass(frozen=True)
class Param:
    name: Name
    value: Value
    span: Span


@dataclass(frozen=True)
class StimuliDecl:
    name: Name
    source: Value
    path: Value | None
    options: tuple[Option, ...]
    span: Span


@dataclass(frozen=True)
class TrainModel:
    arch: Name
    widths: Value | None
    train_on: Name
    options: tuple[Option, ...]
    span: Span


@dataclass(frozen=True)
class TorchvisionModel:
    arch: Name
    weights: Value | None
    span: Span


@dataclass(frozen=True)
class TimmModel:
    """`timm ARCH [weights ...]`: a timm architecture (checked against timm at run time)."""
    arch: Name
    weights: Value | None
    span: Span


@dataclass(frozen=True)
class FileModel:
    path: Value
    arch: Name | None
    span: Span
    arch_python: Value | None = None   # `arch python "mynet:SmallCNN"`: the class or factory to build


@dataclass(frozen=True)
class FactoryModel:
    target: Value
    span: Span
    kwargs: tuple[tuple[Name, Value], ...] = ()   # `with width=64, weights="w.pt"`


@dataclass(frozen=True)
class ModelRef:
    """`model net = $model` or `= alexnet`: a declared model's name or a torchvision architecture."""
    value: Value
    span: Span


ModelExpr = Union[TrainModel, TorchvisionModel, TimmModel, FileModel, FactoryModel, ModelRef]


@dataclass(frozen=True)
class ModelDecl:
    name: Name
    expr: ModelExpr
    span: Span


@dataclass(frozen=True)
class UnitsDecl:
    name: Name
    expr: UnitExpr
    span: Span


@dataclass(frozen=True)
class MeasureDecl:
    name: Name | None
    quantity: Quantity
    span: Span


@dataclass(frozen=True)
class ExpectDecl:
    quantity: Quantity
    test: ExpectTest
    options: tuple[Option, ...]
    span: Span
    families: tuple[FamilyClause, ...] = ()


@dataclass(frozen=True)
class ReportDim:
    names: tuple[str, ...]     # `class x layer` -> ("class", "layer")
    span: Span


@dataclass(frozen=True)
class ReportDecl:
    kind: Name
    metric: MetricPhrase | None
    by: tuple[ReportDim, ...]
    versus: MetricPhrase | None
    over: Name | None
    stimuli: Name | None
    steps: Value | None
    units: "UnitExpr | None"
    span: Span
    top: Value | None = None   # `report exemplars U top N`


@dataclass(frozen=True)
class Binder:
    """`each class c`, `each layer L in [..]`, `each alpha in [..]`."""
    kind: str | None           # "class" | "layer" | None
    variable: Name
    domain: Value | None
    span: Span


@dataclass(frozen=True)
class ForBlock:
    binders: tuple[Binder, ...]
    body: tuple["Statement", ...]
    span: Span


Statement = Union[Experiment, Seed, Device, Precision, Repeats, Confidence, Resamples, Param, StimuliDecl, ModelDecl, UnitsDecl,
                  MeasureDecl, ExpectDecl, ReportDecl, ForBlock]


BROKEN = "__broken__"      # the loop variable of a `for each` whose header did not parse


@dataclass(frozen=True)
class Spec:
    path: str
    statements: tuple[Statement, ...]
    broken_lines: tuple[int, ...] = ()    # lines that did not parse (blanked; reported as E1xx)
