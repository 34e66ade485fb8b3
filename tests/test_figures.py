"""Figures from synthetic results tables: every function writes valid PNGs (and SVGs where asked),
leaves no pyplot figure open, and turns a table without the needed rows into a clear ValueError."""

import math

import numpy as np
import pytest

from abl.interpreter.report import figure_sweeps
from abl.interpreter.report import figures
from abl.interpreter.plan.units import Cell
from abl.interpreter.run.table import ResultRow, ResultsTable

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path):
    assert path.exists(), path
    assert path.suffix == ".png"
    assert path.read_bytes()[:8] == PNG_MAGIC


def assert_svg(path):
    assert path.exists() and path.suffix == ".svg"
    assert b"<svg" in path.read_bytes()[:2000]


def grid_table(classes=("junco", "bookcase", "7"), layers=("conv1", "conv2", "fc1"), rows=4, cols=4,
               measures=("rank deficit", "probe accuracy"), models=("net",)):
    rng = np.random.default_rng(0)
    table = ResultsTable()
    for model in models:
        for measure in measures:
            for k, cls in enumerate(classes):
                for l, layer in enumerate(layers):
                    for r in range(rows):
                        for c in range(cols):
                            value = (r + 1) * (c + 1) * (k + 1) + l + rng.random()
                            if measure == "probe accuracy":
                                value = min(0.5 + 0.03 * r + 0.01 * c + 0.01 * rng.random(), 1.0)
                            table.add(ResultRow(measure=measure, stimuli="eval", value=value, n=50,
                                                model=model, cls=cls, layer=layer, units="cells",
                                                cell=Cell(r, c), intervention="ablating cells",
                                                dims=(("c", cls), ("L", layer))))
    return table


def knob_table():
    table = ResultsTable()
    for alpha in ("-1", "-0.5", "0", "0.5", "1"):
        a = float(alpha)
        dims = (("alpha", alpha),)
        table.add(ResultRow("accuracy", "test", 0.95 - 0.05 * max(a, 0), 360, model="net", dims=dims))
        for layer, base in (("conv2", 0.3), ("fc1", 0.4)):
            rng = np.random.default_rng(int(10 * a) + 20)
            per_unit = np.clip(base + 0.2 * a + 0.1 * rng.standard_normal(32), 0, 1)
            table.add(ResultRow("selectivity index", "test", float(per_unit.mean()), 360, model="net",
                                layer=layer, dims=dims))
            for unit, value in enumerate(per_unit):
                table.add(ResultRow("selectivity index unit", "test", float(value), 360, model="net",
                                    layer=layer, units=str(unit), dims=dims))
        for sigma in ("0.5", "1.0", "1.5"):
            table.add(ResultRow("accuracy", "blurred", 0.9 - 0.1 * float(sigma) - 0.03 * a, 360,
                                model="net", dims=dims + (("sigma", sigma),)))
    return table


def digit7_table():
    table = ResultsTable()
    rng = np.random.default_rng(1)
    for cls in [""] + [str(i) for i in range(10)]:
        table.add(ResultRow("accuracy", "test", 0.97, 36, model="net", cls=cls))
        table.add(ResultRow("accuracy", "test", 0.6 if cls == "7" else 0.95, 36, model="net", cls=cls,
                            intervention="ablating hot7"))
        for repeat in range(5):
            table.add(ResultRow("accuracy", "test", 0.96 - 0.02 * rng.random(), 36, model="net", cls=cls,
                                intervention="ablating rand5", repeat=repeat))
    return table


@pytest.fixture(autouse=True)
def no_open_figures():
    import matplotlib.pyplot as plt

    before = set(plt.get_fignums())
    yield
    assert set(plt.get_fignums()) == before, "a figure was left open"


def test_hayne_heatmaps_png_and_svg(tmp_path):
    table = grid_table()
    paths = figures.hayne_heatmaps(table, "rank deficit", tmp_path, "hayne grid: rank deficit",
                                   ["conv1", "conv2", "fc1"], ["junco", "bookcase", "7"], 4, 4, "magma")
    assert [p.suffix for p in paths] == [".png", ".svg"]
    assert_png(paths[0])
    assert_svg(paths[1])


