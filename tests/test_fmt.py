"""`abl fmt`: one canonical layout, idempotent, meaning-preserving, comments kept."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from abl.spec import ast
from abl.spec.diagnostics import DiagnosticSink
from abl.spec.fmt import format_spec, format_text
from abl.spec.unparse import intervention_text, metric_phrase_text, quantity_text, unit_expr_text, value_text
from abl.spec.parser import parse_source
from abl.spec.source import SourceFile

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted((ROOT / "examples").glob("*.abl")) + sorted((ROOT / "tests" / "golden").glob("*.abl"))


def strip_spans(node):
    """An AST as nested tuples, without the fields that say where things were written."""
    if isinstance(node, tuple):
        return tuple(strip_spans(item) for item in node)
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        return (type(node).__name__,) + tuple(
            (f.name, strip_spans(getattr(node, f.name))) for f in dataclasses.fields(node)
            if f.name not in ("span", "size_span", "dim_spans", "path"))
    return node


def parse(text: str) -> ast.Spec:
    source = SourceFile.from_text(text, "<test>")
    sink = DiagnosticSink(source)
    spec = parse_source(source, sink)
    assert not sink.diagnostics, [(d.code, d.span.line, d.message) for d in sink.diagnostics]
    return spec


def fmt(text: str) -> str:
    result = format_text(text, "<test>")
    assert result.text is not None, result.diagnostics
    return result.text


def test_strip_spans_ignores_positions_only():
    assert strip_spans(parse("seed 0\n")) == strip_spans(parse("\n\nseed    0  # c\n"))
    assert strip_spans(parse("seed 0\n")) != strip_spans(parse("seed 1\n"))
    assert strip_spans(parse("units u = a | (b | c)\n")) != strip_spans(parse("units u = a | b | c\n"))


# ---- properties on every example and fixture ------------------------------------------------------

@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_idempotent(path):
    once = fmt(path.read_text(encoding="utf-8"))
    assert fmt(once) == once


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_same_tree(path):
    text = path.read_text(encoding="utf-8")
    assert strip_spans(parse(fmt(text))) == strip_spans(parse(text))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_comments_kept(path):
    text = path.read_text(encoding="utf-8")
    comments = [line[line.index("#"):].rstrip() for line in text.splitlines()
                if "#" in line and '"' not in line]
    formatted = fmt(text)
    for comment in comments:
        assert comment in formatted


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_layout_rules(path):
    out = fmt(path.read_text(encoding="utf-8"))
    assert out.endswith("\n") and not out.endswith("\n\n")
    assert not out.startswith("\n")
    assert "\n\n\n" not in out
    assert "\r" not in out and "\t" not in out
    for line in out.splitlines():
        assert line == line.rstrip()
        indent = len(line) - len(line.lstrip(" "))
        assert indent % 4 == 0


def test_examples_are_already_canonical():
    for path in sorted((ROOT / "examples").glob("*.abl")):
        text = path.read_text(encoding="utf-8")
        assert fmt(text) == text, path.name


# ---- a messy spec -----------------------------------------------------------------------------

MESSY = (
    "\ufeff\r\n\r\n# Messy   \r\nexperiment   \"messy\"#no space\r\nseed\t0\r\n\r\n\r\n\r\n"
    "param layers=[ conv1 ,conv2,\r\n   # inner note\r\n  fc1 , ]\r\n"
    "stimuli  test=digits   split test   per  class 5\r\n"
    "model net = train mlp [64,32 , 10] on test epochs 3\r\n"
    "units   u=(a|b)&( c - d )|(e|f)\r\n"
    "units g = grid 4 X 4 over selectivity,magnitude for class 7 in fc2\r\n"
    "for each   class c ,each layer L in $layers :   # families\r\n"
    "\tmeasure accuracy   on test where class==c ablating(a|b)   using net\r\n"
    "\t\t# deeper comment\r\n"
    "  # block end\r\n"
    "expect drop  accuracy[ class 7 ] on test ablating u>drop ablating r repeats 100\r\n"
    "expect accuracy on test ablating u drops   by at   least 3%\r\n"
    "expect accuracy[alpha=-1] on test>=accuracy[alpha=0] on test -3%\r\n"
    "report heatmap rank deficit by cell,class x layer\r\n\r\n\r\n"
)

CANONICAL = """\
# Messy
experiment "messy"  #no space
seed 0

