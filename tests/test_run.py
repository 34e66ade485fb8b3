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