def test_hayne_heatmaps_defaults_and_large_layout(tmp_path):
    classes = [f"class {i}" for i in range(10)]
    layers = ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7"]
    table = grid_table(classes=classes, layers=layers, measures=("rank deficit",))
    paths = figures.hayne_heatmaps(table, "rank deficit", tmp_path, "10 classes x 7 layers")
    assert_png(paths[0])


def test_hayne_heatmaps_one_figure_per_model(tmp_path):
    table = grid_table(models=("alexnet", "vgg16"), measures=("rank deficit",))
    paths = figures.hayne_heatmaps(table, "rank deficit", tmp_path, "t", cmap="magma")
    assert sorted(p.name for p in paths if p.suffix == ".png") == [
        "heatmap-rank-deficit-alexnet.png", "heatmap-rank-deficit-vgg16.png"]


def test_hayne_heatmaps_missing_measure_is_a_clear_value_error(tmp_path):
    table = grid_table(measures=("probe accuracy",))
    with pytest.raises(ValueError, match="no `rank deficit` values"):
        figures.hayne_heatmaps(table, "rank deficit", tmp_path, "t", ["conv1"], ["7"], 4, 4, "magma")
    with pytest.raises(ValueError, match="no `rank deficit` values"):
        figures.hayne_heatmaps(ResultsTable(), "rank deficit", tmp_path, "t", [], [], 4, 4, "magma")
    assert not list(tmp_path.iterdir())


def test_hayne_heatmaps_values_without_cells_or_outside_grid(tmp_path):
    table = ResultsTable([ResultRow("rank deficit", "eval", 1.0, 10, cls="7", layer="fc1")])
    with pytest.raises(ValueError, match="not per grid cell"):
        figures.hayne_heatmaps(table, "rank deficit", tmp_path, "t")
    table = grid_table(measures=("rank deficit",))
    with pytest.raises(ValueError, match="outside a 2x2 grid"):
        figures.hayne_heatmaps(table, "rank deficit", tmp_path, "t", None, None, 2, 2)


def test_hayne_heatmaps_tolerate_missing_cells_and_nan(tmp_path):
    table = grid_table(measures=("rank deficit",))
    table = table.where(lambda r: not (r.cls == "7" and r.layer == "fc1"))
    table.add(ResultRow("rank deficit", "eval", math.nan, 10, model="net", cls="junco", layer="fc1", cell=Cell(0, 0)))
    paths = figures.hayne_heatmaps(table, "rank deficit", tmp_path, "t", ["conv1", "conv2", "fc1"],
                                   ["junco", "bookcase", "7"], 4, 4, "viridis")
    assert_png(paths[0])


def test_hayne_summary(tmp_path):
    table = grid_table(models=("alexnet", "vgg16"))
    paths = figures.hayne_summary(table, ["probe accuracy", "rank deficit"], tmp_path, "summary")
    assert_png(paths[0])
    assert_svg(paths[1])
    with pytest.raises(ValueError, match="per-cell values"):
        figures.hayne_summary(table, ["accuracy"], tmp_path, "summary")


def test_per_class_bars(tmp_path):
    path = figures.per_class_bars(digit7_table(), "accuracy", tmp_path, "digit 7: accuracy per class")
    assert_png(path)
    with pytest.raises(ValueError, match="no `loss` values"):
        figures.per_class_bars(digit7_table(), "loss", tmp_path, "t")


def test_selectivity_histograms(tmp_path):
    assert_png(figures.selectivity_histograms(knob_table(), tmp_path, "class selectivity index"))
    single = knob_table().where(lambda r: r.dim("alpha") == "0")
    assert_png(figures.selectivity_histograms(single, tmp_path / "one", "one distribution"))
    with pytest.raises(ValueError, match="selectivity index unit"):
        figures.selectivity_histograms(digit7_table(), tmp_path, "t")


def test_sweep_scatter(tmp_path):
    path = figure_sweeps.sweep_scatter(knob_table(), "selectivity index", "accuracy", "alpha", tmp_path, "knob")
    assert_png(path)
    with pytest.raises(ValueError, match="do not vary over `beta`"):
        figure_sweeps.sweep_scatter(knob_table(), "accuracy", "selectivity index", "beta", tmp_path, "t")


