"""The Hayne grid's per-cell numbers against a direct computation (plain torch + numpy, no hooks):
class means, the equal-count grid, zeroed units, ranks and rank deficits."""

import numpy as np
import torch

from abl.interpreter.api import Experiment

SPEC = """experiment "hayne numbers"
seed 0
stimuli probe = digits split train
stimuli eval = digits split test
model net = train mlp [64, 32, 16, 10] on probe epochs 3
for each class c in [3, 8], each layer L in [fc1]:
    units cells = grid 4x4 over selectivity, magnitude for class c in L on probe
    measure rank deficit on eval where class == c ablating cells
    measure selective rank deficit on eval where class == c ablating cells
    measure probe accuracy of cells on eval
"""


def direct_grid(h, labels, target):
    classes = np.unique(labels)
    means = np.stack([h[labels == k].mean(0) for k in classes])
    row = list(classes).index(target)
    others = (means.sum(0) - means[row]) / (len(classes) - 1)
    selectivity = means[row] - others
    magnitude = h.mean(0)
    units = np.arange(h.shape[1])
    order = units[np.lexsort((units, selectivity))]
    cells = {}
    for r, strip in enumerate(np.array_split(order, 4)):
        strip = strip[np.lexsort((strip, magnitude[strip]))]
        for c, cell in enumerate(np.array_split(strip, 4)):
            cells[(r, c)] = sorted(cell.tolist())
    return cells


def ranks(logits, labels):
    true = logits[np.arange(len(labels)), labels]
    return (logits > true[:, None]).sum(1) + 1


def test_grid_cells_and_rank_deficits_match_direct_computation(tmp_path):
    exp = Experiment.from_text(SPEC, cache_dir=tmp_path, device="cpu")
    result = exp.run()
    net = exp.model("net")
    probe, evaluation = exp.stimuli("probe"), exp.stimuli("eval")
    linear1, linear2, out = net.fc1[0], net.fc2[0], net.logits

    def hidden(x):
        return torch.relu(linear1(x.flatten(1)))

    def head(h1):
        return out(torch.relu(linear2(h1)))

    with torch.no_grad():
        h_probe = hidden(probe.images).double().numpy()
        h_eval = hidden(evaluation.images)
        base = head(h_eval).numpy()
    labels_probe = probe.labels.numpy()
    labels_eval = evaluation.labels.numpy()
    checked = 0
    for target in (3, 8):
        cells = direct_grid(h_probe, labels_probe, target)
        (engine_grid,) = [g for key, g in exp.executor.selector._grids.items() if key[5] == target]
        assert {(r, c): list(engine_grid[r][c]) for r in range(4) for c in range(4)} == cells
        assert sorted(len(v) for v in cells.values()) == [2] * 16  # 32 units, equal counts
        mask = labels_eval == target
        for (r, c), units in cells.items():
            edited = h_eval.clone()
            edited[:, units] = 0
            with torch.no_grad():
                after = head(edited).numpy()
            deficits = np.maximum(0, ranks(after, labels_eval) - ranks(base, labels_eval))
            expected = deficits[mask].mean()
            (row,) = [x for x in result.table if x.measure == "rank deficit" and x.cls == str(target)
                      and x.cell == (r, c)]
            assert row.n == int(mask.sum())
            assert abs(row.value - expected) < 1e-9, (target, r, c, row.value, expected)
            assert row.ci_low <= row.value <= row.ci_high
            if deficits[mask].min() == deficits[mask].max():
                assert row.ci_low == row.ci_high == row.value
            # Hayne's other score: the class's deficit minus the other classes' images' deficit
            (selective,) = [x for x in result.table if x.measure == "selective rank deficit"
                            and x.cls == str(target) and x.cell == (r, c)]
            assert selective.n == len(labels_eval)
            assert abs(selective.value - (expected - deficits[~mask].mean())) < 1e-9
            assert selective.ci_low <= selective.value <= selective.ci_high
            checked += 1
    assert checked == 32
    grids = [g for key, g in exp.executor.selector._grids.items()]
    for grid in grids:
        units = sorted(u for strip in grid for cell in strip for u in cell)
        assert units == list(range(32))
    probes = [x for x in result.table if x.measure == "probe accuracy"]
    assert len(probes) == 32 and all(0.0 <= x.value <= 1.0 for x in probes)
    # held-out probes carry a bootstrap interval over the evaluation images
    assert all(x.ci_low <= x.value <= x.ci_high and x.ci_high - x.ci_low < 0.5 for x in probes)
