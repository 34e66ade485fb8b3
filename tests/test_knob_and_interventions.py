"""Selectivity as a knob, and seed 002's interventions, run from specs."""

import pytest
import torch

from abl.interpreter.api import Experiment
from abl.interpreter.backend.hooks import hooks_left

SWEEP = """experiment "knob"
seed 0
stimuli train = digits split train
stimuli test = digits split test
for each alpha in [-1, 1]:
    model net = train cnn on train epochs 4 regularize selectivity alpha
    measure accuracy on test
    measure selectivity index in fc1 on test
    measure selectivity index in conv2 on test
    for each sigma in [1.0]:
        stimuli blurred = test blur sigma
        measure accuracy on blurred
expect selectivity index in fc1 [alpha = 1] on test > selectivity index in fc1 [alpha = -1] on test
"""


def test_mean_selectivity_moves_with_alpha(tmp_path):
    result = Experiment.from_text(SWEEP, cache_dir=tmp_path, device="cpu").run()
    rows = {(r.layer, r.dim("alpha")): r.value for r in result.table if r.measure == "selectivity index"}
    assert rows[("fc1", "1")] > rows[("fc1", "-1")]
    assert rows[("conv2", "1")] > rows[("conv2", "-1")]
    assert result.all_passed
    blurred = [r for r in result.table if r.stimuli.startswith("blurred") and r.measure == "accuracy"]
    assert {r.dim("sigma") for r in blurred} == {"1.0"} and len(blurred) == 2


EDITS = """experiment "edits"
seed 0
stimuli train = digits split train
stimuli test = digits split test
model net = train mlp [64, 32, 16, 10] on train epochs 2
units hot = top 4 by activation for class 3 in fc1
measure accuracy on test clamping hot to 5
measure accuracy on test scaling hot by 0.5
measure accuracy on test mean-ablating hot
measure accuracy on test zeroing incoming weights of hot
measure accuracy on test scaling outgoing weights of hot by 2
measure accuracy on test zeroing weight [0, 1] of fc2
measure accuracy on test ablating hot and clamping [0] in fc2 to 1
report features of hot steps 16
"""


def test_interventions_leave_the_model_as_it_was(tmp_path):
    exp = Experiment.from_text(EDITS, cache_dir=tmp_path, device="cpu")
    net = exp.model("net")
    before = {k: v.clone() for k, v in net.state_dict().items()}
    result = exp.run()
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert hooks_left(net) == []
    values = {r.intervention: r.value for r in result.table if not r.cls}
    assert len(values) == 7   # one row per intervention (no baseline was measured)
    # zeroing the incoming weights (and bias) of a ReLU unit is the same as zeroing the unit
    zero_in = values["zeroing incoming weights of hot"]
    assert 0.0 <= zero_in <= 1.0
    assert len(result.feature_images) == 4


def test_zeroing_incoming_weights_equals_ablation(tmp_path):
    text = EDITS.split("measure")[0] + ("measure accuracy per class on test zeroing incoming weights of hot\n"
                                        "measure accuracy per class on test ablating hot\n")
    result = Experiment.from_text(text, cache_dir=tmp_path, device="cpu").run()
    by = {}
    for r in result.table:
        by.setdefault(r.intervention, {})[r.cls] = r.value
    assert by["zeroing incoming weights of hot"] == by["ablating hot"]


def test_failure_mid_run_leaves_no_hooks(tmp_path):
    text = EDITS.split("measure")[0] + "measure accuracy on test ablating [999] in fc1\n"
    exp = Experiment.from_text(text, cache_dir=tmp_path, device="cpu")
    net = exp.model("net")
    before = {k: v.clone() for k, v in net.state_dict().items()}
    try:
        exp.run()
    except Exception as error:  # RunError: unit 999 does not exist
        assert "999" in str(error)
    else:
        raise AssertionError("expected a RunError")
    assert hooks_left(net) == []
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_every_unit_range_is_one_check_with_one_code(tmp_path):
    """Selections, weight edits and counts: E403 from `errors.check_range`/`check_count`, with
    the range in its help, before the network runs."""
    from abl.interpreter.errors import RunError

    for measure, message in [
        ("measure accuracy on test ablating [3, 99] in fc1", "unit 99 does not exist in layer fc1"),
        ("measure accuracy on test zeroing weight [0, 99] of fc2", "unit 99 does not exist in the"),
        ("measure accuracy on test ablating top 99 by activation in fc1", "asks for 99 units, but the layer has 32"),
    ]:
        text = EDITS.split("units")[0] + measure + "\n"
        with pytest.raises(RunError, match=message) as error:      # one cache: trained once
            Experiment.from_text(text, cache_dir=tmp_path, device="cpu").run()
        assert error.value.code == "E403"
        assert "run from 0 to" in error.value.help or "at most" in error.value.help
