"""Diagnostics of the front-end: one test per code it can emit (code, line, column, help), several
mistakes reported in one run, `--set` overrides, and syntax errors in the user's words."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from abl.spec.codes import CODES
from abl.spec.frontend import compile_text
from abl.spec.parser import _parser
from abl.spec.resolved import Dataset, Folder

ROOT = Path(__file__).resolve().parent.parent

# A valid head: diagnostics below it start on line 5.
HEAD = ('experiment "x"\n'
        "seed 0\n"
        "stimuli test = digits split test\n"
        "model net = train mlp [64, 10] on test\n")


def diagnostics(text: str, overrides=None):
    return list(compile_text(text, "spec.abl", overrides=overrides).diagnostics)


def only(text: str, code: str, overrides=None):
    """The one diagnostic with this code (and no other error)."""
    found = diagnostics(text, overrides)
    mine = [d for d in found if d.code == code]
    assert len(mine) == 1, [(d.code, d.span.line, d.span.column, d.message) for d in found]
    others = [d for d in found if d.is_error and d.code != code]
    assert not others, [(d.code, d.span.line, d.span.column, d.message) for d in others]
    return mine[0]


# (code, spec text, line, column, expected substring of `help` or None)
CASES = [
    ("E101", HEAD + "units u = top 5 activation in fc2\n", 5, 17, None),
    ("E101", HEAD + "mesure accuracy on test\n", 5, 1, "did you mean `measure`?"),
    ("E101", HEAD + "unit u = all in fc2\n", 5, 1, "did you mean `units`?"),
    ("E101", HEAD + "measure accuracy on test where class = 3\n", 5, 38, None),
    ("E101", HEAD + "units u = top five by activation\n", 5, 33, "a unit selection names its layer"),
    ("E102", HEAD + "for each class c in [1]:\n        measure accuracy on test where class == c\n"
                    "    measure accuracy on test\n", 7, 5, "indent it exactly like"),
    ("E103", HEAD + 'measure accuracy on test\nstimuli s = "unterminated\n', 6, 13,
     'close the string with `"`'),
    ("E102", HEAD + "  measure accuracy on test\n", 5, 3, "only the body of a `for each ...:`"),
    ("E201", HEAD + "measure accuracy on tset\n", 5, 21, "did you mean `test`?"),
    ("E201", HEAD + "units u = all in fc2\nmeasure accuracy on test ablating uu\n", 6, 35,
     "did you mean `u`?"),
    ("E202", HEAD + "stimuli test = digits split train\nmeasure accuracy on test\n", 5, 9,
     "first defined on line 3"),
    ("E203", HEAD + "measure accuracy on test ablating test\n", 5, 35, "defined on line 3"),
    ("E204", 'param layer = fc2\n' + HEAD + "units u = random 5 in $lyer\n"
                                        "measure accuracy on test ablating u\n", 6, 23,
     "did you mean `$layer`?"),
    ("E206", HEAD + "for each class c:\n    measure accuracy on test where class == c\n"
                    "measure accuracy on test where class == c\n", 7, 41, "move this statement"),
    ("E207", HEAD + "units top = random 5 in fc2\n", 5, 7, "choose another name"),
    ("E301", HEAD + "units u = top 0 by activation in fc2\nmeasure accuracy on test ablating u\n",
     5, 15, None),
    ("E301", HEAD + "units g = grid 0x4 over selectivity, magnitude for class 1 in fc2\n"
                    "measure accuracy on test ablating g\n", 5, 16, None),
    ("E302", HEAD + "units u = top 5 by activaton in fc2\nmeasure accuracy on test ablating u\n",
     5, 20, "did you mean `activation`?"),
    ("E302", HEAD + "measure acuracy on test\n", 5, 9, "did you mean `accuracy`?"),
    ("E303", HEAD + "stimuli s = digts split test\nmeasure accuracy on s\n", 5, 13,
     "did you mean `digits`?"),
    ("E304", HEAD + "measure accuracy on test\nreport heatmp rank deficit by cell, class x layer\n",
     6, 8, "did you mean `heatmap`?"),
    ("W505", HEAD + "model n2 = torchvision alexnt\nmeasure accuracy on test using n2\n"
                    "measure loss on test using net\n", 5, 24, "did you mean `alexnet`?"),
    ("E305", HEAD + "model n2 = train mpl [64, 10] on test\nmeasure accuracy on test using n2\n"
                    "measure loss on test using net\n", 5, 18, "did you mean `mlp`?"),
    ("E306", 'experiment "x"\nseed "zero"\n', 2, 6, "counts are written as digits"),
    ("E306", HEAD + "units u = random 2.5 in fc2\nmeasure accuracy on test ablating u\n", 5, 18, None),
    ("E312", HEAD + "for each class c in [1, 2]:\n    seed 3\n    measure accuracy on test where class == c\n",
     6, 5, "move it out of the `for each` block"),
    ("E313", HEAD + "measure logit on test\n", 5, 9, None),
    ("E314", HEAD + "units g = grid 2x2 over selectivity, magnitude for class 1 in fc2\nunits h = all in fc2\n"
                    "measure accuracy on test ablating (g | h)\n", 7, 36, "single unit sets"),
    ("E315", HEAD + "measure loss top 5 on test\n", 5, 18, None),
    ("E315", HEAD + "units u = [1, 2] in fc2\nmeasure accuracy on test mean-ablating u at token 0\n", 6, 51,
     "ablating U at token 0"),
    ("E307", HEAD + "stimuli s = digits split validation\nmeasure accuracy on s\n", 5, 26,
     "`split train` or `split test`"),
    ("E307", HEAD + "device gpu\nmeasure accuracy on test\n", 5, 8, "did you mean `cpu`?"),
    ("E308", HEAD + "units hot7 = all in fc2\nmeasure accuracy on test ablating hot7\n"
                    "expect accuracy on test drops by at least 3%\n", 7, 25, "ablating hot7"),
    ("E308", HEAD + "stimuli other = digits split train\nmeasure accuracy on test\n"
                    "measure accuracy on other\nexpect accuracy > 50%\n", 8, 8, "the spec measures on"),
    ("E308", HEAD + "measure rank deficit on test\n", 5, 9, "ablating UNITS"),
    ("W501", HEAD + "units spare = random 5 in fc2\nmeasure accuracy on test\n", 5, 7, "delete it"),
    ("W501", 'param p = 3\n' + HEAD + "measure accuracy on test\n", 1, 7, "refer to it as `$p`"),
    ("W502", 'seed 0\nstimuli test = digits split test\nmodel net = train mlp [64, 10] on test\n'
             'measure accuracy on test\n', 1, 1, 'experiment "'),
    ("W502", 'experiment "x"\nstimuli test = digits split test\n'
             'model net = train mlp [64, 10] on test\nmeasure accuracy on test\n', 1, 1, "seed 0"),
    ("W503", HEAD + "units r = random 5 in fc2\nunits h = all in fc2\n"
                    "expect drop of accuracy on test ablating h > drop ablating r repeats 5\n",
     7, 62, "repeats 100"),
    ("W503", HEAD + "units r = random 5 in fc2\nunits h = all in fc2\n"
                    "expect drop of accuracy on test ablating h > drop ablating r repeats 100 significance 0.005\n",
     7, 62, "repeats 199"),
    ("W504", HEAD + "stimuli noisy = test noise 0.3\nstimuli other = noisy seed 7\n"
                    "measure accuracy on other\n", 6, 23, "noise 0.3 seed 7"),
    ("E309", HEAD + "units h = top 3 by activation for class 3 in fc2\n"
                    "measure probe accuracy of h on test ablating h\n", 6, 37, "activation of UNITS"),
    ("E311", HEAD + "repeats 100000000\nmeasure accuracy on test\n", 5, 9, "p-values"),
    ("E104", HEAD + "param p = " + "[" * 70 + "1" + "]" * 70 + "\n", 5, 75, "flatten"),
    ("E316", HEAD + "for each alpha in [1, 2]:\n    measure accuracy on test\n"
                    "expect accuracy[alpha = 3] on test > 0.5\n", 7, 25, "alpha takes 1, 2"),
    ("E317", HEAD + "measure probability of class 3 on test\nreport bars accuracy per class\n", 6, 13,
     "measured: `probability`"),
    ("E318", HEAD + "expect accuracy on test > 95\n", 5, 27, "did you mean `95%`?"),
    ("E318", HEAD + "units h = all in fc2\nexpect probability of class 3 on test drops by at least 30 ablating h\n",
     6, 57, "did you mean `30%`?"),
    ("W507", HEAD + "measure accuracy on test\n", 5, 21, "held-out images"),
    ("W507", 'experiment "x"\nseed 0\nstimuli train = digits split train\nstimuli everything = digits\n'
             "model net = train mlp [64, 10] on train\nmeasure accuracy on everything\n", 6, 21, "held-out images"),
    ("E310", HEAD + "for each layer L in [fc1, fc2]:\n    units g = top 3 by activation "
                    "for class 3 in L\n    measure accuracy on test ablating g\n"
                    "expect accuracy on test > 0.5 averaged over lyaer\n", 8, 45, "did you mean `layer`?"),
]

FAMILY_HEAD = HEAD + ("for each class c, each layer L in [fc1, fc2]:\n"
                      "    units g = grid 2x2 over selectivity, magnitude for class c in L\n"
                      "    measure rank deficit on test where class == c ablating g\n")


@pytest.mark.parametrize("claim, column, words", [
    ("expect rank deficit on test is largest at [cell = 1,1] averaged over alpha", 70, "not measured over `alpha`"),
    ("expect rank deficit[cell = 1,1] on test > 0 averaged over cell", 59, "used twice"),
    ("expect rank deficit on test is largest at [cell = 1] in every class", 44, "a cell is two numbers"),
    ("expect rank deficit on test > 0 in every class in at least 50% of layer", 48, "at most one quantifier"),
    ("expect accuracy on test > 0.5 in every class", 0, "one value, not a family"),
])
def test_misused_claims_over_families_are_located(claim, column, words):
    text = FAMILY_HEAD + "measure accuracy on test\n" + claim + "\n"
    result = compile_text(text, "spec.abl")
    found = [d for d in result.diagnostics if words in d.message]
    assert found, [d.message for d in result.diagnostics]
    assert found[0].span.line == 9
    if column:
        assert found[0].span.column == column


@pytest.mark.parametrize("claim, words", [
    ("expect rank deficit[cell = 1,1] on test > 0.1", "once per class x layer"),
    ("expect rank deficit on test > 0.1 averaged over class, layer", "once per cell"),
    ("expect rank deficit[cell = 1,1] on test > rank deficit[cell = 0,0] on test in every class",
     "once per layer"),
])
def test_claims_leaving_a_dimension_open_are_located(claim, words):
    result = compile_text(FAMILY_HEAD + claim + "\n", "spec.abl")
    found = [d for d in result.diagnostics if d.code == "E310" and words in d.message]
    assert found and found[0].span.line == 8, [d.message for d in result.diagnostics]
    assert "averaged over" in found[0].help and "in every" in found[0].help


SWEEP = HEAD + ("for each alpha in [-1, 0, 1], each tag in [\"a\", \"b\"]:\n"
                "    model m = train mlp [64, 10] on test epochs 1 regularize selectivity alpha in [fc1]\n"
                "    measure accuracy on test using m\n")


@pytest.mark.parametrize("claim, unmeasured", [
    ("expect accuracy[alpha = -1.0, tag = \"a\"] on test > 0.5", []),
    ("expect accuracy[alpha in [-1, 1], tag = \"b\"] on test > 0.5", []),
    ("expect accuracy on test is largest at [alpha = 0] averaged over tag", []),
    ("expect accuracy[alpha = 3, tag = \"a\"] on test > 0.5", ["alpha = 3"]),
    ("expect accuracy[alpha in [-1, 5], tag = \"a\"] on test > 0.5", ["alpha = 5"]),
    ("expect accuracy on test is largest at [alpha = 2] averaged over tag", ["alpha = 2"]),
    ("expect accuracy[alpha = 0, tag = a] on test > accuracy[alpha = 7, tag = \"a\"] on test",
     ["tag = a", "alpha = 7"]),
])
def test_a_claim_selects_only_loop_values_that_were_measured(claim, unmeasured):
    found = [d for d in diagnostics(SWEEP + claim + "\n") if d.is_error]
    assert [d.code for d in found] == ["E316"] * len(unmeasured), [(d.code, d.message) for d in found]
    assert [d.message.split(" at ")[-1] for d in found] == unmeasured


def test_an_unmeasured_loop_value_from_set_is_refused_before_the_run(tmp_path):
    overrides = {"alphas": "[-1, 0, 1]"}
    spec = ('param alphas = [-10, 0]\n' + HEAD + "for each alpha in $alphas:\n"
            "    model m = train mlp [64, 10] on test epochs 1 regularize selectivity alpha in [fc1]\n"
            "    measure accuracy on test using m\n"
            "expect accuracy[alpha = -10] on test >= accuracy[alpha = 0] on test\n")
    assert not [d for d in diagnostics(spec) if d.is_error]
    found = only(spec, "E316", overrides)
    assert (found.span.line, found.span.column) == (9, 25) and "alpha takes -1, 0, 1" in found.help
    path = tmp_path / "sweep.abl"
    path.write_text(spec)
    for command, code in (("lint", 1), ("plan", 2)):     # lint in CI and `abl plan` say it before any work
        done = subprocess.run([sys.executable, "-m", "abl.interpreter.cli", command, str(path),
                               "--set", "alphas=[-1,0,1]"], capture_output=True, text=True,
                              env=dict(os.environ, NO_COLOR="1"))
        assert done.returncode == code and f"{path}:9:25: E316" in done.stdout + done.stderr, done


def test_claims_over_families_lint_clean():
    claims = ["expect rank deficit on test is largest at [cell = 1,1] averaged over class, layer",
              "expect rank deficit on test is largest at [cell = 1,1] in at least 80% of class x layer",
              "expect rank deficit[row in [0, 1]] on test > rank deficit[row = 1] on test averaged over class, layer, col",
              "expect rank deficit[cell = 1,1] on test >= rank deficit[cell = 0,0] on test in every class"
              " averaged over layer"]
    result = compile_text(FAMILY_HEAD + "\n".join(claims) + "\n", "spec.abl")
    assert not [d for d in result.diagnostics if d.severity.name == "ERROR"], \
        [d.message for d in result.diagnostics]


@pytest.mark.parametrize("code, text, line, column, help_text", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_code(code, text, line, column, help_text):
    diagnostic = only(text, code)
    assert (diagnostic.span.line, diagnostic.span.column) == (line, column), diagnostic.message
    assert diagnostic.severity is CODES[code].severity
    assert diagnostic.message and diagnostic.message == diagnostic.message.rstrip(".")
    if help_text is not None:
        assert diagnostic.help is not None and help_text in diagnostic.help, diagnostic.help


def test_e205_unknown_override():
    diagnostic = only('param model = "net"\n' + HEAD +
                      "model m = $model\nmeasure accuracy on test using m\n", "E205",
                      overrides={"modle": "alexnet"})
    assert "modle" in diagnostic.message
    assert diagnostic.help == "did you mean `model`?"


def test_e205_when_spec_has_no_parameters():
    diagnostic = only(HEAD + "measure accuracy on test\n", "E205", overrides={"data": "x"})
    assert diagnostic.help == "this spec declares no parameters"


def test_e206_class_variable_outside_its_block():
    text = (HEAD + "for each class c:\n    measure accuracy on test where class == c\n"
            "measure accuracy on test where class == c\n")
    diagnostic = only(text, "E206")
    assert (diagnostic.span.line, diagnostic.span.column) == (7, 41)
    assert "line 5" in diagnostic.help and "move this statement into that block" in diagnostic.help


def test_e206_layer_variable_outside_its_block():
    text = (HEAD + "for each layer L in [fc1]:\n    measure selectivity index in L on test\n"
            "measure selectivity index in L on test\n")
    diagnostic = only(text, "E206")
    assert (diagnostic.span.line, diagnostic.span.column) == (7, 30)


def test_e206_not_for_a_variable_bound_again():
    text = (HEAD + "for each layer L in [fc1]:\n    measure selectivity index in L on test\n"
            "for each layer L in [fc2]:\n    measure selectivity index in L on test\n")
    assert not [d for d in diagnostics(text) if d.is_error]


def test_e102_unexpected_indentation_points_at_the_indented_line():
    found = [d for d in diagnostics(HEAD + "  measure accuracy on test\nmeasure loss on test\n")
             if d.is_error]
    assert [(d.code, d.span.line, d.span.column) for d in found] == [("E102", 5, 3)]
    assert "only the body of a `for each ...:` block is indented" in found[0].help


def test_w502_both_missing_headers_are_reported():
    text = "stimuli test = digits split test\nmodel net = train mlp [64, 10] on test\nmeasure accuracy on test\n"
    found = [d for d in diagnostics(text) if d.code == "W502"]
    assert len(found) == 2
    assert any("experiment" in d.message for d in found) and any("seed" in d.message for d in found)


def test_syntax_error_names_exactly_what_fits():
    diagnostic = only(HEAD + "units u = top 5 activation in fc2\n", "E101")
    assert diagnostic.message == "unexpected `activation`, expected `by`"
    diagnostic = only(HEAD + "seed 0 0\n", "E101")
    assert diagnostic.message == "unexpected `0`, expected end of line"


def test_warnings_do_not_block_the_program():
    result = compile_text(HEAD + "units spare = random 5 in fc2\nmeasure accuracy on test\n", "x.abl")
    assert [d.code for d in result.diagnostics] == ["W501", "W507"]   # HEAD measures on its training set
    assert result.program is not None


def test_errors_block_the_program():
    result = compile_text(HEAD + "measure accuracy on tset\n", "x.abl")
    assert result.program is None and result.has_errors


# ---- several mistakes, one run ------------------------------------------------------------

FIVE_MISTAKES = """\
experiment "five mistakes"
seed 0
stimuli test = digts split test
model net = train mlp [64, 10] on test
units u = top 0 by activation in fc2
units v = top 5 by activaton in fc2
measure accuracy on tset ablating u and ablating v
report heatmp accuracy by cell, class x layer
"""


def test_five_mistakes_five_errors():
    found = [(d.code, d.span.line, d.span.column) for d in diagnostics(FIVE_MISTAKES) if d.is_error]
    assert found == [("E303", 3, 16), ("E301", 5, 15), ("E302", 6, 20), ("E201", 7, 21),
                     ("E304", 8, 8)]


def test_several_syntax_errors_in_one_run():
    text = HEAD + "units u = top 5 activation in fc2\nseed\nmeasure accuracy\nreport table accuracy\n"
    found = [(d.code, d.span.line) for d in diagnostics(text) if d.is_error]
    assert found == [("E101", 5), ("E101", 6), ("E101", 7)]


def test_syntax_and_name_errors_together():
    text = HEAD + "units u = top 5 activation in fc2\nmeasure accuracy on tset\n"
    found = [(d.code, d.span.line) for d in diagnostics(text) if d.is_error]
    assert found == [("E101", 5), ("E201", 6)]


# ---- --set overrides --------------------------------------------------------------------

OVERRIDABLE = """\
experiment "overrides"
seed 0
param data = "digits"
param layers = [fc1]
param k = 5
stimuli s = $data split test
model net = train mlp [64, 10] on s
for each layer L in $layers:
    units u = top $k by activation in L
    measure accuracy on s ablating u
