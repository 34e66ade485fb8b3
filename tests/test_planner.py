"""Planner: checked program -> plan (families expanded, names bound, classes resolved)."""

from dataclasses import dataclass
from pathlib import Path

import pytest

from abl.interpreter.plan.planner import PlanError, make_plan
from abl.interpreter.plan.specs import Corruption
from abl.spec.frontend import compile_file, compile_text

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@dataclass(frozen=True)
class FakeInfo:
    class_names: tuple
    present_classes: tuple
    input_shape: tuple | None = None


def digits_like(spec):
    names = tuple(str(i) for i in range(10))
    present = tuple(range(10))
    if spec.classes:
        present = tuple(int(c) for c in spec.classes)
    return FakeInfo(names, present, (1, 8, 8))


def plan_text(text, overrides=None):
    result = compile_text(text, "t.abl", overrides)
    assert result.program is not None, result.diagnostics
    return make_plan(result.program, digits_like)


def test_digit7_plan_shape():
    result = compile_file(str(EXAMPLES / "digit7.abl"))
    plan = make_plan(result.program, digits_like)
    assert dict(plan.stimuli)["train"].split == "train"
    net = dict(plan.models)["net"]
    assert net.widths == (64, 128, 64, 32, 10) and net.epochs == 40 and net.train_on == "train"
    hot = [m for m in plan.measures if m.intervention_label == "ablating hot7"]
    rand = [m for m in plan.measures if m.intervention_label == "ablating rand5"]
    assert len(hot) == 1 and hot[0].per_class
    # a random control is drawn afresh for every repeat
    assert sorted({m.repeat for m in rand}) == list(range(100))
    draws = {m.interventions[0].units.draw for m in rand}
    assert len(draws) == 100
    selection = hot[0].interventions[0].units
    assert (selection.kind, selection.count, selection.metric, selection.target_class,
            selection.layer, selection.stimuli) == ("ranked", 5, "activation", 7, "fc2", "train")
    kinds = [type(e).__name__ for e in plan.expectations]
    assert kinds == ["NumberClaim", "ChangeClaim", "ControlClaim"]
    assert plan.expectations[2].repeats == 100


def test_hayne_family_expansion():
    result = compile_file(str(EXAMPLES / "hayne_grid.abl"))
    plan = make_plan(result.program, digits_like)
    probes = [m for m in plan.measures if m.metric == "probe accuracy"]
    deficits = [m for m in plan.measures if m.metric == "rank deficit"]
    assert len(probes) == len(deficits) == 10 * 3 * 16
    cells = {(m.where_class, m.layer_label, m.cell) for m in deficits}
    assert len(cells) == 480
    one = deficits[0].interventions[0].units
    assert one.kind == "grid-cell" and one.rows == one.cols == 4 and one.stimuli == "probe"
    # the model alias resolves to the trained digits CNN
    assert {m.model for m in deficits} == {"digits_cnn"}


def test_set_overrides_switch_model_and_layers():
    result = compile_file(str(EXAMPLES / "hayne_grid.abl"),
                          {"model": "alexnet", "layers": "[conv1, fc6]"})
    plan = make_plan(result.program, digits_like)
    models = dict(plan.models)
    assert [m.kind for m in models.values()] == ["torchvision"]
    layers = {m.layer_label for m in plan.measures}
    assert layers == {"conv1", "fc6"}


def test_class_out_of_range_is_a_diagnostic():
    text = """experiment "x"
seed 0
stimuli s = digits split test classes [1, 2]
model m = train mlp [64, 10] on s epochs 1
units u = top 3 by activation for class 7 in fc1
measure accuracy on s ablating u
"""
    with pytest.raises(PlanError) as error:
        plan_text(text)
    (diagnostic,) = error.value.diagnostics
    assert diagnostic.code == "E402" and diagnostic.span.line == 5


def test_sweep_dims_and_keys():
    text = """experiment "x"
seed 0
stimuli train = digits split train
stimuli test = digits split test
for each alpha in [-1, 0.5]:
    model net = train cnn on train epochs 2 regularize selectivity alpha
    measure accuracy on test
    for each sigma in [0, 1]:
        stimuli blurred = test blur sigma
        measure accuracy on blurred
expect accuracy[alpha = -1] on test > accuracy[alpha = 0.5] on test
"""
    plan = plan_text(text)
    models = dict(plan.models)
    assert set(models) == {"net[alpha=-1]", "net[alpha=0.5]"}
    assert models["net[alpha=-1]"].regularize == -1.0
    blurred = {key: spec for key, spec in plan.stimuli if key.startswith("blurred")}
    assert len(blurred) == 2 and {spec.corruptions for spec in blurred.values()} == {
        (Corruption("blur", 0.0, 0),), (Corruption("blur", 1.0, 0),)}
    dims = {m.dims for m in plan.measures}
    assert (("alpha", "-1"),) in dims and (("alpha", "0.5"), ("sigma", "1")) in dims
    (expectation,) = plan.expectations
    assert expectation.lhs.dims == (("alpha", "-1"),)
    # a side names the measurements it reads: `accuracy on test` of every model of the loop (its
    # `[alpha = -1]` picks among their rows), never the blurred sets' rows
    read = [plan.measures[i] for i in expectation.lhs.measurements]
    assert {m.model for m in read} == {"net[alpha=-1]", "net[alpha=0.5]"}
    assert {m.stimuli_label for m in read} == {"test"} and expectation.rhs.measurements == expectation.lhs.measurements


def test_class_names_resolve_the_same_in_where_and_in_classes():
    """`where class == "Indian_cobra"` works wherever `classes ["Indian_cobra"]` does."""
    def snakes(spec):
        names = ("tench", "Indian cobra", "green mamba")
        return FakeInfo(names, (0, 1, 2), (3, 224, 224))

    text = ('experiment "x"\nseed 0\nstimuli s = imagefolder "photos" classes ["Indian_cobra", "tench"]\n'
            'model m = torchvision alexnet weights none\n'
            'measure accuracy on s where class == "Indian_cobra"\nmeasure accuracy on s where class == "INDIAN COBRA"\n')
    result = compile_text(text, "t.abl")
    plan = make_plan(result.program, snakes)
    assert [m.where_class for m in plan.measures] == [1]          # the same class, measured once
    with pytest.raises(PlanError, match="unknown class"):
        make_plan(compile_text(text.replace('"INDIAN COBRA"', '"king cobra"'), "t.abl").program, snakes)


@pytest.mark.parametrize("extra", [
    "measure accuracy on test mean-ablating hot\n",
    "measure accuracy per class on test ablating hot\nmeasure activation of hot on test ablating hot\n",
    "units g = grid 2x2 over selectivity, magnitude for class 3 in fc1 per element\n"
    "measure probe accuracy of g on test\n",
])
def test_the_plan_announces_the_passes_the_run_makes(extra, tmp_path):
    from abl.interpreter.api import Experiment
    from abl.interpreter.report.terminal import count_forwards

    text = ('experiment "x"\nseed 0\nstimuli train = digits split train\nstimuli test = digits split test\n'
            'model net = train mlp [64, 16, 10] on train epochs 1\n'
            'units hot = top 3 by activation for class 7 in fc1\n' + extra)
    experiment = Experiment.from_text(text, cache_dir=tmp_path, device="cpu")
    announced, _ = count_forwards(experiment.plan)
    assert announced == experiment.run().forward_passes
