"""Controls a reviewer accepts (issue 35): random draws from a stated pool (`among live`, `from SET`),
dead units counted and a control of dead units flagged; checked against plain torch."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

from abl.interpreter.api import Experiment

DEAD = list(range(0, 64, 2)) + [63]         # 33 of 64 hidden units never fire: their bias is -1e4

NET = f'''
from collections import OrderedDict
import torch
from torch import nn

def make():
    torch.manual_seed(0)
    net = nn.Sequential(OrderedDict(flat=nn.Flatten(), fc=nn.Linear(64, 64), act=nn.ReLU(),
                                    out=nn.Linear(64, 10)))
    with torch.no_grad():
        net.fc.bias[{DEAD}] = -1e4
    return net
'''

SPEC = '''experiment "dead units"
seed 0
stimuli test = digits split test
model net = python "deadnet:make"
units sel = top 16 by selectivity index in act on test
units rnd = random 16 in act
units live = random 16 in act among live
units spare = random 4 from (sel - (top 4 by selectivity index in act on test))
measure accuracy on test ablating spare
units sel4 = top 4 by selectivity index in act on test
units matched = random 4 in act matching sel4 by magnitude
measure accuracy on test ablating matched
expect drop of accuracy on test ablating sel > drop ablating rnd repeats 12
expect drop of accuracy on test ablating sel > drop ablating live repeats 12
'''


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("controls")
    (folder / "deadnet.py").write_text(NET)
    sys.path.insert(0, str(folder))
    try:
        experiment = Experiment.from_text(SPEC, cache_dir=folder)
        result = experiment.run()
        yield experiment, result
    finally:
        sys.path.remove(str(folder))


@pytest.fixture(scope="module")
def plain(run):
    """The network, its test images and labels, and each hidden unit's count of active images."""
    experiment, _ = run
    net = experiment.model("net")
    stimuli = experiment.stimuli("test")
    images, labels = torch.as_tensor(stimuli.images).float(), torch.as_tensor(stimuli.labels)
    with torch.no_grad():
        active = (torch.relu(net.fc(net.flat(images))).abs() > 1e-6).sum(0).numpy()
    return net, images, labels, active


def _accuracy(net, images, labels, units=()):
    hidden = torch.relu(net.fc(net.flat(images)))
    hidden[:, list(units)] = 0
    return float((net.out(hidden).argmax(1) == labels).double().mean())


def test_dead_units_are_counted_per_layer_and_a_control_of_dead_units_is_flagged(run, plain):
    _, result = run
    active, n = plain[3], len(plain[2])
    dead, rare = int((active == 0).sum()), int(((active > 0) & (active < max(1, np.ceil(0.01 * n)))).sum())
    assert dead >= len(DEAD)
    records = [r for r in result.selections if r["name"] == "rnd"]
    assert records and all(r["dead_units"] == {"act": dead} and r["rarely_active_units"] == {"act": rare}
                           and r["layer_units"] == {"act": 64} for r in records)
    assert any(f"{dead} of 64 units are dead" in note for note in result.notes)
    flagged = [note for note in result.notes if "among live" in note]
    assert len(flagged) == 1 and "ablating rnd" in flagged[0] and "0% dead units" in flagged[0]
    assert all(r["dead_share"] == 0.0 for r in result.selections if r["name"] in ("sel", "live"))


def test_among_live_draws_only_live_units_and_its_p_is_a_plain_computation(run, plain):
    from abl.interpreter.plan.planner import selection_seed

    _, result = run
    net, images, labels, active = plain
    with torch.no_grad():
        live = np.flatnonzero(active >= max(1, int(np.ceil(0.01 * len(labels)))))
        assert not set(DEAD) & set(live.tolist())
        base = _accuracy(net, images, labels)
        sel = next(r for r in result.selections if r["name"] == "sel")["units"]["act"]
        observed = base - _accuracy(net, images, labels, sel)
        draws = sorted({m.interventions[0].units for m in result.plan.measures
                        if m.claim == 2 and m.interventions}, key=lambda s: s.draw)
        assert len(draws) == 12
        controls = []
        for selection in draws:
            rng = np.random.default_rng(selection_seed(selection))
            units = sorted(int(live[i]) for i in rng.choice(len(live), 16, replace=False))
            recorded = next(r for r in result.selections if r["name"] == "live" and r["draw"] == selection.draw)
            assert recorded["units"]["act"] == units and recorded["among"] == "live"
            controls.append(base - _accuracy(net, images, labels, units))
    verdict = result.verdicts[1]
    assert verdict.controls == pytest.approx(controls, abs=1e-12)
    assert verdict.observed == pytest.approx(observed, abs=1e-12)
    assert verdict.p_value == pytest.approx((1 + sum(c >= observed for c in controls)) / (len(controls) + 1))


