"""Linear probes: perfect features -> ~1, noise -> ~0.5, deterministic, fast."""

import time

import numpy as np
import pytest

from abl.interpreter.errors import RunError
from abl.interpreter.probes import probe_accuracies, probe_accuracy


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
