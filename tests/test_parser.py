"""The parser, on fixture pairs: `tests/golden/NAME.abl` parses to the tree dumped in `NAME.ast`.

The dump leaves out spans (they are checked separately below), and fields that are None, False
or empty. To regenerate the `.ast` files after an intended change of the grammar or the AST:

    ABL_REGEN_GOLDEN=1 pytest tests/test_parser.py

and review the diff before committing it.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from abl.spec import ast
from abl.spec.diagnostics import DiagnosticSink
from abl.spec.parser import parse_source, parse_value
from abl.spec.source import SourceFile
from abl.spec.visit import nodes

GOLDEN = Path(__file__).resolve().parent / "golden"
FIXTURES = sorted(GOLDEN.glob("*.abl"))
SPAN_FIELDS = ("span", "size_span", "dim_spans")
REGEN = os.environ.get("ABL_REGEN_GOLDEN") == "1"


# ---- helpers ------------------------------------------------------------------------------------

def parse(text: str, path: str = "<test>"):
    """(spec, diagnostics) of a text."""
    source = SourceFile.from_text(text, path)
    sink = DiagnosticSink(source)
    spec = parse_source(source, sink)
    return spec, sink.diagnostics


def parse_ok(text: str) -> ast.Spec:
    spec, diagnostics = parse(text)
    assert not diagnostics, [(d.code, d.span.line, d.span.column, d.message) for d in diagnostics]
    return spec


def _inline(node) -> str | None:
    """Leaf nodes on one line: values and metrics."""
    if isinstance(node, ast.Number):
        return f"Number {node.text}"
    if isinstance(node, ast.Percent):
        return f"Percent {node.text} (= {node.value!r})"
    if isinstance(node, ast.String):
        return "String " + repr(node.value)
    if isinstance(node, ast.Name):
        return f"Name {node.value}"
    if isinstance(node, ast.ParamRef):
        return f"ParamRef ${node.name}"
    if isinstance(node, ast.Metric):
        return "Metric " + repr(node.text)
    if isinstance(node, ast.ListValue) and all(_inline(i) is not None for i in node.items):
        return "List [" + ", ".join(_inline(i) for i in node.items) + "]"
    return None


def dump(node, indent: int = 0) -> str:
    """A readable, span-free dump of an AST node."""
    pad = "  " * indent
    inline = _inline(node)
    if inline is not None:
        return pad + inline
    if isinstance(node, tuple):
        return "\n".join(dump(item, indent) for item in node)
    if not dataclasses.is_dataclass(node):
        return pad + repr(node)
    lines = [pad + type(node).__name__]
    for field in dataclasses.fields(node):
        if field.name in SPAN_FIELDS or field.name == "path":
            continue
        value = getattr(node, field.name)
        if value is None or value is False or value == ():
            continue
        inline = _inline(value)
        if inline is not None:
            lines.append(f"{pad}  {field.name}: {inline}")
        elif isinstance(value, (str, int, float, bool)):
            lines.append(f"{pad}  {field.name}: {value!r}")
        else:
            lines.append(f"{pad}  {field.name}:")
            lines.append(dump(value, indent + 2))
    return "\n".join(lines)


def dump_spec(spec: ast.Spec) -> str:
    return "\n".join(dump(statement) for statement in spec.statements) + "\n"


def statements_of(spec) -> list:
    out = []
    for statement in spec.statements if isinstance(spec, ast.Spec) else spec:
        out.append(statement)
        if isinstance(statement, ast.ForBlock):
            out.extend(statements_of(statement.body))
    return out


def find(node, kind):
    """Every node of a type inside a tree, in order (the one visitor: abl.spec.visit)."""
    return [n for n in nodes(node) if isinstance(n, kind)]


# ---- golden fixtures ------------------------------------------------------------------------------

def test_there_are_fixtures():
    assert len(FIXTURES) >= 10


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_golden(path: Path):
    spec = parse_ok(path.read_text(encoding="utf-8"))
    assert spec.statements, "a fixture parses to at least one statement"
    expected_path = path.with_suffix(".ast")
    actual = dump_spec(spec)
    if REGEN:
        expected_path.write_text(actual, encoding="utf-8")
    assert expected_path.exists(), f"no {expected_path.name}: run ABL_REGEN_GOLDEN=1 pytest {__file__}"
    assert actual == expected_path.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_crlf_bom_and_cr_give_the_same_tree(path: Path):
    text = path.read_text(encoding="utf-8")
    plain = parse_ok(text)
    for variant in ("\ufeff" + text.replace("\n", "\r\n"), text.replace("\n", "\r"),
                    text.replace("\n", "\r\n")):
        assert parse_ok(variant) == plain        # spans included: the text is normalised first


def test_fixtures_cover_every_statement_and_node_kind():
    seen: set[type] = set()
    for path in FIXTURES:
        spec = parse_ok(path.read_text(encoding="utf-8"))
        seen |= {type(n) for n in find(spec.statements, object)}
    node_types = {obj for obj in vars(ast).values()
                  if isinstance(obj, type) and dataclasses.is_dataclass(obj)
                  and obj.__module__ in (ast.__name__, "abl.spec.ast_exprs")}
    node_types -= {ast.Spec}
    assert node_types - seen == set()


def test_fixtures_cover_every_option_metric_and_intervention():
    specs = [parse_ok(p.read_text(encoding="utf-8")) for p in FIXTURES]
    options = {o.key for s in specs for o in find(s.statements, ast.Option)}
    assert options >= {"split", "classes", "per class", "preprocess", "noise", "blur", "holdout",
                       "seed", "epochs", "lr", "batch", "regularize selectivity", "repeats",
                       "significance"}
    measures = {m.metric.text for s in specs for m in find(s.statements, ast.MetricPhrase)}
    assert measures >= {"accuracy", "loss", "rank", "rank deficit", "rank change", "logit",
                        "probability", "probe accuracy", "selectivity index", "activation"}
    kinds = {i.kind for s in specs for i in find(s.statements, ast.ActivationIntervention)}
    assert kinds == {"zero", "mean", "clamp", "scale"}
    weights = {(w.direction, w.factor is None) for s in specs
               for w in find(s.statements, ast.WeightIntervention)}
    assert weights == {(d, z) for d in ("incoming", "outgoing", "connection") for z in (True, False)}
    ops = {o.op for s in specs for o in find(s.statements, ast.SetOperation)}
    assert ops == {"|", "&", "-"}
    compares = {t.op for s in specs for t in find(s.statements, (ast.CompareNumber, ast.ThresholdSelection))}
    assert compares == {">", ">=", "<", "<=", "==", "!="}
    tests = {type(t) for s in specs for t in find(s.statements, (ast.ChangeTest, ast.CompareNumber,
                                                                 ast.CompareQuantity))}
    assert len(tests) == 3
    changes = {(t.direction, t.bound) for s in specs for t in find(s.statements, ast.ChangeTest)}
    assert changes == {(d, b) for d in ("drops", "rises") for b in ("at least", "at most")}
    reports = {r.kind.value for s in specs for r in find(s.statements, ast.ReportDecl)}
    assert reports >= {"table", "bars", "heatmap", "histogram", "curve", "scatter", "features"}
    binders = {b.kind for s in specs for b in find(s.statements, ast.Binder)}
    assert binders == {"class", "layer", None}


# ---- the two required phrases -------------------------------------------------------------------

def test_required_top_k_phrase():
    spec = parse_ok("units hot7 = top 5 by activation for class 7 in fc2\n")
    (decl,) = spec.statements
    sel = decl.expr
    assert isinstance(sel, ast.RankedSelection) and not sel.bottom
    assert (sel.count.value, sel.metric.words, sel.target_class.value, sel.layer.value) == \
        (5, ("activation",), 7, "fc2")
    assert sel.stimuli is None


def test_required_grid_phrase():
    text = ("for each class c, each layer L in [conv1, fc1]:\n"
            "    units cells = grid 4x4 over selectivity,magnitude for class c in L\n")
    spec = parse_ok(text)
    (block,) = spec.statements
    grid = block.body[0].expr
    assert isinstance(grid, ast.GridSelection)
    assert (grid.rows, grid.cols) == (4, 4)
    assert grid.row_metric.words == ("selectivity",) and grid.col_metric.words == ("magnitude",)
    assert grid.target_class == ast.Name("c", grid.target_class.span)
    assert grid.layer.value == "L"


@pytest.mark.parametrize("size", ["4x4", "4 x 4", "4X4", "4×4", "4\tx 4"])
def test_grid_size_spellings(size):
    spec = parse_ok(f"units g = grid {size} over selectivity, magnitude for class 1 in fc1\n")
    assert (spec.statements[0].expr.rows, spec.statements[0].expr.cols) == (4, 4)


def test_grid_rows_and_cols_differ():
    grid = parse_ok("units g = grid 2x5 over selectivity, magnitude for class 1 in fc1\n").statements[0].expr
    assert (grid.rows, grid.cols) == (2, 5)


# ---- structure --------------------------------------------------------------------------------

def test_set_algebra_is_left_associative():
    expr = parse_ok("units u = a | b & c - d\n").statements[0].expr
    assert expr.op == "-" and expr.right == ast.UnitRef(ast.Name("d", expr.right.span), expr.right.span)
    assert expr.left.op == "&" and expr.left.left.op == "|"


def test_parentheses_group_set_algebra():
    expr = parse_ok("units u = a | (b & c)\n").statements[0].expr
    assert expr.op == "|" and isinstance(expr.left, ast.UnitRef) and expr.right.op == "&"


def test_change_test_qualifiers_join_the_quantity():
    decl = parse_ok("expect accuracy on test where class == 7 drops by at least 3% ablating a "
                    "and scaling b by 2\n").statements[0]
    assert [i.kind for i in decl.quantity.interventions] == ["zero", "scale"]
    assert decl.quantity.where_class.value == 7
    assert decl.test.amount.value == pytest.approx(0.03)


def test_random_control_right_side_is_elided():
    decl = parse_ok("expect drop of accuracy on test ablating hot > drop ablating rand repeats 10\n").statements[0]
    assert decl.quantity.drop and decl.test.rhs.drop and decl.test.rhs.metric is None
    assert decl.test.rhs.interventions[0].units.name.value == "rand"
    assert [(o.key, o.value.value) for o in decl.options] == [("repeats", 10)]


def test_percent_is_a_fraction():
    value = parse_ok("param p = 3%\n").statements[0].value
    assert isinstance(value, ast.Percent) and value.value == pytest.approx(0.03) and value.text == "3%"


def test_numbers_keep_their_text():
    items = parse_ok("param p = [1, 1.0, 1e3, .5, -2, +3]\n").statements[0].value.items
    assert [i.text for i in items] == ["1", "1.0", "1e3", ".5", "-2", "+3"]
    assert [i.is_int for i in items] == [True, False, False, False, True, True]


def test_string_escapes():
    value = parse_ok('param p = "a \\"b\\" c\\\\d"\n').statements[0].value
    assert value.value == 'a "b" c\\d'


def test_dotted_module_paths_are_names():
    sel = parse_ok("units u = all in layer4.2.conv3\n").statements[0].expr
    assert sel.layer == ast.Name("layer4.2.conv3", sel.layer.span)


def test_nesting_and_block_ends():
    spec = parse_ok("for each a in [1]:\n    for each b in [2]:\n        seed 1\n    seed 2\nseed 3\n")
    outer, last = spec.statements
    inner, second = outer.body
    assert isinstance(inner, ast.ForBlock) and inner.body[0].value.text == "1"
    assert second.value.text == "2" and last.value.text == "3"


def test_file_without_final_newline_and_empty_files():
    assert len(parse_ok("seed 0").statements) == 1
    assert parse_ok("").statements == ()
    assert parse_ok("\n\n# only a comment\n   \n").statements == ()
    assert len(parse_ok("for each a in [1]:\n    seed 1").statements) == 1


def test_list_spans_lines():
    value = parse_ok("param p = [a,\n    b,  # comment\n\n    c,\n]\nseed 0\n").statements[0].value
    assert [i.value for i in value.items] == ["a", "b", "c"]


def test_parse_value():
    assert isinstance(parse_value("[conv1, conv2]"), ast.ListValue)
    assert parse_value("12").value == 12
    assert parse_value("5%").value == pytest.approx(0.05)
    assert parse_value("alexnet").value == "alexnet"
    assert parse_value('"quoted"').value == "quoted"
    assert parse_value("/imagenet/val") is None
    assert parse_value("[unclosed") is None


# ---- spans ----------------------------------------------------------------------------------------

def _at(span) -> tuple[int, int, int, int]:
    return span.line, span.column, span.end_line, span.end_column


def test_spans_of_a_selection():
    text = "seed 0\n\nunits hot7 = top 5 by activation for class 7 in fc2\n"
    decl = parse_ok(text).statements[1]
    assert _at(decl.span) == (3, 1, 3, 52)
    assert _at(decl.name.span) == (3, 7, 3, 11)
    assert _at(decl.expr.span) == (3, 14, 3, 52)
    assert _at(decl.expr.count.span) == (3, 18, 3, 19)
    assert _at(decl.expr.metric.span) == (3, 23, 3, 33)
    assert _at(decl.expr.target_class.span) == (3, 44, 3, 45)
    assert _at(decl.expr.layer.span) == (3, 49, 3, 52)
    assert text[decl.expr.layer.span.start:decl.expr.layer.span.end] == "fc2"


def test_spans_of_a_grid_in_a_block():
    text = ("for each class c, each layer L in [conv1, fc1]:\n"
            "    units cells = grid 4x4 over selectivity,magnitude for class c in L\n")
    block = parse_ok(text).statements[0]
    assert _at(block.binders[1].span) == (1, 19, 1, 47)
    assert _at(block.binders[1].domain.items[1].span) == (1, 43, 1, 46)
    grid = block.body[0].expr
    assert _at(block.body[0].span)[:2] == (2, 5)
    assert _at(grid.size_span) == (2, 24, 2, 27)
    assert _at(grid.col_metric.span) == (2, 45, 2, 54)
    assert text[grid.span.start:grid.span.end] == "grid 4x4 over selectivity,magnitude for class c in L"


def test_spans_count_characters_not_bytes():
    text = 'experiment "über ∞"  # ünïcode\nseed 0\n'
    spec = parse_ok(text)
    assert _at(spec.statements[0].name.span) == (1, 12, 1, 20)
    assert _at(spec.statements[1].span) == (2, 1, 2, 7)


def test_spans_after_bom_and_crlf():
    spec = parse_ok("\ufeffseed 0\r\nunits u = all in fc2\r\n")
    assert _at(spec.statements[1].expr.layer.span) == (2, 18, 2, 21)


def test_spans_of_multiline_statement():
    spec = parse_ok("param p = [a,\n  b]\nseed 0\n")
    assert _at(spec.statements[0].span) == (1, 1, 2, 5)
    assert _at(spec.statements[0].value.items[1].span) == (2, 3, 2, 4)
    assert _at(spec.statements[1].span) == (3, 1, 3, 7)
