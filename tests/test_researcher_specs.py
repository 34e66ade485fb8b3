"""What a researcher writes, abl runs (issue 31): TorchScript files, faults that used to end in
"internal error", report statements the checker resolves. The CLI runs in process (no torch
import per test) on tiny networks and the digits."""

import json

import pytest
import torch

from abl.interpreter.cli.main import main
from abl.interpreter.models.networks import DigitsCNN


@pytest.fixture
def cli(tmp_path, monkeypatch, capsys):
    """`cli(spec_text, *args, command="run")` -> (exit code, stdout, stderr), the spec written to
    tmp_path/spec.abl and run into tmp_path/run."""
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("ABL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    runs = []

    def run(text: str, *args: str, command: str = "run"):
        (tmp_path / "spec.abl").write_text(text)
        extra = []
        if command == "run":            # the first run's folder is tmp_path/run
            runs.append(tmp_path / ("run" if not runs else f"run{len(runs)}"))
            extra = ["--out", str(runs[-1])]
        code = main([command, str(tmp_path / "spec.abl"), *extra, *args])
        out, err = capsys.readouterr()
        return code, out, err
    return run


def assert_located(code, err, *words):
    assert code == 2, err
    assert "internal error" not in err and "Traceback" not in err, err
    for word in words:
        assert word in err, (word, err)


# ---- 1. TorchScript -------------------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_a_torchscript_file_measures_like_its_state_dict(cli, tmp_path):
    torch.manual_seed(0)
    net = DigitsCNN(1, 8, 10, (4, 8, 16)).eval()
    torch.save(net.state_dict(), tmp_path / "net.pt")
    torch.jit.save(torch.jit.script(net), tmp_path / "net.ts")
    head = ('experiment "ts"\nseed 0\nstimuli test = digits split test\nmodel scripted = file "net.ts"\n'
            'model plain = file "net.pt" arch cnn\n')
    code, _, err = cli(head + "measure accuracy per class on test using scripted\n"
                       "measure accuracy per class on test using plain\n", "--no-figures")
    assert code == 0, err
    rows = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    by_model = {}
    for row in rows:
        if row["measure"] == "accuracy" and row["class"]:
            by_model.setdefault(row["model"], {})[row["class"]] = row["value"]
    assert len(by_model["scripted"]) == 10 and by_model["scripted"] == by_model["plain"]
    # its layers cannot be hooked: a located error naming the model and the layer, not a crash
    code, _, err = cli(head + "units u = [0, 1] in fc1\nmeasure accuracy on test using scripted ablating u\n")
    assert_located(code, err, "spec.abl:", "is TorchScript", "`fc1`")


@pytest.mark.parametrize("model", ["torchvision resnet18 weights none", 'python "abl_test_net32:make"'])
def test_a_model_that_does_not_read_the_stimuli_is_told_before_the_memory_estimate(cli, tmp_path, model):
    (tmp_path / "abl_test_net32.py").write_text(
        "import torch\ndef make():\n    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(),"
        " torch.nn.Linear(4 * 30 * 30, 10))\n")
    spec = f'experiment "x"\nseed 0\nstimuli test = digits split test\nmodel m = {model}\nmeasure accuracy on test\n'
    code, _, err = cli(spec)
    assert_located(code, err, "spec.abl:4:", "does not fit stimuli `test`")


# ---- 2. faults that reached "internal error" --------------------------------------------------------
HEAD = 'experiment "x"\nseed 0\nstimuli test = digits split test\n'


def test_a_selectivity_index_on_one_class_is_refused_by_lint_and_located_at_run_time(cli):
    one = HEAD + ("stimuli three = digits split test classes [3]\n"
                  "model m = train mlp [64, 8, 10] on test epochs 1\n")
    code, err, _ = cli(one + "measure selectivity index in fc1 on three\n", command="lint")
    assert code == 1 and "spec.abl:6:9: E308" in err and "at least two classes" in err and "only class 3" in err, err
    # a stimuli set drawn from the one-class set: lint cannot see its classes, the run says it
    code, _, err = cli(one + "stimuli few = three per class 5\nmeasure selectivity index in fc1 on few\n")
    assert_located(code, err, "spec.abl:7:9:", "at least two classes", "only class 3")


def test_a_network_larger_than_the_machine_is_named_with_its_size(cli):
    code, _, err = cli(HEAD + "model m = train mlp [64, 1000000000, 10] on test epochs 1\nmeasure accuracy on test\n")
    assert_located(code, err, "spec.abl:4:1:", "model `m` is too large", "75,000,000,010 parameters",
                   "memory budget")


def test_an_allocation_that_fails_is_said_with_the_statement():
    from abl.interpreter.models.checks import out_of_memory
    from abl.interpreter.plan.specs import ModelSpec

    spec = ModelSpec("m", "train", arch="cnn")
    error = RuntimeError("[enforce fail] err == 0. DefaultCPUAllocator: can't allocate memory: you tried to "
                         "allocate 256000000000 bytes. Error code 12 (Cannot allocate memory)")
    located = out_of_memory(spec, error, torch.device("cpu"), 256 * 1024 ** 2)
    assert "model `m` is too large" in located.message and "238.4 GiB" in located.message
    assert out_of_memory(spec, RuntimeError("shapes cannot be multiplied"), torch.device("cpu"), 1) is None


def test_a_set_value_nested_past_the_limit_names_the_flag(cli):
    deep = "[" * 3000 + "]" * 3000
    code, _, err = cli(HEAD.replace("seed 0\n", "seed 0\nparam e = [1]\n") +
                       "model m = train mlp [64, 8, 10] on test epochs 1\nmeasure accuracy on test\n",
                       "--set", f"e={deep}")
    assert_located(code, err, "spec.abl:3:11: E104", "`--set e=...` nests brackets 3000 deep", "at most 64")


@pytest.mark.parametrize("where", ["seed {}", "model m = train mlp [64, 8, 10] on test epochs 1 seed {}"])
def test_a_seed_past_numpy_and_torch_is_a_lint_error_naming_the_range(cli, where):
    text = HEAD + "model m = train mlp [64, 8, 10] on test epochs 1\nmeasure accuracy on test\n"
    line = where.format(18446744073709551617)
    text = text.replace("seed 0", line) if line.startswith("seed") else text.replace(
        "model m = train mlp [64, 8, 10] on test epochs 1", line)
    code, err, _ = cli(text, command="lint")      # lint writes its diagnostics to stdout
    assert code == 1 and "E301" in err and "at most 4294967295, not 18446744073709551617" in err, err
    assert "seeds run from 0 to 4294967295" in err


# ---- 3. reports resolved before any work ---------------------------------------------------------------
SWEEP = HEAD + ("model m = train mlp [64, 16, 10] on test epochs 1\n"
                "units hot3 = top 3 by selectivity for class 3 in fc1\n"
                "for each v in [0, 1, 5, 20]:\n"
                "    measure probability of class 3 on test clamping hot3 to v\n")


def test_a_report_finds_the_one_measurement_its_metric_names(cli, tmp_path):
    code, _, err = cli(SWEEP + "report curve probability by v\n")
    assert code == 0, err
    assert [p.name for p in (tmp_path / "run" / "figures").glob("*.png")] == ["curve-probability-of-class-3-by-v.png"]


def test_a_report_of_nothing_measured_is_a_lint_error_and_an_ambiguous_one_a_plan_error(cli):
    code, out, _ = cli(SWEEP + "report curve accuraccy by v\n", command="lint")
    assert code == 1 and "E302" in out and "did you mean `accuracy`?" in out, out
    code, out, _ = cli(SWEEP + "report curve accuracy by v\n", command="lint")
    assert code == 1 and "spec.abl:8:14: E317" in out and "never measures" in out and "`probability`" in out, out
    code, out, _ = cli(SWEEP + "report curve probabilty by v\n", command="lint")
    assert code == 1 and "did you mean `probability`?" in out, out
    both = SWEEP + "measure probability of class 5 on test\n"
    code, out, err = cli(both + "report bars probability\n", command="plan")
    assert code == 2 and "E317" in out + err and "`probability of class 3`, `probability of class 5`" in out + err
    code, out, err = cli(both + "report bars probability of class 5\n", command="plan")
    assert code == 0, out + err


# ---- 4. a class x layer heatmap without a grid -----------------------------------------------------------
def test_a_heatmap_by_class_x_layer_of_a_family_without_a_grid(cli, tmp_path):
    from types import SimpleNamespace

    from abl.interpreter.report.matrix import matrix_rows, matrix_values

    family = HEAD + ("model m = train mlp [64, 16, 16, 10] on test epochs 1\n"
                     "for each class c in [3, 7], each layer L in [fc1, fc2]:\n"
                     "    units sel = top 3 by selectivity for class c in L\n"
                     "    measure rank deficit on test where class == c ablating sel\n")
    code, out, err = cli(family + "report heatmap rank deficit by layer x class\n")
    assert code == 0, err
    assert "mean rank deficit per layer x class" in out and "no grid rows" not in out
    figures = sorted(p.name for p in (tmp_path / "run" / "figures").iterdir())
    assert figures == ["heatmap-rank-deficit-by-layer-x-class.png", "heatmap-rank-deficit-by-layer-x-class.svg"]
    table = [SimpleNamespace(measure=r["measure"], cls=r["class"], layer=r["layer"], cell=r["cell"] or None,
                             value=r["value"], model=r["model"])
             for r in map(json.loads, (tmp_path / "run" / "results.jsonl").read_text().splitlines())]
    rows = matrix_rows(table, "rank deficit")
    assert len(rows) == 4
    names, columns, grid = matrix_values(rows, ("layer", "class"))
    assert names == ["fc1", "fc2"] and columns == ["3", "7"]
    for row in rows:       # one value per class and layer, each the measured one
        assert grid[names.index(row.layer), columns.index(row.cls)] == row.value


# ---- 5. forms the language refused ------------------------------------------------------------------------
def trained_mlp(tmp_path):
    """(the digits test set, `train mlp [64, 16, 10] on test epochs 1` as the run trained it)."""
    from abl.interpreter.data.stimuli import load_stimuli
    from abl.interpreter.models.build import build_model
    from abl.interpreter.plan.specs import ModelSpec, StimuliSpec
    from abl.interpreter.progress import SilentProgress

    test = load_stimuli(StimuliSpec("test", "digits", split="test"))
    net = build_model(ModelSpec("m", "train", arch="mlp", widths=(64, 16, 10), train_on="test", epochs=1, seed=0),
                      {"test": test}, SilentProgress(), tmp_path / "cache").module
    return test, net.eval()


def ablated_accuracy(test, net, units) -> float:
    """Plain torch: zero `units` of fc1's output, the share of images classified right."""
    def zero(module, inputs, output):
        output = output.clone()
        output[:, list(units)] = 0
        return output

    handle = net.fc1.register_forward_hook(zero)
    try:
        with torch.no_grad():
            return float((net(test.images).argmax(1) == test.labels).double().mean())
    finally:
        handle.remove()


def test_a_share_of_a_layers_units_rounds_halves_up_and_matches_plain_torch(cli, tmp_path):
    from types import SimpleNamespace

    from abl.interpreter.plan.units import unit_count
    from abl.interpreter.selectivity import class_selectivity_index

    share = lambda p: SimpleNamespace(fraction=p, count=0)  # noqa: E731
    assert [unit_count(share(p), n) for p, n in [(0.1, 16), (0.25, 10), (0.01, 16), (1.0, 7), (0.15, 10)]] == \
        [2, 3, 1, 7, 2]
    code, _, err = cli(HEAD + "model m = train mlp [64, 16, 10] on test epochs 1\n"
                       "units tenth = top 10% by selectivity index in fc1\nunits low = bottom 25% by activation in fc1\n"
                       "units some = random 30% in fc1\nmeasure accuracy on test ablating tenth\n"
                       "measure accuracy on test ablating low\nmeasure accuracy on test ablating some\n", "--no-figures")
    assert code == 0, err
    records = {r["name"]: r for r in json.loads((tmp_path / "run" / "selections.json").read_text())}
    assert (records["tenth"]["percent"], records["tenth"]["count"]) == (10, 2)       # 1.6 of 16 units
    assert (records["low"]["count"], records["some"]["count"]) == (4, 5)             # 4.0 and 4.8
    assert len(records["some"]["units"]["fc1"]) == 5
    # the top 10% by selectivity index, recomputed with plain torch from the trained network
    test, net = trained_mlp(tmp_path)
    with torch.no_grad():
        hidden = net.fc1(test.images.flatten(1))          # Linear + ReLU
    means = torch.stack([hidden[test.labels == c].mean(0) for c in range(10)]).numpy()
    index = class_selectivity_index(means)
    assert sorted(records["tenth"]["units"]["fc1"]) == sorted(int(u) for u in (-index).argsort(kind="stable")[:2])
    code, out, _ = cli(HEAD + "units bad = top 0% by activation in fc1\nmeasure accuracy on test ablating bad\n",
                       command="lint")
    assert code == 1 and "E301" in out and "(0%, 100%]" in out


def test_an_offset_after_an_intervention_on_the_right_side(cli, tmp_path):
    head = HEAD + ("model m = train mlp [64, 16, 10] on test epochs 1\nunits a = [0, 1] in fc1\n"
                   "units b = [2, 3, 4, 5] in fc1\n")
    claim = "expect accuracy on test ablating a >= accuracy on test ablating b - 5%\n"
    code, out, err = cli(head + claim, "--check", command="fmt")
    assert code == 0, out + err                           # already in canonical form: `- 5%` kept
    code, out, _ = cli(head + claim, "--ignore", "W507", command="lint")     # trained on test: on purpose
    assert code == 0 and "unexpected" not in out, out
    code, _, err = cli(head + claim + "expect accuracy on test ablating b <= accuracy on test ablating a + 0.5\n",
                       "--no-figures")
    assert code in (0, 1) and "internal error" not in err, err
    verdict = json.loads((tmp_path / "run" / "expectations.json").read_text())[0]
    test, net = trained_mlp(tmp_path)
    assert verdict["observed"] == pytest.approx(ablated_accuracy(test, net, [0, 1]), abs=1e-9)
    assert verdict["reference"] == pytest.approx(ablated_accuracy(test, net, [2, 3, 4, 5]) - 0.05, abs=1e-9)


def test_an_inline_selection_followed_by_on_and_fit_on_is_the_measurements_stimuli(cli, tmp_path):
    head = ('experiment "x"\nseed 0\nstimuli train = digits split train\nstimuli test = digits split test\n'
            "model m = train mlp [64, 16, 16, 10] on train epochs 1\n"
            "units s = top 8 by selectivity for class 3 in fc2\n")
    inline = "measure probe accuracy of top 8 by selectivity for class 3 in fc2 on test fit on train\n"
    code, _, err = cli(head + inline + "measure probe accuracy of s on test fit on train\n", "--no-figures")
    assert code == 0, err
    rows = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    probes = {row["units"]: row for row in rows if row["measure"] == "probe accuracy"}
    written, named = probes["top 8 by selectivity for class 3 in fc2"], probes["s"]
    assert (written["stimuli"], written["fit_on"], written["n"]) == ("test", "train", 540)
    assert written["value"] == named["value"]              # the same units, the same probe
    selections = {r["name"]: r for r in json.loads((tmp_path / "run" / "selections.json").read_text())}
    assert selections["top 8 by selectivity for class 3 in fc2"]["units"] == selections["s"]["units"]
    code, out, _ = cli(head + "measure accuracy\n", command="lint")
    assert code == 1 and "spec.abl:7:17: E101" in out and "expected `on STIMULI`" in out, out


def test_where_class_not_is_every_other_class_and_matches_plain_torch(cli, tmp_path):
    units = "units sel = [0, 1, 2, 3, 4] in fc1\n"
    spec = HEAD + ("model m = train mlp [64, 16, 10] on test epochs 1\n" + units +
                   "measure rank deficit on test where class != 3 ablating sel\n"
                   "measure accuracy on test where class != 3\n")
    code, out, err = cli(spec, "--check", command="fmt")
    assert code == 0, out + err
    code, _, err = cli(spec, "--no-figures")
    assert code == 0, err
    rows = {r["measure"]: r for r in map(json.loads, (tmp_path / "run" / "results.jsonl").read_text().splitlines())
            if r["class"] == "not 3"}
    test, net = trained_mlp(tmp_path)
    others = test.labels != 3

    def ranks(logits):
        true = logits.gather(1, test.labels[:, None])
        return 1 + (logits > true).sum(1)

    with torch.no_grad():
        base = net(test.images)
        handle = net.fc1.register_forward_hook(lambda m, i, o: o * (torch.arange(o.shape[1]) >= 5))
        ablated = net(test.images)
        handle.remove()
    deficit = (ranks(ablated) - ranks(base)).clamp(min=0)[others].double().mean()
    assert rows["rank deficit"]["n"] == int(others.sum()) == rows["accuracy"]["n"]
    assert rows["rank deficit"]["value"] == pytest.approx(float(deficit), abs=1e-9)
    assert rows["accuracy"]["value"] == pytest.approx(float((base.argmax(1) == test.labels)[others].double().mean()))
    code, out, _ = cli(HEAD + units + "measure activation of sel on test where class != 3\n", command="lint")
    assert code == 1 and "E315" in out and "`where class !=` does not apply to activation" in out, out


def test_activation_of_a_layer_per_class_is_one_row_per_class_as_plain_torch(cli, tmp_path):
    code, _, err = cli(HEAD + "model m = train mlp [64, 16, 10] on test epochs 1\n"
                       "measure activation of fc1 per class on test\n", "--no-figures")
    assert code == 0, err
    rows = [r for r in map(json.loads, (tmp_path / "run" / "results.jsonl").read_text().splitlines())
            if r["measure"] == "activation"]
    assert [r["class"] for r in rows] == [""] + [str(c) for c in range(10)]
    test, net = trained_mlp(tmp_path)
    with torch.no_grad():
        hidden = net.fc1(test.images.flatten(1)).double()
    assert rows[0]["value"] == pytest.approx(float(hidden.mean()), abs=1e-6)
    for row in rows[1:]:
        mine = test.labels == int(row["class"])
        assert row["n"] == int(mine.sum())
        assert row["value"] == pytest.approx(float(hidden[mine].mean()), abs=1e-6)
