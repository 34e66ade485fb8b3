"""Deciding claims: over families (select, average, quantify, `is largest at`), with tests that
agree with scipy.stats on the same per-image or per-seed values, and Holm across claims.

The decide phase alone: a plan from a spec, a results table filled with known values (no network),
verdicts checked against a direct computation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import stats

from abl.interpreter.run.claim_sides import ImageValues
from abl.interpreter.run.decide import decide
from abl.interpreter.errors import RunError
from abl.interpreter.run.table import ResultRow, ResultsTable
from abl.interpreter.run.claim_tests import holm

from test_planner import plan_text

HEAD = """experiment "claims"
seed 0
stimuli train = digits split train
stimuli test = digits split test
"""

GRID = HEAD + """model net = train mlp [64, 32, 10] on train epochs 1
for each class c in [1, 2, 3], each layer L in [fc1, fc2]:
    units cells = grid 2x2 over selectivity, magnitude for class c in L
    measure rank deficit on test where class == c ablating cells
"""


def table_of(plan, value, images=None):
    """A results table with a row per planned measurement, valued by `value(item)`."""
    table = ResultsTable()
    per_image = {}
    for index, item in enumerate(plan.measures):
        cls = "" if item.where_class is None else str(item.where_class)
        row = ResultRow(item.label, item.stimuli_label or item.stimuli, value(item), 54, model=item.model,
                        cls=cls, layer=item.layer_label, units=item.units_label, cell=item.cell,
                        intervention=item.intervention_label, repeat=item.repeat, dims=item.dims,
                        fit_on=item.fit_label, claim=item.claim, measurements=frozenset({index}))
        table.add(row)
        if images is not None:
            values = images(item)
            per_image[row.key] = ImageValues(item.stimuli, np.arange(len(values)), values)
    return table, per_image


def names(stimuli):
    return [str(i) for i in range(10)]


def cell_value(item):
    """Rank deficit rising with the cell, a little noise per class and layer."""
    r, c = item.cell
    bump = {1: 0.0, 2: 0.05, 3: -0.02}[item.where_class] + (0.01 if "fc2" in item.layer_label else 0.0)
    return 0.1 * r + 0.05 * c + bump


def test_largest_at_a_cell_averaged_over_class_and_layer():
    plan = plan_text(GRID + "expect rank deficit on test is largest at [cell = 1,1] averaged over class, layer\n"
                            "expect rank deficit on test is smallest at [cell = 1,1] averaged over class, layer\n")
    table, _ = table_of(plan, cell_value)
    largest, smallest = decide(plan.expectations, table, names)
    values = {}
    for row in table:
        values.setdefault(row.cell, []).append(row.value)
    means = {cell: np.mean(v) for cell, v in values.items()}
    assert largest.passed and largest.observed == pytest.approx(means[(1, 1)])
    assert largest.reference == pytest.approx(max(v for k, v in means.items() if k != (1, 1)))
    assert not smallest.passed and largest.p_value is None


def test_share_of_members_where_a_cell_is_largest():
    # cell 1,1 is the largest except where class 2's fc2 grid is flipped
    def value(item):
        v = cell_value(item)
        return -v if (item.where_class, item.layer_label) == (2, "fc2") else v

    claims = ("expect rank deficit on test is largest at [cell = 1,1] in at least 80% of class x layer\n"
              "expect rank deficit on test is largest at [cell = 1,1] in every class x layer\n")
    plan = plan_text(GRID + claims)
    table, _ = table_of(plan, value)
    most, every = decide(plan.expectations, table, names)
    assert most.passed and most.observed == pytest.approx(5 / 6)
    assert not every.passed and "5 of 6 class x layer" in every.detail


def test_selected_strips_are_averaged_and_sides_paired_member_by_member():
    claim = ("expect rank deficit[row in [1]] on test > rank deficit[row = 0] on test "
             "averaged over col in every class x layer\n")
    plan = plan_text(GRID + claim)
    table, _ = table_of(plan, cell_value)
    (verdict,) = decide(plan.expectations, table, names)
    assert verdict.passed and verdict.observed == 1.0 and "6 of 6" in verdict.detail


def test_values_left_differing_are_a_lint_error_and_a_located_run_error():
    from abl.spec.frontend import compile_text

    diagnostics = compile_text(GRID + "expect rank deficit[cell = 1,1] on test > 0.1\n", "t.abl").diagnostics
    assert [d.code for d in diagnostics if d.severity.name == "ERROR"] == ["E310"]
    # the run-time guard behind lint: the same claim with its average taken away
    plan = plan_text(GRID + "expect rank deficit[cell = 1,1] on test > 0.1 averaged over class, layer\n")
    table, _ = table_of(plan, cell_value)
    (item,) = plan.expectations
    bare = dataclasses.replace(item, family=dataclasses.replace(item.family, average=()))
    with pytest.raises(RunError, match="differ in class .*layer") as error:
        decide([bare], table, names)
    assert "averaged over class" in error.value.help


PAIRED = HEAD + """model net = train mlp [64, 32, 10] on train epochs 1
units hot = top 3 by activation for class 7 in fc1
units cold = bottom 3 by activation for class 7 in fc1
measure accuracy on test ablating hot
measure accuracy on test ablating cold
expect accuracy on test ablating hot < accuracy on test ablating cold
expect accuracy on test drops by at least 2% ablating hot
expect accuracy on test > 90%
"""


def test_claims_on_the_same_images_are_decided_by_tests_that_agree_with_scipy():
    rng = np.random.default_rng(1)
    base = (rng.random(400) < 0.95).astype(float)
    hot = base * (rng.random(400) < 0.85)
    cold = base * (rng.random(400) < 0.99)
    arrays = {None: base, "ablating hot": hot, "ablating cold": cold}
    plan = plan_text(PAIRED)
    table, per_image = table_of(plan, lambda item: float(arrays[item.intervention_label].mean()),
                                images=lambda item: arrays[item.intervention_label])
    compare, change, number = decide(plan.expectations, table, names, per_image, resamples=4999)
    scipy_compare = stats.permutation_test((hot, cold), lambda a, b, axis: np.mean(a - b, axis=axis),
                                           permutation_type="samples", alternative="less",
                                           n_resamples=4999, random_state=np.random.default_rng(7))
    assert compare.test == "paired permutation" and compare.n == 400
    assert compare.p_value == pytest.approx(scipy_compare.pvalue, abs=0.01)
    assert compare.effect == pytest.approx(np.mean(hot - cold))
    scipy_change = stats.permutation_test(((base - hot) - 0.02,), lambda d, axis: np.mean(d, axis=axis),
                                          permutation_type="samples", alternative="greater",
                                          n_resamples=4999, random_state=np.random.default_rng(7))
    assert change.test == "paired permutation"
    assert change.p_value == pytest.approx(scipy_change.pvalue, abs=0.01)
    assert number.test == "bootstrap"
    # Holm over the three tested claims, and a claim passes only when its adjusted p is small
    adjusted = holm([compare.p_value, change.p_value, number.p_value])
    assert [compare.p_adjusted, change.p_adjusted, number.p_adjusted] == pytest.approx(adjusted)
    for verdict in (compare, change, number):
        assert verdict.passed == (verdict.p_adjusted <= 0.05 and verdict.observed is not None)


REPLICATED = HEAD + """for each alpha in [0, 1]:
    model net = train cnn on train epochs 1 replicates 3 regularize selectivity alpha
    measure accuracy on test
