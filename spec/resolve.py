"""Checked syntax -> the program's resolved statements (resolved.py).

Run by the checker once a spec has passed every check and its `$params` are substituted: the
header statements have become the Header; values become Python values or loop variables (a bare
word is a `Var` exactly where a `for each` binds it); a stimuli source is a dataset, a folder or
another declared stimuli set; options, claims and reports are read into their fields; every
unit set, intervention and quantity keeps its text as written.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import ast
from . import resolved as r
from .unparse import intervention_text, quantity_text, unit_expr_text, value_text

HEADER = (ast.Experiment, ast.Seed, ast.Device, ast.Precision, ast.Confidence, ast.Resamples, ast.Repeats, ast.Param)


@dataclass
class _Scope:
    variables: frozenset[str] = frozenset()       # loop variables bound here
    stimuli: set[str] = field(default_factory=set)    # stimuli sets declared and visible here

    def child(self, variables) -> "_Scope":
        return _Scope(self.variables | frozenset(variables), set(self.stimuli))


def resolve_statements(statements, source) -> tuple[r.Statement, ...]:
    """The checked statements (after substitution and the checker's rewrites), resolved."""
    return _Resolver(source).block(statements, _Scope())


class _Resolver:
    def __init__(self, source):
        self.source = source

    def block(self, statements, scope: _Scope) -> tuple[r.Statement, ...]:
        out = []
        for statement in statements:
            if isinstance(statement, HEADER):
                continue
            out.append(self.statement(statement, scope))
        return tuple(out)

    def statement(self, s, scope: _Scope) -> r.Statement:
        if isinstance(s, ast.StimuliDecl):
            source = s.source
            if isinstance(source, ast.Name) and source.value in scope.stimuli:
                origin = r.Derived(source.value)
            elif isinstance(source, ast.Name):
                origin = r.Dataset(source.value, s.path.value if isinstance(s.path, ast.String) else None)
            else:
                origin = r.Folder(source.value)
            scope.stimuli.add(s.name.value)
            return r.StimuliDecl(s.name.value, origin, tuple(self.option(o, scope) for o in s.options), s.span)
        if isinstance(s, ast.ModelDecl):
            return r.ModelDecl(s.name.value, self.model(s.expr, scope), s.span)
        if isinstance(s, ast.UnitsDecl):
            return r.UnitsDecl(s.name.value, self.units(s.expr, scope), s.span)
        if isinstance(s, ast.MeasureDecl):
            return r.MeasureDecl(self.quantity(s.quantity, scope), s.span)
        if isinstance(s, ast.ExpectDecl):
            options = {o.key: o.value for o in s.options}
            return r.ExpectDecl(
                self.quantity(s.quantity, scope), self.test(s.test, scope),
                int(options["repeats"].value) if "repeats" in options else None,
                float(options["significance"].value) if "significance" in options else 0.05,
                tuple(r.FamilyClause(c.dims, None if c.share is None else float(c.share.value), c.every, c.span)
                      for c in s.families),
                self.source.line_text(s.span.line).strip(), s.span)
        if isinstance(s, ast.ReportDecl):
            return r.ReportDecl(
                s.kind.value, self.metric(s.metric, scope), tuple(d.names for d in s.by),
                self.metric(s.versus, scope), s.over.value if s.over is not None else None,
                s.stimuli.value if s.stimuli is not None else None,
                int(s.steps.value) if s.steps is not None else 128,
                self.units(s.units, scope) if s.units is not None else None,
                self.source.line_text(s.span.line).strip(), s.span, int(s.top.value) if s.top is not None else 9)
        if isinstance(s, ast.ForBlock):
            binders = tuple(r.Binder(b.kind, b.variable.value,
                                     None if b.domain is None else self.values(b.domain, scope), b.span)
                            for b in s.binders)
            inner = scope.child(b.variable for b in binders)
            return r.ForBlock(binders, self.block(s.body, inner), s.span)
        raise AssertionError(f"unknown statement {s!r}")

    # ---- values ------------------------------------------------------------------------------
    def value(self, value, scope: _Scope) -> r.Scalar:
        if isinstance(value, ast.Name):
            if value.value in scope.variables:
                return r.Var(value.value, value.span)
            return r.Const(value.value, value.value, True, value.span)
        if isinstance(value, ast.Number):
            number = int(value.value) if value.is_int else value.value
            return r.Const(number, value.text, False, value.span)
        if isinstance(value, ast.Percent):
            return r.Const(value.value, value.text, False, value.span)
        if isinstance(value, ast.String):
            return r.Const(value.value, value_text(value), False, value.span)
        raise AssertionError(f"not a scalar: {value!r}")     # `$params` are substituted before

    def values(self, value, scope: _Scope) -> tuple[r.Scalar, ...]:
        items = value.items if isinstance(value, ast.ListValue) else (value,)
        return tuple(self.value(item, scope) for item in items)

    def maybe(self, value, scope: _Scope) -> r.Scalar | None:
        return None if value is None else self.value(value, scope)

    def option(self, option: ast.Option, scope: _Scope) -> r.Option:
        def either(value):
            if value is None:
                return None
            return self.values(value, scope) if isinstance(value, ast.ListValue) else self.value(value, scope)

        return r.Option(option.key, either(option.value), either(option.extra), option.span)

    # ---- models, units, interventions ----------------------------------------------------------
    def model(self, expr, scope: _Scope) -> r.ModelExpr:
        if isinstance(expr, ast.TrainModel):
            widths = self.values(expr.widths, scope) if isinstance(expr.widths, ast.ListValue) else ()
            return r.TrainModel(expr.arch.value, widths, expr.train_on.value,
                                tuple(self.option(o, scope) for o in expr.options), expr.span)
        if isinstance(expr, ast.TorchvisionModel):
            return r.TorchvisionModel(expr.arch.value, None if expr.weights is None else expr.weights.value,
                                      expr.span)
        if isinstance(expr, ast.TimmModel):
            return r.TimmModel(expr.arch.value, None if expr.weights is None else expr.weights.value, expr.span)
        if isinstance(expr, ast.FileModel):
            return r.FileModel(expr.path.value, expr.arch.value if expr.arch else None, expr.span,
                               expr.arch_python.value if expr.arch_python is not None else None)
        if isinstance(expr, ast.FactoryModel):
            return r.FactoryModel(expr.target.value, expr.span,
                                  tuple((name.value, self.value(value, scope).value) for name, value in expr.kwargs))
        return r.ModelRef(expr.value.value, expr.span)

    def units(self, expr, scope: _Scope) -> r.UnitExpr:
        text = unit_expr_text(expr)
        stimuli = getattr(expr, "stimuli", None)
        stimuli = stimuli.value if stimuli is not None else None
        if isinstance(expr, ast.UnitRef):
            return r.UnitRef(expr.name.value, text, expr.span)
        if isinstance(expr, ast.SetOperation):
            return r.SetOperation(expr.op, self.units(expr.left, scope), self.units(expr.right, scope), text,
                                  expr.span)
        if isinstance(expr, ast.RandomSelection) and expr.pool is not None:
            return r.RandomSelection(self.value(expr.count, scope), None, text, span=expr.span,
                                     pool=self.units(expr.pool, scope))
        layer = self.value(expr.layer, scope)
        if isinstance(expr, ast.RankedSelection):
            return r.RankedSelection(expr.bottom, self.value(expr.count, scope), expr.metric.text,
                                     self.maybe(expr.target_class, scope), layer, stimuli, text,
                                     expr.per_element, expr.span)
        if isinstance(expr, ast.RandomSelection):
            return r.RandomSelection(self.value(expr.count, scope), layer, text, expr.per_element, expr.span,
                                     expr.among_live, matching=None if expr.matching is None else
                                     self.units(expr.matching, scope),
                                     match_metric=expr.match_metric.text if expr.match_metric else "")
        if isinstance(expr, ast.ExplicitSelection):
            return r.ExplicitSelection(self.values(expr.indices, scope), layer, text, expr.span)
        if isinstance(expr, ast.AllSelection):
            return r.AllSelection(layer, text, expr.per_element, expr.span)
        if isinstance(expr, ast.ThresholdSelection):
            return r.ThresholdSelection(expr.metric.text, expr.op, self.value(expr.threshold, scope),
                                        self.maybe(expr.target_class, scope), layer, stimuli, text, expr.span)
        if isinstance(expr, ast.GridSelection):
            return r.GridSelection(expr.rows, expr.cols, expr.row_metric.text, expr.col_metric.text,
                                   self.maybe(expr.target_class, scope), layer, stimuli, text,
                                   expr.per_element, expr.span)
        raise AssertionError(f"unknown unit expression {expr!r}")

    def intervention(self, i, scope: _Scope) -> r.Intervention:
        text = intervention_text(i)
        if isinstance(i, ast.ActivationIntervention):
            return r.ActivationIntervention(i.kind, self.units(i.units, scope), self.maybe(i.value, scope), text,
                                            self.maybe(i.token, scope), i.span)
        return r.WeightIntervention(i.direction, None if i.units is None else self.units(i.units, scope),
                                    None if i.connection is None else self.values(i.connection, scope),
                                    self.maybe(i.layer, scope), self.maybe(i.factor, scope), text, i.span)

    # ---- quantities and claims -------------------------------------------------------------------
    def metric(self, phrase, scope: _Scope) -> r.MetricPhrase | None:
        if phrase is None:
            return None
        return r.MetricPhrase(phrase.metric.text, self.maybe(phrase.top, scope), phrase.per_class,
                              self.maybe(phrase.of_class, scope),
                              None if phrase.of_units is None else self.units(phrase.of_units, scope),
                              self.maybe(phrase.in_layer, scope), phrase.span)

    def selector(self, selector: ast.Selector, scope: _Scope) -> r.Selector:
        value = self.values(selector.value, scope) if isinstance(selector.value, ast.ListValue) \
            else self.value(selector.value, scope)
        return r.Selector(selector.key, value, selector.among, selector.span)

    def quantity(self, q: ast.Quantity, scope: _Scope) -> r.Quantity:
        return r.Quantity(self.metric(q.metric, scope), q.stimuli.value if q.stimuli is not None else None,
                          self.maybe(q.where_class, scope), q.model.value if q.model is not None else None,
                          q.fit_on.value if q.fit_on is not None else None,
                          tuple(self.intervention(i, scope) for i in q.interventions),
                          tuple(self.selector(s, scope) for s in q.selectors), q.drop, quantity_text(q), q.span,
                          q.where_not)

    def test(self, test, scope: _Scope) -> r.ExpectTest:
        if isinstance(test, ast.ChangeTest):
            return r.ChangeTest(test.direction, test.bound, self.value(test.amount, scope), test.span)
        if isinstance(test, ast.CompareNumber):
            return r.CompareNumber(test.op, self.value(test.value, scope), test.span)
        if isinstance(test, ast.ExtremeTest):
            return r.ExtremeTest(test.largest, tuple(self.selector(s, scope) for s in test.at), test.span)
        offset = None
        if test.offset is not None:
            offset = float(test.offset.value) * (-1.0 if test.offset_sign == "-" else 1.0)
        return r.CompareQuantity(test.op, self.quantity(test.rhs, scope), offset, test.span)
