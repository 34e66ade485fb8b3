"""Typed AST -> checked Program: parameters substituted, names resolved, values in range.

Every problem is reported (not just the first); the Program is only produced when there are no
errors, and its statements are then resolved (resolve.py) for the planner. The checker knows nothing about torch: model-aware checks (layer names, class indices)
are done by the interpreter (`abl lint --deep`, `abl run`).
"""

from __future__ import annotations

import re

from . import ast
from .diagnostics import DiagnosticSink, did_you_mean, listing
from .families import measure_dims
from .lint import LintFacts, fraction_above_one, run_lint
from .source import SourceFile, Span
from .check_claims import ClaimChecks
from .check_decls import DeclarationChecks
from .check_params import ParamChecks
from .program import Header, Program, Scope, Symbol, python_value
from .resolve import resolve_statements
from .visit import nodes_of
from .vocabulary import MEASURES


class Checker(ParamChecks, DeclarationChecks, ClaimChecks):
    """One pass over a spec; its jobs live in check_params, check_decls and check_claims, its
    lint rules (W5xx) in lint.py."""

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
        self.loop_variables: list[tuple[str, Symbol]] = []
        self.model_aliases: set[str] = set()
        self.expired_variables: dict[str, Span] = {}
        self.one_class_stimuli: dict[str, str] = {}     # stimuli name -> its one class (`classes [3]`)
        self._declaring_stimuli = ""
        self.unit_exprs: dict[str, object] = {}       # unit set name -> its expression (the last one)
        self.expansion = 1                            # bindings of the enclosing `for each` blocks
        # statements that did not parse take nothing down with them: names they would have
        # defined are not "undefined", and in a block whose header did not parse nothing is
        self.broken_names = _names_defined_on(self.source, spec.broken_lines)
        self.broken_mentions = {word for line in spec.broken_lines
                                for word in re.findall(r"[A-Za-z_]\w*", source.line_text(line))}
        self._in_broken_block = 0
        self._in_expect = False
        self._used_before_declared: dict[str, int] = {}

    # ---- diagnostics helpers ------------------------------------------------------------
    def error(self, code: str, message: str, span: Span, help: str | None = None) -> None:
        if self._in_broken_block and code in ("E201", "E203", "E206"):
            return              # the block's variables are unknown: its header did not parse
        written = self.source.text[span.start:span.end]
        if written.startswith("$") and written[1:] in self.broken_names:
            return              # a parameter whose declaration did not parse: its value is unknown
        if code in ("E201", "E303") and self.broken_names & set(re.findall(r"`([^`]+)`", message)):
            return              # a name that a statement which did not parse would have defined
        if self._in_expect and self.spec.broken_lines and code in ("E306", "E310", "E313", "E314", "E315"):
            return              # a claim reads measurements, some of which may be on broken lines
        if written.startswith("$") and written[1:] in self.overrides:
            # the value is the command line's: say so, where the spec uses it
            flag = f"`--set {written[1:]}={self.overrides[written[1:]]}`"
            help = f"the value comes from {flag}" + (f"; {help}" if help else "")
        self.sink.report(code, message, span, help)

    def _reported_metric(self, phrase: ast.MetricPhrase) -> None:
        """E317: a report of a metric that no measurement or expectation of the spec measures (it
        would fail after all the run's work); which measurement it shows is settled by the planner."""
        name = phrase.metric.text
        if name in MEASURES and name not in self.measured_metrics and not self.spec.broken_lines:
            measured = self.measured_metrics
            self.error("E317", f"the report shows `{name}`, which the spec never measures", phrase.metric.span,
                       help=did_you_mean(name, measured) or (f"measured: {listing(measured)}" if measured else
                                                             f"add `measure {name} on ...`"))

    # ---- entry ----------------------------------------------------------------------------
    def run(self) -> Program | None:
        self._had_syntax_errors = any(d.code.startswith("E1") for d in self.sink.diagnostics)
        self._collect_params(self.spec.statements)
        statements = tuple(self._substitute(s) for s in self.spec.statements)
        experiment, seed, device, repeats, precision = self._header(statements)
        self.measured_stimuli = _measured_stimuli(statements)
        self.measured_metrics = _measured_metrics(statements)
        self.open_dims: dict = {}
        self.loop_values: dict = {}
        self.measure_dims = measure_dims(statements, self.open_dims, self.loop_values)
        checked = tuple(self._statement(s, self.global_scope) for s in statements)
        run_lint(LintFacts(statements, tuple(self.param_symbols.items()), tuple(self.symbols_in_order),
                           tuple(self.loop_variables), frozenset(self.broken_mentions), self._had_syntax_errors,
                           self.spec.statements, self.source.path),
                 self.error)
        for finding in fraction_above_one(statements):
            self.error("E318", finding.message, finding.span, finding.help)
        confidence, resamples = self._statistics(statements)
        if self.sink.has_errors:
            return None
        params = tuple((name, python_value(value)) for name, value in self.params.items())
        return Program(self.source, Header(experiment, seed, device, repeats, params, confidence, resamples,
                                                     precision),
                       resolve_statements(checked, self.source))


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


def _measured_metrics(statements) -> list[str]:
    """The metrics the spec measures (`measure` statements and expectations), for its reports."""
    return list(dict.fromkeys(quantity.metric.metric.text for quantity in nodes_of(ast.Quantity, statements)
                              if quantity.metric is not None))


def _measured_stimuli(statements) -> list[str]:
    return [measure.quantity.stimuli.value for measure in nodes_of(ast.MeasureDecl, statements)
            if measure.quantity.stimuli is not None]


def check(spec: ast.Spec, source: SourceFile, sink: DiagnosticSink,
          overrides: dict[str, str] | None = None) -> Program | None:
    return Checker(spec, source, sink, overrides).run()
