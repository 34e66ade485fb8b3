"""Checking, by job: parameters (`--set` and `$name`), the header, and number values."""

from __future__ import annotations

import dataclasses
from typing import Iterable

from . import ast
from .diagnostics import did_you_mean, listing
from .parser import MAX_NESTING, parse_value
from .source import Span
from .vocabulary import DEVICES, MEASURES_OF_OUTPUTS, PRECISIONS
from .program import DEFAULT_CONFIDENCE, DEFAULT_REPEATS, DEFAULT_RESAMPLES, Symbol, max_plan
from .visit import transform

SEED_MAX = 2 ** 32 - 1          # numpy's (and sklearn's random_state) upper bound; torch accepts more


def value_depth(text: str) -> int:
    """How deep brackets and parentheses nest in a `--set` value, checked against the parser's
    MAX_NESTING before the value is parsed (the parser and the lowering recurse once per level)."""
    depth = deepest = 0
    for char in text:
        depth = depth + 1 if char in "[(" else max(0, depth - 1) if char in "])" else depth
        deepest = max(deepest, depth)
    return deepest


def _with_span(value: ast.Value, span: Span) -> ast.Value:
    if isinstance(value, ast.ListValue):
        return ast.ListValue(tuple(_with_span(item, span) for item in value.items), span)
    return dataclasses.replace(value, span=span)


def _stem(path: str) -> str:
    import os

    return os.path.splitext(os.path.basename(path))[0] or "experiment"