def test_a_matched_control_draws_each_unit_from_its_partners_magnitude_decile(run, plain):
    from abl.interpreter.plan.planner import selection_seed

    _, result = run
    net, images, labels, _ = plain
    with torch.no_grad():
        magnitude = torch.relu(net.fc(net.flat(images))).double().mean(0).numpy()
    bins = np.array_split(np.lexsort((np.arange(64), magnitude)), 10)
    bin_of = {int(u): b for b, members in enumerate(bins) for u in members}
    sel = sorted(next(r for r in result.selections if r["name"] == "sel4")["units"]["act"])
    selection = next(m.interventions[0].units for m in result.plan.measures
                     if m.interventions and m.interventions[0].units.name == "matched")
    rng = np.random.default_rng(selection_seed(selection))
    taken, expected = set(sel), []
    for unit in sel:
        for b in sorted(range(10), key=lambda b: (abs(b - bin_of[unit]), b)):
            candidates = sorted(int(u) for u in bins[b] if int(u) not in taken)
            if candidates:
                break
        expected.append(candidates[int(rng.integers(len(candidates)))])
        taken.add(expected[-1])
    matched = next(r for r in result.selections if r["name"] == "matched")["units"]["act"]
    assert matched == sorted(expected) and not set(matched) & set(sel)


def test_random_from_a_set_draws_within_it(run):
    _, result = run
    sel = set(next(r for r in result.selections if r["name"] == "sel")["units"]["act"])
    spare = next(r for r in result.selections if r["name"] == "spare")
    assert spare["kind"] == "random-from" and len(spare["units"]["act"]) == 4
    assert set(spare["units"]["act"]) <= sel
    json.dumps(result.selections)


def test_the_new_forms_round_trip_through_fmt():
    from abl.spec.fmt import format_text

    text = ("units a = random 16 in act among live\nunits b = random 4 from (sel - c)\n"
            "units d = random 10% from g\nunits e = random 16 in act matching (a | b) by magnitude\n")
    assert format_text(text).text == text


OFF_TARGET = '''experiment "off target"
seed 0
stimuli test = digits split test
model net = python "deadnet:make"
for each class c in [3, 7]:
    units sel = top 6 by selectivity for class c in act on test
    measure accuracy on test where class == c ablating sel
    expect drop of accuracy[class c] on test ablating sel > drop of accuracy[class != c] on test ablating sel
'''


@pytest.fixture(scope="module")
def off_target(run, tmp_path_factory):
    folder = tmp_path_factory.mktemp("off")
    (folder / "deadnet.py").write_text(NET)
    sys.path.insert(0, str(folder))
    try:
        experiment = Experiment.from_text(OFF_TARGET, cache_dir=folder)
        yield experiment, experiment.run()
    finally:
        sys.path.remove(str(folder))


def test_an_off_target_claim_is_the_class_against_the_other_classes_mean_as_plain_torch_says(off_target, plain):
    from abl.interpreter.run.off_target import class_contrast_test
    from abl.interpreter.run.statistics import stream_seed

    experiment, result = off_target
    net, images, labels, _ = plain
    with torch.no_grad():
        hidden = torch.relu(net.fc(net.flat(images)))
        before = (net.out(hidden).argmax(1) == labels).double()
        for number, c in enumerate([3, 7], start=1):
            sel = next(r for r in result.selections if r["name"] == "sel" and r["class"] == c)["units"]["act"]
            ablated = hidden.clone()
            ablated[:, sel] = 0
            drops = (before - (net.out(ablated).argmax(1) == labels).double()).numpy()
            target = drops[labels.numpy() == c]
            others = [drops[labels.numpy() == k] for k in range(10) if k != c]
            verdict = result.verdicts[number - 1]
            assert verdict.observed == pytest.approx(target.mean(), abs=1e-12)
            assert verdict.reference == pytest.approx(np.mean([o.mean() for o in others]), abs=1e-12)
            assert verdict.test == "stratified bootstrap" and verdict.n == len(labels)
            test = class_contrast_test(target, others, ">", 0.0, 0.05, experiment.plan.resamples,
                                       stream_seed(experiment.plan.seed, "claim", number))
            assert verdict.p_value == pytest.approx(test.p_value)
            assert verdict.ci_low is not None and verdict.ci_low <= verdict.effect


