"""Checked program -> Plan: families expanded, names bound to keys, classes resolved.

It reads the program's resolved statements (abl.spec.resolved: Python values and loop variables,
never syntax); what it adds is what depends on a family's member or on the data: the keys a loop
binding gives (`net[alpha=0.5]`), loop variables' values, and class names and indices.

The planner needs to know which classes a stimuli set has (to range `for each class c` and to
resolve `class "junco"`): it asks a `describe` function, which reads folder names or dataset
metadata but no pixels.
"""

from __future__ import annotations

import hashlib
import itertools
from typing import Callable

from abl.spec import resolved as r
from abl.spec.program import Program
from abl.spec.diagnostics import DiagnosticSink, listing

from abl.interpreter.plan.plan import ExpectItem, MeasureItem, Plan, ReportItem
from abl.interpreter.plan.units import Selection
from abl.interpreter.plan.specs import ModelSpec, StimuliSpec
from abl.interpreter.plan.claims import ClaimPlanning, MeasureIndex
from abl.interpreter.plan.declarations import DeclarationPlanning
from abl.interpreter.plan.env import Binding, PlanError, _Abort, _Env  # noqa: F401  (PlanError: raised to callers)
from abl.interpreter.plan.measures import MeasurePlanning


class Planner(DeclarationPlanning, MeasurePlanning, ClaimPlanning):
    def __init__(self, program: Program, describe: Callable[[StimuliSpec], object]):
        self.program = program
        self.describe = describe
        self.sink = DiagnosticSink(program.source)
        self.stimuli: dict[str, StimuliSpec] = {}
        self.models: dict[str, ModelSpec] = {}
        self.measures: list[MeasureItem] = []
        self._measure_keys: set[MeasureItem] = set()
        self.expectations: list[ExpectItem] = []
        self._claim_rows: list[tuple] = []      # per expectation: what its sides read (planner_claims._Rows)
        self.reports: list[ReportItem] = []
        self._class_cache: dict[str, object] = {}
        self.replicas: dict[str, tuple[tuple[str, int], ...]] = {}   # group -> ((member key, seed), ...)
        self.declared: dict[str, str] = {}     # key (`noisy[alpha=0.5]`) -> the name declared (`noisy`)

    # ---- entry ------------------------------------------------------------------------
    def plan(self) -> Plan:
        env = _Env()
        for statement in self.program.statements:
            try:
                self._statement(statement, env)
            except _Abort:
                pass
        if not self.sink.has_errors:
            self._resolve_reports()
        if self.sink.has_errors:
            raise PlanError(self.sink.diagnostics)
        p = self.program
        models, stimuli = self._used()
        index = MeasureIndex(self.measures)
        return Plan(p,
                    tuple((k, v) for k, v in self.stimuli.items() if k in stimuli),
                    tuple((k, v) for k, v in self.models.items() if k in models),
                    tuple(self.measures), tuple(self._resolve_rows(e, rows, index) for e, rows in zip(self.expectations, self._claim_rows)),
                    tuple(self.reports), tuple(self.declared.items()))

    def _used(self) -> tuple[set[str], set[str]]:
        """Only what a measurement or report needs is built: a model declared as an alternative
        (`model digits_cnn = ...` when `--set model=alexnet`) is neither trained nor loaded."""
        models: set[str] = set()
        stimuli: set[str] = set()
        selections = []
        for item in self.measures:
            models.add(item.model)
            stimuli.add(item.stimuli)
            if item.fit_on:
                stimuli.add(item.fit_on)
            stimuli.update(i.source for i in item.interventions if getattr(i, "source", None))   # patching
            selections.extend(i.units for i in item.interventions if i.units is not None)
            if item.of_units is not None:
                selections.append(item.of_units)
        for report in self.reports:
            selections.extend(report.units)
            if report.stimuli and report.units:             # `report exemplars U on S`
                stimuli.add(report.stimuli)
        for selection in selections:
            for leaf in selection.leaves():
                models.add(leaf.model)
                stimuli.add(leaf.stimuli)
        for key in models:
            if key in self.models and self.models[key].train_on:
                stimuli.add(self.models[key].train_on)
        return models, stimuli

    def fail(self, code: str, message: str, span, help: str | None = None):
        self.sink.report(code, message, span, help)
        raise _Abort()

    # ---- statements ------------------------------------------------------------------
    def _statement(self, statement, env: _Env) -> None:
        if isinstance(statement, r.StimuliDecl):
            self._stimuli(statement, env)
        elif isinstance(statement, r.ModelDecl):
            self._model(statement, env)
        elif isinstance(statement, r.UnitsDecl):
            env.units[statement.name] = (statement.expr, env)
        elif isinstance(statement, r.MeasureDecl):
            self._measure(statement.quantity, env, hidden=False)
        elif isinstance(statement, r.ExpectDecl):
            self._expect(statement, env)
        elif isinstance(statement, r.ReportDecl):
            self._report(statement, env)
        elif isinstance(statement, r.ForBlock):
            self._for(statement, env)

    def _for(self, block: r.ForBlock, env: _Env) -> None:
        domains = []
        for binder in block.binders:
            domains.append([(binder, item) for item in self._domain(binder, block, env)])
        for combination in itertools.product(*domains):
            inner = env.child()
            for binder, (value, text) in combination:
                kind = {"class": "class", "layer": "layer", None: "var"}[binder.kind]
                inner.bindings[binder.variable] = Binding(kind, value, text)
            for statement in block.body:
                try:
                    self._statement(statement, inner)
                except _Abort:
                    pass

    def _domain(self, binder: r.Binder, block: r.ForBlock, env: _Env) -> list[tuple[object, str]]:
        if binder.kind == "class":
            stimuli_key = self._reference_stimuli(block.body, env)
            if stimuli_key is None:
                self.fail("E308", "cannot tell whose classes `each class` ranges over", binder.span,
                          help="list them: `each class c in [0, 1, 2]`, or measure on stimuli "
                               "defined before the block")
            info = self._info(stimuli_key)
            if binder.domain is None:
                present = info.present_classes
            else:
                present = [self._class_index(item, env, stimuli_key) for item in binder.domain]
            return [(index, info.class_names[index]) for index in present]
        if binder.kind == "layer":
            return [(self._layer(item, env), self._layer(item, env)) for item in binder.domain]
        # a word in a plain list is itself (an enclosing loop's variable too), a number keeps its text
        return [(item.name, item.name) if isinstance(item, r.Var) else
                (item.value, item.value) if isinstance(item.value, str) else (item.value, item.text)
                for item in binder.domain]

    def _reference_stimuli(self, body, env: _Env) -> str | None:
        for statement in body:
            if isinstance(statement, r.MeasureDecl) and statement.quantity.stimuli is not None:
                key = env.stimuli.get(statement.quantity.stimuli)
                if key is not None:
                    return key
            if isinstance(statement, r.ForBlock):
                found = self._reference_stimuli(statement.body, env)
                if found:
                    return found
        return None

    # ---- values ------------------------------------------------------------------------------
    def _binding(self, value: r.Scalar, env: _Env):
        """A loop variable's value here; a bare word where a variable must stand is E206."""
        name = value.name if isinstance(value, r.Var) else value.text
        if name not in env.bindings:
            self.fail("E206", f"`{name}` is not bound here", value.span)
        return env.bindings[name].value

    def _number(self, value: r.Scalar, env: _Env) -> float:
        if isinstance(value, r.Var) or value.bare:
            bound = self._binding(value, env)
            if not isinstance(bound, (int, float)):
                self.fail("E306", f"`{value.text}` is `{bound}` here, not a number", value.span)
            return bound
        return value.value

    def _layer(self, value: r.Scalar, env: _Env) -> str:
        if isinstance(value, r.Var) or (value.bare and value.text in env.bindings):
            return str(self._binding(value, env))
        return value.value

    def _info(self, stimuli_key: str):
        if stimuli_key not in self._class_cache:
            self._class_cache[stimuli_key] = self.describe(self.stimuli[stimuli_key])
        return self._class_cache[stimuli_key]

    def _class_index(self, value: r.Scalar, env: _Env, stimuli_key: str) -> int:
        span = value.span
        if isinstance(value, r.Var) or value.bare:
            bound = self._binding(value, env)
            if isinstance(bound, float) and bound.is_integer():
                bound = int(bound)
            value_index = bound
        elif isinstance(value.value, (int, float)):
            value_index = int(value.value)
        else:
            value_index = value.value
        info = self._info(stimuli_key)
        names = list(info.class_names)
        if isinstance(value_index, int):
            if value_index not in info.present_classes:
                shown = [f"{i} ({names[i]})" if names[i] != str(i) else str(i) for i in info.present_classes]
                self.fail("E402", f"class {value_index} is not in stimuli `{self.stimuli[stimuli_key].name}`",
                          span, help=f"its classes are {listing(shown)}")
            return value_index
        # one resolver for names everywhere (`classes [...]` uses it too): case, `_` for spaces,
        # ImageNet WordNet ids
        from abl.interpreter.errors import RunError
        from abl.interpreter.plan.catalog import resolve_class

        try:
            return resolve_class(str(value_index), tuple(names), tuple(info.present_classes))
        except RunError as error:
            self.fail("E402", error.message.replace("these stimuli",
                                                    f"stimuli `{self.stimuli[stimuli_key].name}`"),
                      span, help=error.help)

def make_plan(program: Program, describe: Callable[[StimuliSpec], object]) -> Plan:
    return Planner(program, describe).plan()


def selection_seed(selection: Selection) -> list[int]:
    """Seed material for a random draw (numpy `SeedSequence` entropy): the spec's seed, the first
    4 bytes (little-endian) of SHA-256 of `name|model|layer|count` (`10%` for a share), the stream (0 for `measure`
    statements, j for the j-th expectation's own draws) and the draw index."""
    count = selection.count if selection.fraction is None else f"{100 * selection.fraction:g}%"   # `random 10%`
    identity = f"{selection.name}|{selection.model}|{selection.layer}|{count}"
    digest = int.from_bytes(hashlib.sha256(identity.encode()).digest()[:4], "little")
    return [selection.seed, digest, selection.stream, selection.draw]


def plan_program(program) -> Plan:
    """The plan of a checked program, with the stimuli described by the torch-free catalog."""
    from abl.interpreter.plan.catalog import describe

    return make_plan(program, describe)