# inner note
param layers = [conv1, conv2, fc1]
stimuli test = digits split test per class 5
model net = train mlp [64, 32, 10] on test epochs 3
units u = a | b & (c - d) | (e | f)
units g = grid 4x4 over selectivity, magnitude for class 7 in fc2
for each class c, each layer L in $layers:  # families
    measure accuracy on test where class == c ablating (a | b) using net
    # deeper comment
    # block end
expect drop of accuracy[class 7] on test ablating u > drop ablating r repeats 100
expect accuracy on test drops by at least 3% ablating u
expect accuracy[alpha = -1] on test >= accuracy[alpha = 0] on test - 3%
report heatmap rank deficit by cell, class x layer
"""


def test_messy_spec_formats_to_canonical_text():
    assert fmt(MESSY) == CANONICAL


def test_messy_spec_keeps_its_meaning():
    assert strip_spans(parse(fmt(MESSY))) == strip_spans(parse(MESSY))
    assert fmt(CANONICAL) == CANONICAL


def test_blank_lines_collapse_to_one():
    assert fmt("seed 0\n\n\n\nrepeats 5\n") == "seed 0\n\nrepeats 5\n"
    assert fmt("\n\nseed 0\nrepeats 5\n\n\n") == "seed 0\nrepeats 5\n"
    assert fmt("seed 0\n   \n\t\nrepeats 5") == "seed 0\n\nrepeats 5\n"


def test_empty_and_comment_only():
    assert fmt("") == ""
    assert fmt("\n\n  \n") == ""
    assert fmt("# just a note   \n\n\n# and another") == "# just a note\n\n# and another\n"


def test_comment_positions_in_blocks():
    text = ("for each a in [1]:\n"
            "    # first\n"
            "    for each b in [2]:\n"
            "        seed 1\n"
            "        # end of inner\n"
            "    # end of outer\n"
            "# after both\n"
            "seed 2  # trailing\n")
    assert fmt(text) == text


def test_comment_before_statement_takes_its_indentation():
    text = "for each a in [1]:\n# odd\n    seed 1\n"
    assert fmt(text) == "for each a in [1]:\n    # odd\n    seed 1\n"


def test_hash_inside_string_is_not_a_comment():
    text = 'experiment "issue #7"  # real\nparam p = "a\\"#b"\n'
    assert fmt(text) == text


def test_comments_inside_multiline_list_move_above():
    text = "param p = [a,  # one\n    b,  # two\n    c]  # three\nseed 0\n"
    assert fmt(text) == "# one\n# two\nparam p = [a, b, c]  # three\nseed 0\n"


def test_syntax_errors_give_no_text():
    result = format_text("seed 0\nunits u = top 5 activation in fc2\nseed\n", "bad.abl")
    assert result.text is None
    assert [d.code for d in result.diagnostics] == ["E101", "E101"]
    assert [d.span.line for d in result.diagnostics] == [2, 3]


def test_semantic_errors_still_format():
    result = format_text("measure accuracy   on nowhere\n", "x.abl")
    assert result.text == "measure accuracy on nowhere\n" and result.diagnostics == ()


def test_format_spec_direct():
    source = SourceFile.from_text("seed   0\n", "x.abl")
    sink = DiagnosticSink(source)
    assert format_spec(parse_source(source, sink), source) == "seed 0\n"


# ---- parentheses ----------------------------------------------------------------------------

@pytest.mark.parametrize("text, canonical", [
    ("a | b | c", "a | b | c"),
    ("(a | b) | c", "a | b | c"),
    ("a | (b | c)", "a | (b | c)"),
    ("a - (b - c)", "a - (b - c)"),
    ("(a - b) - c", "a - b - c"),
    ("a & (b | c) - d", "a & (b | c) - d"),
    ("((a))", "a"),
    ("(top 5 by activation in fc2) | [1, 2] in fc1", "top 5 by activation in fc2 | [1, 2] in fc1"),
])
def test_set_operations_minimal_parentheses(text, canonical):
    out = fmt(f"units u = {text}\n")
    assert out == f"units u = {canonical}\n"
    assert strip_spans(parse(out)) == strip_spans(parse(f"units u = {text}\n"))


def test_parentheses_where_on_would_attach_to_the_selection():
    text = "measure probe accuracy of (top 5 by activation in fc2) on test\n"
    assert fmt(text) == text
    text = "measure probe accuracy of top 5 by activation in fc2 on train on test\n"
    assert fmt(text) == text
    text = "report features of (top 5 by activation in fc2) on test\n"
    assert fmt(text) == text
    text = "report features of top 5 by activation in fc2 steps 3\n"
    assert fmt(text) == text
    text = "expect activation of (where activation > 1 in fc2) on test > 0\n"
    assert fmt(text) == text


def test_report_clauses_canonical_order():
    assert fmt("report scatter accuracy over alpha on test vs loss\n") == \
        "report scatter accuracy vs loss over alpha on test\n"
    assert fmt("report features steps 5 of hot7\n") == "report features of hot7 steps 5\n"
    text = "report bars accuracy by x of hot7\n"
    out = fmt(text)
    assert strip_spans(parse(out)) == strip_spans(parse(text))


# ---- labels --------------------------------------------------------------------------------

def _measure(text):
    return parse(f"measure {text}\n").statements[0].quantity


@pytest.mark.parametrize("text, label", [
    ("ablating hot7", "ablating hot7"),
    ("mean-ablating (a | b)", "mean-ablating (a | b)"),
    ("mean-ablating (a|b)", "mean-ablating (a | b)"),
    ("clamping hot7 to 2.5", "clamping hot7 to 2.5"),
    ("scaling hot7 by -1", "scaling hot7 by -1"),
    ("ablating random 5 in fc2", "ablating random 5 in fc2"),
    ("zeroing incoming weights of hot7", "zeroing incoming weights of hot7"),
    ("scaling outgoing weights of (a & b) by 0.5", "scaling outgoing weights of (a & b) by 0.5"),
    ("zeroing weight [3,17] of fc2", "zeroing weight [3, 17] of fc2"),
    ("scaling weight [0, 1] of features.3 by 2", "scaling weight [0, 1] of features.3 by 2"),
])
def test_intervention_text(text, label):
    (intervention,) = _measure(f"accuracy on test {text}").interventions
    assert intervention_text(intervention) == label


def test_quantity_and_metric_text():
    quantity = _measure("accuracy  top 3   per class on test where class == 7 ablating a and "
                        "scaling b by 2 using net")
    assert metric_phrase_text(quantity.metric) == "accuracy top 3 per class"
    assert quantity_text(quantity) == \
        "accuracy top 3 per class on test where class == 7 ablating a and scaling b by 2 using net"
    assert metric_phrase_text(_measure("logit of class  3 on t").metric) == "logit of class 3"
    assert metric_phrase_text(_measure("selectivity index in conv1 on t").metric) == \
        "selectivity index in conv1"
    expect = parse("expect drop accuracy[class 7] on test ablating h > drop ablating r\n").statements[0]
    assert quantity_text(expect.quantity) == "drop of accuracy[class 7] on test ablating h"
    assert quantity_text(expect.test.rhs) == "drop ablating r"


def test_unit_expr_and_value_text():
    expr = parse("units u = top 5 by activation for class 7 in fc2 on train\n").statements[0].expr
    assert unit_expr_text(expr) == "top 5 by activation for class 7 in fc2 on train"
    expr = parse("units u = (a|b) - c\n").statements[0].expr
    assert unit_expr_text(expr) == "a | b - c"
    value = parse('param p = [1, 2.50, 3%, "x\\"y", $q, name.sub, []]\n').statements[0].value
    assert value_text(value) == '[1, 2.50, 3%, "x\\"y", $q, name.sub, []]'


# ---- strings round-trip -----------------------------------------------------------------------

@settings(max_examples=200, deadline=None, database=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"),
               max_size=30))
def test_any_string_value_round_trips(value):
    source = SourceFile.from_text('param p = ""\n')
    string = ast.String(value, source.span(10, 12))
    text = f"param p = {value_text(string)}\n"
    spec = parse(text)
    assert spec.statements[0].value.value == value
