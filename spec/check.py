"""Typed AST -> checked Program: parameters substituted, names resolved, values in range.

Every problem is reported (not just the first); the Program is only produced when there are no
errors. The checker knows nothing about torch: model-aware checks (layer names, class indices)
are done by the interpreter (`abl lint --deep`, `abl run`).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Iterable

from . import ast
from .diagnostics import DiagnosticSink, did_you_mean, listing
from .families import check_claim_dims, check_open_dims, family_dims, measure_dims
from .parser import parse_value
from .source import SourceFile, Span
from .vocabulary import (BUILTIN_ARCHITECTURES, CLASS_UNIT_METRICS, DATASETS, DEVICES,
                         MEASURES, MEASURES_NEEDING_CLASS, MEASURES_NEEDING_INTERVENTION,
                         MEASURES_NEEDING_WHERE_CLASS,
                         MEASURES_NEEDING_LAYER, MEASURES_NEEDING_UNITS, PREPROCESSING,
                         REPORT_KINDS, SPLITS, TORCHVISION_ARCHITECTURES, UNIT_METRICS)

DEFAULT_REPEATS = 100
DEFAULT_MAX_PLAN = 1_000_000      # bindings x draws a spec may expand to (ABL_MAX_PLAN overrides)
CLASS_GUESS = 1000                # `for each class c` without a list: up to ImageNet's classes


def max_plan() -> int:
    import os

    try:
        return max(1, int(os.environ.get("ABL_MAX_PLAN", DEFAULT_MAX_PLAN)))
    except ValueError:
        return DEFAULT_MAX_PLAN
DEFAULT_CONFIDENCE = 0.95
DEFAULT_RESAMPLES = 1000


@dataclass(frozen=True)
class Program:
    """A spec that passed every check: what the planner consumes."""
    source: SourceFile
    experiment: str
    seed: int
    device: str
    repeats: int
    params: tuple[tuple[str, object], ...]
    statements: tuple[ast.Statement, ...]
    confidence: float = DEFAULT_CONFIDENCE     # the level of every interval
    resamples: int = DEFAULT_RESAMPLES         # bootstrap and permutation resamples


# ---- symbols ------------------------------------------------------------------------

@dataclass
class Symbol:
    kind: str            # stimuli | model | units | measure | param | class-var | layer-var | var
    span: Span
    used: bool = False
    is_grid: bool = False


@dataclass
class Scope:
    parent: "Scope | None" = None
    symbols: dict[str, Symbol] = field(default_factory=dict)

    def lookup(self, name: str) -> Symbol | None:
        scope: Scope | None = self
        while scope is not None:
            if name in scope.symbols:
                return scope.symbols[name]
            scope = scope.parent
        return None

    def visible(self) -> dict[str, Symbol]:
        names: dict[str, Symbol] = {}
        chain = []
        scope: Scope | None = self
        while scope is not None:
            chain.append(scope)
            scope = scope.parent
        for scope in reversed(chain):
            names.update(scope.symbols)
        return names


KIND_WORDS = {"stimuli": "stimuli", "model": "model", "units": "unit set", "measure": "measure",
              "param": "parameter", "class-var": "class variable", "layer-var": "layer variable",
              "var": "loop variable"}


def python_value(value: ast.Value) -> object:
    if isinstance(value, (ast.Number, ast.Percent)):
        return int(value.value) if isinstance(value, ast.Number) and value.is_int else value.value
    if isinstance(value, (ast.String, ast.Name)):
        return value.value
    if isinstance(value, ast.ListValue):
        return [python_value(item) for item in value.items]
    return f"${value.name}"


def _with_span(value: ast.Value, span: Span) -> ast.Value:
    if isinstance(value, ast.ListValue):
        return ast.ListValue(tuple(_with_span(item, span) for item in value.items), span)
    return dataclasses.replace(value, span=span)


class Checker:
    def __init__(self, spec: ast.Spec, source: SourceFile, sink: DiagnosticSink,
                 overrides: dict[str, str] | None = None):
        self.spec = spec
        self.source = source
        self.sink = sink
        self.overrides = dict(overrides or {})
        self.params: dict[str, ast.Value] = {}
        self.param_symbols: dict[str, Symbol] = {}
        self.global_scope = Scope()
        self.measured_stimuli: list[str] = []
        self.symbols_in_order: list[tuple[str, Symbol]] = []
        self.model_aliases: set[str] = set()
        self.expired_variables: dict[str, Span] = {}
        self.unit_exprs: dict[str, object] = {}       # unit set name -> its expression (the last one)
        self.expansion = 1                            # bindings of the enclosing `for each` blocks
        # statements that did not parse take nothing down with them: names they would have
        # defined are not "undefined", and in a block whose header did not parse nothing is
        self.broken_names = _names_defined_on(self.source, spec.broken_lines)
        self.broken_mentions = {word for line in spec.broken_lines
                                for word in re.findall(r"[A-Za-z_]\w*", source.line_text(line))}
        self._in_broken_block = 0
        self._in_expect = False

    # ---- diagnostics helpers ------------------------------------------------------------
    def error(self, code: str, message: str, span: Span, help: str | None = None) -> None:
        if self._in_broken_block and code in ("E201", "E203", "E206"):
            return              # the block's variables are unknown: its header did not parse
        written = self.source.text[span.start:span.end]
        if written.startswith("$") and written[1:] in self.broken_names:
            return              # a parameter whose declaration did not parse: its value is unknown
        if code in ("E201", "E303") and self.broken_names & set(re.findall(r"`([^`]+)`", message)):
            return              # a name that a statement which did not parse would have defined
        if self._in_expect and self.spec.broken_lines and code in ("E306", "E310"):
            return              # a claim reads measurements, some of which may be on broken lines
        if written.startswith("$") and written[1:] in self.overrides:
            # the value is the command line's: say so, where the spec uses it
            flag = f"`--set {written[1:]}={self.overrides[written[1:]]}`"
            help = f"the value comes from {flag}" + (f"; {help}" if help else "")
        self.sink.report(code, message, span, help)

    # ---- entry ----------------------------------------------------------------------------
    def run(self) -> Program | None:
        self._had_syntax_errors = any(d.code.startswith("E1") for d in self.sink.diagnostics)
        self._collect_params(self.spec.statements)
        statements = tuple(self._substitute(s) for s in self.spec.statements)
        experiment, seed, device, repeats = self._header(statements)
        self.measured_stimuli = _measured_stimuli(statements)
        self.open_dims: dict = {}
        self.measure_dims = measure_dims(statements, self.open_dims)
        checked = tuple(self._statement(s, self.global_scope) for s in statements)
        if not self._had_syntax_errors:
            # with lines dropped by syntax errors, "unused" and "missing" would be guesses
            self._unused()
        confidence, resamples = self._statistics(statements)
        if self.sink.has_errors:
            return None
        params = tuple((name, python_value(value)) for name, value in self.params.items())
        return Program(self.source, experiment, seed, device, repeats, params, checked,
                       confidence, resamples)

    # ---- parameters -------------------------------------------------------------------------
    def _collect_params(self, statements: Iterable[ast.Statement]) -> None:
        for statement in statements:
            if isinstance(statement, ast.ForBlock):
                for inner in statement.body:
                    if isinstance(inner, ast.Param):
                        self.error("E306", "parameters are declared at the top level", inner.span,
                                   help="move `param` out of the `for each` block")
                continue
            if not isinstance(statement, ast.Param):
                continue
            name = statement.name.value
            if name in self.params:
                first = self.param_symbols[name].span
                self.error("E202", f"parameter `{name}` is declared twice", statement.name.span,
                           help=f"first declared on line {first.line}")
                continue
            if isinstance(statement.value, ast.ParamRef):
                self.error("E306", "a parameter's default must be a literal value",
                           statement.value.span)
            self.params[name] = statement.value
            self.param_symbols[name] = Symbol("param", statement.name.span)
        for name, text in self.overrides.items():
            if name not in self.params:
                span = Span.unknown()
                self.error("E205", f"`--set {name}=...` names no parameter of this spec", span,
                           help=did_you_mean(name, self.params) or
                           (f"declared parameters: {listing(list(self.params))}" if self.params
                            else "this spec declares no parameters"))
                continue
            parsed = parse_value(text)
            default = self.params[name]
            if parsed is None or (isinstance(parsed, ast.Name) and isinstance(default, ast.String)):
                parsed = ast.String(text, default.span)
            self.params[name] = _with_span(parsed, default.span)

    def _substitute(self, node):
        """Replace every `$name` by the parameter's value (keeping the reference's span)."""
        if isinstance(node, ast.ParamRef):
            if node.name not in self.params:
                self.error("E204", f"unknown parameter `${node.name}`", node.span,
                           help=did_you_mean(node.name, self.params, prefix="$") or
                           f"declare it: `param {node.name} = ...`")
                return ast.Name(f"${node.name}", node.span)  # reported once: see _unknown_param
            self.param_symbols[node.name].used = True
            return _with_span(self.params[node.name], node.span)
        if isinstance(node, tuple):
            return tuple(self._substitute(item) for item in node)
        if dataclasses.is_dataclass(node) and not isinstance(node, Span):
            if isinstance(node, ast.Param):
                return node
            changes = {}
            for f in dataclasses.fields(node):
                value = getattr(node, f.name)
                new = self._substitute(value)
                if new is not value:
                    changes[f.name] = new
            return dataclasses.replace(node, **changes) if changes else node
        return node

    # ---- header ---------------------------------------------------------------------------------
    def _header(self, statements) -> tuple[str, int, str, int]:
        experiment = None
        seed = None
        device = "auto"
        repeats = DEFAULT_REPEATS
        seen: dict[type, Span] = {}
        for statement in statements:
            kind = type(statement)
            if kind in (ast.Experiment, ast.Seed, ast.Device, ast.Repeats, ast.Confidence, ast.Resamples):
                if kind in seen:
                    word = kind.__name__.lower()
                    self.error("E202", f"`{word}` is given twice", statement.span,
                               help=f"first given on line {seen[kind].line}")
                    continue
                seen[kind] = statement.span
            if isinstance(statement, ast.Experiment):
                if isinstance(statement.name, ast.String):
                    experiment = statement.name.value
                else:
                    self.error("E306", "the experiment's name is a string in double quotes",
                               statement.name.span, help='experiment "digit-7 units"')
            elif isinstance(statement, ast.Seed):
                seed = self.int_value(statement.value, "the seed", minimum=0)
            elif isinstance(statement, ast.Device):
                device = self._device(statement.value)
            elif isinstance(statement, ast.Repeats):
                repeats = self.int_value(statement.value, "repeats", minimum=1) or DEFAULT_REPEATS
                if repeats > max_plan():
                    self.error("E311", f"{repeats:,} random draws per control; abl plans at most {max_plan():,}",
                               statement.value.span, help="100 to 10,000 draws give p-values to 1e-2 .. 1e-4")
                    repeats = DEFAULT_REPEATS
        first_line = Span(0, 0, 1, 1, 1, 1)
        if self._had_syntax_errors:
            return experiment or _stem(self.source.path), seed or 0, device, repeats
        if experiment is None and ast.Experiment not in seen:
            self.error("W502", "the spec has no `experiment` name", first_line,
                       help='add `experiment "what this tests"` at the top')
        if seed is None and ast.Seed not in seen:
            self.error("W502", "the spec has no `seed`; seed 0 is used", first_line,
                       help="add `seed 0` to make the choice explicit")
        return experiment or _stem(self.source.path), seed or 0, device, repeats

    def _statistics(self, statements) -> tuple[float, int]:
        confidence, resamples = DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES
        for statement in statements:
            if isinstance(statement, ast.Confidence):
                level = self.number_value(statement.value, "the confidence level", allow_variable=False)
                if level is not None and not 0.5 <= level < 1.0:
                    self.error("E301", f"a confidence level of {level:g} is outside [50%, 100%)",
                               statement.value.span, help="the usual levels are `confidence 95%` and `99%`")
                elif level is not None:
                    confidence = float(level)
            elif isinstance(statement, ast.Resamples):
                count = self.int_value(statement.value, "resamples", minimum=100)
                if count is not None and count > 1_000_000:
                    self.error("E301", f"{count} resamples is more than the 1000000 allowed",
                               statement.value.span, help="10000 resamples give p-values to 1e-4")
                elif count is not None:
                    resamples = count
        return confidence, resamples

    def _device(self, value: ast.Value) -> str:
        text = value.value if isinstance(value, (ast.Name, ast.String)) else None
        if text is None:
            self.error("E306", "a device is `auto`, `cpu`, `cuda` or `cuda:N`", value.span)
            return "auto"
        if text in DEVICES or (text.startswith("cuda:") and text[5:].isdigit()):
            return text
        self.error("E307", f"unknown device `{text}`", value.span,
                   help=did_you_mean(text, DEVICES) or 'use `auto`, `cpu`, `cuda` or `"cuda:N"` (quoted)')
        return "auto"

    # ---- value checks ---------------------------------------------------------------------
    def int_value(self, value: ast.Value, what: str, minimum: int | None = None,
                  maximum: int | None = None) -> int | None:
        if isinstance(value, ast.Name):
            symbol = self._scope_lookup(value.value)
            if symbol is not None and symbol.kind in ("var",):
                symbol.used = True
                return None
        if not isinstance(value, ast.Number) or not value.is_int:
            self.error("E306", f"{what} must be a whole number", value.span,
                       help="counts are written as digits, e.g. `5`")
            return None
        number = int(value.value)
        if minimum is not None and number < minimum:
            self.error("E301", f"{what} must be at least {minimum}, not {number}", value.span)
            return None
        if maximum is not None and number > maximum:
            self.error("E301", f"{what} must be at most {maximum}, not {number}", value.span)
            return None
        return number

    def number_value(self, value: ast.Value, what: str, low: float | None = None,
                     high: float | None = None, allow_variable: bool = True) -> float | None:
        if isinstance(value, ast.Name) and allow_variable:
            symbol = self._scope_lookup(value.value)
            if symbol is not None and symbol.kind == "var":
                symbol.used = True
                return None
            self.error("E201" if symbol is None else "E203",
                       f"`{value.value}` is not a number" + ("" if symbol else " or a defined loop variable"),
                       value.span)
            return None
        if not isinstance(value, (ast.Number, ast.Percent)):
            self.error("E306", f"{what} must be a number", value.span)
            return None
        number = value.value
        if low is not None and number < low:
            self.error("E301", f"{what} must be at least {low:g}, not {number:g}", value.span)
        elif high is not None and number > high:
            self.error("E301", f"{what} must be at most {high:g}, not {number:g}", value.span)
        return number

    # ---- scopes ------------------------------------------------------------------------------
    _current_scope: Scope | None = None

    def _scope_lookup(self, name: str) -> Symbol | None:
        scope = self._current_scope or self.global_scope
        return scope.lookup(name)

    def define(self, scope: Scope, name: ast.Name, kind: str, is_grid: bool = False) -> None:
        existing = scope.lookup(name.value)
        if existing is not None and existing.kind != "param":
            self.error("E202", f"`{name.value}` is already defined (as a {KIND_WORDS[existing.kind]})",
                       name.span, help=f"first defined on line {existing.span.line}; choose another name")
            return
        symbol = Symbol(kind, name.span, is_grid=is_grid)
        scope.symbols[name.value] = symbol
        self.symbols_in_order.append((name.value, symbol))

    def use(self, scope: Scope, name: ast.Name, kinds: tuple[str, ...], what: str) -> Symbol | None:
        symbol = scope.lookup(name.value)
        if symbol is None and name.value in self.broken_names:
            return None             # defined by a statement that did not parse (reported there)
        if symbol is None:
            candidates = [n for n, s in scope.visible().items() if s.kind in kinds]
            help_text = did_you_mean(name.value, candidates)
            if help_text is None:
                help_text = (f"defined {what}s: {listing(candidates)}" if candidates
                             else f"define it first: `{_definition_hint(kinds[0], name.value)}`")
            self.error("E201", f"undefined {what} `{name.value}`", name.span, help=help_text)
            return None
        symbol.used = True
        if symbol.kind not in kinds:
            self.error("E203", f"`{name.value}` is a {KIND_WORDS[symbol.kind]}, not a {what}",
                       name.span, help=f"defined on line {symbol.span.line}")
            return None
        return symbol

    # ---- statements ------------------------------------------------------------------------
    def _statement(self, statement, scope: Scope):
        self._current_scope = scope
        handler = getattr(self, f"_check_{type(statement).__name__}", None)
        return handler(statement, scope) if handler else statement

    def _check_ForBlock(self, block: ast.ForBlock, scope: Scope):
        if any(binder.variable.value == ast.BROKEN for binder in block.binders):
            self._in_broken_block += 1          # its header did not parse: check the body alone
            try:
                body = tuple(self._statement(s, Scope(scope)) for s in block.body)
            finally:
                self._in_broken_block -= 1
                self._current_scope = scope
            return dataclasses.replace(block, body=body)
        inner = Scope(scope)
        outer_factor = self.expansion
        for binder in block.binders:
            size = len(binder.domain.items) if isinstance(binder.domain, ast.ListValue) else CLASS_GUESS
            self.expansion *= max(size, 1)
        if self.expansion > max_plan() and outer_factor <= max_plan():
            self.error("E311", f"this `for each` expands to {self.expansion:,} bindings; abl plans at most "
                       f"{max_plan():,}", block.span,
                       help="sweep fewer values, or raise the limit with ABL_MAX_PLAN=N if you mean it")
        for binder in block.binders:
            kind = {"class": "class-var", "layer": "layer-var", None: "var"}[binder.kind]
            domain = binder.domain
            if domain is not None:
                if not isinstance(domain, ast.ListValue):
                    self.error("E306", "a `for each` ranges over a list `[...]`", domain.span)
                elif not domain.items:
                    self.error("E301", "the list to range over is empty", domain.span)
                elif binder.kind == "layer":
                    for item in domain.items:
                        self.layer_value(item, scope)
                elif binder.kind == "class":
                    for item in domain.items:
                        self.class_value(item, scope)
                else:
                    for item in domain.items:
                        if not isinstance(item, (ast.Number, ast.Percent, ast.String, ast.Name)):
                            self.error("E306", "loop values are numbers, strings or names", item.span)
            elif binder.kind != "class":
                self.error("E306", f"`each {binder.kind + ' ' if binder.kind else ''}{binder.variable.value}` needs `in [...]`",
                           binder.span, help="only `each class c` may omit its list (all classes of the stimuli)")
            if inner.lookup(binder.variable.value) is not None and binder.variable.value in inner.symbols:
                self.error("E202", f"loop variable `{binder.variable.value}` is bound twice",
                           binder.variable.span)
            inner.symbols[binder.variable.value] = Symbol(kind, binder.variable.span)
        for statement in block.body:
            if isinstance(statement, (ast.Experiment, ast.Seed, ast.Device, ast.Repeats, ast.Confidence,
                                      ast.Resamples)):
                self.error("E306", "header statements belong at the top level", statement.span,
                           help="move it out of the `for each` block")
        body = tuple(self._statement(s, inner) for s in block.body)
        self._current_scope = scope
        for name, symbol in inner.symbols.items():
            if symbol.kind in ("class-var", "layer-var", "var"):
                self.expired_variables.setdefault(name, symbol.span)
        for name, symbol in inner.symbols.items():
            if symbol.kind in ("class-var", "layer-var", "var") and not symbol.used \
                    and name not in self.broken_mentions:       # used, maybe, on a line that did not parse
                self.error("W501", f"loop variable `{name}` is never used", symbol.span,
                           help="use it in the block's statements, or drop the binding")
        self.expansion = outer_factor
        return dataclasses.replace(block, body=body)

    def _check_StimuliDecl(self, decl: ast.StimuliDecl, scope: Scope):
        source = decl.source
        if isinstance(source, ast.Name):
            symbol = scope.lookup(source.value)
            if symbol is not None and symbol.kind == "stimuli":
                symbol.used = True
                if decl.path is not None:
                    self.error("E306", "a derived stimuli set takes no path", decl.path.span)
            elif source.value.startswith("$"):
                pass  # an unknown parameter, already reported (E204)
            elif source.value not in DATASETS:
                candidates = list(DATASETS) + [n for n, s in scope.visible().items() if s.kind == "stimuli"]
                self.error("E303", f"unknown dataset `{source.value}`", source.span,
                           help=did_you_mean(source.value, candidates) or f"datasets: {listing(DATASETS)}")
            elif source.value in ("cifar10", "imagefolder") and decl.path is None:
                self.error("E306", f"`{source.value}` needs the path of its folder", source.span,
                           help=f'{source.value} "/path/to/folder"')
        elif isinstance(source, ast.String):
            if source.value in DATASETS:
                source = ast.Name(source.value, source.span)
        else:
            self.error("E306", "a stimuli source is a dataset name, a stimuli name or a folder path",
                       source.span)
        seen: dict[str, Span] = {}
        for option in decl.options:
            if option.key in seen:
                self.error("E202", f"option `{option.key}` is given twice", option.span)
            seen[option.key] = option.span
            self._stimuli_option(option, scope)
        derived = isinstance(source, ast.Name) and getattr(scope.lookup(source.value), "kind", None) == "stimuli"
        if derived and "seed" in seen:
            self.error("W504", f"`seed` re-draws the split: `{decl.name.value}` no longer holds the "
                       f"images of `{source.value}`", seen["seed"],
                       help="to seed only a corruption, write the seed after it: `noise 0.3 seed 7`")
        self.define(scope, decl.name, "stimuli")
        return dataclasses.replace(decl, source=source)

    def _stimuli_option(self, option: ast.Option, scope: Scope) -> None:
        value = option.value
        if option.key == "split":
            if not (isinstance(value, ast.Name) and value.value in SPLITS):
                word = value.value if isinstance(value, (ast.Name, ast.String)) else "?"
                self.error("E307", f"unknown split `{word}`", value.span,
                           help=did_you_mean(str(word), SPLITS) or "use `split train` or `split test`")
        elif option.key == "preprocess":
            if not (isinstance(value, ast.Name) and value.value in PREPROCESSING):
                word = getattr(value, "value", "?")
                self.error("E307", f"unknown preprocessing `{word}`", value.span,
                           help=did_you_mean(str(word), PREPROCESSING) or f"use one of {listing(PREPROCESSING)}")
        elif option.key == "per class":
            self.int_value(value, "`per class`", minimum=1)
        elif option.key in ("noise", "blur"):
            self.number_value(value, f"the {option.key} severity", low=0.0)
            if option.extra is not None:
                self.int_value(option.extra, f"the {option.key}'s seed", minimum=0)
        elif option.key == "holdout":
            fraction = self.number_value(value, "the held-out fraction", allow_variable=False)
            if fraction is not None and not 0.0 < fraction < 1.0:
                self.error("E301", f"a held-out fraction of {fraction:g} leaves one split empty", value.span,
                           help="use a fraction strictly between 0 and 1, e.g. `holdout 0.3` (30% held out)")
        elif option.key == "seed":
            self.int_value(value, "the seed", minimum=0)
        elif option.key == "classes":
            if not isinstance(value, ast.ListValue) or not value.items:
                self.error("E306", "`classes` takes a non-empty list, e.g. `classes [0, 1, 7]`",
                           value.span)
            else:
                for item in value.items:
                    self.class_value(item, scope)

    def _check_ModelDecl(self, decl: ast.ModelDecl, scope: Scope):
        expr = decl.expr
        if isinstance(expr, ast.ModelRef):
            expr = self._model_ref(expr, scope)
        if isinstance(expr, ast.TrainModel):
            self._train_model(expr, scope)
        elif isinstance(expr, ast.TorchvisionModel):
            arch = expr.arch.value
            if arch not in TORCHVISION_ARCHITECTURES:
                self.error("E305", f"unknown torchvision architecture `{arch}`", expr.arch.span,
                           help=did_you_mean(arch, TORCHVISION_ARCHITECTURES) or
                           "names as in torchvision.models, e.g. `alexnet`, `resnet101`")
            self._weights(expr.weights)
        elif isinstance(expr, ast.TimmModel):
            self._weights(expr.weights)
        elif isinstance(expr, ast.FileModel):
            if not isinstance(expr.path, ast.String):
                self.error("E306", "a model file is a path in double quotes", expr.path.span)
            if expr.arch is not None and expr.arch.value not in BUILTIN_ARCHITECTURES + TORCHVISION_ARCHITECTURES:
                self.error("E305", f"unknown architecture `{expr.arch.value}`", expr.arch.span,
                           help=did_you_mean(expr.arch.value, BUILTIN_ARCHITECTURES + TORCHVISION_ARCHITECTURES))
        elif isinstance(expr, ast.FactoryModel):
            if not isinstance(expr.target, ast.String) or ":" not in expr.target.value:
                self.error("E306", 'a Python factory is written "package.module:function"',
                           expr.target.span)
        self.define(scope, decl.name, "model")
        return dataclasses.replace(decl, expr=expr)

    def _weights(self, weights: ast.Value | None) -> None:
        if weights is not None and not isinstance(weights, (ast.Name, ast.String)):
            self.error("E306", "weights are `auto`, `none`, `imagenet` or a file path in quotes", weights.span)
        elif isinstance(weights, ast.Name) and weights.value not in ("auto", "none", "imagenet"):
            self.error("E307", f"unknown weights `{weights.value}`", weights.span,
                       help=did_you_mean(weights.value, ("auto", "none", "imagenet")) or
                       'use `auto`, `none`, `imagenet` or a path in quotes: weights "alexnet.pth"')

    def _model_ref(self, expr: ast.ModelRef, scope: Scope):
        value = expr.value
        if not isinstance(value, (ast.Name, ast.String)):
            self.error("E306", "a model is a declaration, a model name, or an architecture name",
                       value.span)
            return expr
        text = value.value
        symbol = scope.lookup(text)
        if symbol is not None and symbol.kind == "model":
            symbol.used = True
            self.model_aliases.add(text)
            return ast.ModelRef(ast.Name(text, value.span), expr.span)
        if text in TORCHVISION_ARCHITECTURES:
            return ast.TorchvisionModel(ast.Name(text, value.span), None, expr.span)
        if text.endswith((".pt", ".pth", ".ts")):
            return ast.FileModel(ast.String(text, value.span), None, expr.span)
        if ":" in text:
            return ast.FactoryModel(ast.String(text, value.span), expr.span)
        models = [n for n, s in scope.visible().items() if s.kind == "model"]
        self.error("E201", f"`{text}` is neither a defined model nor a known architecture",
                   value.span, help=did_you_mean(text, models + list(TORCHVISION_ARCHITECTURES))
                   or "define it with `model NAME = ...` or use a torchvision name like `alexnet`")
        return expr

    def _train_model(self, expr: ast.TrainModel, scope: Scope) -> None:
        if expr.arch.value not in BUILTIN_ARCHITECTURES:
            self.error("E305", f"unknown trainable architecture `{expr.arch.value}`", expr.arch.span,
                       help=did_you_mean(expr.arch.value, BUILTIN_ARCHITECTURES) or
                       "the spec can train `mlp [in, hidden..., out]` or `cnn`")
        if expr.widths is not None:
            if not isinstance(expr.widths, ast.ListValue) or not expr.widths.items:
                self.error("E306", "layer widths are a list of whole numbers", expr.widths.span)
            else:
                for item in expr.widths.items:
                    self.int_value(item, "a layer width", minimum=1)
                if expr.arch.value == "mlp" and len(expr.widths.items) < 2:
                    self.error("E301", "an mlp needs at least [inputs, outputs]", expr.widths.span)
        elif expr.arch.value == "mlp":
            self.error("E306", "`train mlp` needs its widths: `train mlp [64, 128, 64, 10] on ...`",
                       expr.arch.span)
        self.use(scope, expr.train_on, ("stimuli",), "stimuli")
        seen: set[str] = set()
        for option in expr.options:
            if option.key in seen:
                self.error("E202", f"option `{option.key}` is given twice", option.span)
            seen.add(option.key)
            if option.key == "epochs":
                self.int_value(option.value, "epochs", minimum=1)
            elif option.key == "lr":
                self.number_value(option.value, "the learning rate", low=0.0, allow_variable=True)
            elif option.key == "batch":
                self.int_value(option.value, "the batch size", minimum=1)
            elif option.key == "seed":
                self.int_value(option.value, "the seed", minimum=0)
            elif option.key == "replicates":
                count = self.int_value(option.value, "replicates", minimum=1)
                if count is not None and count > 100:
                    self.error("E301", f"{count} replicates train {count} models", option.value.span,
                               help="use at most 100 replicates")
            elif option.key == "regularize selectivity":
                self.number_value(option.value, "the regularisation strength")
                if option.extra is not None:
                    layers = option.extra.items if isinstance(option.extra, ast.ListValue) else (option.extra,)
                    for layer in layers:
                        self.layer_value(layer, scope)

    def _check_UnitsDecl(self, decl: ast.UnitsDecl, scope: Scope):
        self.unit_exprs[decl.name.value] = decl.expr
        is_grid = self.unit_expr(decl.expr, scope)
        self.define(scope, decl.name, "units", is_grid=is_grid)
        return decl

    def _check_MeasureDecl(self, decl: ast.MeasureDecl, scope: Scope):
        quantity = self.quantity(decl.quantity, scope, in_measure=True)
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
                if repeats is not None and repeats < 20:
                    self.error("W503", f"{repeats} random draws give p-values no smaller than "
                               f"{1 / (repeats + 1):.2f}", option.span, help="use `repeats 100` or more")
            elif option.key == "significance":
                self.number_value(option.value, "the significance level", low=0.0, high=1.0,
                                  allow_variable=False)
        check_claim_dims(self, decl, lhs, test, family_dims(self.measure_dims, lhs, scope))
        check_open_dims(self, decl, lhs, test, self.open_dims, scope)
        return dataclasses.replace(decl, quantity=lhs, test=test)

    def _check_ReportDecl(self, decl: ast.ReportDecl, scope: Scope):
        kind = decl.kind.value
        if kind not in REPORT_KINDS:
            self.error("E304", f"unknown report kind `{kind}`", decl.kind.span,
                       help=did_you_mean(kind, REPORT_KINDS) or f"report kinds: {listing(REPORT_KINDS)}")
            return decl
        if decl.metric is not None:
            self.metric_phrase(decl.metric, scope, measure=False)
        if kind == "features":
            if decl.units is None:
                self.error("E306", "`report features` needs the units: `report features of hot7`",
                           decl.span)
            else:
                self.unit_expr(decl.units, scope)
            if decl.steps is not None:
                self.int_value(decl.steps, "steps", minimum=1)
        elif decl.metric is None:
            self.error("E306", f"`report {kind}` needs a measure, e.g. `report {kind} accuracy`",
                       decl.span)
        if kind == "heatmap" and not decl.by:
            self.error("E306", "`report heatmap` needs its layout: `by cell, class x layer`",
                       decl.span)
        if kind in ("scatter",) and decl.versus is None:
            self.error("E306", "`report scatter` needs `vs METRIC`", decl.span)
        if decl.versus is not None:
            self.metric_phrase(decl.versus, scope, measure=False)
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
                self.error("E306", "set algebra on a grid is not defined", expr.span,
                           help="combine single unit sets, not grid families")
            return False
        if isinstance(expr, ast.RankedSelection):
            self.int_value(expr.count, "the number of units", minimum=1)
            self.unit_metric(expr.metric, expr.target_class)
        elif isinstance(expr, ast.RandomSelection):
            self.int_value(expr.count, "the number of units", minimum=1)
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
            self.error("E306", f"`{metric.text}` is relative to a class: add `for class C`",
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
                self.error("E306", "`top K` applies to accuracy only", phrase.top.span)
            self.int_value(phrase.top, "K", minimum=1)
        if phrase.per_class and name not in ("accuracy", "loss", "rank", "rank deficit", "rank change",
                                              "logit", "probability"):
            self.error("E306", f"`per class` does not apply to {name}", phrase.span)
        if phrase.of_class is not None:
            self.class_value(phrase.of_class, scope)
        elif name in MEASURES_NEEDING_CLASS and measure:
            self.error("E306", f"`{name}` needs its class: `{name} of class 7`", phrase.span)
        if phrase.of_units is not None:
            self.unit_expr(phrase.of_units, scope)
        elif name in MEASURES_NEEDING_UNITS and measure:
            self.error("E306", f"`{name}` needs its units: `{name} of UNITS`", phrase.span)
        if phrase.in_layer is not None:
            self.layer_value(phrase.in_layer, scope)
        elif name in MEASURES_NEEDING_LAYER and measure:
            self.error("E306", f"`{name}` needs its layer: `{name} in LAYER`", phrase.span)

    def quantity(self, quantity: ast.Quantity, scope: Scope, in_measure: bool,
                 over_family: bool = False) -> ast.Quantity:
        if quantity.metric is not None:
            # a claim may read a measurement by its metric alone: `expect probe accuracy[...] ...`
            measured = not in_measure and quantity.metric.text in self.measure_dims
            self.metric_phrase(quantity.metric, scope, measure=not measured)
        stimuli = quantity.stimuli
        if stimuli is None:
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
        by_dims = over_family or any(selector.key != "class" for selector in quantity.selectors)
        if model is not None:
            self.use(scope, model, ("model",), "model")
        elif not by_dims:
            model = self.default_model(scope, quantity.span)
        if quantity.fit_on is not None:
            self.use(scope, quantity.fit_on, ("stimuli",), "stimuli")
        for selector in quantity.selectors:
            if selector.key == "class":
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
                self.error("E306", f"`per class` does not apply to {name}", quantity.metric.span,
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

    def intervention(self, intervention, scope: Scope) -> None:
        if isinstance(intervention, ast.ActivationIntervention):
            self.unit_expr(intervention.units, scope)
            if intervention.value is not None:
                self.number_value(intervention.value, "the value")
            if intervention.token is not None:
                self.int_value(intervention.token, "a token index", minimum=0)
        else:
            if intervention.units is not None:
                if self.unit_expr(intervention.units, scope):
                    self.error("E306", "weight edits take single unit sets, not a grid", intervention.span)
            if intervention.connection is not None:
                items = intervention.connection.items
                if len(items) != 2:
                    self.error("E306", "a connection is `[output, input]`", intervention.connection.span)
                for item in items:
                    self.int_value(item, "a unit index", minimum=0)
                self.layer_value(intervention.layer, scope)
            if intervention.factor is not None:
                self.number_value(intervention.factor, "the factor")

    # ---- warnings ----------------------------------------------------------------------------
    def _unused(self) -> None:
        for name, symbol in list(self.param_symbols.items()):
            if not symbol.used:
                self.error("W501", f"parameter `{name}` is never used", symbol.span,
                           help=f"refer to it as `${name}`, or delete it")
        for name, symbol in self.symbols_in_order:
            if not symbol.used and symbol.kind in ("stimuli", "model", "units"):
                self.error("W501", f"{KIND_WORDS[symbol.kind]} `{name}` is never used", symbol.span,
                           help="use it, or delete it")


_DEFINITION = re.compile(r"^\s*[A-Za-z_]\w*\s+([A-Za-z_][A-Za-z0-9_]*)")   # `units hot = ...`, `param x 3`
_BINDING = re.compile(r"\beach\s+(?:class\s+|layer\s+)?([A-Za-z_][A-Za-z0-9_]*)")


def _names_defined_on(source: SourceFile, lines) -> set[str]:
    """The names that the statements on these lines (which did not parse) would have defined or
    bound, read from their text."""
    names: set[str] = set()
    for line in lines:
        text = source.line_text(line)
        match = _DEFINITION.match(text)
        if match:
            names.add(match.group(1))
        names.update(_BINDING.findall(text))
    return names


def _measured_stimuli(statements) -> list[str]:
    names = []
    for statement in statements:
        if isinstance(statement, ast.ForBlock):
            names.extend(_measured_stimuli(statement.body))
        elif isinstance(statement, ast.MeasureDecl) and statement.quantity.stimuli is not None:
            names.append(statement.quantity.stimuli.value)
    return names


def _definition_hint(kind: str, name: str) -> str:
    return {"stimuli": f"stimuli {name} = digits split test",
            "model": f"model {name} = train mlp [64, 128, 10] on STIMULI epochs 20",
            "units": f"units {name} = top 5 by activation in LAYER"}.get(kind, f"{kind} {name} = ...")


def _stem(path: str) -> str:
    import os

    return os.path.splitext(os.path.basename(path))[0] or "experiment"


def check(spec: ast.Spec, source: SourceFile, sink: DiagnosticSink,
          overrides: dict[str, str] | None = None) -> Program | None:
    return Checker(spec, source, sink, overrides).run()
