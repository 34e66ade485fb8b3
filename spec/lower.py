"""Lark parse tree -> typed AST. The only module that sees Lark's trees."""

from __future__ import annotations

from lark import Token, Transformer, v_args

from . import ast
from .source import SourceFile, Span


def _tokens(items, type_name):
    return [i for i in items if isinstance(i, Token) and i.type == type_name]


@v_args(meta=True, inline=True)
class _Lower(Transformer):
    def __init__(self, source: SourceFile):
        super().__init__(visit_tokens=True)
        self.source = source

    # -- helpers --------------------------------------------------------------
    def _span(self, meta) -> Span:
        if getattr(meta, "empty", True):
            return Span.unknown()
        return self.source.span(self._offset(meta.line, meta.column),
                                self._offset(meta.end_line, meta.end_column))

    def _tspan(self, token: Token) -> Span:
        return self.source.span(self._offset(token.line, token.column),
                                self._offset(token.end_line, token.end_column))

    def _offset(self, line: int, column: int) -> int:
        # Line/column rather than Lark's offsets: the parser may have blanked broken lines
        # (keeping line numbers) before this parse succeeded.
        starts = self.source._line_starts
        line = max(1, min(line, len(starts)))
        return min(starts[line - 1] + column - 1, len(self.source.text))

    # -- tokens (no meta for tokens: v_args does not apply) ----------------------
    @v_args(inline=False, meta=False)
    def NUMBER(self, token):
        return ast.Number(float(token), str(token), self._tspan(token))

    @v_args(inline=False, meta=False)
    def PERCENT(self, token):
        return ast.Percent(float(str(token)[:-1]) / 100.0, str(token), self._tspan(token))

    @v_args(inline=False, meta=False)
    def STRING(self, token):
        raw = str(token)[1:-1]
        value = raw.replace('\\"', '"').replace("\\\\", "\\")
        return ast.String(value, self._tspan(token))

    @v_args(inline=False, meta=False)
    def NAME(self, token):
        return ast.Name(str(token), self._tspan(token))

    @v_args(inline=False, meta=False)
    def PARAM_REF(self, token):
        return ast.ParamRef(str(token)[1:], self._tspan(token))

    # -- values -------------------------------------------------------------------
    def list(self, meta, *items):
        return ast.ListValue(tuple(items), self._span(meta))

    def start(self, meta, *statements):
        return tuple(statements)

    # -- header --------------------------------------------------------------------
    def experiment_stmt(self, meta, value):
        return ast.Experiment(value, self._span(meta))

    def seed_stmt(self, meta, value):
        return ast.Seed(value, self._span(meta))

    def device_stmt(self, meta, value):
        return ast.Device(value, self._span(meta))

    def repeats_stmt(self, meta, value):
        return ast.Repeats(value, self._span(meta))

    def confidence_stmt(self, meta, value):
        return ast.Confidence(value, self._span(meta))

    def resamples_stmt(self, meta, value):
        return ast.Resamples(value, self._span(meta))

    def param_stmt(self, meta, name, value):
        return ast.Param(name, value, self._span(meta))

    # -- families --------------------------------------------------------------------
    def binder(self, meta, *items):
        kind = None
        rest = list(items)
        if rest and isinstance(rest[0], Token) and rest[0].type == "BINDER_KIND":
            kind = str(rest.pop(0))
        variable = rest.pop(0)
        domain = rest.pop(0) if rest else None
        return ast.Binder(kind, variable, domain, self._span(meta))

    def for_block(self, meta, *items):
        binders = tuple(i for i in items if isinstance(i, ast.Binder))
        body = tuple(i for i in items if not isinstance(i, ast.Binder))
        return ast.ForBlock(binders, body, self._span(meta))

    # -- stimuli ---------------------------------------------------------------------
    def stimuli_stmt(self, meta, name, source, *rest):
        path = None
        options = []
        for item in rest:
            if isinstance(item, ast.Option):
                options.append(item)
            else:
                path = item
        return ast.StimuliDecl(name, source, path, tuple(options), self._span(meta))

    def source_path(self, meta, value):
        return value

    def split_name(self, meta, value):
        if isinstance(value, Token):
            return ast.Name(str(value), self._tspan(value))
        return value

    def _option(key):
        def build(self, meta, value=None, extra=None):
            return ast.Option(key, value, self._span(meta), extra)
        return build

    opt_split = _option("split")
    opt_classes = _option("classes")
    opt_per_class = _option("per class")
    opt_preprocess = _option("preprocess")
    opt_noise = _option("noise")
    opt_blur = _option("blur")
    opt_holdout = _option("holdout")
    opt_seed = _option("seed")
    opt_epochs = _option("epochs")
    opt_lr = _option("lr")
    opt_batch = _option("batch")
    opt_regularize = _option("regularize selectivity")
    opt_repeats = _option("repeats")
    opt_replicates = _option("replicates")
    opt_significance = _option("significance")

    # -- models -----------------------------------------------------------------------
    def model_stmt(self, meta, name, expr):
        return ast.ModelDecl(name, expr, self._span(meta))

    def model_train(self, meta, _train, arch, *rest):
        rest = list(rest)
        widths = None
        if rest and not isinstance(rest[0], ast.Name):
            widths = rest.pop(0)
        train_on = rest.pop(0)
        return ast.TrainModel(arch, widths, train_on, tuple(rest), self._span(meta))

    def widths(self, meta, value):
        return value

    def train_opt(self, meta, option):
        return option

    def model_torchvision(self, meta, arch, weights=None):
        return ast.TorchvisionModel(arch, weights, self._span(meta))

    def model_file(self, meta, path, arch=None):
        return ast.FileModel(path, arch, self._span(meta))

    def model_timm(self, meta, arch, weights=None):
        return ast.TimmModel(arch, weights, self._span(meta))

    def model_factory(self, meta, target):
        return ast.FactoryModel(target, self._span(meta))

    def model_ref(self, meta, value):
        return ast.ModelRef(value, self._span(meta))

    # -- units -------------------------------------------------------------------------
    def units_stmt(self, meta, name, expr):
        return ast.UnitsDecl(name, expr, self._span(meta))

    def metric(self, meta, *words):
        return ast.Metric(tuple(w.value for w in words), self._span(meta))

    def for_class(self, meta, value):
        return ("for_class", value)

    def on_stimuli(self, meta, name):
        return ("on", name)

    @staticmethod
    def _trailing(items):
        target_class = stimuli = None
        plain = []
        for item in items:
            if isinstance(item, tuple) and item and item[0] == "for_class":
                target_class = item[1]
            elif isinstance(item, tuple) and item and item[0] == "on":
                stimuli = item[1]
            elif isinstance(item, tuple) and item and item[0] == "per_element":
                continue
            else:
                plain.append(item)
        return plain, target_class, stimuli

    @staticmethod
    def _per_element(items) -> bool:
        return any(isinstance(item, tuple) and item and item[0] == "per_element" for item in items)

    def per_element(self, meta, token):
        return ("per_element",)

    def _ranked(self, meta, items, bottom):
        plain, target_class, stimuli = self._trailing(items)
        count, metric, layer = plain
        return ast.RankedSelection(bottom, count, metric, target_class, layer, stimuli,
                                   self._span(meta), self._per_element(items))

    def top(self, meta, *items):
        return self._ranked(meta, items, bottom=False)

    def bottom(self, meta, *items):
        return self._ranked(meta, items, bottom=True)

    def random(self, meta, count, layer, *per_element):
        return ast.RandomSelection(count, layer, self._span(meta), self._per_element(per_element))

    def explicit(self, meta, indices, layer):
        return ast.ExplicitSelection(indices, layer, self._span(meta))

    def all_units(self, meta, layer, *per_element):
        return ast.AllSelection(layer, self._span(meta), self._per_element(per_element))

    def threshold(self, meta, *items):
        plain, target_class, stimuli = self._trailing(items)
        metric, op, value, layer = plain
        return ast.ThresholdSelection(metric, str(op), value, target_class, layer, stimuli,
                                      self._span(meta))

    def grid(self, meta, *items):
        plain, target_class, stimuli = self._trailing(items)
        size, row_metric, col_metric, layer = plain
        text = str(size).replace("×", "x").replace("X", "x")
        rows, cols = (int(part.strip()) for part in text.split("x"))
        return ast.GridSelection(rows, cols, self._tspan(size), row_metric, col_metric,
                                 target_class, layer, stimuli, self._span(meta), self._per_element(items))

    def unit_ref(self, meta, name):
        return ast.UnitRef(name, self._span(meta))

    def _setop(op):
        def build(self, meta, left, right):
            return ast.SetOperation(op, left, right, self._span(meta))
        return build

    union = _setop("|")
    intersection = _setop("&")
    difference = _setop("-")

    # -- metric phrases and quantities ---------------------------------------------------
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
        return ast.Quantity(metric, stimuli, fields.get("where_class"), fields.get("model"),
                            fields.get("fit_on"), tuple(interventions), tuple(selectors), drop,
                            self._span(meta))

    def quantity(self, meta, metric, stimuli, *qualifiers):
        return self._quantity(meta, metric, (), stimuli, qualifiers, drop=False)

    def measure_stmt(self, meta, *items):
        name = items[0] if len(items) == 2 else None
        return ast.MeasureDecl(name, items[-1], self._span(meta))

    # -- interventions --------------------------------------------------------------------
    def ablate(self, meta, units, token=None):
        return ast.ActivationIntervention("zero", units, None, self._span(meta), token)

    def mean_ablate(self, meta, _keyword, units):
        return ast.ActivationIntervention("mean", units, None, self._span(meta))

    def clamp(self, meta, units, value, token=None):
        return ast.ActivationIntervention("clamp", units, value, self._span(meta), token)

    def scale(self, meta, units, value, token=None):
        return ast.ActivationIntervention("scale", units, value, self._span(meta), token)

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

    def compare_quantity(self, meta, op, rhs, sign=None, offset=None):
        return ("test", ast.CompareQuantity(str(op), rhs, str(sign) if sign else None, offset,
                                            self._span(meta)))

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
                    quantity.drop, quantity.span)
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

    def report_stmt(self, meta, kind, *items):
        metric = None
        fields: dict = {}
        for item in items:
            if isinstance(item, ast.MetricPhrase):
                metric = item
            else:
                fields[item[0]] = item[1]
        return ast.ReportDecl(kind, metric, fields.get("by", ()), fields.get("versus"),
                              fields.get("over"), fields.get("stimuli"), fields.get("steps"),
                              fields.get("units"), self._span(meta))


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


def lower(tree, source: SourceFile) -> ast.Spec:
    statements = _Lower(source).transform(tree)
    return ast.Spec(source.path, tuple(statements))
