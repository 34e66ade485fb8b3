"""Planning, by job: unit sets bound to models, measurements and their interventions."""

from __future__ import annotations

import dataclasses

from abl.spec import resolved as r

from abl.interpreter.plan.plan import MeasureItem, measure_type
from abl.interpreter.plan.units import (Ablate, AllUnits, Cell, Clamp, ExplicitUnits, GridCellUnits, MeanAblate,
                         Patch, PooledRandomUnits, RandomUnits, RankedUnits, Scale, ScaleConnection, ScaleWeights, Selection, ThresholdUnits,
                         UnitSetOperation)
from abl.interpreter.plan.env import Binding, _Env


class MeasurePlanning:
    """Part of the Planner (planner.py): shares its state."""

    # ---- units ----------------------------------------------------------------------------
    def _bind_units(self, expr, env: _Env, model: str, stimuli: str, name: str = "") -> list[tuple[str, Selection]]:
        """A unit expression bound to a model: [("", selection)] or one entry per grid cell."""
        if isinstance(expr, r.UnitRef):
            target, defining_env = env.units[expr.name]
            return self._bind_units(target, defining_env, model, stimuli, name=expr.name)
        if isinstance(expr, r.SetOperation):
            left = self._bind_units(expr.left, env, model, stimuli)
            right = self._bind_units(expr.right, env, model, stimuli)
            op = {"|": "union", "&": "intersection", "-": "difference"}[expr.op]
            return [("", UnitSetOperation(op=op, left=left[0][1], right=right[0][1], model=model,
                                          name=name or expr.text, span=expr.span))]
        label = name or expr.text
        if isinstance(expr, r.RandomSelection) and expr.pool is not None:
            number = self._number(expr.count, env)
            share = isinstance(expr.count, r.Const) and expr.count.text.endswith("%")
            return [(cell, PooledRandomUnits(pool=pool, count=0 if share else int(number),
                                             fraction=float(number) if share else None, model=model,
                                             name=label,
                                             seed=self.program.header.seed, span=expr.span))
                    for pools in [self._bind_units(expr.pool, env, model, stimuli)] for cell, pool in pools]
        layer = self._layer(expr.layer, env)
        stats_stimuli = stimuli
        if getattr(expr, "stimuli", None) is not None:
            stats_stimuli = env.stimuli[expr.stimuli]
        else:
            spec = self.models.get(model)
            if spec is not None and spec.kind == "train" and spec.train_on:
                stats_stimuli = spec.train_on
        target = None
        if getattr(expr, "target_class", None) is not None:
            target = self._class_index(expr.target_class, env, stats_stimuli)
        base = dict(model=model, layer=layer, stimuli=stats_stimuli, target_class=target,
                    name=label, span=expr.span, layer_span=getattr(expr.layer, "span", None),
                    seed=self.program.header.seed, bindings=env.dims(),
                    per_element=getattr(expr, "per_element", False))
        if isinstance(expr, (r.RankedSelection, r.RandomSelection)):
            number = self._number(expr.count, env)
            share = isinstance(expr.count, r.Const) and expr.count.text.endswith("%")
            if not share and int(number) < 1:       # a loop's value (a literal is E301 from the checker)
                self.fail("E301", f"`{expr.text}` selects no units where `{expr.count.text}` is "
                                  f"{expr.count.text and number:g}", expr.count.span,
                          help="the number of units must be at least 1: start the loop at 1 (a curve "
                               "over `top k` starts at k = 1, the baseline is its k = 0)")
            count = dict(count=0 if share else int(number), fraction=float(number) if share else None)
            if isinstance(expr, r.RandomSelection):
                matching = self._bind_units(expr.matching, env, model, stimuli)[0][1] if expr.matching else None
                return [("", RandomUnits(**count, among_live=expr.among_live, matching=matching,
                                         match_metric=expr.match_metric, **base))]
            return [("", RankedUnits(metric=expr.metric, bottom=expr.bottom, **count, **base))]
        if isinstance(expr, r.ExplicitSelection):
            return [("", ExplicitUnits(indices=tuple(int(i.value) for i in expr.indices), **base))]
        if isinstance(expr, r.AllSelection):
            return [("", AllUnits(**base))]
        if isinstance(expr, r.ThresholdSelection):
            return [("", ThresholdUnits(metric=expr.metric, op=expr.op,
                                        threshold=float(expr.threshold.value), **base))]
        if isinstance(expr, r.GridSelection):
            return [(Cell(row, col), GridCellUnits(metric=expr.row_metric, column_metric=expr.col_metric,
                                                   rows=expr.rows, cols=expr.cols, cell=Cell(row, col), **base))
                    for row in range(expr.rows) for col in range(expr.cols)]
        raise AssertionError(f"unknown unit expression {expr!r}")

    @staticmethod
    def _with_draw(selection: Selection, draw: int, stream: int) -> Selection:
        if isinstance(selection, UnitSetOperation):
            return dataclasses.replace(selection, left=MeasurePlanning._with_draw(selection.left, draw, stream),
                                       right=MeasurePlanning._with_draw(selection.right, draw, stream))
        if isinstance(selection, (RandomUnits, PooledRandomUnits)):
            return dataclasses.replace(selection, draw=draw, stream=stream)
        return selection

    def _of_class(self, quantity: r.Quantity, env: _Env, stimuli: str) -> int | None:
        of_class = quantity.metric.of_class
        return None if of_class is None else self._class_index(of_class, env, stimuli)

    def _metric_label(self, quantity: r.Quantity, stimuli: str, of_class: int | None) -> str:
        """The `measure` column: the metric with its arguments that tell values apart."""
        metric = quantity.metric
        label = metric.text + (f" top-{int(metric.top.value)}" if metric.top else "")
        if of_class is not None and metric.text in ("logit", "probability"):
            label += f" of class {self._info(stimuli).class_names[of_class]}"
        return label

    # ---- measurements ----------------------------------------------------------------------
    def _measure(self, quantity: r.Quantity, env: _Env, hidden: bool, repeats: int | None = None,
                 claim: int = 0) -> list[MeasureItem]:
        """`claim` (an expectation's number) gives random draws a stream of their own. A replicated
        model's measurement is one per member, each with its `seed`."""
        group = env.models[quantity.model]
        if group in self.replicas:
            items = []
            for member, member_seed in self.replicas[group]:
                inner = env.child()
                inner.models = {name: (member if key == group else key) for name, key in env.models.items()}
                inner.bindings["seed"] = Binding("var", member_seed, str(member_seed))
                items += self._measure(quantity, inner, hidden, repeats, claim)
            return items
        metric = quantity.metric.text
        model = env.models[quantity.model]
        stimuli = env.stimuli[quantity.stimuli]
        of_class = self._of_class(quantity, env, stimuli)
        label = self._metric_label(quantity, stimuli, of_class)
        where = None
        if quantity.where_class is not None:
            where = self._class_index(quantity.where_class, env, stimuli)
        for selector in quantity.selectors:
            if selector.key == "class":
                where = self._class_index(selector.value, env, stimuli)
        in_layer = self._layer(quantity.metric.in_layer, env) if quantity.metric.in_layer is not None else None
        fit_on = env.stimuli[quantity.fit_on] if quantity.fit_on is not None else None
        fit_label = env.stimuli_label(quantity.fit_on) if quantity.fit_on is not None else ""

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
            self.fail("E314", "a measurement can range over one grid at a time", quantity.span)
        cells = [cell for cell, _ in grid_sources[0][1]] if grid_sources else [None]
        is_random = any(sel.is_random for b in bound_interventions for _, sel in b[1] if sel is not None) or \
            (of_units is not None and of_units[0][1].is_random)
        draws = range(repeats or self.program.header.repeats) if is_random else range(1)
        stream = claim if is_random else 0
        intervention_label = " and ".join(i.text for i in quantity.interventions) or None
        items = []
        for cell_index, cell in enumerate(cells):
            for draw in draws:
                plans = []
                for intervention, family in bound_interventions:
                    selection = family[cell_index][1] if len(family) > 1 else family[0][1]
                    if selection is None:                # a connection: no unit set
                        plans.append(intervention)
                        continue
                    plans.append(dataclasses.replace(intervention, units=self._with_draw(selection, draw, stream)))
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
                item = measure_type(metric)(
                    metric=metric, label=label, model=model, stimuli=stimuli,
                    interventions=tuple(plans), intervention_label=intervention_label,
                    per_class=quantity.metric.per_class, where_class=where, where_not=quantity.where_not,
                    top=int(quantity.metric.top.value) if quantity.metric.top else None,
                    of_class=of_class, of_units=units, in_layer=in_layer, fit_on=fit_on,
                    units_label=units_label_here, layer_label=layer_label, cell=cell,
                    repeat=draw, dims=env.dims(), hidden=hidden, claim=stream,
                    stimuli_label=env.stimuli_label(quantity.stimuli),
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
        """(the intervention without its units, the unit sets it ranges over: one, or a grid's cells)."""
        if isinstance(intervention, r.ActivationIntervention):
            family = self._bind_units(intervention.units, env, model, stimuli)
            token = int(self._number(intervention.token, env)) if intervention.token is not None else None
            common = dict(token=token, span=intervention.span)
            if intervention.kind == "zero":
                return (Ablate(**common), family)
            if intervention.kind == "mean":
                return (MeanAblate(**common), family)
            if intervention.kind == "patch":
                name = intervention.value.value
                return (Patch(source=env.stimuli[name], source_label=env.stimuli_label(name), **common), family)
            value = float(self._number(intervention.value, env))
            if intervention.kind == "clamp":
                return (Clamp(value=value, **common), family)
            return (Scale(factor=value, **common), family)
        factor = float(self._number(intervention.factor, env)) if intervention.factor is not None else 0.0
        if intervention.direction == "connection":
            connection = tuple(int(i.value) for i in intervention.connection)
            return (ScaleConnection(layer=self._layer(intervention.layer, env), connection=connection,
                                    factor=factor, span=intervention.span), [("", None)])
        family = self._bind_units(intervention.units, env, model, stimuli)
        return (ScaleWeights(direction=intervention.direction, factor=factor, span=intervention.span), family)
