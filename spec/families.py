"""Claims over families: which dimensions a measurement's values range over, and the checks that
a claim selects, averages, quantifies or compares over those dimensions only, each once (E310).

A measurement inside `for each class c, each layer L` or over a grid is a family of values. Its
dimensions are `class`, `layer`, `cell` (and the cell's `row` and `col`), the loop variables by
name, and `seed` for a replicated model. The checker knows them from the spec's text alone.
"""

from __future__ import annotations

import math
from typing import Protocol

from . import ast
from .diagnostics import did_you_mean, listing
from .unparse import intervention_text, value_text
from .source import Span
from .vocabulary import MEASURES_NEEDING_INTERVENTION

GRID_DIMS = ("cell", "row", "col")


class _Reporter(Protocol):
    def error(self, code: str, message: str, span: Span, help: str | None = None) -> None: ...

    def number_value(self, value: ast.Value, what: str, low: float | None = None,
                     high: float | None = None, allow_variable: bool = True): ...


def _interventions(quantity: ast.Quantity) -> str:
    return " and ".join(intervention_text(i) for i in quantity.interventions)


def _names(node, found: set[str]) -> set[str]:
    """Every name written in a node (values, units, layers, classes)."""
    if isinstance(node, ast.Name):
        found.add(node.value)
    elif isinstance(node, tuple):
        for item in node:
            _names(item, found)
    elif hasattr(node, "__dataclass_fields__"):
        for name in node.__dataclass_fields__:
            if name not in ("span", "size_span", "dim_spans"):
                _names(getattr(node, name), found)
    return found


def measure_dims(statements, open_dims: dict | None = None,
                 loop_values: dict | None = None) -> dict[str, set[str]]:
    """metric -> the dimensions its values range over, from the `measure` statements: the loop
    variables around them (`class`, `layer`, variables by name), `class` for `per class`, the grid
    dimensions when the units are a grid, and `seed` when the model is replicated.

    `open_dims`, when given, receives (metric, stimuli, interventions) -> the dimensions in which every such
    measurement's values differ and a claim must say what to do with: the loop variables the
    statement (or its unit sets) uses, and a grid's row and col; not `per class` (its all-images
    value is what a claim reads by default) nor replicate seeds (averaged by default).

    `loop_values`, when given, receives (metric, loop variable) -> the values, as written, that the
    variable takes where the metric is measured; None where some of them are not written out."""
    dims: dict[str, set[str]] = {}
    grids: set[str] = set()
    replicated: set[str] = set()
    unit_names: dict[str, set[str]] = {}       # unit set -> the names it uses, through other sets

    def used_names(node) -> set[str]:
        names = _names(node, set())
        for name in list(names):
            names |= unit_names.get(name, set())
        return names

    def uses_grid(quantity: ast.Quantity) -> bool:
        terms = [quantity.metric.of_units] if quantity.metric.of_units is not None else []
        terms += [i.units for i in quantity.interventions if getattr(i, "units", None) is not None]
        return any(isinstance(t, ast.GridSelection) or (isinstance(t, ast.UnitRef) and t.name.value in grids)
                   for t in terms)

    def visit(body, around: set[str], binders: dict[str, str], domains: dict[str, tuple | None]) -> None:
        for statement in body:
            if isinstance(statement, ast.ForBlock):
                inner = set(around)
                bound = dict(binders)
                written = dict(domains)
                for binder in statement.binders:
                    inner.add(binder.kind or binder.variable.value)
                    bound[binder.variable.value] = binder.kind or binder.variable.value
                    if binder.kind is None:
                        written[binder.variable.value] = _written_values(binder.domain)
                visit(statement.body, inner, bound, written)
            elif isinstance(statement, ast.UnitsDecl):
                unit_names[statement.name.value] = used_names(statement.expr)
                if isinstance(statement.expr, ast.GridSelection):
                    grids.add(statement.name.value)
            elif isinstance(statement, ast.ModelDecl):
                expr = statement.expr
                if isinstance(expr, ast.TrainModel) and any(o.key == "replicates" for o in expr.options):
                    replicated.add(statement.name.value)
                if isinstance(expr, ast.ModelRef) and isinstance(expr.value, ast.Name) and \
                        expr.value.value in replicated:
                    replicated.add(statement.name.value)
            elif isinstance(statement, ast.MeasureDecl) and statement.quantity.metric is not None:
                quantity = statement.quantity
                found = dims.setdefault(quantity.metric.text, set())
                found |= around
                if quantity.metric.per_class:
                    found.add("class")
                if uses_grid(quantity):
                    found |= set(GRID_DIMS)
                model = quantity.model.value if quantity.model is not None else None
                if (model in replicated) or (model is None and replicated):
                    found.add("seed")
                if loop_values is not None:
                    for variable, values in domains.items():
                        known = loop_values.get((quantity.metric.text, variable), ())
                        loop_values[(quantity.metric.text, variable)] = \
                            None if known is None or values is None else tuple(dict.fromkeys(known + values))
                if open_dims is not None and quantity.stimuli is not None:
                    names = used_names(quantity)
                    differing = {dim for variable, dim in binders.items() if variable in names}
                    if uses_grid(quantity):
                        differing |= {"row", "col"}
                    key = (quantity.metric.text, quantity.stimuli.value, _interventions(quantity))
                    open_dims[key] = open_dims[key] & differing if key in open_dims else differing

    visit(statements, set(), {}, {})
    return dims


