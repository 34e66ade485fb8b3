"""Output measures and per-unit metrics on hand-made numbers with known answers."""

import math

import numpy as np
import pytest
import torch

from abl.interpreter.run import measures
from abl.interpreter.run import unit_metrics
from abl.interpreter.backend.record import LayerStats
from abl.interpreter.errors import RunError

LOGITS = np.array([[3.0, 1.0, 2.0, 0.0],     # label 0: rank 1
                   [3.0, 1.0, 2.0, 0.0],     # label 2: rank 2
                   [0.0, 5.0, 5.0, 1.0],     # label 2: tie with class 1 -> rank 1; argmax picks 1
                   [1.0, 2.0, 3.0, 4.0]])    # label 0: rank 4
LABELS = np.array([0, 2, 2, 0])


def test_rank_with_ties_and_accuracy():
    np.testing.assert_array_equal(measures.true_class_rank(LOGITS, LABELS), [1, 2, 1, 4])
    assert measures.accuracy(LOGITS, LABELS) == 0.25
    assert measures.topk_accuracy(LOGITS, LABELS, 1) == 0.25
    assert measures.topk_accuracy(LOGITS, LABELS, 2) == 0.75
    assert measures.topk_accuracy(LOGITS, LABELS, 4) == 1.0
    assert measures.per_class_accuracy(LOGITS, LABELS) == {0: (0.5, 2), 2: (0.0, 2)}
    # torch input gives the same answers
    assert measures.accuracy(torch.tensor(LOGITS, dtype=torch.float32), torch.tensor(LABELS)) == 0.25


def test_rank_deficit_and_change():
    ablated = np.array([[0.0, 1.0, 2.0, 3.0],    # label 0: 1 -> 4  (+3)
                        [3.0, 1.0, 4.0, 0.0],    # label 2: 2 -> 1  (-1)
                        [0.0, 5.0, 4.0, 1.0],    # label 2: 1 -> 2  (+1)
                        [1.0, 2.0, 3.0, 4.0]])   # label 0: 4 -> 4  (0)
    assert measures.rank_deficit(LOGITS, ablated, LABELS) == pytest.approx((3 + 0 + 1 + 0) / 4)
    assert measures.rank_change(LOGITS, ablated, LABELS) == pytest.approx((3 - 1 + 1 + 0) / 4)
    assert measures.rank_deficit(LOGITS, LOGITS, LABELS) == 0.0


def test_cross_entropy_probability_logit():
    logits = np.array([[0.0, math.log(3.0)], [1000.0, 0.0]])
    labels = np.array([1, 0])
    # p(true) = 3/4 and 1 -> loss = -(log .75 + 0) / 2; stable at 1000
    assert measures.cross_entropy(logits, labels) == pytest.approx(-math.log(0.75) / 2)
    assert measures.class_probability(logits, 1) == pytest.approx((0.75 + 0.0) / 2)
    assert measures.class_logit(logits, 0) == pytest.approx(500.0)
    t = torch.randn(50, 7, generator=torch.Generator().manual_seed(0))
    y = torch.randint(0, 7, (50,), generator=torch.Generator().manual_seed(1))
    assert measures.cross_entropy(t, y) == pytest.approx(float(torch.nn.functional.cross_entropy(t.double(), y)))


def test_measure_errors():
    with pytest.raises(RunError):
        measures.accuracy(np.zeros((0, 3)), np.zeros(0))
    with pytest.raises(RunError):
        measures.accuracy(LOGITS, np.array([0, 1, 2, 9]))
    with pytest.raises(RunError):
        measures.class_logit(LOGITS, 4)


def stats_from(acts, labels, n_classes):
    acts = np.asarray(acts, dtype=np.float64)
    sums = np.zeros((n_classes, acts.shape[1]))
    np.add.at(sums, labels, acts)
    counts = np.bincount(labels, minlength=n_classes)
    return LayerStats("L", sums, counts, acts.sum(0), len(labels), None, labels,
                      tuple(int(c) for c in np.flatnonzero(counts)))


def test_unit_scores_on_known_means():
    # class means: class 0 -> [4, 1, 2], class 1 -> [0, 1, 2], class 2 (no images), class 3 -> [2, 1, 5]
    acts = [[4, 1, 2], [4, 1, 2], [0, 1, 2], [2, 1, 5]]
    labels = np.array([0, 0, 1, 3])
    stats = stats_from(acts, labels, 4)
    np.testing.assert_allclose(unit_metrics.unit_scores(stats, "activation", 0), [4, 1, 2])
    np.testing.assert_allclose(unit_metrics.unit_scores(stats, "activation"), [2.5, 1, 2.75])
    np.testing.assert_allclose(unit_metrics.unit_scores(stats, "magnitude", 0), [2.5, 1, 2.75])
    # mu_o over the present other classes (1 and 3): [1, 1, 3.5]
    np.testing.assert_allclose(unit_metrics.unit_scores(stats, "selectivity", 0), [3, 0, -1.5])
    np.testing.assert_allclose(unit_metrics.unit_scores(stats, "rotated magnitude", 0),
                               np.array([5, 2, 5.5]) / math.sqrt(2))
    # SI: mu_max [4, 1, 5], rest [1, 1, 2]
    np.testing.assert_allclose(unit_metrics.unit_scores(stats, "selectivity index"),
                               [3 / 5, 0, 3 / 7], rtol=1e-5)
    with pytest.raises(RunError):
        unit_metrics.unit_scores(stats, "selectivity", None)
    with pytest.raises(RunError):
        unit_metrics.unit_scores(stats, "selectivity", 2)     # class without images
    with pytest.raises(RunError):
        unit_metrics.unit_scores(stats, "activation", 2)
    with pytest.raises(RunError):
        unit_metrics.unit_scores(stats, "bogus", 0)


def test_top_k_threshold_random():
    scores = np.array([1.0, 3.0, 3.0, -2.0, 0.5, 3.0])
    assert unit_metrics.top_k(scores, 2) == (1, 2)
    assert unit_metrics.top_k(scores, 4) == (1, 2, 5, 0)
    assert unit_metrics.top_k(scores, 2, bottom=True) == (3, 4)
    assert unit_metrics.top_k(np.zeros(4), 2, bottom=True) == (0, 1)
    with pytest.raises(ValueError):          # a precondition: the selector checks counts (E403)
        unit_metrics.top_k(scores, 7)
    assert unit_metrics.threshold(scores, ">", 0.9) == (0, 1, 2, 5)
    assert unit_metrics.threshold(scores, "<=", 0.5) == (3, 4)
    a = unit_metrics.random_units(100, 10, np.random.default_rng(3))
    assert a == unit_metrics.random_units(100, 10, np.random.default_rng(3))
    assert len(set(a)) == 10 and list(a) == sorted(a) and max(a) < 100
    with pytest.raises(ValueError):
        unit_metrics.random_units(5, 6, np.random.default_rng(0))
