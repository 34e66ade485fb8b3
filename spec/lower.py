"""Lark parse tree -> typed AST. The only module that sees Lark's trees."""

from __future__ import annotations

from lark import Token, v_args

from . import ast
from .lower_claims import ClaimLowering
from .source import SourceFile, Span


def _tokens(items, type_name):
    return [i for i in items if isinstance(i, Token) and i.type == type_name]


@v_args(meta=True, inline=True)
class _Lower(ClaimLowering):
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
        return self.source.offset(line, column)

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

    def precision_stmt(self, meta, value):
        return ast.Precision(value, self._span(meta))

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

    def model_file_python(self, meta, path, target):
        return ast.FileModel(path, None, self._span(meta), target)

    def factory_arg(self, meta, name, value):
        return (name, value)

    def model_factory(self, meta, target, *kwargs):
        return ast.FactoryModel(target, self._span(meta), tuple(kwargs))

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

    def random(self, meta, count, layer, *rest):
        among_live = any(getattr(item, "type", "") == "AMONG_LIVE" for item in rest)
        return ast.RandomSelection(count, layer, self._span(meta), self._per_element(rest), among_live)

    def random_matching(self, meta, count, layer, matching, metric):
        return ast.RandomSelection(count, layer, self._span(meta), matching=matching, match_metric=metric)

    def random_from(self, meta, count, pool):
        return ast.RandomSelection(count, None, self._span(meta), pool=pool)

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


def lower(tree, source: SourceFile) -> ast.Spec:
    statements = _Lower(source).transform(tree)
    return ast.Spec(source.path, tuple(statements))