def _written_values(domain) -> tuple[str, ...] | None:
    """A loop's values as written (as the results table's columns hold them), or None."""
    if not isinstance(domain, ast.ListValue):
        return None
    items = domain.items
    if not all(isinstance(item, ast.SCALARS) for item in items):
        return None
    return tuple(value_text(item) for item in items)


def ordered(values) -> list[str]:
    """Loop values in order for messages: numbers by value (1, 2, 16, 32), then words as text."""
    def key(text: str):
        try:
            return (0, float(text), "")
        except ValueError:
            return (1, 0.0, text)
    return sorted(values, key=key)


def same_value(a: str, b: str) -> bool:
    """Whether a claim's selected value names a row's value: the same text or the same number
    (`-1` and `-1.0`). The checker and the run's claims (claim_sides) both match with this."""
    if a == b:
        return True
    try:
        return math.isclose(float(a), float(b))
    except ValueError:
        return False


def check_selected_values(checker: _Reporter, lhs: ast.Quantity, test, loop_values: dict, scope) -> None:
    """A claim that selects a loop variable's value (`accuracy[alpha = -10]`, `[alpha in [1, 3]]`,
    `is largest at [alpha = 3]`) names one the variable takes where the metric is measured (E316):
    otherwise the run would find nothing to read, or silently average fewer values, after all
    its work."""
    sides = [lhs] + ([test.rhs] if isinstance(test, ast.CompareQuantity) else [])
    visible = scope.visible()
    for side in sides:
        if side.metric is None:
            continue
        selectors = list(side.selectors)
        if side is lhs and isinstance(test, ast.ExtremeTest):
            selectors += list(test.at)
        for selector in selectors:
            measured = loop_values.get((side.metric.text, selector.key))
            if not measured:
                continue            # not a loop variable of this metric (E310's job), or not written out
            values = selector.value.items if isinstance(selector.value, ast.ListValue) else (selector.value,)
            for value in values:
                if isinstance(value, ast.Name) and value.value in visible:
                    continue        # a loop variable of the claim's own block
                if not isinstance(value, ast.SCALARS):
                    continue
                text = value_text(value)
                if any(same_value(text, known) for known in measured):
                    continue
                shown = ", ".join(measured)
                checker.error("E316", f"`{side.metric.text}` is never measured at {selector.key} = {text}",
                              value.span, help=f"{selector.key} takes {shown} where `{side.metric.text}` is "
                                               f"measured: select one of those, or add {text} to its `for each`")


def family_dims(dims: dict[str, set[str]], lhs: ast.Quantity, scope) -> set[str]:
    """The dimensions a claim's values still range over: its metric's, less those the enclosing
    `for each` blocks fix (their loop variables)."""
    if lhs.metric is None:
        return set()
    return set(dims.get(lhs.metric.text, set())) - loop_dims(scope)


def loop_dims(scope) -> set[str]:
    """The dimensions the enclosing `for each` blocks fix: `class`, `layer`, variables by name."""
    fixed = set()
    for name, symbol in scope.visible().items():
        if symbol.kind == "class-var":
            fixed.add("class")
        elif symbol.kind == "layer-var":
            fixed.add("layer")
        elif symbol.kind == "var":
            fixed.add(name)
    return fixed


