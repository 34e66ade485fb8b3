"""The messages for a beginner's first mistakes (issue 36, item 3): each says what is wrong where
it is wrong, without contradicting itself, and no message carries a raw terminal escape."""

from __future__ import annotations

import pytest

from abl.spec.emit.text import render_text
from abl.spec.frontend import compile_text

HEAD = ('experiment "x"\n'
        "seed 0\n"
        "stimuli train = digits split train\n"
        "stimuli test = digits split test\n"
        "model net = train mlp [64, 32, 10] on train epochs 1\n")


def lint(text: str):
    return list(compile_text(text, "spec.abl").diagnostics)


def test_a_unit_set_used_above_its_declaration_says_where_it_is_declared():
    text = (HEAD + "units hot7 = top 5 by activation for class 7 in fc2 on train\n"   # line 6
            "measure accuracy on test ablating rand5\n"                               # line 7
            "expect drop of accuracy on test ablating hot7 > drop ablating rand5\n"   # line 8
            "units rand5 = random 5 in fc2\n")                                        # line 9
    found = lint(text)
    late = [d for d in found if d.code == "E201"]
    assert [d.span.line for d in late] == [7, 8]
    assert all(d.message == "`rand5` is declared on line 9, after its first use on line 7" for d in late)
    assert "move line 9 above line 7" in late[0].help
    assert not [d for d in found if d.code == "W501"], "no 'never used' for a set that is used too early"


def test_a_name_never_declared_is_still_undefined():
    found = lint(HEAD + "measure accuracy on test ablating rand5\n")
    assert [d.message for d in found if d.code == "E201"] == ["undefined unit set `rand5`"]


@pytest.mark.parametrize("written, meant", [("=>", ">="), ("=", "=="), ("=<", "<=")])
def test_a_mistyped_comparison_lists_the_operators_first_and_says_which_was_meant(written, meant):
    found = lint(HEAD + f"expect accuracy on test {written} 95%\n")
    assert [d.code for d in found] == ["E101"]
    assert found[0].message.startswith("unexpected `=`, expected a comparison (`>`, `>=`")
    assert found[0].help == f"did you mean `{meant}`?"


@pytest.mark.parametrize("declaration, name", [
    ("units top = random 5 in fc2", "top"),
    ("units random = top 5 by activation in fc2", "random"),
    ("units all = all in fc2", "all"),
    ("model train = train mlp [64, 10] on train epochs 1", "train"),
])
def test_a_keyword_as_a_declared_name_is_refused_at_its_declaration(declaration, name):
    found = [d for d in lint(HEAD + declaration + "\n") if d.code == "E207"]
    assert len(found) == 1 and found[0].span.line == 6
    assert found[0].message.startswith(f"`{name}` is a keyword of the language")
    assert found[0].span.column == declaration.index(name, 6) + 1


def test_names_that_are_keywords_elsewhere_but_harmless_stay_allowed():
    # `stimuli train`, `param model` are everywhere in the examples: they never read as keywords
    text = 'param model = "net"\n' + HEAD + "units cells = random 5 in fc2\nmeasure accuracy on train ablating cells\n"
    assert not [d for d in lint(text) if d.is_error]


def _failure_diagnostics():
    """Diagnostics of a few failure cases, front-end and run time, as the CLI builds them."""
    torch = pytest.importorskip("torch")
    from abl.interpreter.cli.common import run_error_diagnostic
    from abl.interpreter.errors import RunError

    found = lint(HEAD + "expect accuracy on test => 95%\nunits top = random 5 in fc2\n")
    found += lint(HEAD + "measure accuracy on test ablating rand5\nunits rand5 = random 5 in fc2\n")
    found += [run_error_diagnostic(RunError("model `m`: \x1b[1mbold\x1b[0m", help="\x1b[31mred\x1b[0m"), None)]
    return found, torch


def test_no_message_carries_a_raw_terminal_escape(tmp_path):
    found, torch = _failure_diagnostics()
    # a whole pickled model where a state dict belongs: torch's refusal is printed in bold
    whole = tmp_path / "whole.pt"
    torch.save(torch.nn.Sequential(torch.nn.Linear(64, 10)), whole)
    from abl.interpreter.api import Experiment
    from abl.interpreter.cli.common import run_error_diagnostic
    from abl.interpreter.errors import RunError

    spec = HEAD + f'model m = file "{whole}" arch mlp\nmeasure accuracy on test using m\n'
    with pytest.raises(RunError) as caught:
        Experiment.from_text(spec).model("m")
    found.append(run_error_diagnostic(caught.value, None))
    assert found[-1].code in ("E400", "E404")
    for diagnostic in found:
        rendered = render_text([diagnostic])
        assert "\x1b" not in rendered and "\x1b" not in (diagnostic.help or ""), rendered
