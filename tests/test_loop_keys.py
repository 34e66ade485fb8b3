"""Issue 34: every loop binding is part of a result's key, and a claim reads its own iteration."""

import pytest

HEAD = ('experiment "x"\nseed 0\nrepeats 5\nstimuli train = digits split train\nstimuli test = digits split test\n'
        'model net = train mlp [64, 32, 10] on train epochs 1\n')


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("abl-cache")


def run(text, cache):
    from abl.interpreter.api import Experiment
    from abl.spec.frontend import compile_text

    assert not [d for d in compile_text(text, "s.abl").diagnostics if d.is_error]
    return Experiment.from_text(text, cache_dir=cache, device="cpu").run()


@pytest.mark.parametrize("per_class", [" per class", ""])
def test_a_class_loop_binding_is_part_of_every_key(per_class, cache):
    from abl.interpreter.results.frames import results_frame

    result = run(HEAD + "for each class c in [0, 1]:\n"
                 "    units selc = top 4 by selectivity for class c in fc1 on train\n"
                 f"    measure accuracy{per_class} on test ablating selc\n", cache)
    rows = [r for r in result.table if r.intervention and r.cls == ""]
    assert sorted(r.dim("c") for r in rows) == ["0", "1"]
    assert len({r.key for r in result.table}) == len(result.table)
    frame = results_frame(result.table)
    assert "c" in frame.columns and set(frame["c"].astype(str)) == {"0", "1"}


def test_a_claim_outside_a_loop_never_reads_the_loops_rows(cache):
    result = run(HEAD + "units sel16 = top 16 by activation in fc1\n"
                 "for each k in [1, 2]:\n"
                 "    units hot = top k by activation for class 7 in fc1\n"
                 "    units rnd = random k in fc1\n"
                 "    expect drop of accuracy on test ablating hot > drop ablating rnd repeats 5\n"
                 "expect accuracy on test drops by at least 1% ablating sel16\n", cache)
    assert len(result.verdicts) == 3 and all(v.detail for v in result.verdicts)


def test_verdicts_and_selections_carry_their_iteration(cache):
    from abl.interpreter.plan.plan import bound_text

    result = run(HEAD + "for each target in [3, 7]:\n"
                 "    units hot = top 3 by activation for class target in fc1\n"
                 "    expect accuracy[class target] on test drops by at least 1% ablating hot\n", cache)
    assert [v.text.endswith(f"ablating hot [target = {t}]") for v, t in zip(result.verdicts, "37")] == [True, True]
    assert [v.as_record()["bindings"] for v in result.verdicts] == [{"target": "3"}, {"target": "7"}]
    assert sorted(s["bindings"]["target"] for s in result.selections if s["name"] == "hot") == ["3", "7"]
    assert bound_text(()) == "" and [e.shown for e in result.plan.expectations] == [v.text for v in result.verdicts]


def test_a_run_that_fails_says_so_and_is_not_offered_resume(tmp_path, cache):
    import json
    import os
    import subprocess
    import sys

    from abl.interpreter.api import load_run
    from abl.interpreter.errors import RunError

    spec = tmp_path / "s.abl"
    (tmp_path / "faultnet.py").write_text(
        "from torch import nn\nclass Raises(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.fc1 = nn.Linear(64, 10)\n    def forward(self, x):\n        raise ValueError('bad shapes')\n"
        "def raises(): return Raises()\n")
    spec.write_text('experiment "x"\nseed 0\nstimuli s = digits split test\nmodel net = python "faultnet:raises"\n'
                    "measure accuracy on s\n")
    env = dict(os.environ, NO_COLOR="1", ABL_CACHE_DIR=str(cache))
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "abl.interpreter.cli", "run", str(spec), "--out", str(out),
                             "--no-figures"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert result.returncode == 2, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "bad shapes" in manifest["reason"]
    with pytest.raises(RunError) as error:
        load_run(out)
    assert "failed" in error.value.message and "--resume" not in error.value.help


def plan_of(text):
    from abl.interpreter.plan.planner import plan_program
    from abl.spec.frontend import compile_text

    return plan_program(compile_text(text, "s.abl").program)


def test_top_k_of_a_loop_at_0_is_refused_before_the_run():
    from abl.interpreter.plan.env import PlanError

    with pytest.raises(PlanError) as error:
        plan_of(HEAD + "for each k in [0, 2]:\n    units hot = top k by activation in fc1\n"
                "    measure accuracy on test ablating hot\n")
    (diagnostic,) = error.value.diagnostics
    assert diagnostic.code == "E301" and "`k` is 0" in diagnostic.message and "start the loop at 1" in diagnostic.help


def test_loop_values_in_messages_sort_as_numbers_and_plan_expands_params():
    from abl.interpreter.report.terminal import expanded, plan_tree
    from abl.spec.families import ordered

    assert ordered(["1", "16", "2", "32", "b", "a"]) == ["1", "2", "16", "32", "a", "b"]
    assert expanded("ablating top 2 by activation in $layer", (("layer", "fc1"),)) == \
        "ablating top 2 by activation in fc1"
    plan = plan_of('param layer = "fc1"\n' + HEAD +
                   "expect accuracy on test drops by at least 1% ablating top 2 by activation in $layer\n")
    text = str(plan_tree(plan).children[-1].children[0].label)
    assert "in fc1" in text and "$" not in text
