"""Checked syntax -> the resolved program the planner reads (abl.spec.resolve), alone: values are
Python values, a bare word is a loop variable exactly where a `for each` binds it, sources and
options are read, and every label keeps its text as written."""

from __future__ import annotations

from abl.spec import resolved as r
from abl.spec.frontend import compile_text

SPEC = """experiment "resolve"
seed 3
param k = 4
stimuli train = digits split train
stimuli test = digits split test per class 20
stimuli folder = "/data/photos" holdout 25%
stimuli noisy = test noise 0.5 seed 2
model net = train mlp [64, 32, 10] on train epochs 2
for each class c in [3, 7], each layer L in [fc1, fc2]:
    units hot = top $k by activation for class c in L
    measure accuracy on test where class == c ablating hot
    expect accuracy on test where class == c drops by at least 2% ablating hot repeats 10
for each alpha in [0.5, 2]:
    measure accuracy on noisy scaling [1, 2] in fc1 by alpha
report bars accuracy
"""


def program():
    result = compile_text(SPEC, "resolve.abl")
    assert result.program is not None, result.diagnostics
    return result.program


def test_header_statements_become_the_header_and_sources_are_told_apart():
    p = program()
    assert p.header.seed == 3 and p.header.experiment == "resolve"
    stimuli = {s.name: s for s in p.statements if isinstance(s, r.StimuliDecl)}
    assert stimuli["train"].source == r.Dataset("digits")
    assert stimuli["folder"].source == r.Folder("/data/photos")
    assert stimuli["noisy"].source == r.Derived("test")               # a declared set, not a dataset
    (holdout,) = stimuli["folder"].options
    assert holdout.value.value == 0.25                                # a percentage is its fraction
    noise = stimuli["noisy"].options[0]
    assert (noise.key, noise.value.value, noise.extra.value) == ("noise", 0.5, 2)
    assert not any(isinstance(s, (r.StimuliDecl, r.ModelDecl)) and s.name == "k" for s in p.statements)


def test_values_are_python_values_and_loop_variables_are_vars_only_where_bound():
    p = program()
    (model,) = [s for s in p.statements if isinstance(s, r.ModelDecl)]
    assert [w.value for w in model.expr.widths] == [64, 32, 10] and model.expr.train_on == "train"
    assert all(type(w.value) is int for w in model.expr.widths)
    grid, sweep = [s for s in p.statements if isinstance(s, r.ForBlock)]
    assert [(b.kind, b.variable) for b in grid.binders] == [("class", "c"), ("layer", "L")]
    assert [d.value for d in grid.binders[1].domain] == ["fc1", "fc2"]          # words, not variables
    units, measure, expect = grid.body
    assert units.expr.count == r.Const(4, "4")                                 # `$k` substituted
    assert units.expr.target_class == r.Var("c") and units.expr.layer == r.Var("L")
    assert measure.quantity.where_class == r.Var("c")
    assert measure.quantity.interventions[0].text == "ablating hot"
    assert measure.quantity.text == "accuracy on test where class == c ablating hot using net"  # model filled in
    assert expect.repeats == 10 and expect.significance == 0.05
    assert expect.test.amount.value == 0.02 and expect.text.startswith("expect accuracy on test")
    (scaled,) = sweep.body
    (scaling,) = scaled.quantity.interventions
    assert scaling.value == r.Var("alpha") and [i.value for i in scaling.units.indices] == [1, 2]
    assert scaling.units.layer == r.Const("fc1", "fc1", bare=True)


def test_the_plan_is_made_from_the_resolved_program_alone():
    from abl.interpreter.plan.planner import plan_program

    plan = plan_program(program())
    compiled = program()
    assert plan_program(compiled).header is compiled.header
    ablated = [m for m in plan.measures if m.stimuli_label == "test" and m.interventions]
    assert {(m.where_class, m.layer_label) for m in ablated} == {(3, "fc1"), (3, "fc2"), (7, "fc1"), (7, "fc2")}
    assert {m.intervention_label for m in plan.measures if m.stimuli_label.startswith("noisy")} == \
        {"scaling [1, 2] in fc1 by alpha"}
