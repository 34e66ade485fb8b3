"""`abl run` end to end on real data and models the spec trains (small epochs to stay fast)."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def abl(*args, cache):
    env = dict(os.environ, NO_COLOR="1", ABL_CACHE_DIR=str(cache))
    return subprocess.run([sys.executable, "-m", "abl.interpreter.cli", *args], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=900)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("abl-cache")


@pytest.fixture(scope="module")
def digit7_run(tmp_path_factory, cache):
    out = tmp_path_factory.mktemp("digit7") / "run"
    result = abl("run", str(EXAMPLES / "digit7.abl"), "--out", str(out), cache=cache)
    return result, out


def test_digit7_runs_and_writes_the_run_folder(digit7_run):
    result, out = digit7_run
    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stderr
    for name in ("spec.abl", "params.json", "manifest.json", "results.csv", "results.jsonl",
                 "expectations.json", "report.txt"):
        assert (out / name).exists(), name
    assert list((out / "figures").glob("*.png"))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 0 and manifest["models"]["net"]["weights_sha256"]
    assert manifest["status"] == "complete"                   # the completion marker, written last
    assert not list(out.glob(".*.tmp"))
    umask = os.umask(0)
    os.umask(umask)
    for name in ("results.csv", "manifest.json", "spec.abl"):   # written atomically, readable as usual
        assert (out / name).stat().st_mode & 0o777 == 0o666 & ~umask, name
    assert set(manifest["versions"]) >= {"abl", "torch", "python"}
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert list(rows[0])[:13] == ["measure", "stimuli", "model", "class", "layer", "units", "cell",
                                  "intervention", "repeat", "value", "ci_low", "ci_high", "n"]
    accuracy = [r for r in rows if r["measure"] == "accuracy" and not int(r["claim"])]
    assert accuracy and all(float(r["ci_low"]) <= float(r["value"]) <= float(r["ci_high"]) for r in accuracy)
    baseline = [r for r in rows if r["intervention"] == "none" and r["class"] == "" and r["measure"] == "accuracy"]
    assert float(baseline[0]["value"]) >= 0.95      # the blog's MLP reaches ~95% or more
    verdicts = json.loads((out / "expectations.json").read_text())
    assert len(verdicts) == 3 and all(v["verdict"] in ("PASS", "FAIL") for v in verdicts)
    control = verdicts[2]
    assert 0 < control["p_value"] <= 1
    assert result.returncode == (0 if all(v["verdict"] == "PASS" for v in verdicts) else 1)
    assert "accuracy per class" in result.stdout and "expectations" in result.stdout


def test_cpu_runs_are_deterministic(digit7_run, tmp_path, cache):
    _, out = digit7_run
    again = tmp_path / "again"
    result = abl("run", str(EXAMPLES / "digit7.abl"), "--out", str(again), "--no-figures", cache=cache)
    assert result.returncode in (0, 1), result.stderr
    assert (again / "results.csv").read_bytes() == (out / "results.csv").read_bytes()


def test_missing_data_path_is_a_clean_error(tmp_path, cache):
    result = abl("run", str(EXAMPLES / "hayne_grid.abl"), "--set", f"data={tmp_path / 'nowhere'}",
                 "--out", str(tmp_path / "run"), cache=cache)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "nowhere" in result.stderr


def test_model_that_does_not_fit_the_stimuli(tmp_path, cache):
    spec = tmp_path / "shape.abl"
    spec.write_text('experiment "x"\nseed 0\nstimuli s = digits split test\n'
                    'model m = torchvision resnet18 weights none\nmeasure accuracy on s\n')
    result = abl("run", str(spec), "--out", str(tmp_path / "run"), cache=cache)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "does not fit" in result.stderr or "input" in result.stderr


def test_unknown_layer_at_run_time(tmp_path, cache):
    spec = tmp_path / "layer.abl"
    spec.write_text('experiment "x"\nseed 0\nstimuli s = digits split test\n'
                    'model m = train mlp [64, 32, 10] on s epochs 1\n'
                    'units u = top 3 by activation in fc7\nmeasure accuracy on s ablating u\n')
    result = abl("run", str(spec), "--out", str(tmp_path / "run"), cache=cache)
    assert result.returncode == 2
    assert "E401" in result.stderr and "fc1" in result.stderr


def test_selections_json_lets_a_reader_re_ablate_the_same_units(digit7_run, cache):
    """Re-ablating the units listed in selections.json (the "7 units" and one of claim 3's random
    draws) through the backend reproduces the run's digit-7 accuracies exactly."""
    import numpy as np
    import torch

    from abl.interpreter.api import Experiment
    from abl.interpreter.backend.run import run_conditions
    from abl.interpreter.backend.conditions import ActivationEdit, Condition, EditMode

    result, out = digit7_run
    selections = json.loads((out / "selections.json").read_text())
    rows = list(csv.DictReader(open(out / "results.csv")))
    experiment = Experiment.from_file(EXAMPLES / "digit7.abl", cache_dir=cache, device="cpu")
    net, test = experiment.model("net"), experiment.stimuli("test")
    path = experiment.executor.model("net").resolve_layer("fc2")
    (hot,) = [s for s in selections if s["name"] == "hot7"]
    assert hot["kind"] == "ranked" and hot["class"] == 7 and len(hot["scores"]["activation"]) == 5
    draw = next(s for s in selections if s["name"] == "rand5" and s.get("claim") == 3 and s["draw"] == 17)
    sevens = test.labels == 7
    conditions = [Condition(name, (ActivationEdit(path, tuple(units["units"]["fc2"]), EditMode.ZERO),))
                  for name, units in (("hot7", hot), ("draw", draw))]
    logits = run_conditions(net, [(test.images[sevens], test.labels[sevens])], conditions)
    accuracies = [float(np.mean(l.argmax(1).numpy() == 7)) for l in logits]
    (hot_row,) = [r for r in rows if r["measure"] == "accuracy" and r["class"] == "7"
                  and r["intervention"] == "ablating hot7" and r["claim"] == "0"]
    (draw_row,) = [r for r in rows if r["measure"] == "accuracy" and r["class"] == "7"
                   and r["intervention"] == "ablating rand5" and r["claim"] == "3" and r["repeat"] == "17"]
    assert accuracies == [float(hot_row["value"]), float(draw_row["value"])]
    assert torch.equal(test.labels, experiment.stimuli("test").labels)


