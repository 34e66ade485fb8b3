"""The documented Python API (issue 36, item 4): `Experiment.run(out=DIR)` writes the run folder
that `load_run` and `abl compare` read, verdicts come as the same DataFrame from a fresh run and a
folder, a declared but unused stimuli set says so, and every public call has a docstring."""

from __future__ import annotations

import inspect

import pytest

pytest.importorskip("torch")

from abl.interpreter import api  # noqa: E402
from abl.interpreter.api import Experiment, UnknownName, load_run  # noqa: E402
from abl.interpreter.cli.main import main as abl_main  # noqa: E402
from abl.interpreter.results.run_loading import LoadedRun  # noqa: E402
from abl.interpreter.results.run_result import RunResult  # noqa: E402

SPEC = '''experiment "api folder"
seed 0
stimuli train = digits split train
stimuli test = digits split test
model net = train mlp [64, 16, 10] on train epochs 1
units hot7 = top 3 by activation for class 7 in fc1 on train
measure accuracy per class on test ablating hot7
expect accuracy on test > 10%
'''


def test_every_public_call_is_documented():
    documented = [Experiment, Experiment.run, Experiment.from_file, Experiment.from_text, Experiment.model,
                  Experiment.stimuli, RunResult, RunResult.verdicts_frame, RunResult.to_pandas, load_run,
                  api.run_file, LoadedRun, LoadedRun.verdicts_frame]
    assert not [f.__qualname__ for f in documented if len(inspect.getdoc(f) or "") < 40]


def test_run_out_writes_a_folder_that_load_run_and_compare_accept(tmp_path, capsys):
    exp = Experiment.from_text(SPEC, cache_dir=tmp_path / "cache")
    result = exp.run(out=tmp_path / "a", figures=False)
    assert (tmp_path / "a" / "spec.abl").read_text(encoding="utf-8") == SPEC
    loaded = load_run(tmp_path / "a")
    assert loaded.manifest["status"] == "complete" and loaded.experiment == "api folder"
    fresh, read = result.verdicts_frame(), loaded.verdicts_frame()
    assert list(fresh.columns) == list(read.columns)
    assert list(fresh["verdict"]) == list(read["verdict"]) == ["PASS"]
    assert len(loaded.results) == len(result.to_pandas())
    Experiment.from_text(SPEC, cache_dir=tmp_path / "cache").run(out=tmp_path / "b", figures=False)
    assert abl_main(["compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 0


def test_a_declared_but_unused_stimuli_set_says_so():
    exp = Experiment.from_text(SPEC.replace("measure accuracy per class on test ablating hot7\n", "")
                               .replace("stimuli test", "stimuli spare = digits split test\nstimuli test"))
    with pytest.raises(UnknownName, match=r"stimuli `spare` is declared on line 4 but no statement uses it"):
        exp.stimuli("spare")
    with pytest.raises(KeyError, match=r"declares no model `nett`"):      # still a KeyError
        exp.model("nett")
