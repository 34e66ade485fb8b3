"""Statistics checked against scipy.stats and against cases with known answers."""

import math

import numpy as np
import pytest
from scipy import stats

from abl.interpreter.run.statistics import bootstrap_mean_ci, stream_seed, t_interval
from abl.interpreter.run.claim_tests import bootstrap_test, holm, paired_test, replicate_test


def test_bootstrap_interval_equals_scipy_bootstrap_on_the_same_draws():
    x = np.random.default_rng(3).normal(0.4, 1.0, size=137)
    ours = bootstrap_mean_ci(x, 0.95, 2000, np.random.default_rng(11))
    theirs = stats.bootstrap((x,), np.mean, n_resamples=2000, confidence_level=0.95,
                             method="percentile", random_state=np.random.default_rng(11))
    assert ours.low == pytest.approx(theirs.confidence_interval.low, abs=1e-12)
    assert ours.high == pytest.approx(theirs.confidence_interval.high, abs=1e-12)


@pytest.mark.parametrize("kind", ["normal", "bernoulli"])
def test_95_percent_intervals_cover_the_true_mean_in_93_to_97_percent_of_400_simulations(kind):
    rng = np.random.default_rng(2026)
    covered = 0
    for simulation in range(400):
        if kind == "normal":
            sample, truth = rng.normal(1.5, 2.0, size=200), 1.5
        else:
            sample, truth = (rng.random(200) < 0.8).astype(float), 0.8
        interval = bootstrap_mean_ci(sample, 0.95, 1000, stream_seed(0, kind, simulation))
        covered += interval.low <= truth <= interval.high
    assert 0.93 <= covered / 400 <= 0.97


def test_constant_sample_has_a_zero_width_interval():
    interval = bootstrap_mean_ci(np.ones(50), 0.95, 1000, np.random.default_rng(0))
    assert (interval.low, interval.high) == (1.0, 1.0)


def test_paired_test_agrees_with_scipy_permutation_test_on_paired_samples():
    rng = np.random.default_rng(5)
    before = rng.normal(0.0, 1.0, size=80)
    after = before - 0.3 + rng.normal(0.0, 0.5, size=80)
    ours = paired_test(before - after, ">", 0.0, 0.05, 9999, np.random.default_rng(1))
    theirs = stats.permutation_test((before, after), lambda a, b, axis: np.mean(a - b, axis=axis),
                                    permutation_type="samples", alternative="greater",
                                    n_resamples=9999, vectorized=True,
                                    random_state=np.random.default_rng(2))
    assert ours.p_value == pytest.approx(theirs.pvalue, abs=0.01)
    assert ours.effect == pytest.approx(np.mean(before - after))
    assert ours.interval.low < ours.effect < ours.interval.high


def test_paired_test_with_a_margin_tests_the_shifted_claim():
    d = np.random.default_rng(8).normal(0.05, 0.1, size=300)
    at_least_small = paired_test(d, ">=", 0.01, 0.05, 4999, np.random.default_rng(0))
    at_least_large = paired_test(d, ">=", 0.2, 0.05, 4999, np.random.default_rng(0))
    assert at_least_small.p_value < 0.01 < 0.99 < at_least_large.p_value
    assert paired_test(d, "==", 0.0, 0.05, 100, np.random.default_rng(0)) is None


def test_bootstrap_test_p_value_is_the_share_of_resampled_means_on_the_wrong_side():
    x = np.random.default_rng(4).normal(0.52, 0.2, size=120)
    result = bootstrap_test(x, ">", 0.5, 0.05, 4000, np.random.default_rng(9))
    rng = np.random.default_rng(9)
    means = np.concatenate([x[rng.integers(0, x.size, size=(4000, x.size))].mean(axis=1)])
    assert result.p_value == pytest.approx((1 + np.sum(means <= 0.5)) / 4001)
    # the bootstrap's one-sided p is close to the one-sample t-test's on a normal sample
    assert result.p_value == pytest.approx(stats.ttest_1samp(x, 0.5, alternative="greater").pvalue, abs=0.03)


def test_replicate_tests_are_scipy_t_tests():
    a, b = [0.91, 0.93, 0.92], [0.95, 0.96, 0.94]
    welch = replicate_test(a, b, "<", 0.0, 0.05, paired=False)
    assert welch.p_value == pytest.approx(stats.ttest_ind(a, b, equal_var=False, alternative="less").pvalue)
    assert welch.method == "welch t"
    assert replicate_test(a, b, "<", 0.0, 0.05, paired=True).method == "paired t (by seed)"
    paired = replicate_test(a, b, "<", 0.0, 0.05, paired=True)
    assert paired.p_value == pytest.approx(stats.ttest_rel(a, b, alternative="less").pvalue)
    offset = replicate_test(a, b, ">=", -0.05, 0.05, paired=False)
    assert offset.p_value == pytest.approx(
        stats.ttest_ind(np.subtract(a, -0.05), b, equal_var=False, alternative="greater").pvalue)
    assert replicate_test([0.9], [0.8], ">", 0.0, 0.05, paired=False) is None


def test_t_interval_is_scipy_t_interval():
    values = [0.2, 0.25, 0.31, 0.22]
    interval = t_interval(values, 0.9)
    low, high = stats.t.interval(0.9, 3, loc=np.mean(values), scale=stats.sem(values))
    assert (interval.low, interval.high) == pytest.approx((low, high))
    assert math.isnan(t_interval([0.3], 0.95).low)


def test_holm_on_a_hand_computed_example():
    # sorted: 0.01 (x4 = 0.04), 0.02 (x3 = 0.06), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04 -> max 0.06)
    assert holm([0.03, None, 0.01, 0.04, 0.02]) == pytest.approx([0.06, None, 0.04, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


def test_streams_are_deterministic_and_distinct():
    assert stream_seed(0, "a", 1).random() == stream_seed(0, "a", 1).random()
    assert stream_seed(0, "a", 1).random() != stream_seed(0, "a", 2).random()


def test_probe_interval_is_scipy_paired_bootstrap_of_sklearn_balanced_accuracy():
    from sklearn.metrics import balanced_accuracy_score

    from abl.interpreter.run.statistics import bootstrap_balanced_accuracy_ci

    rng = np.random.default_rng(6)
    truth = (rng.random(300) < 0.1).astype(int)
    predicted = np.where(rng.random(300) < 0.8, truth, 1 - truth)
    ours = bootstrap_balanced_accuracy_ci(truth, predicted, 0.95, 500, np.random.default_rng(4))
    theirs = stats.bootstrap((truth, predicted), balanced_accuracy_score, paired=True, vectorized=False,
                             n_resamples=500, confidence_level=0.95, method="percentile",
                             random_state=np.random.default_rng(4))
    assert ours.low == pytest.approx(theirs.confidence_interval.low, abs=1e-9)
    assert ours.high == pytest.approx(theirs.confidence_interval.high, abs=1e-9)
    assert ours.low < balanced_accuracy_score(truth, predicted) < ours.high