"""


def _params(overrides):
    result = compile_text(OVERRIDABLE, "x.abl", overrides=overrides)
    assert not result.has_errors, result.diagnostics
    return dict(result.program.header.params), result.program


def _stimuli(program):
    (stimuli,) = [s for s in program.statements if type(s).__name__ == "StimuliDecl"]
    return stimuli


def test_set_list_value():
    params, program = _params({"layers": "[fc1, fc2, conv1]"})
    assert params["layers"] == ["fc1", "fc2", "conv1"]
    block = program.statements[-1]
    assert [item.value for item in block.binders[0].domain] == ["fc1", "fc2", "conv1"]


def test_set_number_value():
    params, _ = _params({"k": "7"})
    assert params["k"] == 7


def test_set_string_path_that_is_not_a_literal():
    params, program = _params({"data": "/imagenet/val"})
    assert params["data"] == "/imagenet/val"
    stimuli = _stimuli(program)
    assert stimuli.source == Folder("/imagenet/val")            # a quoted string: a folder


def test_set_name_for_a_string_parameter_stays_a_string():
    params, program = _params({"data": "mnist"})
    assert params["data"] == "mnist"
    assert _stimuli(program).source == Dataset("mnist")         # a bare word: the dataset


def test_set_value_of_the_wrong_type_points_at_its_use():
    found = [(d.code, d.span.line, d.span.column) for d in
             diagnostics(OVERRIDABLE, overrides={"k": "seven"}) if d.is_error]
    assert found == [("E306", 9, 19)]


def test_set_unknown_name():
    found = diagnostics(OVERRIDABLE, overrides={"layer": "[fc2]"})
    (error,) = [d for d in found if d.is_error]
    assert error.code == "E205" and error.help == "did you mean `layers`?"


# ---- syntax errors in the user's words -------------------------------------------------------

BROKEN = [
    "units u = top 5 activation in fc2", "units u top 5 by activation in fc2",
    "units = top 5 by activation in fc2", "units u = grid 4 over a, b in fc2",
    "units u = grid 4x4 over a b in fc2", "units u = (a | b", "units u = a |",
    "units u = [1, 2 in fc2", "units u = [1 2] in fc2", "measure accuracy", "measure accuracy on",
    "measure accuracy on test ablating", "measure accuracy on test clamping u",
    "measure accuracy on test scaling u", "measure accuracy on test zeroing u",
    "measure accuracy on test zeroing weight 3 of fc2", "expect accuracy on test drops 3%",
    "expect accuracy on test drops by 3%", "expect accuracy on test", "expect accuracy on test > ",
    "expect accuracy[class] on test > 1", "expect accuracy[ on test > 1", "report",
    "report heatmap by", "for each c in [1]", "for c in [1]:\n    seed 1",
    "for each in [1]:\n    seed 1", "for each c in [1]:\nseed 1", "param = 3", "param x 3",
    "param x = ", "seed", "seed 0 0", "seed 0 # c\n  seed 1", "experiment 'single'",
    'experiment "a', "stimuli s = digits split", "stimuli s = digits per 50", "stimuli s =",
    "model net =", "model net = train on test", "model net = torchvision", "model net = file",
    "@", "units u = top 5 by activation in fc2 ;", "{}", "measure accuracy on test where class = 3",
    "measure accuracy on test where c == 3", "measure accuracy on test using",
    "expect drop > drop", "expect accuracy on test > drop", "report features of", ":", ")", "]",
    "units u = where activation 0.5 in fc2", "units u = random in fc2", "\tseed 0",
    "for each c in [1]:\n        seed 1\n    seed 2", "mesure accuracy on test",
    "measure accuracy on test ablating u and", "units u = grid 4x4 over , in fc2",
    "measure probe accuracy of on test", "measure logit of class on test",
    "model m = file \"x.pt\" arch", "units u = top 5 by activation in fc2 | | b",
    "expect accuracy on test drops by at least 3% ablating (a", "measure accuracy on test ablating a b",
]


def _lark_terminal_names() -> set[str]:
    """Terminal names Lark made up: everything but the keywords users type."""
    names = {"$END", "_NL", "_INDENT", "_DEDENT"}
    for terminal in _parser().terminals:
        pattern = terminal.pattern
        if not (pattern.type == "str" and re.fullmatch(r"[a-z][a-z-]*", pattern.value)):
            names.add(terminal.name)
    return names


@pytest.mark.parametrize("line", BROKEN, ids=range(len(BROKEN)))
def test_syntax_errors_speak_the_users_words(line):
    found = [d for d in diagnostics(HEAD + line + "\n") if d.code.startswith("E1")]
    assert found, "a syntax error is reported"
    terminals = _lark_terminal_names()
    for diagnostic in found:
        for text in (diagnostic.message, diagnostic.help or ""):
            words = set(re.findall(r"[$A-Z_][A-Z0-9_]*", text))
            assert not words & terminals, text
            assert "__ANON" not in text and "Token(" not in text, text
        assert diagnostic.span.line >= 1 and diagnostic.span.column >= 1
        assert diagnostic.span.start <= diagnostic.span.end <= len(HEAD + line + "\n")


def test_syntax_error_mentions_expected_keyword():
    found = [d for d in diagnostics(HEAD + "measure accuracy on test clamping u\n") if d.is_error]
    assert found[0].message == "unexpected end of line, expected `to`"
    found = [d for d in diagnostics(HEAD + "expect accuracy on test drops 3%\n") if d.is_error]
    assert "`by`" in found[0].message


# ---- the manual and the code table ------------------------------------------------------------

def test_every_front_end_code_is_tested_here():
    tested = {case[0] for case in CASES} | {"E205", "W506"}     # W506 needs a lock file: test_lock.py
    front_end = {code for code in CODES if not code.startswith("E4")}
    assert front_end <= tested


def test_every_code_is_in_the_manual():
    manual = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    missing = [code for code in CODES if code not in manual]
    assert not missing


def test_codes_are_well_formed():
    for code, entry in CODES.items():
        assert re.fullmatch(r"[EW]\d{3}", code) and entry.code == code
        assert entry.summary and entry.summary == entry.summary.rstrip(".")


@pytest.mark.parametrize("line, words", [
    ("stimuli h = digits split test holdout 0\nmeasure accuracy on h\n", "leaves one split empty"),
    ("stimuli h = digits split test holdout 1\nmeasure accuracy on h\n", "leaves one split empty"),
    ("model m2 = train mlp [64, 10] on test epochs 1 epochs 2\nmeasure accuracy on test using m2\n",
     "option `epochs` is given twice"),
])
def test_options_that_would_fail_or_be_dropped_at_run_time_are_lint_errors(line, words):
    found = [d for d in diagnostics(HEAD + line) if words in d.message]
    assert found and found[0].is_error


@pytest.mark.parametrize("text", [
    HEAD + "param p = " + "[" * 3000 + "1" + "]" * 3000 + "\n",
    HEAD + "units u = " + "(" * 3000 + "[1] in fc1" + ")" * 3000 + "\n",
    HEAD + "".join("    " * i + f"for each v{i} in [1]:\n" for i in range(200)) + "    " * 200 + "measure accuracy on test\n",
])
def test_deep_nesting_is_a_diagnostic_not_a_recursion_error(text):
    assert [d.code for d in diagnostics(text) if d.is_error] == ["E104"]


def test_non_regular_files_are_refused(tmp_path):
    import os

    from abl.spec.source import SourceFile, SourceReadError

    fifo = tmp_path / "pipe.abl"
    os.mkfifo(fifo)
    with pytest.raises(SourceReadError, match="not a regular file"):
        SourceFile.read(fifo)


def test_a_spec_that_would_expand_past_the_limit_is_refused_before_planning():
    binders = ", ".join(f"each v{i} in [1, 2]" for i in range(40))
    found = diagnostics(HEAD + f"for {binders}:\n    measure accuracy on test\n")
    assert [d.code for d in found if d.is_error] == ["E311"]
    assert "1,099,511,627,776 bindings" in [d for d in found if d.code == "E311"][0].message


def test_mixed_tabs_and_spaces_are_reported_at_the_line_not_at_line_1():
    text = (HEAD + "for each a in [1, 2]:\n  \tmeasure accuracy on test using net\n"
            "      measure loss on test using net\n    measure rank on test using net\n")
    (found,) = [d for d in diagnostics(text) if d.code == "E102"]
    assert found.span.line == 8


def test_every_warning_is_a_registered_lint_rule():
    """W5xx codes and lint rules are one list: a new warning is a rule in spec/lint.py."""
    from abl.spec.lint import RULES

    assert set(RULES) == {code for code in CODES if code.startswith("W")}


def test_a_lint_rule_sees_only_the_facts_it_is_given():
    from abl.spec.lint import LintFacts, RULES
    from abl.spec.program import Symbol
    from abl.spec.source import Span

    span = Span(0, 1, 1, 1, 1, 2)
    facts = LintFacts((), (("p", Symbol("param", span)),), (("hot", Symbol("units", span, used=True)),),
                      (("c", Symbol("class-var", span)), ("L", Symbol("layer-var", span))), frozenset({"L"}), False)
    messages = [finding.message for finding in RULES["W501"](facts)]
    assert messages == ["loop variable `c` is never used", "parameter `p` is never used"]
    assert [f.message for f in RULES["W502"](facts)] == ["the spec has no `experiment` name",
                                                          "the spec has no `seed`; seed 0 is used"]