def test_sweep_values_prefer_clean_stimuli():
    values, context = figure_sweeps.sweep_values(knob_table(), "accuracy", "alpha")
    assert values["1"] == pytest.approx(0.90)       # the clean test accuracy, not the blurred copies
    assert "test" in context
    values, context = figure_sweeps.sweep_values(knob_table(), "selectivity index", "alpha")
    assert "mean of 2" in context and "conv2" in context and "fc1" in context   # the average is said


def test_curves(tmp_path):
    assert_png(figure_sweeps.curves(knob_table(), "accuracy", "sigma", "alpha", tmp_path, "blur"))
    assert_png(figure_sweeps.curves(knob_table(), "accuracy", "sigma", "", tmp_path / "single", "blur"))
    with pytest.raises(ValueError, match="x axis"):
        figure_sweeps.curves(knob_table(), "accuracy", "", "alpha", tmp_path, "t")
    with pytest.raises(ValueError, match="do not vary over `level`"):
        figure_sweeps.curves(knob_table(), "accuracy", "level", "alpha", tmp_path, "t")


def _cumulative_table():
    """`for each k`: ablating the top-k, the bottom-k and 3 random draws of k units."""
    table = ResultsTable()
    for k in ("1", "2", "4"):
        dims = (("k", k),)
        table.add(ResultRow("accuracy", "test", 0.9 - 0.1 * float(k), 100, model="net", units="topk",
                            intervention="ablating topk", dims=dims))
        table.add(ResultRow("accuracy", "test", 0.95, 100, model="net", units="bottomk",
                            intervention="ablating bottomk", dims=dims))
        for draw in range(3):
            table.add(ResultRow("accuracy", "test", 0.93 - 0.01 * draw, 100, model="net", units="randk",
                                intervention="ablating randk", repeat=draw, dims=dims))
    return table


def test_curves_draw_one_line_per_condition_and_say_what_is_averaged(tmp_path):
    series = figure_sweeps.sweep_series(_cumulative_table(), "accuracy", "k")
    by_units = {s.condition.units: s for s in series}
    assert set(by_units) == {"topk", "bottomk", "randk"}          # never pooled into one line
    assert by_units["topk"].points(["1", "2", "4"]) == [("1", pytest.approx(0.8)), ("2", pytest.approx(0.7)),
                                                         ("4", pytest.approx(0.5))]
    assert by_units["randk"].draws == 3
    assert "mean of 3 draws" in figure_sweeps._legend(by_units["randk"], "", False)
    assert_png(figure_sweeps.curves(_cumulative_table(), "accuracy", "k", "", tmp_path, "cumulative"))


def test_scatter_keeps_clean_and_noisy_accuracy_apart():
    # as a run's table: it knows the stimuli keys' declared names (from the plan)
    table = ResultsTable(names={f"noisy[alpha={alpha}]": "noisy" for alpha in ("-1", "0", "1")})
    for alpha in ("-1", "0", "1"):
        dims = (("alpha", alpha),)
        table.add(ResultRow("accuracy", "test", 0.9, 100, model="net", dims=dims))
        table.add(ResultRow("accuracy", f"noisy[alpha={alpha}]", 0.5, 100, model="net", dims=dims))
    series = figure_sweeps._clean(figure_sweeps.sweep_series(table, "accuracy", "alpha"))
    assert sorted(s.condition.stimuli for s in series) == ["noisy", "test"]
    for s in series:
        assert {round(v, 6) for v in (y for _, y in s.points(["-1", "0", "1"]))} == ({0.9} if s.condition.stimuli == "test" else {0.5})


def test_feature_grid(tmp_path):
    rng = np.random.default_rng(0)
    images = {f"fc2[{i}]": rng.random((3, 16, 16)) for i in range(5)}
    images["conv1[0]"] = rng.random((1, 8, 8)) * 2 - 0.5        # clipped into [0, 1]
    assert_png(figures.feature_grid(images, tmp_path, "features"))
    with pytest.raises(ValueError, match="expected \\(C, H, W\\)"):
        figures.feature_grid({"bad": np.zeros((5, 4, 4, 4))}, tmp_path, "t")
    with pytest.raises(ValueError):
        figures.feature_grid({}, tmp_path, "t")
