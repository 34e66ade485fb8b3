"""Checked program -> Plan: families expanded, names bound to keys, classes resolved.

The planner needs to know which classes a stimuli set has (to range `for each class c` and to
resolve `class "junco"`): it asks a `describe` function, which reads folder names or dataset
metadata but no pixels.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
from dataclasses import dataclass, field
from typing import Callable

from abl.spec import ast
from abl.spec.program import Program
from abl.spec.diagnostics import Diagnostic, DiagnosticSink, listing
from abl.spec.fmt import intervention_text, unit_expr_text, value_text
from abl.spec.vocabulary import MEASURES_NEEDING_INTERVENTION

from .plan import (ExpectItem, Family, InterventionPlan, MeasureItem, Plan, ReportItem, ResultQuery,
                   Selection)
from .specs import Corruption, ModelSpec, StimuliSpec


class PlanError(Exception):
    def __init__(self, diagnostics: list[Diagnostic]):
        super().__init__("; ".join(d.message for d in diagnostics))
        self.diagnostics = diagnostics


@dataclass
class _Env:
    bindings: dict[str, tuple[str, object, str]] = field(default_factory=dict)  # var -> (kind, value, text)
    stimuli: dict[str, str] = field(default_factory=dict)     # name -> key
    models: dict[str, str] = field(default_factory=dict)      # name -> key
    units: dict[str, tuple[object, "_Env"]] = field(default_factory=dict)
    # name -> the name as bound here (`noisy[alpha=0.5]`), also where the images are shared
    stimuli_labels: dict[str, str] = field(default_factory=dict)

    def child(self) -> "_Env":
        return _Env(dict(self.bindings), dict(self.stimuli), dict(self.models), dict(self.units),
                    dict(self.stimuli_labels))

    def stimuli_label(self, name: str) -> str:
        return self.stimuli_labels.get(name, self.stimuli[name])

    def dims(self) -> tuple[tuple[str, str], ...]:
        return tuple((name, text) for name, (kind, _, text) in self.bindings.items() if kind == "var")

    def suffix(self) -> str:
        if not self.bindings:
            return ""
        return "[" + ",".join(f"{name}={text}" for name, (_, _, text) in self.bindings.items()) + "]"


class _Abort(Exception):
    pass


class Planner:
    def __init__(self, program: Program, describe: Callable[[StimuliSpec], object]):
        self.program = program
        self.describe = describe
        self.sink = DiagnosticSink(program.source)
        self.stimuli: dict[str, StimuliSpec] = {}
        self.models: dict[str, ModelSpec] = {}
        self.measures: list[MeasureItem] = []
        self._measure_keys: set[MeasureItem] = set()
        self.expectations: list[ExpectItem] = []
        self.reports: list[ReportItem] = []
        self._class_cache: dict[str, object] = {}
        self.replicas: dict[str, tuple[tuple[str, int], ...]] = {}   # group -> ((member key, seed), ...)

    # ---- entry ------------------------------------------------------------------------
    def plan(self) -> Plan:
        env = _Env()
        for statement in self.program.statements:
            try:
                self._statement(statement, env)
            except _Abort:
                pass
        if self.sink.has_errors:
            raise PlanError(self.sink.diagnostics)
        p = self.program
        models, stimuli = self._used()
        return Plan(p,
                    tuple((k, v) for k, v in self.stimuli.items() if k in stimuli),
                    tuple((k, v) for k, v in self.models.items() if k in models),
                    tuple(self.measures), tuple(self.expectations), tuple(self.reports))

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
            selections.extend(i.units for i in item.interventions if i.units is not None)
            if item.of_units is not None:
                selections.append(item.of_units)
        for report in self.reports:
            selections.extend(report.units)
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
        if isinstance(statement, ast.StimuliDecl):
            self._stimuli(statement, env)
        elif isinstance(statement, ast.ModelDecl):
            self._model(statement, env)
        elif isinstance(statement, ast.UnitsDecl):
            env.units[statement.name.value] = (statement.expr, env)
        elif isinstance(statement, ast.MeasureDecl):
            self._measure(statement.quantity, env, hidden=False)
        elif isinstance(statement, ast.ExpectDecl):
            self._expect(statement, env)
        elif isinstance(statement, ast.ReportDecl):
            self._report(statement, env)
        elif isinstance(statement, ast.ForBlock):
            self._for(statement, env)

    def _for(self, block: ast.ForBlock, env: _Env) -> None:
        domains = []
        for binder in block.binders:
            domains.append([(binder, item) for item in self._domain(binder, block, env)])
        for combination in itertools.product(*domains):
            inner = env.child()
            for binder, (value, text) in combination:
                kind = {"class": "class", "layer": "layer", None: "var"}[binder.kind]
                inner.bindings[binder.variable.value] = (kind, value, text)
            for statement in block.body:
                try:
                    self._statement(statement, inner)
                except _Abort:
                    pass

    def _domain(self, binder: ast.Binder, block: ast.ForBlock, env: _Env) -> list[tuple[object, str]]:
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
                present = [self._class_index(item, env, stimuli_key) for item in binder.domain.items]
            return [(index, info.class_names[index]) for index in present]
        items = binder.domain.items
        if binder.kind == "layer":
            return [(self._layer(item, env), self._layer(item, env)) for item in items]
        values = []
        for item in items:
            if isinstance(item, ast.Number):
                values.append((int(item.value) if item.is_int else item.value, item.text))
            elif isinstance(item, ast.Percent):
                values.append((item.value, item.text))
            else:
                values.append((item.value, item.value))
        return values

    def _reference_stimuli(self, body, env: _Env) -> str | None:
        for statement in body:
            if isinstance(statement, ast.MeasureDecl) and statement.quantity.stimuli is not None:
                key = env.stimuli.get(statement.quantity.stimuli.value)
                if key is not None:
                    return key
            if isinstance(statement, ast.ForBlock):
                found = self._reference_stimuli(statement.body, env)
                if found:
                    return found
        return None

    # ---- stimuli and models ----------------------------------------------------------------
    def _stimuli(self, decl: ast.StimuliDecl, env: _Env) -> None:
        key = decl.name.value + env.suffix()
        source = decl.source
        if isinstance(source, ast.Name) and source.value in env.stimuli:
            spec = dataclasses.replace(self.stimuli[env.stimuli[source.value]], name=key)
        elif isinstance(source, ast.Name):
            path = decl.path.value if isinstance(decl.path, ast.String) else None
            spec = StimuliSpec(key, source.value, path=path, seed=self.program.seed)
        else:
            spec = StimuliSpec(key, "imagefolder", path=source.value, seed=self.program.seed)
        for option in decl.options:
            spec = self._stimuli_option(spec, option, env)
        env.stimuli_labels[decl.name.value] = key
        for existing_key, existing in self.stimuli.items():
            # the same images under another loop binding: load them once
            if existing_key.split("[")[0] == decl.name.value and \
                    dataclasses.replace(existing, name=key) == spec:
                env.stimuli[decl.name.value] = existing_key
                return
        self.stimuli[key] = dataclasses.replace(spec, span=decl.span)
        env.stimuli[decl.name.value] = key

    def _stimuli_option(self, spec: StimuliSpec, option: ast.Option, env: _Env) -> StimuliSpec:
        value = option.value
        if option.key == "split":
            return dataclasses.replace(spec, split=value.value)
        if option.key == "holdout":
            return dataclasses.replace(spec, test_fraction=float(value.value))
        if option.key == "per class":
            return dataclasses.replace(spec, per_class=int(self._number(value, env)))
        if option.key == "preprocess":
            return dataclasses.replace(spec, preprocess=value.value)
        if option.key in ("noise", "blur"):
            seed = self.program.seed if option.extra is None else int(self._number(option.extra, env))
            step = Corruption(option.key, float(self._number(value, env)), seed)
            return dataclasses.replace(spec, corruptions=spec.corruptions + (step,))
        if option.key == "seed":
            return dataclasses.replace(spec, seed=int(self._number(value, env)))
        if option.key == "classes":
            classes = []
            for item in value.items:
                if isinstance(item, ast.Name):
                    classes.append(self._binding(item, env, "class"))
                elif isinstance(item, ast.Number):
                    classes.append(int(item.value))
                else:
                    classes.append(item.value)
            return dataclasses.replace(spec, classes=tuple(classes))
        return spec

    def _model(self, decl: ast.ModelDecl, env: _Env) -> None:
        expr = decl.expr
        if isinstance(expr, ast.ModelRef):
            env.models[decl.name.value] = env.models[expr.value.value]
            return
        key = decl.name.value + env.suffix()
        seed = self.program.seed
        if isinstance(expr, ast.TrainModel):
            fields: dict = {}
            replicates = 0
            for option in expr.options:
                if option.key == "epochs":
                    fields["epochs"] = int(self._number(option.value, env))
                elif option.key == "lr":
                    fields["lr"] = float(self._number(option.value, env))
                elif option.key == "batch":
                    fields["batch_size"] = int(self._number(option.value, env))
                elif option.key == "seed":
                    fields["seed"] = int(self._number(option.value, env))
                elif option.key == "replicates":
                    replicates = int(self._number(option.value, env))
                elif option.key == "regularize selectivity":
                    fields["regularize"] = float(self._number(option.value, env))
                    if option.extra is not None:
                        items = option.extra.items if isinstance(option.extra, ast.ListValue) else (option.extra,)
                        fields["regularize_layers"] = tuple(self._layer(i, env) for i in items)
            widths = tuple(int(i.value) for i in expr.widths.items) if isinstance(expr.widths, ast.ListValue) else ()
            spec = ModelSpec(key, "train", arch=expr.arch.value, widths=widths,
                             train_on=env.stimuli[expr.train_on.value], seed=fields.pop("seed", seed),
                             **fields)
            if replicates:
                # `replicates N`: N models trained with seeds s, s+1, ...; measurements of the
                # name range over them (the `seed` dimension)
                members = []
                for offset in range(replicates):
                    member_seed = spec.seed + offset
                    member = (key[:-1] + f",seed={member_seed}]") if key.endswith("]") else \
                        f"{key}[seed={member_seed}]"
                    self.models[member] = dataclasses.replace(spec, name=member, seed=member_seed,
                                                              span=decl.span)
                    members.append((member, member_seed))
                self.replicas[key] = tuple(members)
                env.models[decl.name.value] = key
                return
        elif isinstance(expr, ast.TorchvisionModel):
            weights = "auto" if expr.weights is None else expr.weights.value
            spec = ModelSpec(key, "torchvision", arch=expr.arch.value, weights=weights, seed=seed)
        elif isinstance(expr, ast.TimmModel):
            weights = "auto" if expr.weights is None else expr.weights.value
            spec = ModelSpec(key, "timm", arch=expr.arch.value, weights=weights, seed=seed)
        elif isinstance(expr, ast.FileModel):
            spec = ModelSpec(key, "file", arch=expr.arch.value if expr.arch else None,
                             path=expr.path.value, seed=seed)
        else:
            spec = ModelSpec(key, "factory", path=expr.target.value, seed=seed)
        self.models[key] = dataclasses.replace(spec, span=decl.span)
        env.models[decl.name.value] = key

    # ---- values ------------------------------------------------------------------------------
    def _binding(self, name: ast.Name, env: _Env, what: str):
        if name.value not in env.bindings:
            self.fail("E206", f"`{name.value}` is not bound here", name.span)
        return env.bindings[name.value][1]

    def _number(self, value, env: _Env) -> float:
        if isinstance(value, ast.Name):
            bound = self._binding(value, env, "number")
            if not isinstance(bound, (int, float)):
                self.fail("E306", f"`{value.value}` is `{bound}` here, not a number", value.span)
            return bound
        return value.value

    def _layer(self, value, env: _Env) -> str:
        if isinstance(value, ast.Name) and value.value in env.bindings:
            kind, bound, _ = env.bindings[value.value]
            return str(bound)
        return value.value

    def _info(self, stimuli_key: str):
        if stimuli_key not in self._class_cache:
            self._class_cache[stimuli_key] = self.describe(self.stimuli[stimuli_key])
        return self._class_cache[stimuli_key]

    def _class_index(self, value, env: _Env, stimuli_key: str) -> int:
        if isinstance(value, ast.Name):
            bound = self._binding(value, env, "class")
            if isinstance(bound, float) and bound.is_integer():
                bound = int(bound)
            value_index = bound
            span = value.span
        elif isinstance(value, ast.Number):
            value_index = int(value.value)
            span = value.span
        else:
            value_index = value.value
            span = value.span
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
        from .errors import RunError
        from .catalog import resolve_class

        try:
            return resolve_class(str(value_index), tuple(names), tuple(info.present_classes))
        except RunError as error:
            self.fail("E402", error.message.replace("these stimuli",
                                                    f"stimuli `{self.stimuli[stimuli_key].name}`"),
                      span, help=error.help)

    # ---- units ----------------------------------------------------------------------------
    def _bind_units(self, expr, env: _Env, model: str, stimuli: str, name: str = "") -> list[tuple[str, Selection]]:
        """A unit expression bound to a model: [("", selection)] or one entry per grid cell."""
        if isinstance(expr, ast.UnitRef):
            target, defining_env = env.units[expr.name.value]
            return self._bind_units(target, defining_env, model, stimuli, name=expr.name.value)
        if isinstance(expr, ast.SetOperation):
            left = self._bind_units(expr.left, env, model, stimuli)
            right = self._bind_units(expr.right, env, model, stimuli)
            kind = {"|": "union", "&": "intersection", "-": "difference"}[expr.op]
            return [("", Selection(kind, model=model, children=(left[0][1], right[0][1]),
                                   name=name or unit_expr_text(expr), span=expr.span))]
        label = name or unit_expr_text(expr)
        layer = self._layer(expr.layer, env)
        stats_stimuli = stimuli
        if getattr(expr, "stimuli", None) is not None:
            stats_stimuli = env.stimuli[expr.stimuli.value]
        else:
            spec = self.models.get(model)
            if spec is not None and spec.kind == "train" and spec.train_on:
                stats_stimuli = spec.train_on
        target = None
        if getattr(expr, "target_class", None) is not None:
            target = self._class_index(expr.target_class, env, stats_stimuli)
        base = dict(model=model, layer=layer, stimuli=stats_stimuli, target_class=target,
                    name=label, span=expr.span, layer_span=getattr(expr.layer, "span", None),
                    seed=self.program.seed,
                    per_element=getattr(expr, "per_element", False))
        if isinstance(expr, ast.RankedSelection):
            return [("", Selection("ranked", metric=expr.metric.text, count=int(self._number(expr.count, env)),
                                   bottom=expr.bottom, **base))]
        if isinstance(expr, ast.RandomSelection):
            return [("", Selection("random", count=int(self._number(expr.count, env)), **base))]
        if isinstance(expr, ast.ExplicitSelection):
            return [("", Selection("explicit", indices=tuple(int(i.value) for i in expr.indices.items), **base))]
        if isinstance(expr, ast.AllSelection):
            return [("", Selection("all", **base))]
        if isinstance(expr, ast.ThresholdSelection):
            return [("", Selection("threshold", metric=expr.metric.text, op=expr.op,
                                   threshold=float(expr.threshold.value), **base))]
        if isinstance(expr, ast.GridSelection):
            return [(f"{r},{c}", Selection("grid-cell", metric=expr.row_metric.text,
                                           column_metric=expr.col_metric.text, rows=expr.rows,
                                           cols=expr.cols, cell=(r, c), **base))
                    for r in range(expr.rows) for c in range(expr.cols)]
        raise AssertionError(f"unknown unit expression {expr!r}")

    @staticmethod
    def _with_draw(selection: Selection, draw: int, stream: int) -> Selection:
        if selection.children:
            return dataclasses.replace(selection, children=tuple(
                Planner._with_draw(c, draw, stream) for c in selection.children))
        if selection.kind == "random":
            return dataclasses.replace(selection, draw=draw, stream=stream)
        return selection

    def _of_class(self, quantity: ast.Quantity, env: _Env, stimuli: str) -> int | None:
        of_class = quantity.metric.of_class
        return None if of_class is None else self._class_index(of_class, env, stimuli)

    def _metric_label(self, quantity: ast.Quantity, stimuli: str, of_class: int | None) -> str:
        """The `measure` column: the metric with its arguments that tell values apart."""
        metric = quantity.metric
        label = metric.text + (f" top-{int(metric.top.value)}" if metric.top else "")
        if of_class is not None and metric.text in ("logit", "probability"):
            label += f" of class {self._info(stimuli).class_names[of_class]}"
        return label

    # ---- measurements ----------------------------------------------------------------------
    def _measure(self, quantity: ast.Quantity, env: _Env, hidden: bool, repeats: int | None = None,
                 claim: int = 0) -> list[MeasureItem]:
        """`claim` (an expectation's number) gives random draws a stream of their own. A replicated
        model's measurement is one per member, each with its `seed`."""
        group = env.models[quantity.model.value]
        if group in self.replicas:
            items = []
            for member, member_seed in self.replicas[group]:
                inner = env.child()
                inner.models = {name: (member if key == group else key) for name, key in env.models.items()}
                inner.bindings["seed"] = ("var", member_seed, str(member_seed))
                items += self._measure(quantity, inner, hidden, repeats, claim)
            return items
        metric = quantity.metric.text
        model = env.models[quantity.model.value]
        stimuli = env.stimuli[quantity.stimuli.value]
        of_class = self._of_class(quantity, env, stimuli)
        label = self._metric_label(quantity, stimuli, of_class)
        where = None
        if quantity.where_class is not None:
            where = self._class_index(quantity.where_class, env, stimuli)
        for selector in quantity.selectors:
            if selector.key == "class":
                where = self._class_index(selector.value, env, stimuli)
        in_layer = self._layer(quantity.metric.in_layer, env) if quantity.metric.in_layer is not None else None
        fit_on = env.stimuli[quantity.fit_on.value] if quantity.fit_on is not None else None
        fit_label = env.stimuli_label(quantity.fit_on.value) if quantity.fit_on is not None else ""

        # Each source of variation: grid cells (a family) and random draws (a control).
        bound_interventions = []
        for intervention in quantity.interventions:
            bound_interventions.append(self._bind_intervention(intervention, env, model, stimuli))
        of_units = None
        units_label = ""
        if quantity.metric.of_units is not None:
            of_units = self._bind_units(quantity.metric.of_units, env, model, fit_on or stimuli)
            units_label = of_units[0][1].name
        grid_sources = [b for b in bound_interventions if len(b[1]) > 1]
        if of_units is not None and len(of_units) > 1:
            grid_sources.append((None, of_units))
        if len(grid_sources) > 1:
            self.fail("E306", "a measurement can range over one grid at a time", quantity.span)
        cells = [cell for cell, _ in grid_sources[0][1]] if grid_sources else [""]
        is_random = any(sel.is_random for b in bound_interventions for _, sel in b[1] if sel is not None) or \
            (of_units is not None and of_units[0][1].is_random)
        draws = range(repeats or self.program.repeats) if is_random else range(1)
        stream = claim if is_random else 0
        intervention_label = " and ".join(intervention_text(i) for i in quantity.interventions) or "none"
        items = []
        for cell_index, cell in enumerate(cells):
            for draw in draws:
                plans = []
                for intervention, family in bound_interventions:
                    selection = family[cell_index][1] if len(family) > 1 else family[0][1]
                    if selection is not None:
                        selection = self._with_draw(selection, draw, stream)
                    plans.append(dataclasses.replace(intervention, units=selection))
                units = None
                if of_units is not None:
                    units = of_units[cell_index][1] if len(of_units) > 1 else of_units[0][1]
                    units = self._with_draw(units, draw, stream)
                first_units = units or next((p.units for p in plans if p.units is not None), None)
                layer_label = in_layer or ("+".join(first_units.recorded_layers()) if first_units is not None else "")
                if metric == "probe accuracy" and units is not None and not fit_label:
                    fit_label = units.leaves()[0].stimuli
                if not units_label and first_units is not None:
                    units_label_here = first_units.name
                else:
                    units_label_here = units_label
                item = MeasureItem(
                    metric=metric, label=label, model=model, stimuli=stimuli,
                    interventions=tuple(plans), intervention_label=intervention_label,
                    per_class=quantity.metric.per_class, where_class=where,
                    top=int(quantity.metric.top.value) if quantity.metric.top else None,
                    of_class=of_class, of_units=units, in_layer=in_layer, fit_on=fit_on,
                    units_label=units_label_here, layer_label=layer_label, cell_label=cell,
                    repeat=draw, dims=env.dims(), hidden=hidden, claim=stream,
                    stimuli_label=env.stimuli_label(quantity.stimuli.value),
                    fit_label=fit_label if metric == "probe accuracy" else "", span=quantity.span)
                items.append(item)
                self._add_measure(item)
        return items

    def _add_measure(self, item: MeasureItem) -> None:
        key = dataclasses.replace(item, hidden=False)
        if key in self._measure_keys:
            return
        if item.hidden:
            covering = dataclasses.replace(key, per_class=True, where_class=None)
            if covering in self._measure_keys:
                return
        self._measure_keys.add(key)
        self.measures.append(item)

    def _bind_intervention(self, intervention, env: _Env, model: str, stimuli: str):
        if isinstance(intervention, ast.ActivationIntervention):
            family = self._bind_units(intervention.units, env, model, stimuli)
            value = float(self._number(intervention.value, env)) if intervention.value is not None else 0.0
            token = int(self._number(intervention.token, env)) if intervention.token is not None else None
            return (InterventionPlan(intervention.kind, None, value, token=token, span=intervention.span), family)
        factor = float(self._number(intervention.factor, env)) if intervention.factor is not None else 0.0
        if intervention.direction == "connection":
            connection = tuple(int(i.value) for i in intervention.connection.items)
            return (InterventionPlan("weights", None, factor, "connection", connection,
                                     self._layer(intervention.layer, env), span=intervention.span),
                    [("", None)])
        family = self._bind_units(intervention.units, env, model, stimuli)
        return (InterventionPlan("weights", None, factor, intervention.direction, span=intervention.span),
                family)

    # ---- expectations ----------------------------------------------------------------------
    def _query(self, quantity: ast.Quantity, env: _Env, claims: tuple[int, int] = (0, 0)) -> ResultQuery:
        """`claims`: whose random draws the rows are, with and without the interventions."""
        stimuli = env.stimuli[quantity.stimuli.value]
        label = self._metric_label(quantity, stimuli, self._of_class(quantity, env, stimuli))
        cls = None
        if quantity.where_class is not None:
            cls = self._class_index(quantity.where_class, env, stimuli)
        dims = list(env.dims())
        among = []
        for selector in quantity.selectors:
            if selector.key == "class":
                cls = self._class_index(selector.value, env, stimuli)
            elif selector.among:
                among += self._among(selector, env, stimuli)
            else:
                dims += self._selected(selector, env, stimuli)
        context = []
        for name, (kind, value, text) in env.bindings.items():
            if kind == "class" and cls is None:
                context.append(("class", self._info(stimuli).class_names[value]))
            elif kind == "layer":
                context.append(("layer", text))
        model = env.models.get(quantity.model.value) if quantity.model is not None else None
        models = tuple(member for member, _ in self.replicas.get(model, ()))
        intervention = " and ".join(intervention_text(i) for i in quantity.interventions) or "none"
        from abl.spec.fmt import quantity_text
        layer = self._layer(quantity.metric.in_layer, env) if quantity.metric.in_layer is not None else None
        units = ""
        if quantity.metric.of_units is not None:
            of_units = quantity.metric.of_units
            units = of_units.name.value if isinstance(of_units, ast.UnitRef) else unit_expr_text(of_units)
        return ResultQuery(label, stimuli, None if models else model, cls, intervention, tuple(dims),
                           quantity.drop, quantity_text(quantity), layer,
                           env.stimuli_label(quantity.stimuli.value), *claims, models=models,
                           among=tuple(among), context=tuple(context), units=units)

    def _member_text(self, key: str, value, env: _Env, stimuli: str) -> list[tuple[str, str]]:
        """One selected member as (dimension, value) pairs: a cell is its row and its column."""
        if key == "cell":
            row, col = (value_text(v) for v in value.items)
            return [("row", row), ("col", col)]
        if key == "class":
            return [("class", self._info(stimuli).class_names[self._class_index(value, env, stimuli)])]
        if key == "layer":
            return [("layer", self._layer(value, env))]
        if isinstance(value, ast.Name) and value.value in env.bindings:
            return [(key, env.bindings[value.value][2])]
        return [(key, value_text(value))]

    def _selected(self, selector: ast.Selector, env: _Env, stimuli: str) -> list[tuple[str, str]]:
        return self._member_text(selector.key, selector.value, env, stimuli)

    def _among(self, selector: ast.Selector, env: _Env, stimuli: str) -> list[tuple[str, tuple[str, ...]]]:
        values = [self._member_text(selector.key, item, env, stimuli)[0][1] for item in selector.value.items]
        return [(selector.key, tuple(values))]

    def _is_random(self, quantity: ast.Quantity, env: _Env) -> bool:
        """Whether the quantity's interventions or units draw random units."""
        if quantity.model is None or quantity.model.value not in env.models:
            return False
        model = env.models[quantity.model.value]
        stimuli = env.stimuli[quantity.stimuli.value]
        terms = [quantity.metric.of_units] if quantity.metric.of_units is not None else []
        terms += [i.units for i in quantity.interventions if getattr(i, "units", None) is not None]
        return any(selection.is_random for term in terms
                   for _, selection in self._bind_units(term, env, model, stimuli))

    def _ensure_measured(self, quantity: ast.Quantity, env: _Env, repeats: int | None,
                         claim: int) -> tuple[int, int]:
        """Plan (hidden) measurements for an expectation's quantity and its baseline; random draws
        are the claim's own (`repeats` of them, seeded by the claim's stream). Returns the claim
        numbers the planned rows carry, with and without the interventions (0: shared rows, or
        rows the expectation reads from `measure` statements)."""
        if quantity.model is None or any(s.key != "class" for s in quantity.selectors):
            return (0, 0)
        if quantity.metric.text in MEASURES_NEEDING_INTERVENTION and not quantity.interventions:
            return (0, 0)           # reads the family of `measure ... ablating UNITS` statements
        if quantity.selectors and quantity.where_class is None:
            quantity = dataclasses.replace(quantity, where_class=quantity.selectors[0].value, selectors=())
        after = self._measure(quantity, env, hidden=True, repeats=repeats, claim=claim)
        before = after
        if quantity.interventions:
            before = self._measure(dataclasses.replace(quantity, interventions=()), env, hidden=True,
                                   repeats=repeats, claim=claim)
        return (max(item.claim for item in after), max(item.claim for item in before))

    def _expect(self, decl: ast.ExpectDecl, env: _Env) -> None:
        options = {o.key: o.value for o in decl.options}
        repeats = int(options["repeats"].value) if "repeats" in options else self.program.repeats
        significance = float(options["significance"].value) if "significance" in options else 0.05
        text = self.program.source.line_text(decl.span.line).strip()
        claim = len(self.expectations) + 1
        # a claim over a family reads the `measure` statements' values; others measure what they need
        over_family = bool(decl.families) or isinstance(decl.test, ast.ExtremeTest)
        claims = (0, 0) if over_family else self._ensure_measured(decl.quantity, env, repeats, claim)
        lhs = self._query(decl.quantity, env, claims)
        family = self._family(decl, env, lhs.stimuli)
        test = decl.test
        common = dict(significance=significance, family=family, span=decl.span)
        if isinstance(test, ast.ChangeTest):
            item = ExpectItem("change", text, lhs, number=float(test.amount.value),
                              direction=test.direction, bound=test.bound, **common)
        elif isinstance(test, ast.CompareNumber):
            item = ExpectItem("compare-number", text, lhs, op=test.op, number=float(test.value.value), **common)
        elif isinstance(test, ast.ExtremeTest):
            item = ExpectItem("extreme", text, lhs, **common)
        else:
            rhs_quantity = test.rhs
            rhs_claims = (0, 0) if over_family else self._ensure_measured(rhs_quantity, env, repeats, claim)
            rhs = self._query(rhs_quantity, env, rhs_claims)
            random_rhs = bool(rhs_quantity.interventions) and self._is_random(rhs_quantity, env)
            offset = 0.0
            if test.offset is not None:
                offset = float(test.offset.value) * (-1.0 if test.offset_sign == "-" else 1.0)
            item = ExpectItem("control" if random_rhs else "compare-quantity", text, lhs, rhs,
                              op=test.op, number=offset, repeats=repeats if random_rhs else 0, **common)
        self.expectations.append(item)

    def _family(self, decl: ast.ExpectDecl, env: _Env, stimuli: str) -> Family:
        def expand(names) -> tuple[str, ...]:
            out: list[str] = []
            for name in names:
                out += ["row", "col"] if name == "cell" else [name]
            return tuple(out)

        average: tuple[str, ...] = ()
        quantify: tuple[str, ...] = ()
        share = 1.0
        for clause in decl.families:
            if clause.averaging:
                average += expand(clause.dims)
            else:
                quantify += expand(clause.dims)
                share = 1.0 if clause.every else float(clause.share.value)
        extreme, at = "", ()
        if isinstance(decl.test, ast.ExtremeTest):
            extreme = "largest" if decl.test.largest else "smallest"
            selector = decl.test.at[0]
            at = tuple(self._member_text(selector.key, selector.value, env, stimuli))
        return Family(average, quantify, share, extreme, at)

    # ---- reports --------------------------------------------------------------------------
    def _report(self, decl: ast.ReportDecl, env: _Env) -> None:
        metric = ""
        if decl.metric is not None:
            metric = decl.metric.text + (f" top-{int(decl.metric.top.value)}" if decl.metric.top else "")
        units: tuple[Selection, ...] = ()
        if decl.units is not None:
            models = list(dict.fromkeys(env.models.values()))
            if len(models) != 1:
                self.fail("E308", "`report features` needs exactly one model in scope", decl.span)
            stimuli = next(iter(env.stimuli.values()), "")
            units = tuple(s for _, s in self._bind_units(decl.units, env, models[0], stimuli))
        self.reports.append(ReportItem(
            decl.kind.value, metric, tuple(d.names for d in decl.by),
            decl.versus.text if decl.versus is not None else "",
            decl.over.value if decl.over is not None else "",
            env.stimuli.get(decl.stimuli.value, "") if decl.stimuli is not None else "",
            units, int(decl.steps.value) if decl.steps is not None else 128,
            self.program.source.line_text(decl.span.line).strip(), decl.span))


def make_plan(program: Program, describe: Callable[[StimuliSpec], object]) -> Plan:
    return Planner(program, describe).plan()


def selection_seed(selection: Selection) -> list[int]:
    """Seed material for a random draw (numpy `SeedSequence` entropy): the spec's seed, the first
    4 bytes (little-endian) of SHA-256 of `name|model|layer|count`, the stream (0 for `measure`
    statements, j for the j-th expectation's own draws) and the draw index."""
    identity = f"{selection.name}|{selection.model}|{selection.layer}|{selection.count}"
    digest = int.from_bytes(hashlib.sha256(identity.encode()).digest()[:4], "little")
    return [selection.seed, digest, selection.stream, selection.draw]


def plan_program(program) -> Plan:
    """The plan of a checked program, with the stimuli described by the torch-free catalog."""
    from .catalog import describe

    return make_plan(program, describe)
