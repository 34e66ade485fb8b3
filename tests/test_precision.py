"""`precision fp32|bf16|fp16`: the header setting end to end, `abl run --precision`, and what it
may and may not change (issue 26)."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from abl.spec.fmt import format_text
from abl.spec.frontend import compile_text

ROOT = Path(__file__).resolve().parent.parent

CNN = """experiment "precision check"
seed 0
device cpu
stimuli probe = digits split train
stimuli eval = digits split test
model net = train cnn on probe epochs 5
for each class c in [3, 7], each layer L in [conv2, fc1]:
    units cells = grid 2x2 over selectivity, magnitude for class c in L on probe
    measure rank deficit on eval where class == c ablating cells using net
measure accuracy per class on eval using net
"""


def abl(*args, cache, cwd=ROOT):
    env = dict(os.environ, NO_COLOR="1", ABL_CACHE_DIR=str(cache))
    return subprocess.run([sys.executable, "-m", "abl.interpreter.cli", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=900)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("abl-cache")


# ---- the language ----------------------------------------------------------------------------------
def test_precision_is_a_header_setting_with_fp32_the_default():
    assert compile_text(CNN, "a.abl").program.header.precision == "fp32"
    spec = CNN.replace("device cpu\n", "device cpu\nprecision bf16\n")
    assert compile_text(spec, "a.abl").program.header.precision == "bf16"


def test_an_unknown_or_repeated_precision_is_an_error():
    result = compile_text(CNN.replace("device cpu\n", "precision bf61\n"), "a.abl")
    assert result.program is None
    [error] = [d for d in result.diagnostics if d.code == "E307"]
    assert "unknown precision `bf61`" in error.message and "bf16" in error.help
    twice = compile_text(CNN.replace("device cpu\n", "precision bf16\nprecision fp32\n"), "a.abl")
    assert any(d.code == "E202" and "`precision` is given twice" in d.message for d in twice.diagnostics)
    nested = compile_text(CNN.replace("    measure rank", "    precision bf16\n    measure rank"), "a.abl")
    assert any(d.code == "E312" for d in nested.diagnostics)


def test_abl_fmt_keeps_precision():
    text = CNN.replace("device cpu\n", "device cpu\nprecision   bf16\n")
    formatted = format_text(text, "a.abl").text
    assert "\nprecision bf16\n" in formatted
    assert format_text(formatted, "a.abl").text == formatted


# ---- the backend -------------------------------------------------------------------------------------
def test_fp32_leaves_the_model_alone_and_bf16_casts_weights_and_inputs():
    from abl.interpreter.backend.precision import Precision, apply_precision, check_precision

    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Flatten(), torch.nn.Linear(4 * 36, 3))
    apply_precision(model, check_precision("fp32", torch.device("cpu")))
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert not model._forward_pre_hooks
    apply_precision(model, Precision("bf16"))
    assert all(p.dtype == torch.bfloat16 for p in model[0].parameters())
    assert all(p.dtype == torch.float32 for p in model[2].parameters())     # the output layer
    seen = {}
    model[0].register_forward_hook(lambda m, i, o: seen.update(conv=(i[0].dtype, o.dtype)))
    assert model(torch.rand(2, 1, 8, 8)).dtype == torch.float32              # logits in float32
    assert seen["conv"] == (torch.bfloat16, torch.bfloat16)                  # a float32 input is cast


def test_fp16_on_the_cpu_is_refused_with_help():
    from abl.interpreter.backend.precision import check_precision
    from abl.interpreter.errors import RunError

    with pytest.raises(RunError) as raised:
        check_precision("fp16", torch.device("cpu"))
    assert "fp16" in raised.value.message and "bf16" in raised.value.help


# ---- runs --------------------------------------------------------------------------------------------
def _rows(folder: Path) -> list[dict]:
    with open(folder / "results.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_bf16_runs_the_digits_cnn_close_to_fp32(tmp_path, cache):
    (tmp_path / "cnn.abl").write_text(CNN)
    fp32 = abl("run", str(tmp_path / "cnn.abl"), "--out", str(tmp_path / "fp32"), "--no-figures", cache=cache)
    assert fp32.returncode == 0, fp32.stderr
    (tmp_path / "bf16.abl").write_text(CNN.replace("device cpu\n", "device cpu\nprecision bf16\n"))
    bf16 = abl("run", str(tmp_path / "bf16.abl"), "--out", str(tmp_path / "bf16"), "--no-figures", cache=cache)
    assert bf16.returncode == 0, bf16.stderr
    assert json.loads((tmp_path / "bf16" / "manifest.json").read_text())["precision"] == "bf16"
    assert json.loads((tmp_path / "fp32" / "manifest.json").read_text())["precision"] == "fp32"
    assert "forward passes in bf16" in (tmp_path / "bf16" / "report.txt").read_text()
    a, b = _rows(tmp_path / "fp32"), _rows(tmp_path / "bf16")
    assert [(r["measure"], r["class"], r["layer"], r["cell"]) for r in a] == \
        [(r["measure"], r["class"], r["layer"], r["cell"]) for r in b]
    # the stated tolerance: a rank deficit (a mean of whole ranks over ~55 images) moves by at most
    # 0.1 and stays inside fp32's 95% interval; an accuracy by at most one image in a class (2%)
    for x, y in zip(a, b):
        difference = abs(float(x["value"]) - float(y["value"]))
        if x["measure"] == "rank deficit":
            assert difference <= 0.1, (x, y)
            assert float(x["ci_low"]) <= float(y["value"]) <= float(x["ci_high"]), (x, y)
        else:
            assert difference <= 1 / int(x["n"]) + 1e-12, (x, y)


def test_fp16_on_the_cpu_exits_2_before_making_a_folder(tmp_path, cache):
    (tmp_path / "cnn.abl").write_text(CNN)
    result = abl("run", str(tmp_path / "cnn.abl"), "--precision", "fp16", "--out", str(tmp_path / "run"),
                 cache=cache)
    assert result.returncode == 2
    assert "precision `fp16` was asked for on the CPU" in result.stderr
    assert "use `precision bf16` on the CPU" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_precision_fp32_is_byte_identical_to_no_precision(tmp_path, cache):
    spec = str(ROOT / "examples" / "digit7.abl")
    small = ("--set", "epochs=3", "--no-figures")
    plain = abl("run", spec, *small, "--out", str(tmp_path / "plain"), cache=cache)
    assert plain.returncode in (0, 1), plain.stderr
    fp32 = abl("run", spec, *small, "--precision", "fp32", "--out", str(tmp_path / "fp32"), cache=cache)
    assert fp32.returncode == plain.returncode, fp32.stderr
    for name in ("results.csv", "results.jsonl", "expectations.json"):
        assert (tmp_path / "plain" / name).read_bytes() == (tmp_path / "fp32" / name).read_bytes(), name
    assert json.loads((tmp_path / "fp32" / "manifest.json").read_text())["precision"] == "fp32"


def test_resume_refuses_another_precision(tmp_path, cache):
    from abl.interpreter.results.runfolder import RunFolder

    (tmp_path / "cnn.abl").write_text(CNN)
    run = abl("run", str(tmp_path / "cnn.abl"), "--no-figures", "--out", str(tmp_path / "run"), cache=cache)
    assert run.returncode == 0, run.stderr
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    (tmp_path / "run" / "manifest.json").write_text(json.dumps({**manifest, "status": "interrupted"}))
    assert RunFolder.read_running(tmp_path / "run")["precision"] == "fp32"
    resumed = abl("run", "--resume", str(tmp_path / "run"), "--precision", "bf16", cache=cache)
    assert resumed.returncode == 2 and "started in precision fp32" in resumed.stderr