class ParamChecks:
    """Part of the Checker (check.py): shares its state."""

    # ---- parameters -------------------------------------------------------------------------
    def _collect_params(self, statements: Iterable[ast.Statement]) -> None:
        for statement in statements:
            if isinstance(statement, ast.ForBlock):
                for inner in statement.body:
                    if isinstance(inner, ast.Param):
                        self.error("E312", "parameters are declared at the top level", inner.span,
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
            default = self.params[name]
            depth = value_depth(text)
            if depth > MAX_NESTING:
                self.error("E104", f"the value of `--set {name}=...` nests brackets {depth} deep; abl accepts "
                                   f"at most {MAX_NESTING}", default.span,
                           help=f"give `--set {name}` a flatter value (lists of lists are written `[[1, 2], [3]]`)")
                continue
            parsed = parse_value(text)
            if parsed is None or (isinstance(parsed, ast.Name) and isinstance(default, ast.String)):
                parsed = ast.String(text, default.span)
            self.params[name] = _with_span(parsed, default.span)

    def _substitute(self, node):
        """Replace every `$name` by the parameter's value (keeping the reference's span)."""
        def substitute(node):
            if isinstance(node, ast.Param):
                return node                     # a parameter's own default is not a use
            if not isinstance(node, ast.ParamRef):
                return None
            if node.name not in self.params:
                self.error("E204", f"unknown parameter `${node.name}`", node.span,
                           help=did_you_mean(node.name, self.params, prefix="$") or
                           f"declare it: `param {node.name} = ...`")
                return ast.Name(f"${node.name}", node.span)  # reported once: see _unknown_param
            self.param_symbols[node.name].used = True
            return _with_span(self.params[node.name], node.span)

        return transform(node, substitute)

    # ---- header ---------------------------------------------------------------------------------
    def _header(self, statements) -> tuple[str, int, str, int, str]:
        experiment = None
        seed = None
        device = "auto"
        precision = "fp32"
        repeats = DEFAULT_REPEATS
        seen: dict[type, Span] = {}
        for statement in statements:
            kind = type(statement)
            if kind in (ast.Experiment, ast.Seed, ast.Device, ast.Precision, ast.Repeats, ast.Confidence, ast.Resamples):
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
                seed = self.seed_value(statement.value)
            elif isinstance(statement, ast.Device):
                device = self._device(statement.value)
            elif isinstance(statement, ast.Precision):
                precision = self._precision(statement.value)
            elif isinstance(statement, ast.Repeats):
                repeats = self.int_value(statement.value, "repeats", minimum=1) or DEFAULT_REPEATS
                if repeats > max_plan():
                    self.error("E311", f"{repeats:,} random draws per control; abl plans at most {max_plan():,}",
                               statement.value.span, help="100 to 10,000 draws give p-values to 1e-2 .. 1e-4")
                    repeats = DEFAULT_REPEATS
        return experiment or _stem(self.source.path), seed or 0, device, repeats, precision

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
            self.error("E306", "a device is `auto`, `cpu`, `cuda`, `cuda:N` or `mps`", value.span)
            return "auto"
        if text in DEVICES or (text.startswith("cuda:") and text[5:].isdigit()):
            return text
        self.error("E307", f"unknown device `{text}`", value.span,
                   help=did_you_mean(text, DEVICES) or 'use `auto`, `cpu`, `cuda`, `mps` or `"cuda:N"` (quoted)')
        return "auto"

    def _precision(self, value: ast.Value) -> str:
        text = value.value if isinstance(value, (ast.Name, ast.String)) else None
        if text is None:
            self.error("E306", "a precision is `fp32`, `bf16` or `fp16`", value.span)
            return "fp32"
        if text in PRECISIONS:
            return text
        self.error("E307", f"unknown precision `{text}`", value.span,
                   help=did_you_mean(text, PRECISIONS) or "use `fp32` (the default), `bf16` or `fp16`")
        return "fp32"

    # ---- value checks ---------------------------------------------------------------------
    def seed_value(self, value: ast.Value, what: str = "the seed") -> int | None:
        """A seed: a whole number that numpy (sklearn's random_state) and torch both accept."""
        return self.int_value(value, what, minimum=0, maximum=SEED_MAX,
                              help=f"seeds run from 0 to {SEED_MAX} (2**32 - 1), the range numpy and torch "
                                   f"both accept")

    def int_value(self, value: ast.Value, what: str, minimum: int | None = None,
                  maximum: int | None = None, help: str | None = None) -> int | None:
        if isinstance(value, ast.Name):
            symbol = self._scope_lookup(value.value)
            if symbol is not None and symbol.kind in ("var",):
                symbol.used = True
                return None
        if not isinstance(value, ast.Number) or not value.is_int:
            self.error("E306", f"{what} must be a whole number", value.span,
                       help="counts are written as digits, e.g. `5`")
            return None
        digits = value.text.strip()
        number = int(digits) if digits.lstrip("+-").isdigit() else int(value.value)   # exact past 2**53
        if minimum is not None and number < minimum:
            self.error("E301", f"{what} must be at least {minimum}, not {number}", value.span, help=help)
            return None
        if maximum is not None and number > maximum:
            self.error("E301", f"{what} must be at most {maximum}, not {number}", value.span, help=help)
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

    def _unit_count(self, count) -> None:
        """`top 5`, or `top 10%` of the layer's units (rounded at run time: see the manual)."""
        if not isinstance(count, ast.Percent):
            self.int_value(count, "the number of units", minimum=1)
        elif not 0.0 < count.value <= 1.0:
            self.error("E301", f"a share of the layer's units lies in (0%, 100%], not {count.text}", count.span,
                       help="e.g. `top 10% by selectivity index in fc1`")

    def two_classes(self, quantity: ast.Quantity) -> None:
        """E308: a selectivity index on a stimuli set declared with one class (`classes [3]`)."""
        metric, stimuli = quantity.metric, quantity.stimuli
        if metric is not None and metric.metric.text == "selectivity index" and stimuli is not None \
                and stimuli.value in self.one_class_stimuli:
            self.error("E308", f"the selectivity index compares a unit's class means, so it needs at least two "
                               f"classes; stimuli `{stimuli.value}` have only class "
                               f"{self.one_class_stimuli[stimuli.value]}", metric.span,
                       help="measure it on stimuli with several classes")

    def off_target(self, decl: ast.ExpectDecl, lhs: ast.Quantity, test) -> None:
        """E315: `[class != C]` is the right side of `Q[class C] OP Q[class != C]`, one claim per class."""
        right = test.rhs.selectors if isinstance(test, ast.CompareQuantity) else ()
        for selector in lhs.selectors + tuple(s for s in right if s.key == "not class"):
            if selector.key != "not class":
                continue
            mine = [s.value for s in lhs.selectors if s.key == "class"] + \
                ([lhs.where_class] if lhs.where_class is not None and not lhs.where_not else [])
            if selector in lhs.selectors or len(mine) != 1 or \
                    getattr(mine[0], "value", None) != getattr(selector.value, "value", None):
                self.error("E315", "`[class != C]` is the right side of a claim whose left side is class C",
                           selector.span, help="write `expect drop of M[class c] on S ablating U > "
                                               "drop of M[class != c] on S ablating U`")
            elif decl.families:
                self.error("E315", "`[class != C]` is one claim per class: write it inside `for each class c`",
                           decl.families[0].span)

    def where_not(self, quantity: ast.Quantity, in_expect: bool) -> None:
        """E315: `where class != C` is for the output measures of `measure` statements (the images of
        every class but C), not unit measures, `selective rank deficit` or expectations."""
        if not quantity.where_not or quantity.metric is None:
            return
        name = quantity.metric.metric.text
        if in_expect or name not in MEASURES_OF_OUTPUTS or name == "selective rank deficit":
            self.error("E315", f"`where class !=` does not apply to {'an expectation' if in_expect else name}",
                       quantity.span, help="`where class != C` applies to the output measures of `measure` "
                                           "statements (accuracy, loss, rank, rank deficit, ...)")

    def layer_as_units(self, quantity: ast.Quantity, scope) -> ast.Quantity:
        """`activation of fc1` where no unit set or variable is named `fc1`: every unit of layer fc1
        (`all in fc1`; the layer is checked against the model at run time and by `lint --deep`)."""
        units = quantity.metric.of_units if quantity.metric is not None else None
        if quantity.metric is None or quantity.metric.text != "activation" or not isinstance(units, ast.UnitRef) \
                or scope.lookup(units.name.value) is not None or units.name.value in self.broken_names:
            return quantity
        layer = ast.AllSelection(ast.Name(units.name.value, units.name.span), units.span)
        return dataclasses.replace(quantity, metric=dataclasses.replace(quantity.metric, of_units=layer))

    def intervention(self, intervention, scope: Scope) -> None:
        if isinstance(intervention, ast.ActivationIntervention):
            self.unit_expr(intervention.units, scope)
            if intervention.kind == "patch":
                self.use(scope, intervention.value, ("stimuli",), "stimuli")
            elif intervention.value is not None:
                self.number_value(intervention.value, "the value")
            if intervention.token is not None and intervention.kind == "mean":
                self.error("E315", "`mean-ablating` has no `at token`: the recorded means average over "
                           "every token", intervention.token.span,
                           help="ablate, clamp or scale at the token instead: `ablating U at token 0`")
            elif intervention.token is not None:
                self.int_value(intervention.token, "a token index", minimum=0)
        else:
            if intervention.units is not None:
                if self.unit_expr(intervention.units, scope):
                    self.error("E314", "weight edits take single unit sets, not a grid", intervention.span)
            if intervention.connection is not None:
                items = intervention.connection.items
                if len(items) != 2:
                    self.error("E306", "a connection is `[output, input]`", intervention.connection.span)
                for item in items:
                    self.int_value(item, "a unit index", minimum=0)
                self.layer_value(intervention.layer, scope)
            if intervention.factor is not None:
                self.number_value(intervention.factor, "the factor")
