"""The plan in shards: which work is independent, that shards run apart (in any order, by separate
executors) give exactly the whole run's numbers, and that finished shards survive a round trip
through the run folder bit for bit."""

import dataclasses
import pickle
from pathlib import Path

import numpy as np
import pytest

from abl.interpreter.api import Experiment
from abl.interpreter.errors import RunError
from abl.interpreter.run.executor import Executor
from abl.interpreter.results.run_result import merge
from abl.interpreter.results.shard_store import plan_digest, read_shards, shard_path, write_shard
from abl.interpreter.plan.shards import plan_shards, shard_plan
from abl.spec.source import Span

ROOT = Path(__file__).resolve().parent.parent

TWO_NETS = """\
experiment "two nets"
seed 0
stimuli train = digits split train
stimuli test = digits split test
model a = train mlp [64, 32, 10] on train epochs 1
model b = train mlp [64, 32, 10] on train epochs 1 seed 1
units hot = top 3 by activation for class 7 in fc1 on train
units rb = random 4 in fc1
measure accuracy on test ablating hot using a
measure accuracy on test using b
measure accuracy on test ablating rb using b
measure accuracy on test using a
expect accuracy on test ablating hot using a < accuracy on test using a
"""


def _experiment(text, tmp_path, **overrides):
    return Experiment.from_text(text, overrides={k: str(v) for k, v in overrides.items()},
                                cache_dir=tmp_path)


def test_a_sweep_of_trained_networks_is_one_shard_per_network():
    plan = Experiment.from_file(ROOT / "examples" / "selectivity_knob.abl").plan
    shards = plan_shards(plan)
    assert len(shards) == 21 and all(len(s.models) == 1 for s in shards)
    assert sorted(i for s in shards for i in s.measures) == list(range(len(plan.measures)))
    assert [s.index for s in shards] == list(range(21))
    for shard in shards:
        assert {plan.measures[i].model for i in shard.measures} == set(shard.models)
    # ordered by first measurement
    assert [s.measures[0] for s in shards] == sorted(s.measures[0] for s in shards)


def test_the_grid_over_one_network_splits_after_its_recording():
    plan = Experiment.from_file(ROOT / "examples" / "hayne_grid.abl").plan
    (shard,) = plan_shards(plan, split=False)
    assert shard.measures == tuple(range(len(plan.measures))) and shard.kind == "network"
    restricted = shard_plan(plan, shard)
    assert restricted.measures == plan.measures and restricted.expectations == ()
    recording, *conditions = plan_shards(plan)
    assert recording.kind == "recording" and recording.measures == shard.measures
    # 3 layers x 10 classes, 5 classes a shard: 6 conditions shards, each after the recording
    assert len(conditions) == 6 and {(s.kind, s.after) for s in conditions} == {("conditions", 0)}
    assert [s.layer for s in conditions] == ["conv1", "conv1", "conv2", "conv2", "fc1", "fc1"]
    assert sorted(i for s in conditions for i in s.measures) == list(range(len(plan.measures)))
    # a grid cell's probe and ablation, and a class's 16 cells, stay in one shard
    for s in conditions:
        assert len(s.measures) == 5 * 16 * 2


def test_the_alexnet_grid_plans_into_a_recording_and_condition_shards(tmp_path):
    """issue 27: the Hayne grid over AlexNet's 7 layers is at least 7 conditions shards plus its
    recording, and `abl plan` says so with their cost."""
    import os
    import subprocess
    import sys

    from PIL import Image

    for c in range(3):
        (tmp_path / "images" / f"class{c}").mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (32, 32), (40 * c, 20 * i, 90)).save(tmp_path / "images" / f"class{c}" / f"{i}.png")
    layers = "layers=[conv1, conv2, conv3, conv4, conv5, fc6, fc7]"
    args = ["plan", str(ROOT / "examples" / "hayne_grid.abl"), "--set", "model=alexnet", "--set", layers,
            "--set", f"data={tmp_path / 'images'}"]
    done = subprocess.run([sys.executable, "-m", "abl.interpreter.cli.main", *args], capture_output=True,
                          text=True, cwd=ROOT, env=dict(os.environ, NO_COLOR="1", COLUMNS="200"), timeout=300)
    assert done.returncode == 0, done.stderr
    text = done.stdout + done.stderr
    assert "1 recording shard: 3 passes over stimuli sets (with 1 baseline)" in text, text
    count = int(text.split(" conditions shards:")[0].rsplit(" ", 1)[1])
    assert count >= 7, text