expect accuracy[alpha = 1] on test < accuracy[alpha = 0] on test
"""


def test_replicates_are_planned_per_seed_and_claims_test_across_seeds():
    plan = plan_text(REPLICATED)
    models = dict(plan.models)
    assert sorted(models) == sorted(f"net[alpha={a},seed={s}]" for a in (0, 1) for s in (0, 1, 2))
    assert {spec.seed for spec in models.values()} == {0, 1, 2}
    accuracies = {("0", "0"): 0.95, ("0", "1"): 0.96, ("0", "2"): 0.955,
                  ("1", "0"): 0.90, ("1", "1"): 0.92, ("1", "2"): 0.91}
    table, _ = table_of(plan, lambda item: accuracies[(dict(item.dims)["alpha"], dict(item.dims)["seed"])])
    assert {row.dim("seed") for row in table} == {"0", "1", "2"}
    (verdict,) = decide(plan.expectations, table, names)
    left = [accuracies[("1", s)] for s in "012"]
    right = [accuracies[("0", s)] for s in "012"]
    assert verdict.test == "paired t (by seed)" and verdict.n == 3
    assert verdict.p_value == pytest.approx(stats.ttest_rel(left, right, alternative="less").pvalue)
    assert verdict.passed and verdict.observed == pytest.approx(np.mean(left))


def test_replicated_models_are_trained_per_seed_end_to_end(tmp_path):
    from abl.interpreter.api import Experiment

    spec = HEAD + ("model net = train mlp [64, 16, 10] on train epochs 2 replicates 3\n"
                   "measure accuracy on test\n"
                   "expect accuracy on test > 20%\n")
    experiment = Experiment.from_text(spec, cache_dir=tmp_path, device="cpu")
    result = experiment.run()
    rows = [r for r in result.table if r.measure == "accuracy"]
    assert sorted(r.dim("seed") for r in rows) == ["0", "1", "2"]
    assert len({r.model for r in rows}) == 3 and len({r.value for r in rows}) > 1
    weights = [experiment.executor.model(r.model).module.fc1[0].weight for r in rows]
    assert not np.allclose(weights[0].detach().numpy(), weights[1].detach().numpy())
    assert all(r.ci_low <= r.value <= r.ci_high for r in rows)
    (verdict,) = result.verdicts
    values = [r.value for r in sorted(rows, key=lambda r: r.dim("seed"))]
    assert verdict.test == "one-sample t" and verdict.observed == pytest.approx(np.mean(values))
    assert verdict.p_value == pytest.approx(stats.ttest_1samp(np.subtract(values, 0.2), 0.0,
                                                              alternative="greater").pvalue)


def test_rows_carry_the_ids_of_every_measurement_they_are():
    from abl.interpreter.run.table import DuplicateResultError

    table = ResultsTable()
    row = ResultRow("accuracy", "test", 0.9, 10, model="net", measurements=frozenset({0}))
    table.add(row)
    table.add(dataclasses.replace(row, measurements=frozenset({3})))     # the same value, measured twice
    assert len(table) == 1 and table.rows[0].measurements == {0, 3}
    with pytest.raises(DuplicateResultError):
        table.add(dataclasses.replace(row, value=0.8, measurements=frozenset({4})))


def test_a_claim_reads_its_measurements_by_id_not_by_label():
    """`where class == 7` is planned into the `per class` measurement that covers it: the claim
    names that measurement and reads its class-7 row; rows of another measurement with the same
    label (other stimuli as bound, a claim's own draws) are never read."""
    plan = plan_text(HEAD + """model net = train mlp [64, 32, 10] on train epochs 1
measure accuracy per class on test
expect accuracy on test where class == 7 > 0.5
""")
    (claim,) = plan.expectations
    assert [m.per_class for m in plan.measures] == [True] and claim.lhs.measurements == (0,)
    table = ResultsTable()
    for cls in [""] + [str(c) for c in range(10)]:
        table.add(ResultRow("accuracy", "test", 0.3 if cls == "7" else 0.9, 50, model="net", cls=cls,
                            measurements=frozenset({0})))
    # a row under the same label, stimuli, model and class that no planned measurement made: a
    # join on the labels would read it too; the claim does not
    table.add(ResultRow("accuracy", "test", 0.99, 50, model="net", cls="7", fit_on="elsewhere"))
    (verdict,) = decide(plan.expectations, table, names)
    assert verdict.observed == 0.3 and not verdict.passed