def test_class_not_c_is_refused_on_the_left_and_round_trips():
    from abl.spec.fmt import format_text
    from abl.spec.frontend import compile_text

    line = "expect drop of accuracy[class 3] on test ablating s > drop of accuracy[class != 3] on test ablating s\n"
    assert format_text(line).text == line
    bad = ('stimuli test = digits split test\nmodel net = python "deadnet:make"\nunits s = random 3 in act\n'
           "expect drop of accuracy[class != 3] on test ablating s > drop of accuracy[class 3] on test ablating s\n")
    codes = [d.code for d in compile_text(bad).diagnostics]
    assert "E315" in codes


PATCHING = '''experiment "patching"
seed 0
stimuli test = digits split test
stimuli noisy = test noise 0.5
model net = python "deadnet:make"
units some = [1, 3, 5, 7, 9, 11, 40, 41] in act
measure accuracy on test patching some from noisy
measure accuracy on test where class == 3 patching some from noisy
measure activation of some on test patching some from noisy
'''


def test_patching_sets_the_units_to_their_values_on_the_paired_images(run, plain, tmp_path):
    net, _, _, _ = plain
    (tmp_path / "deadnet.py").write_text(NET)
    sys.path.insert(0, str(tmp_path))
    try:
        experiment = Experiment.from_text(PATCHING, cache_dir=tmp_path)
        result = experiment.run()
    finally:
        sys.path.remove(str(tmp_path))
    net = experiment.model("net")
    test, noisy = experiment.stimuli("test"), experiment.stimuli("noisy")
    images, labels = torch.as_tensor(test.images).float(), torch.as_tensor(test.labels)
    units = [1, 3, 5, 7, 9, 11, 40, 41]
    with torch.no_grad():
        source = torch.relu(net.fc(net.flat(torch.as_tensor(noisy.images).float())))     # pass 1
        hidden = torch.relu(net.fc(net.flat(images)))                                     # pass 2, patched
        hidden[:, units] = source[:, units]
        correct = (net.out(hidden).argmax(1) == labels).double().numpy()
    assert not torch.equal(source[:, units], torch.relu(net.fc(net.flat(images)))[:, units])
    activation = [row.value for row in result.table.rows if row.measure == "activation"]
    assert activation[0] == pytest.approx(float(source[:, units].mean()), rel=1e-5)
    rows = {row.cls: row.value for row in result.table.rows if row.measure == "accuracy"}
    assert rows[""] == pytest.approx(correct.mean(), abs=1e-12)
    assert rows["3"] == pytest.approx(correct[labels.numpy() == 3].mean(), abs=1e-12)


def test_patching_round_trips_and_needs_declared_stimuli():
    from abl.spec.fmt import format_text
    from abl.spec.frontend import compile_text

    line = "measure accuracy on test patching (a | b) from noisy\n"
    assert format_text(line).text == line
    models = ('model a = file "w.pt" arch python "mynet:SmallCNN"\n'
              'model b = python "mynet:factory" with width=64, act=relu, weights="w.pt"\n')
    assert format_text(models).text == models
    bad = ('stimuli test = digits split test\nmodel net = python "deadnet:make"\nunits s = [1] in act\n'
           "measure accuracy on test patching s from nowhere\n")
    assert "E201" in [d.code for d in compile_text(bad).diagnostics]


ATTRIBUTION = '''experiment "attribution"
seed 0
stimuli test = digits split test
model net = python "deadnet:make"
units cond = top 5 by conductance for class 3 in act on test
units ig = top 5 by integrated gradients for class 3 in act on test
measure accuracy on test ablating cond
measure accuracy on test ablating ig
'''


def test_attribution_rules_rank_units_as_captum_called_directly(plain, tmp_path):
    captum_attr = pytest.importorskip("captum.attr")
    (tmp_path / "deadnet.py").write_text(NET)
    sys.path.insert(0, str(tmp_path))
    try:
        experiment = Experiment.from_text(ATTRIBUTION, cache_dir=tmp_path)
        result = experiment.run()
    finally:
        sys.path.remove(str(tmp_path))
    net = experiment.model("net")
    test = experiment.stimuli("test")
    images = torch.as_tensor(test.images).float()[torch.as_tensor(test.labels) == 3]
    for name, method in (("cond", captum_attr.LayerConductance), ("ig", captum_attr.LayerIntegratedGradients)):
        values = method(net, net.act).attribute(images, baselines=torch.zeros_like(images), target=3, n_steps=50)
        scores = values.double().mean(0).detach().numpy()
        top = np.lexsort((np.arange(64), -scores))[:5]
        record = next(r for r in result.selections if r["name"] == name)
        assert record["units"]["act"] == sorted(int(i) for i in top)
        assert record["scores"][record["metric"]] == pytest.approx([float(scores[i]) for i in sorted(top)], abs=2e-6)
        assert record["attribution"]["baseline"] == "zeros" and record["attribution"]["steps"] == 50
        assert record["attribution"]["images"] == len(images)


