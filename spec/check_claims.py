"""Checking, by job: unit sets, measurements, expectations, reports and their parts."""

from __future__ import annotations

import dataclasses

from . import ast
from .diagnostics import did_you_mean, listing
from .families import check_claim_dims, check_open_dims, check_selected_values, family_dims
from .source import Span
from .vocabulary import (CLASS_UNIT_METRICS, MEASURES, MEASURES_NEEDING_CLASS,
                         MEASURES_NEEDING_INTERVENTION, MEASURES_NEEDING_WHERE_CLASS,
                         MEASURES_NEEDING_LAYER, MEASURES_NEEDING_UNITS, REPORT_KINDS, UNIT_METRICS)
from .program import KIND_WORDS, Scope, max_plan


class ClaimChecks:
    """Part of the Checker (check.py): shares its state."""

    def _check_UnitsDecl(self, decl: ast.UnitsDecl, scope: Scope):
        self.unit_exprs[decl.name.value] = decl.expr
        is_grid = self.unit_expr(decl.expr, scope)
        self.define(scope, decl.name, "units", is_grid=is_grid)
        return decl

    def _check_MeasureDecl(self, decl: ast.MeasureDecl, scope: Scope):
        quantity = self.quantity(decl.quantity, scope, in_measure=True)
        self.two_classes(quantity)
        self.where_not(quantity, in_expect=False)
        if decl.name is not None:
            self.define(scope, decl.name, "measure")
        return dataclasses.replace(decl, quantity=quantity)

    def _check_ExpectDecl(self, decl: ast.ExpectDecl, scope: Scope):
        self._in_expect = True
        try:
            return self._check_expect(decl, scope)
        finally:
            self._in_expect = False

    def _check_expect(self, decl: ast.ExpectDecl, scope: Scope):
        # a claim over a family reads the `measure` statements' values, of whichever model
        over_family = bool(decl.families) or isinstance(decl.test, ast.ExtremeTest)
        lhs = self.quantity(decl.quantity, scope, in_measure=False, over_family=over_family)
        self.where_not(lhs, in_expect=True)
        test = decl.test
        if isinstance(test, ast.ChangeTest):
            if not lhs.interventions:
                self.error("E308", f"`{test.direction} by` compares with an intervention, but none is given",
                           test.span, help="add what to change, e.g. `... ablating hot7`")
            self.number_value(test.amount, "the change", low=0.0, allow_variable=False)
        elif isinstance(test, ast.CompareNumber):
            self.number_value(test.value, "the threshold", allow_variable=False)
        elif isinstance(test, ast.CompareQuantity):
            rhs = test.rhs
            if rhs.metric is None:
                # `> drop ablating rand5`: the right side measures what the left side does
                rhs = dataclasses.replace(rhs, metric=lhs.metric, stimuli=lhs.stimuli,
                                          where_class=rhs.where_class or lhs.where_class,
                                          model=rhs.model or lhs.model, selectors=lhs.selectors)
                if not lhs.drop:
                    self.error("E308", "`drop ...` on the right needs `drop of ...` on the left",
                               decl.quantity.span, help="write `expect drop of METRIC ... > drop ablating ...`")
            rhs = self.quantity(rhs, scope, in_measure=False, over_family=over_family)
            if rhs.drop and not rhs.interventions:
                self.error("E308", "a `drop` needs an intervention", rhs.span)
            if test.offset is not None:
                self.number_value(test.offset, "the offset", allow_variable=False)
            test = dataclasses.replace(test, rhs=rhs)
        elif isinstance(test, ast.ExtremeTest):
            if len(test.at) != 1 or test.at[0].among or test.at[0].key in ("", "class"):
                self.error("E310", "`is largest at` names one member: `at [cell = 3,3]` or `at [layer = fc1]`",
                           test.span)
        for option in decl.options:
            if option.key == "repeats":
                repeats = self.int_value(option.value, "repeats", minimum=1)
                if repeats is not None and repeats * self.expansion > max_plan():
                    self.error("E311", f"{repeats:,} random draws x {self.expansion:,} bindings; abl plans at "
                               f"most {max_plan():,}", option.value.span,
                               help="100 to 10,000 draws give p-values to 1e-2 .. 1e-4")
            elif option.key == "significance":
                self.number_value(option.value, "the significance level", low=0.0, high=1.0,
                                  allow_variable=False)
        check_claim_dims(self, decl, lhs, test, family_dims(self.measure_dims, lhs, scope))
        check_open_dims(self, decl, lhs, test, self.open_dims, scope)
        check_selected_values(self, lhs, test, self.loop_values, scope)
        self.off_target(decl, lhs, test)
        return dataclasses.replace(decl, quantity=lhs, test=test)

    def _check_ReportDecl(self, decl: ast.ReportDecl, scope: Scope):
        kind = decl.kind.value
        if kind not in REPORT_KINDS:
            self.error("E304", f"unknown report kind `{kind}`", decl.kind.span,
                       help=did_you_mean(kind, REPORT_KINDS) or f"report kinds: {listing(REPORT_KINDS)}")
            return decl
        for phrase in (decl.metric, decl.versus):
            if phrase is not None:
                self.metric_phrase(phrase, scope, measure=False)
                self._reported_metric(phrase)
        if kind in ("features", "exemplars"):
            if decl.units is None:
                self.error("E313", f"`report {kind}` needs the units: `report {kind} of hot7`", decl.span)
            else:
                self.unit_expr(decl.units, scope)
            for number, what in ((decl.steps, "steps"), (decl.top, "top")):
                if number is not None:
                    self.int_value(number, what, minimum=1)
        elif decl.metric is None:
            self.error("E313", f"`report {kind}` needs a measure, e.g. `report {kind} accuracy`",
                       decl.span)
        if kind == "heatmap" and not decl.by:
            self.error("E313", "`report heatmap` needs its layout: `by cell, class x layer`",
                       decl.span)
        if kind in ("scatter",) and decl.versus is None:
            self.error("E313", "`report scatter` needs `vs METRIC`", decl.span)
        if decl.stimuli is not None:
            self.use(scope, decl.stimuli, ("stimuli",), "stimuli")
        return decl

    # ---- units ---------------------------------------------------------------------------------
    def unit_expr(self, expr, scope: Scope) -> bool:
        """Checks a unit expression; returns True when it denotes a grid (a family of cells)."""
        if isinstance(expr, ast.UnitRef):
            symbol = self.use(scope, expr.name, ("units",), "unit set")
            return bool(symbol and symbol.is_grid)
        if isinstance(expr, ast.SetOperation):
            left = self.unit_expr(expr.left, scope)
            right = self.unit_expr(expr.right, scope)
            if left or right:
                self.error("E314", "set algebra on a grid is not defined", expr.span,
                           help="combine single unit sets, not grid families")
            return False
        if isinstance(expr, ast.RandomSelection) and expr.pool is not None:
            self._unit_count(expr.count)
            return self.unit_expr(expr.pool, scope)     # a grid pool: one control per cell
        if isinstance(expr, ast.RandomSelection) and expr.matching is not None:
            if self.unit_expr(expr.matching, scope):
                self.error("E314", "a control matches a single unit set, not a grid", expr.span)
            self.unit_metric(expr.match_metric, None)
        if isinstance(expr, (ast.RankedSelection, ast.RandomSelection)):
            self._unit_count(expr.count)
            if isinstance(expr, ast.RankedSelection):
                self.unit_metric(expr.metric, expr.target_class)
        elif isinstance(expr, ast.ExplicitSelection):
            if not expr.indices.items:
                self.error("E301", "the list of units is empty", expr.indices.span)
            for item in expr.indices.items:
                self.int_value(item, "a unit index", minimum=0)
        elif isinstance(expr, ast.ThresholdSelection):
            self.unit_metric(expr.metric, expr.target_class)
            self.number_value(expr.threshold, "the threshold", allow_variable=False)
        elif isinstance(expr, ast.GridSelection):
            if expr.rows < 1 or expr.cols < 1:
                self.error("E301", "grid sizes are at least 1x1", expr.size_span)
            self.unit_metric(expr.row_metric, expr.target_class)
            self.unit_metric(expr.col_metric, expr.target_class)
        target = getattr(expr, "target_class", None)
        if target is not None:
            self.class_value(target, scope)
        self.layer_value(expr.layer, scope)
        stimuli = getattr(expr, "stimuli", None)
        if stimuli is not None:
            self.use(scope, stimuli, ("stimuli",), "stimuli")
        return isinstance(expr, ast.GridSelection)

    def unit_metric(self, metric: ast.Metric, target_class) -> None:
        if metric.text not in UNIT_METRICS:
            self.error("E302", f"unknown unit metric `{metric.text}`", metric.span,
                       help=did_you_mean(metric.text, UNIT_METRICS) or f"unit metrics: {listing(UNIT_METRICS)}")
        elif metric.text in CLASS_UNIT_METRICS and target_class is None:
            self.error("E313", f"`{metric.text}` is relative to a class: add `for class C`",
                       metric.span)

    def layer_value(self, value: ast.Value, scope: Scope) -> None:
        if isinstance(value, ast.Name):
            if self._expired(value, scope):
                return
            symbol = scope.lookup(value.value)
            if symbol is not None:
                symbol.used = True
                if symbol.kind not in ("layer-var",):
                    self.error("E203", f"`{value.value}` is a {KIND_WORDS[symbol.kind]}, not a layer",
                               value.span)
            return
        if isinstance(value, ast.String):
            return
        self.error("E306", "a layer is a name like `fc2` or `features.3`", value.span,
                   help="a module path made only of numbers is written in quotes: `in \"0\"`, "
                        "`in \"1.3\"` (`1._blocks.5` needs none)")

    def _expired(self, name: ast.Name, scope: Scope) -> bool:
        if scope.lookup(name.value) is None and name.value in self.expired_variables:
            bound = self.expired_variables[name.value]
            self.error("E206", f"loop variable `{name.value}` is used outside its `for each` block",
                       name.span, help=f"it is bound on line {bound.line}; move this statement into that block")
            return True
        return False

    def class_value(self, value: ast.Value, scope: Scope) -> None:
        if isinstance(value, ast.Name):
            if self._expired(value, scope):
                return
            symbol = scope.lookup(value.value)
            if symbol is None and value.value in self.broken_names:
                return
            if symbol is None:
                self.error("E201", f"undefined class variable `{value.value}`", value.span,
                           help='classes are numbers (`7`), names in quotes (`"junco"`), or a '
                                '`for each class c` variable')
                return
            symbol.used = True
            if symbol.kind not in ("class-var", "var"):
                self.error("E203", f"`{value.value}` is a {KIND_WORDS[symbol.kind]}, not a class",
                           value.span)
            return
        if isinstance(value, ast.Number):
            self.int_value(value, "a class index", minimum=0)
            return
        if isinstance(value, ast.String):
            return
        self.error("E306", "a class is a number, a name in quotes, or a class variable", value.span)

    # ---- quantities -----------------------------------------------------------------------
    def metric_phrase(self, phrase: ast.MetricPhrase, scope: Scope, measure: bool) -> None:
        name = phrase.metric.text
        if name not in MEASURES:
            self.error("E302", f"unknown measure `{name}`", phrase.metric.span,
                       help=did_you_mean(name, MEASURES) or f"measures: {listing(MEASURES)}")
            return
        if phrase.top is not None:
            if name != "accuracy":
                self.error("E315", "`top K` applies to accuracy only", phrase.top.span)
            self.int_value(phrase.top, "K", minimum=1)
        if phrase.per_class and name not in ("accuracy", "loss", "rank", "rank deficit", "rank change",
                                              "logit", "probability", "activation"):
            self.error("E315", f"`per class` does not apply to {name}", phrase.span)
        if phrase.of_class is not None:
            self.class_value(phrase.of_class, scope)
        elif name in MEASURES_NEEDING_CLASS and measure:
            self.error("E313", f"`{name}` needs its class: `{name} of class 7`", phrase.span)
        if phrase.of_units is not None:
            self.unit_expr(phrase.of_units, scope)
        elif name in MEASURES_NEEDING_UNITS and measure:
            self.error("E313", f"`{name}` needs its units: `{name} of UNITS`", phrase.span)
        if phrase.in_layer is not None:
            self.layer_value(phrase.in_layer, scope)
        elif name in MEASURES_NEEDING_LAYER and measure:
            self.error("E313", f"`{name}` needs its layer: `{name} in LAYER`", phrase.span)

    def quantity(self, quantity: ast.Quantity, scope: Scope, in_measure: bool,
                 over_family: bool = False) -> ast.Quantity:
        quantity = self.layer_as_units(quantity, scope)
        if quantity.metric is not None:
            # a claim may read a measurement by its metric alone: `expect probe accuracy[...] ...`
            measured = not in_measure and quantity.metric.text in self.measure_dims
            self.metric_phrase(quantity.metric, scope, measure=not measured)
        stimuli = quantity.stimuli
        if stimuli is None and in_measure:      # the grammar lets `on` go only for `of UNITS on S`
            end = quantity.span.end
            self.error("E101", "this measurement does not say its stimuli: expected `on STIMULI`",
                       self.source.span(end, end + 1),
                       help="a measurement names its stimuli: `... on STIMULI`, e.g. "
                            f"`measure {quantity.metric.metric.text if quantity.metric else 'accuracy'} on "
                            f"{(self.measured_stimuli or ['test'])[0]}`")
        elif stimuli is None:
            candidates = sorted(set(self.measured_stimuli))
            if len(candidates) == 1:
                stimuli = ast.Name(candidates[0], quantity.span)
            else:
                self.error("E308", "say which stimuli this is measured on: `... on STIMULI`",
                           quantity.span,
                           help=f"the spec measures on {listing(candidates)}" if candidates else None)
        else:
            self.use(scope, stimuli, ("stimuli",), "stimuli")
        if quantity.where_class is not None:
            self.class_value(quantity.where_class, scope)
        model = quantity.model
        by_dims = over_family or any(selector.key not in ("class", "not class") for selector in quantity.selectors)
        if model is not None:
            self.use(scope, model, ("model",), "model")
        elif not by_dims:
            model = self.default_model(scope, quantity.span)
        if quantity.fit_on is not None:
            self.use(scope, quantity.fit_on, ("stimuli",), "stimuli")
        for selector in quantity.selectors:
            if selector.key in ("class", "not class"):
                self.class_value(selector.value, scope)
        for intervention in quantity.interventions:
            self.intervention(intervention, scope)
        if quantity.metric is not None and quantity.metric.text == "probe accuracy" and in_measure and \
                quantity.metric.of_units is not None and quantity.where_class is None and \
                not self._has_class(quantity.metric.of_units):
            self.error("E308", "a probe decodes one class, and neither its units nor the measurement say which",
                       quantity.metric.span,
                       help="select the units `for class C` (`top 5 by activation for class 7 in fc2`), "
                            "or add `where class == C`")
        if quantity.metric is not None and quantity.metric.text == "probe accuracy" and quantity.interventions:
            self.error("E309", "`probe accuracy` is not measured under interventions: the probe is "
                       "fitted on the plain network's activations", quantity.interventions[0].span,
                       help="drop the intervention, or measure `activation of UNITS` under it")
        if quantity.metric is not None and in_measure:
            name = quantity.metric.text
            if name in MEASURES_NEEDING_INTERVENTION and not quantity.interventions:
                self.error("E308", f"`{name}` compares with an intervention, but none is given",
                           quantity.span, help=f"e.g. `measure {name} on STIMULI ablating UNITS`")
            if name in MEASURES_NEEDING_WHERE_CLASS and quantity.where_class is None:
                self.error("E308", f"`{name}` compares one class's images with the others': say which",
                           quantity.span, help=f"e.g. `measure {name} on STIMULI where class == c ablating UNITS`")
            if name in MEASURES_NEEDING_WHERE_CLASS and quantity.metric.per_class:
                self.error("E315", f"`per class` does not apply to {name}", quantity.metric.span,
                           help="measure it `where class == c` inside `for each class c`")
        return dataclasses.replace(quantity, stimuli=stimuli, model=model)

    def _has_class(self, expr, seen: frozenset = frozenset()) -> bool:
        """Whether a unit expression's units are chosen for a class (`for class C`)."""
        if isinstance(expr, ast.UnitRef):
            name = expr.name.value
            target = self.unit_exprs.get(name)
            return target is None or name in seen or self._has_class(target, seen | {name})
        if isinstance(expr, ast.SetOperation):
            return self._has_class(expr.left, seen) or self._has_class(expr.right, seen)
        return getattr(expr, "target_class", None) is not None

    def default_model(self, scope: Scope, span: Span) -> ast.Name | None:
        """Without `using M`: the one model no other model declaration refers to."""
        models = [n for n, s in scope.visible().items() if s.kind == "model"]
        leaves = [n for n in models if n not in self.model_aliases]
        if len(leaves) == 1:
            scope.lookup(leaves[0]).used = True
            return ast.Name(leaves[0], span)
        if not models and self.spec.broken_lines:
            return None             # a model declaration may be among the lines that did not parse
        if not models:
            self.error("E201", "no model is defined before this measurement", span,
                       help="define one: `model net = train mlp [64, 128, 10] on STIMULI`")
        else:
            self.error("E308", "several models are defined: say which with `using MODEL`", span,
                       help=f"models: {listing(leaves)}")
        return None
