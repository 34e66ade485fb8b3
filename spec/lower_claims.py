"""Lark parse tree -> typed AST, continued: measurements, interventions, expectations and reports
(the base of lower.py's transformer; `v_args` is applied here too, as Lark applies it to a class's
own methods only)."""

from __future__ import annotations

import dataclasses

from lark import Token, Transformer, v_args

from . import ast
from .source import Span


def _tokens(items, type_name):
    return [i for i in items if isinstance(i, Token) and i.type == type_name]


def _merge_cells(items) -> tuple:
    """`[cell = 3,3]`: a number after a selector continues its value (a cell is two numbers)."""
    merged: list = []
    for item in items:
        if isinstance(item, tuple) and item[0] == "more":
            number = item[1]
            if merged and merged[-1].key not in ("class", "") and not merged[-1].among:
                last = merged[-1]
                values = last.value.items if isinstance(last.value, ast.ListValue) else (last.value,)
                span = last.span.merge(number.span)
                merged[-1] = ast.Selector(last.key, ast.ListValue(values + (number,), span), span)
            else:
                merged.append(ast.Selector("", number, number.span))
        else:
            merged.append(item)
    return tuple(merged)


def _dim_name(word) -> str:
    return word.value if isinstance(word, ast.Name) else str(word)


def _dim_span(word, lowerer) -> Span:
    return word.span if isinstance(word, ast.Name) else lowerer._tspan(word)