def test_a_missing_captum_says_which_extra_to_install(monkeypatch):
    from abl.interpreter.errors import RunError
    from abl.interpreter.run.attribution import unit_attributions

    monkeypatch.setitem(sys.modules, "captum.attr", None)
    net = torch.nn.Sequential(torch.nn.Linear(2, 3))
    with pytest.raises(RunError, match=r"abl\[attribution\]"):
        unit_attributions(net, net[0], torch.zeros(1, 2), "conductance", 0)


EXEMPLARS = '''experiment "exemplars"
seed 0
stimuli test = digits split test
model net = python "deadnet:make"
units few = [1, 40] in act
report exemplars few on test top 4
'''


def test_exemplars_are_each_units_most_activating_images_as_plain_torch_ranks_them(plain, tmp_path):
    import os
    import subprocess

    net, images, labels, _ = plain
    (tmp_path / "deadnet.py").write_text(NET)
    (tmp_path / "ex.abl").write_text(EXEMPLARS)
    env = dict(os.environ, NO_COLOR="1", ABL_CACHE_DIR=str(tmp_path / "cache"))
    done = subprocess.run([sys.executable, "-m", "abl.interpreter.cli", "run", "ex.abl", "--out", "out"],
                          capture_output=True, text=True, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    records = json.loads((tmp_path / "out" / "exemplars.json").read_text())
    assert [r["unit"] for r in records] == [1, 40]
    with torch.no_grad():
        hidden = torch.relu(net.fc(net.flat(images))).double().numpy()
    for record in records:
        order = np.lexsort((np.arange(len(hidden)), -hidden[:, record["unit"]]))[:4]
        assert record["images"] == [int(i) for i in order]
        assert record["activations"] == pytest.approx(hidden[order, record["unit"]], abs=1e-5)
        assert record["labels"] == [str(int(labels[i])) for i in order]
    figure = tmp_path / "out" / "figures" / "exemplars-few.png"
    assert figure.is_file() and figure.stat().st_size > 0


MYNET = '''
import torch
from torch import nn

class SmallNet(nn.Module):
    def __init__(self, width=24):
        super().__init__()
        self.flat = nn.Flatten()
        self.fc = nn.Linear(64, width)
        self.act = nn.ReLU()
        self.out = nn.Linear(width, 10)

    def forward(self, x):
        return self.out(self.act(self.fc(self.flat(x))))

def factory(width=16, scale=1.0):
    return SmallNet(width)
'''


def test_your_own_networks_from_the_specs_folder_with_keyword_arguments_and_weights(tmp_path, monkeypatch):
    from abl.interpreter.api import Experiment as Exp

    spec_dir = tmp_path / "spec"
    spec_dir.mkdir()
    (spec_dir / "mynet_i35.py").write_text(MYNET)
    sys.path.insert(0, str(spec_dir))
    try:
        import mynet_i35

        torch.manual_seed(3)
        trained = mynet_i35.SmallNet(24)
        torch.save(trained.state_dict(), spec_dir / "w.pt")
    finally:
        sys.path.remove(str(spec_dir))
        sys.modules.pop("mynet_i35", None)
    (spec_dir / "own.abl").write_text(
        'experiment "own"\nseed 0\nstimuli test = digits split test per class 5\n'
        'model a = file "w.pt" arch python "mynet_i35:SmallNet"\n'
        'model b = python "mynet_i35:factory" with width=24, scale=0.5, weights="w.pt"\n'
        "measure accuracy on test using a\nmeasure accuracy on test using b\n")
    monkeypatch.chdir(tmp_path)                 # neither the module nor the weights are here
    experiment = Exp.from_file(spec_dir / "own.abl", cache_dir=tmp_path / "cache")
    result = experiment.run()
    sys.modules.pop("mynet_i35", None)
    for key in ("a", "b"):
        built = experiment.model(key)
        assert all(torch.equal(built.state_dict()[k], v) for k, v in trained.state_dict().items())
    test = experiment.stimuli("test")
    with torch.no_grad():
        expected = float((trained(torch.as_tensor(test.images).float()).argmax(1) == test.labels).double().mean())
    assert [row.value for row in result.table.rows if row.measure == "accuracy"] == pytest.approx([expected] * 2)