def test_out_refuses_a_foreign_folder_and_replaces_a_run_of_the_same_spec(tmp_path, cache):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    refused = abl("run", str(EXAMPLES / "digit7.abl"), "--out", str(foreign), "--set", "epochs=1",
                  "--no-figures", cache=cache)
    assert refused.returncode == 2 and "is not empty" in refused.stderr
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]
    spec = tmp_path / "s.abl"
    spec.write_text('experiment "x"\nseed 0\nstimuli s = digits split test\n'
                    'model m = train mlp [64, 10] on s epochs 1\nmeasure accuracy on s\n')
    out = tmp_path / "run"
    first = abl("run", str(spec), "--out", str(out), "--no-figures", cache=cache)
    assert first.returncode == 0, first.stderr
    again = abl("run", str(spec), "--out", str(out), "--no-figures", cache=cache)
    assert again.returncode == 0, again.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["command"].startswith("abl run ")
    from datetime import datetime

    started = datetime.fromisoformat(manifest["started"]).timestamp()
    assert started <= (out / "params.json").stat().st_mtime + 1      # the start, not the end


def test_every_random_control_claim_gets_its_null_distribution_figure(digit7_run):
    import matplotlib.image
    import numpy as np

    result, out = digit7_run
    verdicts = json.loads((out / "expectations.json").read_text())
    (control,) = [v for v in verdicts if v["test"] == "random control"]
    assert len(control["control_draws"]) == 100
    image = matplotlib.image.imread(out / "figures" / f"null-claim-{control['claim']}.png")[..., :3]
    observed_line = np.all(np.abs(image - np.array([0xd6, 0x27, 0x28]) / 255) < 0.05, axis=-1)
    bars = np.all(np.abs(image - np.array([0x1f, 0x77, 0xb4]) / 255) < 0.25, axis=-1)
    assert observed_line.sum() > 200 and bars.sum() > 2000


@pytest.mark.parametrize("example, overrides", [
    ("digit7", {"epochs": "2"}),
    ("hayne_grid", {}),
    ("selectivity_knob", {"epochs": "1", "seeds": "2", "alphas": "[-10, -1, 0, 1, 10]"}),
])
def test_reports_read_at_80_columns(example, overrides, cache, tmp_path):
    """No number cut short (`0.95…`) and no table printed twice, in an 80-column terminal or log."""
    import io

    from rich.console import Console
    from rich.table import Table

    from abl.interpreter.api import Experiment
    from abl.interpreter.report.terminal import render_report

    result = Experiment.from_file(EXAMPLES / f"{example}.abl", overrides=overrides, cache_dir=cache,
                                  device="cpu").run()
    report = render_report(result, [], tmp_path)

    def text(renderable) -> str:
        console = Console(file=io.StringIO(), width=80, no_color=True, force_terminal=False)
        console.print(renderable)
        return console.file.getvalue()

    assert "…" not in text(report)
    tables = [text(part) for part in report.renderables if isinstance(part, Table)]
    assert tables and len(tables) == len(set(tables))
    assert max(len(line) for line in text(report).splitlines()) <= 80


NATURAL_HEAD = ('experiment "x"\nseed 0\nstimuli train = digits split train\nstimuli test = digits split test\n'
                'model net = train mlp [64, 32, 10] on train epochs 2\n')