def check_open_dims(checker: _Reporter, decl: ast.ExpectDecl, lhs: ast.Quantity, test,
                    open_dims: dict, scope) -> None:
    """Each side's values must come down to one value (or one per quantified member): every
    dimension its measurements differ in is selected, averaged, quantified or compared over (E310)."""
    scope_fixed = loop_dims(scope)
    handled = set()
    for clause in decl.families:
        handled |= set(clause.dims)
    if isinstance(test, ast.ExtremeTest):
        handled |= {s.key for s in test.at}
    sides = [lhs] + ([test.rhs] if isinstance(test, ast.CompareQuantity) and test.rhs.metric is not None else [])
    for side in sides:
        if side.metric is None or side.stimuli is None:
            continue
        wanted = _interventions(side)
        matching = [dims for (metric, stimuli, interventions), dims in open_dims.items()
                    if (metric, stimuli) == (side.metric.text, side.stimuli.value)
                    and (interventions == wanted or (not wanted and metric in MEASURES_NEEDING_INTERVENTION))]
        if not matching:
            continue
        differing = set.intersection(*matching)
        mine = handled | {s.key for s in side.selectors} | scope_fixed
        if side.where_class is not None:
            mine.add("class")
        if "cell" in mine:
            mine |= {"row", "col"}
        left = sorted(differing - mine)
        if left:
            first = "cell" if left[0] in ("row", "col") else left[0]
            shown = " x ".join("cell" if d == "row" else d for d in left if d != "col")
            select = "[class C]" if first == "class" else f"[{first} = ...]"
            checker.error("E310", f"`{side.metric.text}` on {side.stimuli.value} is measured once per "
                          f"{shown}, and the claim does not say which", side.span,
                          help=f"select one (`{select}`), average them (`averaged over {first}`) "
                               f"or quantify (`in every {first}`)")


def check_claim_dims(checker: _Reporter, decl: ast.ExpectDecl, lhs: ast.Quantity, test,
                     family: set[str]) -> None:
    """Selectors, averages, quantifiers and `is largest at` name dimensions the claim's values
    have, each once (E310); one quantifier (E309); a cell is two numbers (E306); a share is in
    (0%, 100%] (E301)."""
    if lhs.metric is None:
        return
    sides = [lhs] + ([test.rhs] if isinstance(test, ast.CompareQuantity) else [])
    selectable = family | {"class"}      # a claim can plan its own `where class == C` values
    metric = lhs.metric.text

    def unknown(name: str, span: Span, what: str, among: set[str] | None = None) -> bool:
        among = family if among is None else among
        if name in among:
            return False
        shown = sorted(family)
        checker.error("E310", f"{what} `{name}`, but `{metric}` is not measured over `{name}`"
                      + ("" if family else " (it is one value, not a family)"),
                      span, help=did_you_mean(name, sorted(among)) or
                      (f"its dimensions here: {listing(shown)}" if shown else
                       "measure it inside `for each ...`, `per class`, or over a grid first"))
        return True

    def cell_value(selector: ast.Selector) -> None:
        if selector.key == "cell" and not (isinstance(selector.value, ast.ListValue)
                                           and len(selector.value.items) == 2):
            checker.error("E306", "a cell is two numbers: `cell = 3,3` (row, column)", selector.span)

    for side in sides:
        for selector in side.selectors:
            if selector.key == "":
                checker.error("E306", "a selector is `NAME = VALUE`, `NAME in [..]` or `class C`",
                              selector.span, help="a cell is `cell = 3,3`")
            elif selector.key not in ("class", "not class"):
                unknown(selector.key, selector.span, "the claim selects", selectable)
                cell_value(selector)
    used: dict[str, Span] = {}
    selected = {s.key for side in sides for s in side.selectors if not s.among}
    if isinstance(test, ast.ExtremeTest) and test.at:
        key = test.at[0].key
        cell_value(test.at[0])
        if key not in ("", "class") and not unknown(key, test.at[0].span, "the claim compares members of"):
            used[key] = test.at[0].span
    quantifiers = [f for f in decl.families if not f.averaging]
    if len(quantifiers) > 1:
        checker.error("E309", "a claim has at most one quantifier (`in every ...` or `in at least ...`)",
                      quantifiers[1].span, help="quantify over several dimensions at once: `in every class x layer`")
    for clause in decl.families:
        what = "the claim averages over" if clause.averaging else "the claim quantifies over"
        for name, span in zip(clause.dims, clause.dim_spans or (clause.span,) * len(clause.dims)):
            if unknown(name, span, what):
                continue
            if name in used or name in selected:
                checker.error("E310", f"`{name}` is used twice in this claim", span,
                              help="a dimension is selected, averaged, quantified or compared over, "
                                   "only one of these")
            used[name] = span
        if clause.share is not None:
            share = checker.number_value(clause.share, "the share", low=0.0, high=1.0, allow_variable=False)
            if share is not None and share <= 0:
                checker.error("E301", "a share of 0% claims nothing", clause.share.span,
                              help="say `in at least 50% of ...`, or `in every ...`")