@v_args(meta=True, inline=True)
class ClaimLowering(Transformer):
    """The transformer methods for quantities, interventions, expectations and reports."""

    def arg_top(self, meta, value):
        return ("top", value)

    def arg_per_class(self, meta):
        return ("per_class", True)

    def arg_of_class(self, meta, value):
        return ("of_class", value)

    def arg_of_units(self, meta, units):
        return ("of_units", units)

    def arg_in_layer(self, meta, value):
        return ("in_layer", value)

    def metric_phrase(self, meta, metric, *args):
        fields = dict(args)
        return ast.MetricPhrase(metric, fields.get("top"), bool(fields.get("per_class")),
                                fields.get("of_class"), fields.get("of_units"),
                                fields.get("in_layer"), self._span(meta))

    def where_class(self, meta, value):
        return ("where_class", value)

    def where_not_class(self, meta, value):
        return ("where_not_class", value)

    def using_model(self, meta, name):
        return ("model", name)

    def fit_on(self, meta, name):
        return ("fit_on", name)

    def interventions(self, meta, *items):
        return ("interventions", tuple(items))

    def _quantity(self, meta, metric, selectors, stimuli, qualifiers, drop):
        fields: dict = {}
        interventions: list = []
        for key, value in qualifiers:
            if key == "interventions":
                interventions.extend(value)
            else:
                fields[key] = value
        where_not = "where_not_class" in fields         # `where class != C`: every other class's images
        return ast.Quantity(metric, stimuli, fields.get("where_not_class", fields.get("where_class")),
                            fields.get("model"), fields.get("fit_on"), tuple(interventions), tuple(selectors), drop,
                            self._span(meta), where_not)

    def quantity(self, meta, metric, *items):
        stimuli = items[0] if items and isinstance(items[0], ast.Name) else None
        qualifiers = items[1:] if stimuli is not None else items
        units = metric.of_units
        if stimuli is None and getattr(units, "stimuli", None) is not None:
            # `probe accuracy of top 8 by selectivity in fc2 on test fit on train`: the parser gives
            # `on test` to the inline selection; it is the measurement's (the units are then chosen
            # on the measured stimuli too, as for any selection without `on`)
            stimuli = units.stimuli
            metric = dataclasses.replace(metric, of_units=dataclasses.replace(units, stimuli=None))
        return self._quantity(meta, metric, (), stimuli, qualifiers, drop=False)

    def measure_stmt(self, meta, *items):
        name = items[0] if len(items) == 2 else None
        return ast.MeasureDecl(name, items[-1], self._span(meta))

    # -- interventions --------------------------------------------------------------------
    def ablate(self, meta, units, token=None):
        return ast.ActivationIntervention("zero", units, None, self._span(meta), token)

    def mean_ablate(self, meta, _keyword, units, token=None):
        return ast.ActivationIntervention("mean", units, None, self._span(meta), token)

    def clamp(self, meta, units, value, token=None):
        return ast.ActivationIntervention("clamp", units, value, self._span(meta), token)

    def scale(self, meta, units, value, token=None):
        return ast.ActivationIntervention("scale", units, value, self._span(meta), token)

    def patch(self, meta, units, source, token=None):
        return ast.ActivationIntervention("patch", units, source, self._span(meta), token)

    def at_token(self, meta, value):
        return value

    def unit_weights(self, meta, direction, units):
        return ("units", str(direction), units)

    def connection_weight(self, meta, connection, layer):
        return ("connection", connection, layer)

    def _weights(self, meta, selection, factor):
        if selection[0] == "units":
            return ast.WeightIntervention(selection[1], selection[2], None, None, factor,
                                          self._span(meta))
        return ast.WeightIntervention("connection", None, selection[1], selection[2], factor,
                                      self._span(meta))

    def zero_weights(self, meta, selection):
        return self._weights(meta, selection, None)

    def scale_weights(self, meta, selection, factor):
        return self._weights(meta, selection, factor)

    # -- expectations -------------------------------------------------------------------------
    def select_class(self, meta, value):
        return ast.Selector("class", value, self._span(meta))

    def select_not_class(self, meta, value):
        return ast.Selector("not class", value, self._span(meta))

    def select_dim(self, meta, name, value):
        return ast.Selector(name.value, value, self._span(meta))

    def select_in(self, meta, name, values):
        return ast.Selector(name.value, values, self._span(meta), among=True)

    def select_more(self, meta, number):
        return ("more", number)

    def selectors(self, meta, *items):
        return ("selectors", _merge_cells(items))

    def expect_quantity(self, meta, *items):
        items = list(items)
        drop = False
        if items and isinstance(items[0], Token) and items[0].type == "DROP":
            drop = True
            items.pop(0)
        metric = items.pop(0)
        selectors: tuple = ()
        stimuli = None
        qualifiers = []
        for item in items:
            if isinstance(item, tuple) and item[0] == "selectors":
                selectors = item[1]
            elif isinstance(item, ast.Name):
                stimuli = item
            else:
                qualifiers.append(item)
        return self._quantity(meta, metric, selectors, stimuli, qualifiers, drop)

    def change_test(self, meta, direction, bound, amount, *qualifiers):
        bound_text = " ".join(str(bound).split())
        return ("change", ast.ChangeTest(str(direction), bound_text, amount, self._span(meta)),
                qualifiers)

    def compare_number(self, meta, op, value):
        return ("test", ast.CompareNumber(str(op), value, self._span(meta)))

    def compare_quantity(self, meta, op, rhs, offset=None):
        sign, value = offset if offset is not None else (None, None)
        return ("test", ast.CompareQuantity(str(op), rhs, sign, value, self._span(meta)))

    def offset_plus(self, meta, value):
        return ("+", value)

    def offset_minus(self, meta, value):
        return ("-", value)

    def compare_drop(self, meta, op, _drop, *qualifiers):
        rhs = self._quantity(meta, None, (), None, qualifiers, drop=True)
        return ("test", ast.CompareQuantity(str(op), rhs, None, None, self._span(meta)))

    def extreme_test(self, meta, extreme, selectors):
        return ("test", ast.ExtremeTest(str(extreme) == "largest", selectors[1], self._span(meta)))

    def average_clause(self, meta, *words):
        names = tuple(_dim_name(w) for w in words)
        return ast.FamilyClause(names, None, False, self._span(meta),
                                tuple(_dim_span(w, self) for w in words))

    def every_clause(self, meta, _keyword, dim):
        return ast.FamilyClause(dim.names, None, True, self._span(meta), (dim.span,) * len(dim.names))

    def share_clause(self, meta, _keyword, share, dim):
        return ast.FamilyClause(dim.names, share, False, self._span(meta), (dim.span,) * len(dim.names))

    def expect_stmt(self, meta, quantity, test, *options):
        families = tuple(o for o in options if isinstance(o, ast.FamilyClause))
        options = tuple(o for o in options if not isinstance(o, ast.FamilyClause))
        if test[0] == "change":
            _, change, qualifiers = test
            if qualifiers:
                extra = self._quantity(meta, None, (), None, qualifiers, drop=False)
                quantity = ast.Quantity(
                    quantity.metric, quantity.stimuli,
                    quantity.where_class or extra.where_class, quantity.model or extra.model,
                    quantity.fit_on or extra.fit_on,
                    quantity.interventions + extra.interventions, quantity.selectors,
                    quantity.drop, quantity.span, quantity.where_not or extra.where_not)
            test_node = change
        else:
            test_node = test[1]
        return ast.ExpectDecl(quantity, test_node, tuple(options), self._span(meta), families)

    # -- reports --------------------------------------------------------------------------
    def class_dim(self, meta):
        return ast.Name("class", self._span(meta))

    def report_dim(self, meta, *words):
        return ast.ReportDim(tuple(w.value for w in words), self._span(meta))

    def report_by(self, meta, *dims):
        return ("by", tuple(dims))

    def report_vs(self, meta, phrase):
        return ("versus", phrase)

    def report_over(self, meta, name):
        return ("over", name)

    def report_on(self, meta, name):
        return ("stimuli", name)

    def report_steps(self, meta, value):
        return ("steps", value)

    def report_of(self, meta, units):
        return ("units", units)

    def report_top(self, meta, value):
        return ("top", value)

    def report_stmt(self, meta, kind, *items):
        metric = None
        fields: dict = {}
        for item in items:
            if isinstance(item, ast.MetricPhrase):
                metric = item
            else:
                fields[item[0]] = item[1]
        if kind.value == "exemplars" and metric is not None and "units" not in fields and \
                len(metric.metric.words) == 1:
            # `report exemplars hot7 [top 9] on test`: the word is the unit set, not a measure
            fields["units"] = ast.UnitRef(ast.Name(metric.metric.words[0], metric.metric.span), metric.metric.span)
            fields.setdefault("top", metric.top)
            metric = None
        return ast.ReportDecl(kind, metric, fields.get("by", ()), fields.get("versus"),
                              fields.get("over"), fields.get("stimuli"), fields.get("steps"),
                              fields.get("units"), self._span(meta), fields.get("top"))