NATURAL_CLAIMS = {
    "sweep member under an intervention": "units hot = top 3 by activation for class 7 in fc1\n"
        "for each s in [0.5, 2]:\n    measure accuracy on test scaling hot by s\n"
        "expect accuracy[s = 2] on test < accuracy[s = 0.5] on test\n",
    "claim inside a class x layer block": "for each class c in [3, 7], each layer L in [fc1, fc2]:\n"
        "    units hi = top 3 by activation for class c in L\n"
        "    measure accuracy on test where class == c ablating hi\n"
        "    expect accuracy on test where class == c drops by at least 1% ablating hi\n",
    "logits of two classes": "measure logit of class 3 on test\nmeasure logit of class 7 on test\n"
        "expect logit of class 3 on test > logit of class 7 on test\n",
    "a probe accuracy": "units u = top 3 by activation for class 7 in fc1\nmeasure probe accuracy of u on test\n"
        "expect probe accuracy of u on test > 0.6\n",
    "mean activation of two sets": "units a = top 3 by activation for class 7 in fc1\n"
        "units b = bottom 3 by activation for class 7 in fc1\n"
        "measure activation of a on test\nmeasure activation of b on test\n"
        "expect activation of a on test > activation of b on test\n",
}


@pytest.mark.parametrize("name", list(NATURAL_CLAIMS))
def test_natural_claims_that_lint_clean_are_decided(name, cache):
    """In-process (the CLI's exit codes have tests of their own): lint clean, then a verdict."""
    from abl.interpreter.api import Experiment
    from abl.spec.frontend import compile_text

    text = NATURAL_HEAD + NATURAL_CLAIMS[name]
    diagnostics = compile_text(text, "s.abl").diagnostics
    assert not diagnostics, diagnostics                 # `abl lint` exits 0
    result = Experiment.from_text(text, cache_dir=cache, device="cpu").run()
    assert result.verdicts and all(v.detail for v in result.verdicts)


def test_a_probe_without_its_class_is_a_lint_error(tmp_path, cache):
    spec = tmp_path / "s.abl"
    spec.write_text(NATURAL_HEAD + "units u = top 3 by activation in fc1\nmeasure probe accuracy of u on test\n")
    result = abl("lint", str(spec), cache=cache)
    assert result.returncode == 1 and "E308" in result.stdout and "for class C" in result.stdout


def test_run_folder_never_writes_through_planted_symlinks(tmp_path, cache):
    spec = tmp_path / "s.abl"
    spec.write_text('experiment "x"\nseed 0\nstimuli s = digits split test\n'
                    'model m = train mlp [64, 10] on s epochs 1\nmeasure accuracy on s\n')
    out = tmp_path / "run"
    assert abl("run", str(spec), "--out", str(out), "--no-figures", cache=cache).returncode == 0
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    for name in ("results.csv", "report.txt"):
        (out / name).unlink()
        (out / name).symlink_to(victim)
    assert abl("run", str(spec), "--out", str(out), "--no-figures", cache=cache).returncode == 0
    assert victim.read_text() == "precious"
    assert not (out / "results.csv").is_symlink() and (out / "results.csv").read_text().startswith("measure,")
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"


def test_model_faults_are_user_errors_and_interruptions_leave_an_incomplete_folder(tmp_path, cache):
    import signal
    import time

    (tmp_path / "faultnets.py").write_text(
        "import torch\nfrom torch import nn\n"
        "class Raises(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.fc1 = nn.Linear(64, 10)\n    def forward(self, x):\n        raise ValueError('bad shapes')\n"
        "class Nan(Raises):\n    def forward(self, x):\n        return self.fc1(x.flatten(1)) * float('nan')\n"
        "def raises(): return Raises()\ndef nan(): return Nan()\n")
    for factory, words in (("raises", "the model's code raised ValueError: bad shapes"),
                           ("nan", "non-finite outputs")):
        spec = tmp_path / f"{factory}.abl"
        spec.write_text(f'experiment "x"\nseed 0\nstimuli s = digits split test\nmodel net = python "faultnets:{factory}"\n'
                        "units u = top 2 by activation in fc1\nmeasure accuracy on s ablating u\n")
        env = dict(os.environ, NO_COLOR="1", ABL_CACHE_DIR=str(cache))
        result = subprocess.run([sys.executable, "-m", "abl.interpreter.cli", "run", str(spec), "--out",
                                 str(tmp_path / f"run-{factory}"), "--no-figures"], capture_output=True, text=True,
                                cwd=tmp_path, env=env, timeout=300)
        assert result.returncode == 2 and words in result.stderr and "internal error" not in result.stderr
    # SIGTERM in the middle of a run: exit 143, the folder says it is not complete, no half files
    out = tmp_path / "interrupted"
    env = dict(os.environ, NO_COLOR="1", ABL_CACHE_DIR=str(cache))
    process = subprocess.Popen([sys.executable, "-m", "abl.interpreter.cli", "run", str(EXAMPLES / "hayne_grid.abl"),
                                "--out", str(out)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for _ in range(200):
        if (out / "manifest.json").exists():
            break
        time.sleep(0.05)
    time.sleep(1.0)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 143
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "interrupted" and not list(out.glob(".*.tmp"))
