"""Linear probes: perfect features -> ~1, noise -> ~0.5, deterministic, fast."""

import time

import numpy as np
import pytest

from abl.interpreter.errors import RunError
from abl.interpreter.run.probes import probe_accuracies, probe_accuracy


def dataset(n=1000, units=20, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n)
    features = rng.normal(size=(n, units)).astype(np.float32)
    return features, labels


def test_separating_feature_scores_one_and_noise_scores_half():
    features, labels = dataset()
    features[:, 3] = (labels == 7) * 2.0 + 0.01 * features[:, 3]
    assert probe_accuracy(features, labels, None, None, 7, seed=0) > 0.99
    noise = np.delete(features, 3, axis=1)
    assert abs(probe_accuracy(noise, labels, None, None, 7, seed=0) - 0.5) < 0.08
    eval_features, eval_labels = dataset(seed=1)
    eval_features[:, 3] = (eval_labels == 7) * 2.0
    assert probe_accuracy(features, labels, eval_features, eval_labels, 7, seed=0) > 0.99
    scores = probe_accuracies(features, labels, eval_features, eval_labels, 7, [[3], [0, 1], [3, 4]])
    assert scores[0] > 0.99 and abs(scores[1] - 0.5) < 0.1 and scores[2] > 0.99


def test_deterministic_and_fast():
    features, labels = dataset()
    features[:, 0] += labels == 2
    a = probe_accuracy(features, labels, None, None, 2, seed=5)
    assert a == probe_accuracy(features, labels, None, None, 2, seed=5)
    assert 0.6 < a < 1.0
    start = time.perf_counter()
    probe_accuracies(features, labels, features, labels, 2, [list(range(i, i + 5)) for i in range(15)])
    assert (time.perf_counter() - start) / 15 < 0.1   # aim ~10 ms a fit; generous for CI noise


def test_probe_errors():
    features, labels = dataset(50)
    with pytest.raises(RunError):
        probe_accuracy(features, labels, None, None, 11, seed=0)     # class absent
    with pytest.raises(RunError):
        probe_accuracy(features[:, :0], labels, None, None, 1, seed=0)
    labels = np.zeros(50, dtype=int)
    labels[0] = 1
    with pytest.raises(RunError):
        probe_accuracy(features, labels, None, None, 1, seed=0)      # one positive: no CV possible


def test_batched_probes_agree_with_scikit_learn_on_every_example_cell(tmp_path):
    """The Hayne grid example: each of its probe cells, batched Newton vs scikit-learn alone."""
    from pathlib import Path

    from abl.interpreter.api import Experiment

    spec = Path(__file__).resolve().parent.parent / "examples" / "hayne_grid.abl"
    experiment = Experiment.from_file(spec, cache_dir=tmp_path)
    result = experiment.run()
    executor = experiment.executor
    rows = {(r.cls, r.layer, r.cell): r.value for r in result.table if r.measure == "probe accuracy"}
    checked = 0
    for item in experiment.plan.measures:
        if item.metric != "probe accuracy":
            continue
        (layer, units), = executor.resolve(item.of_units).items()
        target = item.of_units.target_class
        fit = executor.stats(item.model, item.fit_on, layer)
        evaluated = executor.stats(item.model, item.stimuli, layer)
        reference = probe_accuracies(fit.features, fit.labels, evaluated.features, evaluated.labels,
                                     target, [list(units)], 0, solver="sklearn")[0]
        names = executor.stimuli(item.stimuli).class_names
        assert abs(rows[(names[target], item.layer_label, item.cell)] - reference) <= 0.01
        checked += 1
    assert checked == 10 * 3 * 16


def test_batched_probes_cross_validated_and_wide_cells_match_scikit_learn():
    features, labels = dataset(n=600, units=40, seed=3)
    features[:, :6] += (labels == 4)[:, None] * 0.8
    subsets = [list(range(i, i + 5)) for i in range(0, 40, 5)]
    batched = probe_accuracies(features, labels, None, None, 4, subsets, seed=1)
    alone = probe_accuracies(features, labels, None, None, 4, subsets, seed=1, solver="sklearn")
    assert np.max(np.abs(np.array(batched) - alone)) <= 0.01