def test_models_measured_apart_are_apart_and_shards_in_any_order_give_the_whole_run(tmp_path):
    experiment = _experiment(TWO_NETS, tmp_path)
    plan = experiment.plan
    shards = plan_shards(plan)
    assert [s.models for s in shards] == [("a",), ("b",)]
    whole = experiment.run()
    # each shard by its own executor, the last first: the numbers do not depend on who ran what
    apart = [Executor(plan, cache_dir=tmp_path, keep_state=False).run_shard(s) for s in reversed(shards)]
    merged = merge(plan, apart)
    assert [r.as_record() for r in merged.table] == [r.as_record() for r in whole.table]
    assert [v.as_record() for v in merged.verdicts] == [v.as_record() for v in whole.verdicts]
    assert merged.selections == whole.selections
    assert merged.forward_passes == whole.forward_passes
    assert set(merged.model_records) == {"a", "b"} and set(merged.stimuli_records) == {"train", "test"}


def test_a_shard_reads_back_from_the_run_folder_bit_for_bit(tmp_path):
    experiment = _experiment(TWO_NETS, tmp_path)
    (first, _) = plan_shards(experiment.plan)
    result = Executor(experiment.plan, cache_dir=tmp_path).run_shard(first)
    assert result.per_image, "the ablation's per-image values travel with the shard"
    digest = plan_digest(b"spec", {"epochs": 1}, 1, "test")
    write_shard(tmp_path / "run", digest, result)
    found, notes = read_shards(tmp_path / "run", digest)
    assert notes == [] and list(found) == [first.index]
    back = found[first.index]
    assert back.rows == result.rows          # floats compared exactly (NaN intervals included: same object)
    assert [r.as_record() for _, rows in back.rows for r in rows] == \
        [r.as_record() for _, rows in result.rows for r in rows]
    for (key, values), (key_back, values_back) in zip(result.per_image, back.per_image):
        assert key == key_back and values.stimuli == values_back.stimuli
        assert np.array_equal(values.positions, values_back.positions)
        assert values.values.dtype == values_back.values.dtype
        assert np.array_equal(values.values, values_back.values)
    assert back.selections == result.selections
    assert back.models == result.models and back.stimuli == result.stimuli
    assert dataclasses.replace(back, rows=(), per_image=()) == dataclasses.replace(result, rows=(), per_image=())


def test_shards_of_another_run_or_damaged_are_set_aside(tmp_path):
    experiment = _experiment(TWO_NETS, tmp_path)
    (first, second) = plan_shards(experiment.plan)
    executor = Executor(experiment.plan, cache_dir=tmp_path)
    write_shard(tmp_path / "run", "digest-a", executor.run_shard(first))
    write_shard(tmp_path / "run", "digest-b", executor.run_shard(second))
    found, notes = read_shards(tmp_path / "run", "digest-a")
    assert list(found) == [0] and len(notes) == 1 and "another spec" in notes[0]
    shard_path(tmp_path / "run", 0).write_bytes(b"PK\x03\x04 not really a zip")
    found, notes = read_shards(tmp_path / "run", "digest-a")
    assert found == {} and "could not be read" in notes[0] and "runs again" in notes[0]


def test_the_digest_changes_with_everything_the_numbers_depend_on():
    base = plan_digest(b"spec", {"epochs": 2}, 1, "0.1.0")
    assert base == plan_digest(b"spec", {"epochs": 2}, 1, "0.1.0")
    assert len({base, plan_digest(b"spec!", {"epochs": 2}, 1, "0.1.0"),
                plan_digest(b"spec", {"epochs": 3}, 1, "0.1.0"), plan_digest(b"spec", {"epochs": 2}, 2, "0.1.0"),
                plan_digest(b"spec", {"epochs": 2}, 1, "0.2.0")}) == 5


def test_run_errors_cross_processes_whole():
    error = RunError("model `net` has no layer `fc9`", help="did you mean `fc1`?", code="E401",
                     span=Span(40, 43, 3, 5, 3, 8))
    back = pickle.loads(pickle.dumps(error))
    assert (back.message, back.help, back.code, back.span) == (error.message, error.help, error.code, error.span)


def test_threads_are_set_for_a_shard_and_restored(tmp_path):
    import torch

    experiment = _experiment(TWO_NETS, tmp_path)
    before = torch.get_num_threads()
    result = Executor(experiment.plan, cache_dir=tmp_path, threads=1).run_shard(plan_shards(experiment.plan)[1])
    assert result.threads == 1 and torch.get_num_threads() == before


@pytest.mark.parametrize("threads", [1, 2])
def test_training_threads_are_part_of_the_cache_key(tmp_path, threads):
    import torch

    from abl.interpreter.models.training import cache_key

    experiment = _experiment(TWO_NETS, tmp_path)
    spec = experiment.plan.model_spec("a")
    stimuli = experiment.stimuli("train")
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        key = cache_key(spec, stimuli)
        torch.set_num_threads(3 - threads)
        assert cache_key(spec, stimuli) != key
    finally:
        torch.set_num_threads(before)
