"""Differential test: abl's numbers recomputed by an independent plain-torch implementation.

Every measure and intervention the manual documents is generated into specs (in and out of
`for each` families, with random controls of several claims, corrupted stimuli and cross-layer
unit sets) and the three examples are run; then every result row of the generated specs, and a
sample of the examples' rows, is recomputed HERE from the manual's formulas, with this file's own
forward hooks, its own statistics, its own seeds (the documented SeedSequence recipe) and its own
probes, and must agree to 1e-6. The only things taken from abl are its inputs: the trained
weights and the loaded images. Result keys must be unique in every run.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from abl.interpreter.api import Experiment

ROOT = Path(__file__).resolve().parent.parent
TOL = 1e-6
# Probes: abl solves a grid's probes together by Newton's method to the exact optimum, while this
# oracle uses scikit-learn's lbfgs (stopped at tol 1e-4); images on the decision boundary can
# fall either way, so probe scores agree to 0.01 balanced accuracy (issue 8's bound), not 1e-6.
PROBE_TOL = 0.01

HEADER = """experiment "differential"
seed 3
repeats 5
stimuli train = digits split train
stimuli test = digits split test
model net = train mlp [64, 24, 16, 10] on train epochs 3
units hot = top 3 by activation for class 3 in fc2 on train
units low = bottom 2 by selectivity for class 5 in fc1 on train
units pair = [1, 4] in fc1
"""

# (spec text, what the oracle must do): the unit sets the header defines
UNIT_SETS = {
    "hot": ("top", "fc2", 3, "activation", 3),
    "low": ("bottom", "fc1", 2, "selectivity", 5),
    "pair": ("explicit", "fc1", (1, 4)),
}

INTERVENTIONS = [
    "",
    "ablating hot",
    "mean-ablating low",
    "clamping hot to 2.5",
    "scaling pair by 0.5",
    "ablating (hot | pair)",
    "zeroing incoming weights of hot",
    "scaling incoming weights of low by 0.5",
    "zeroing outgoing weights of pair",
    "scaling outgoing weights of hot by 2",
    "zeroing weight [2, 5] of fc2",
    "scaling weight [0, 1] of logits by 3",
    "ablating hot and clamping pair to 1",
]

OUTPUT_MEASURES = ["accuracy per class", "accuracy top 2", "loss", "rank", "logit of class 3",
                   "probability of class 7 where class == 7"]
CHANGE_MEASURES = ["rank deficit per class", "rank change"]
UNIT_MEASURES = ["activation of hot", "activation of all in fc1 where class == 2",
                 "selectivity index in fc2"]


# ---- the independent implementation ---------------------------------------------------------------

def modules(model):
    return dict(model.named_modules())


@contextlib.contextmanager
def hooked(model, edits):
    """edits: {module path: fn(output) -> output}; plain register_forward_hook, always removed."""
    handles = []
    try:
        for path, fn in edits.items():
            handles.append(modules(model)[path].register_forward_hook(lambda m, i, o, fn=fn: fn(o)))
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def weights_scaled(model, edits):
    """edits: [(module path, index expression for weight, bias index or None, factor)]."""
    saved = []
    try:
        with torch.no_grad():
            for path, w_index, b_index, factor in edits:
                module = modules(model)[path]
                saved.append((module.weight, module.weight.detach().clone()))
                module.weight[w_index] *= factor
                if b_index is not None:
                    saved.append((module.bias, module.bias.detach().clone()))
                    module.bias[b_index] *= factor
        yield
    finally:
        with torch.no_grad():
            for tensor, value in reversed(saved):
                tensor.copy_(value)


def unit_view(output):
    """(N, U) per-image unit values: conv channels averaged over space."""
    return output.flatten(2).mean(2) if output.dim() > 2 else output


def run(model, images, edits=None, weights=(), record=()):
    """(logits, {layer: (N, U) float64 recorded AFTER the edits}) in one plain forward."""
    model.eval()
    recorded = {}
    hooks = dict(edits or {})
    for layer in record:
        previous = hooks.get(layer)

        def capture(output, layer=layer, previous=previous):
            output = previous(output) if previous else output
            recorded[layer] = unit_view(output).double().clone()
            return output
        hooks[layer] = capture
    with torch.no_grad(), weights_scaled(model, weights), hooked(model, hooks):
        logits = model(images)
    return logits.double(), {k: v.numpy() for k, v in recorded.items()}


def class_means(values, labels):
    classes = sorted(set(labels.tolist()))
    return classes, np.stack([values[labels == c].mean(0) for c in classes])


def selectivity_index(values, labels):
    _, means = class_means(values, labels)
    top = means.max(0)
    order = np.argmax(means, 0)
    others = np.array([(means[:, u].sum() - means[order[u], u]) / (means.shape[0] - 1)
                       for u in range(means.shape[1])])
    return (top - others) / (top + others + 1e-6)


def scores(values, labels, metric, cls):
    classes, means = class_means(values, labels)
    if metric == "activation":
        return means[classes.index(cls)] if cls is not None else values.mean(0)
    if metric == "magnitude":
        return values.mean(0)
    row = classes.index(cls)
    others = (means.sum(0) - means[row]) / (len(classes) - 1)
    if metric == "selectivity":
        return means[row] - others
    raise AssertionError(metric)


def top(score, k, bottom=False):
    order = np.lexsort((np.arange(len(score)), score if bottom else -score))
    return tuple(sorted(int(u) for u in order[:k]))


def random_draw(name, model, layer, count, n_units, seed, stream, draw):
    identity = f"{name}|{model}|{layer}|{count}"
    digest = int.from_bytes(hashlib.sha256(identity.encode()).digest()[:4], "little")
    rng = np.random.default_rng(np.random.SeedSequence([seed, digest, stream, draw]))
    return tuple(sorted(int(u) for u in rng.choice(n_units, size=count, replace=False)))


def grid(row_score, col_score, rows, cols):
    units = np.arange(len(row_score))
    strips = np.array_split(units[np.lexsort((units, row_score))], rows)
    return [[tuple(sorted(int(u) for u in cell))
             for cell in np.array_split(strip[np.lexsort((strip, col_score[strip]))], cols)]
            for strip in strips]


def ranks(logits, labels):
    true = logits[torch.arange(len(labels)), labels]
    return 1 + (logits > true[:, None]).sum(1)


def output_value(measure, logits, base, labels):
    if measure == "accuracy":
        return float((logits.argmax(1) == labels).double().mean())
    if measure.startswith("accuracy top-"):
        k = int(measure.split("-")[1])
        return float((logits.topk(k, 1).indices == labels[:, None]).any(1).double().mean())
    if measure == "loss":
        return float(torch.nn.functional.cross_entropy(logits, labels))
    if measure == "rank":
        return float(ranks(logits, labels).double().mean())
    if measure == "rank deficit":
        return float((ranks(logits, labels) - ranks(base, labels)).clamp(min=0).double().mean())
    if measure == "rank change":
        return float((ranks(logits, labels) - ranks(base, labels)).double().mean())
    match = re.fullmatch(r"(logit|probability) of class (\d+)", measure)
    if match:
        values = logits if match.group(1) == "logit" else logits.softmax(1)
        return float(values[:, int(match.group(2))].mean())
    raise AssertionError(measure)


def probe(x_fit, y_fit, x_eval, y_eval, cls, seed):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def score(xf, yf, xe, ye):
        model = make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=1000))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(xf, yf)
        return balanced_accuracy_score(ye, model.predict(xe))

    yf = (y_fit == cls).astype(int)
    if x_eval is not None:
        return score(x_fit, yf, x_eval, (y_eval == cls).astype(int))
    folds = StratifiedKFold(n_splits=min(5, int(min(yf.sum(), len(yf) - yf.sum()))), shuffle=True,
                            random_state=seed)
    return float(np.mean([score(x_fit[a], yf[a], x_fit[b], yf[b]) for a, b in folds.split(x_fit, yf)]))


class Oracle:
    """Recomputes a spec's numbers from its model and images, knowing the spec only as the test
    author wrote it (the unit sets and interventions above), never through abl's plan."""

    def __init__(self, experiment: Experiment, seed: int):
        self.model = experiment.model("net")
        self.train = experiment.stimuli("train")
        self.test = experiment.stimuli("test")
        self.seed = seed
        self._plain: dict = {}

    def recorded(self, stimuli, layer):
        key = (id(stimuli), layer)
        if key not in self._plain:
            self._plain[key] = run(self.model, stimuli.images, record=[layer])[1][layer]
        return self._plain[key]

    def units(self, name):
        kind, layer, *rest = UNIT_SETS[name]
        if kind == "explicit":
            return {layer: rest[0]}
        count, metric, cls = rest
        values = self.recorded(self.train, layer)
        return {layer: top(scores(values, self.train.labels.numpy(), metric, cls), count, kind == "bottom")}

    def unit_term(self, text):
        text = text.strip()
        if text.startswith("(") and text.endswith(")"):
            merged: dict[str, set] = {}
            for part in text[1:-1].split("|"):
                for layer, units in self.units(part.strip()).items():
                    merged.setdefault(layer, set()).update(units)
            return {layer: tuple(sorted(u)) for layer, u in merged.items()}
        return self.units(text)

    def edits(self, text, stimuli):
        """(activation edits, weight edits) for an intervention text of INTERVENTIONS."""
        act, weights = {}, []

        def add(layer, fn):
            previous = act.get(layer)
            act[layer] = (lambda o, f=fn, p=previous: f(p(o))) if previous else fn

        for part in [p.strip() for p in text.split(" and ")] if text else []:
            if match := re.fullmatch(r"ablating (.+)", part):
                for layer, units in self.unit_term(match.group(1)).items():
                    add(layer, lambda o, u=list(units): _set(o, u, 0.0))
            elif match := re.fullmatch(r"mean-ablating (\w+)", part):
                for layer, units in self.units(match.group(1)).items():
                    means = self.recorded(stimuli, layer).mean(0)
                    add(layer, lambda o, u=list(units), m=means: _set(o, u, torch.tensor(m[u], dtype=o.dtype)))
            elif match := re.fullmatch(r"clamping (\w+) to ([\d.]+)", part):
                for layer, units in self.units(match.group(1)).items():
                    add(layer, lambda o, u=list(units), v=float(match.group(2)): _set(o, u, v))
            elif match := re.fullmatch(r"scaling (\w+) by ([\d.]+)", part):
                for layer, units in self.units(match.group(1)).items():
                    add(layer, lambda o, u=list(units), f=float(match.group(2)): _scale(o, u, f))
            elif match := re.fullmatch(r"(zeroing|scaling) incoming weights of (\w+)(?: by ([\d.]+))?", part):
                factor = 0.0 if match.group(1) == "zeroing" else float(match.group(3))
                for layer, units in self.units(match.group(2)).items():
                    u = list(units)
                    weights.append((f"{layer}.0", (u,), (u,), factor))
            elif match := re.fullmatch(r"(zeroing|scaling) outgoing weights of (\w+)(?: by ([\d.]+))?", part):
                factor = 0.0 if match.group(1) == "zeroing" else float(match.group(3))
                for layer, units in self.units(match.group(2)).items():
                    following = {"fc1": "fc2.0", "fc2": "logits"}[layer]
                    weights.append((following, (slice(None), list(units)), None, factor))
            elif match := re.fullmatch(r"(zeroing|scaling) weight \[(\d+), (\d+)\] of (\w+)(?: by ([\d.]+))?", part):
                factor = 0.0 if match.group(1) == "zeroing" else float(match.group(5))
                path = {"fc1": "fc1.0", "fc2": "fc2.0", "logits": "logits"}[match.group(4)]
                weights.append((path, (int(match.group(2)), int(match.group(3))), None, factor))
            else:
                raise AssertionError(part)
        return act, weights


def _set(output, units, value):
    output = output.clone()
    output[:, units] = value
    return output


def _scale(output, units, factor):
    output = output.clone()
    output[:, units] = output[:, units] * factor
    return output


def check_unique_keys(table):
    keys = [row.key for row in table]
    assert len(keys) == len(set(keys)), "two rows share a result key"


def expect_close(row, expected):
    tolerance = PROBE_TOL if row.measure == "probe accuracy" else TOL
    assert math.isclose(row.value, expected, rel_tol=0, abs_tol=tolerance), (row.as_record(), expected)


# ---- generated specs: every measure under every intervention -------------------------------------

def _spec_for(intervention: str) -> str:
    lines = [HEADER]
    suffix = f" {intervention}" if intervention else ""
    measures = OUTPUT_MEASURES + UNIT_MEASURES + (CHANGE_MEASURES if intervention else [])
    for measure in measures:
        if " where " in measure:
            head, where = measure.split(" where ")
            lines.append(f"measure {head} on test where {where}{suffix}")
        else:
            lines.append(f"measure {measure} on test{suffix}")
    if not intervention:
        lines.append("measure probe accuracy of hot on test fit on train")
        lines.append("measure probe accuracy of low on test where class == 5")
    return "\n".join(lines) + "\n"


def _run(text, cache):
    experiment = Experiment.from_text(text, cache_dir=cache)
    return experiment, experiment.run()


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("differential-cache")


def _check_row(oracle: Oracle, row, intervention: str, stimuli):
    images, labels = stimuli.images, stimuli.labels
    act, weights = oracle.edits(intervention, stimuli)
    measure = row.measure
    if measure in ("activation", "selectivity index", "selectivity index unit"):
        layer = row.layer
        _, recorded = run(oracle.model, images, act, weights, record=[layer])
        values = recorded[layer]
        if measure == "activation":
            units = list(range(values.shape[1])) if row.units.startswith("all") else list(oracle.units(row.units)[layer])
            mask = np.ones(len(labels), bool) if not row.cls else labels.numpy() == int(row.cls)
            expect_close(row, values[mask][:, units].mean())
        elif measure == "selectivity index":
            expect_close(row, selectivity_index(values, labels.numpy()).mean())
        else:
            expect_close(row, selectivity_index(values, labels.numpy())[int(row.units)])
        return
    if measure == "probe accuracy":
        layer = row.layer
        units = list(oracle.units(row.units)[layer])
        cls = int(row.cls)
        fit = oracle.recorded(oracle.train, layer)[:, units]
        if row.fit_on == "train":
            evaluated = oracle.recorded(stimuli, layer)[:, units]
            expected = probe(fit, oracle.train.labels.numpy(), evaluated, labels.numpy(), cls, oracle.seed)
        else:
            assert row.fit_on == "test"
            own = oracle.recorded(stimuli, layer)[:, units]
            expected = probe(own, labels.numpy(), None, None, cls, oracle.seed)
        expect_close(row, expected)
        return
    logits, _ = run(oracle.model, images, act, weights)
    base, _ = run(oracle.model, images)
    mask = torch.ones(len(labels), dtype=torch.bool) if not row.cls else labels == int(row.cls)
    expect_close(row, output_value(measure, logits[mask], base[mask], labels[mask]))


@pytest.mark.parametrize("intervention", INTERVENTIONS, ids=lambda t: t or "none")
def test_every_measure_under_every_intervention(intervention, cache):
    experiment, result = _run(_spec_for(intervention), cache)
    check_unique_keys(result.table)
    oracle = Oracle(experiment, seed=3)
    label = intervention or None
    rows = [r for r in result.table if r.intervention == label]
    measured = {r.measure for r in rows}
    expected_measures = {"accuracy", "accuracy top-2", "loss", "rank", "logit of class 3",
                         "probability of class 7", "activation", "selectivity index",
                         "selectivity index unit"}
    if intervention:
        expected_measures |= {"rank deficit", "rank change"}
    else:
        expected_measures |= {"probe accuracy"}
    assert expected_measures <= measured, expected_measures - measured
    for row in rows:
        _check_row(oracle, row, intervention, oracle.test)
    if intervention == "ablating (hot | pair)":
        assert {r.layer for r in rows if r.measure == "accuracy"} == {"fc2+fc1"}   # every layer named


FAMILIES = HEADER + """units rnd = random 3 in fc2
for each class c in [1, 3]:
    units cells = grid 2x2 over selectivity, magnitude for class c in fc2 on train
    measure rank deficit on test where class == c ablating cells
    measure probe accuracy of cells on test fit on train
for each v in [0.5, 2]:
    measure accuracy on test scaling hot by v
    measure activation of hot on test clamping hot to v
for each layer L in [fc1, fc2]:
    units t = top 2 by activation for class 0 in L on train
    measure loss on test ablating t
measure accuracy on test ablating rnd
expect drop of accuracy[class 3] on test ablating hot > drop ablating rnd repeats 7
expect drop of accuracy[class 3] on test ablating hot > drop ablating rnd repeats 4
stimuli noisy = test noise 0.3 seed 7
stimuli worse = test blur 1.0 noise 0.2
measure accuracy on noisy
measure accuracy on worse
"""


def test_families_random_controls_and_corruptions(cache):
    experiment, result = _run(FAMILIES, cache)
    check_unique_keys(result.table)
    oracle = Oracle(experiment, seed=3)
    test, train = oracle.test, oracle.train
    base, _ = run(oracle.model, test.images)
    checked = 0
    for row in result.table:
        if row.cell:
            cls = int(row.dim("c") or row.cls)
            values = oracle.recorded(train, "fc2")
            labels = train.labels.numpy()
            cells = grid(scores(values, labels, "selectivity", cls), scores(values, labels, "magnitude", cls), 2, 2)
            r, c = row.cell
            units = list(cells[r][c])
            if row.measure == "rank deficit":
                logits, _ = run(oracle.model, test.images, {"fc2": lambda o: _set(o, units, 0.0)})
                mask = test.labels == cls
                expect_close(row, output_value("rank deficit", logits[mask], base[mask], test.labels[mask]))
            else:
                expected = probe(values[:, units], labels, oracle.recorded(test, "fc2")[:, units],
                                 test.labels.numpy(), cls, 3)
                expect_close(row, expected)
            checked += 1
        elif row.dim("v"):
            v = float(row.dim("v"))
            units = list(oracle.units("hot")["fc2"])
            if row.measure == "accuracy":
                logits, _ = run(oracle.model, test.images, {"fc2": lambda o: _scale(o, units, v)})
                expect_close(row, output_value("accuracy", logits, base, test.labels))
            else:
                expect_close(row, v)       # clamped units read exactly the clamped value
            checked += 1
        elif row.dim("L"):
            layer = row.dim("L")
            units = list(top(scores(oracle.recorded(train, layer), train.labels.numpy(), "activation", 0), 2))
            logits, _ = run(oracle.model, test.images, {layer: lambda o: _set(o, units, 0.0)})
            expect_close(row, output_value("loss", logits, base, test.labels))
            checked += 1
        elif row.units == "rnd":
            units = list(random_draw("rnd", "net", "fc2", 3, 16, 3, row.claim, row.repeat))
            logits, _ = run(oracle.model, test.images, {"fc2": lambda o: _set(o, units, 0.0)})
            mask = torch.ones(len(test.labels), dtype=torch.bool) if not row.cls else test.labels == int(row.cls)
            expect_close(row, output_value("accuracy", logits[mask], base[mask], test.labels[mask]))
            checked += 1
    # each claim draws its own controls, with its own repeats
    draws = {}
    for row in result.table:
        if row.units == "rnd":
            draws.setdefault(row.claim, set()).add(row.repeat)
    assert {claim: len(d) for claim, d in draws.items()} == {0: 5, 1: 7, 2: 4}
    for verdict, repeats in zip(result.verdicts, (7, 4)):
        assert f"{repeats} draws" in verdict.detail
        hot = list(oracle.units("hot")["fc2"])
        mask = test.labels == 3
        before = output_value("accuracy", base[mask], base[mask], test.labels[mask])
        logits, _ = run(oracle.model, test.images, {"fc2": lambda o: _set(o, hot, 0.0)})
        observed = before - output_value("accuracy", logits[mask], base[mask], test.labels[mask])
        controls = []
        for draw in range(repeats):
            units = list(random_draw("rnd", "net", "fc2", 3, 16, 3, verdict.claim, draw))
            logits, _ = run(oracle.model, test.images, {"fc2": lambda o: _set(o, units, 0.0)})
            controls.append(before - output_value("accuracy", logits[mask], base[mask], test.labels[mask]))
        p_value = (1 + sum(c >= observed for c in controls)) / (repeats + 1)
        assert verdict.p_value == pytest.approx(p_value)
        assert verdict.observed == pytest.approx(observed, abs=TOL)
    # corruptions: derived sets hold the images of `test`, corrupted in the order written
    from torchvision.transforms.functional import gaussian_blur

    clean = test.images
    generator = torch.Generator().manual_seed(7)
    noisy = (clean + 0.3 * torch.randn(clean.shape, generator=generator)).clamp(0, 1)
    blurred = gaussian_blur(clean, [7, 7], [1.0, 1.0])
    worse = (blurred + 0.2 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(3))).clamp(0, 1)
    for name, images in (("noisy", noisy), ("worse", worse)):
        assert torch.equal(experiment.stimuli(name).labels, test.labels)
        assert torch.allclose(experiment.stimuli(name).images, images, atol=1e-6)
        row = next(r for r in result.table if r.stimuli == name)
        logits, _ = run(oracle.model, images)
        expect_close(row, output_value("accuracy", logits, logits, test.labels))
        checked += 1
    assert checked >= 4 * 2 * 2 + 4 + 2 + 5 + 7 + 4


def test_rows_carry_the_stimuli_of_their_binding(cache):
    text = HEADER + """for each a in [1, 2]:
    for each level in [0.1, 0.2]:
        stimuli noisy = test noise level
        measure accuracy on noisy
"""
    _, result = _run(text, cache)
    check_unique_keys(result.table)
    labels = {(r.dim("a"), r.dim("level")): r.stimuli for r in result.table}
    assert labels[("2", "0.2")] == "noisy[a=2,level=0.2]"
    assert labels[("1", "0.1")] == "noisy[a=1,level=0.1]"
    # the images are loaded once per level: the same values for both a's
    values = {(r.dim("a"), r.dim("level")): r.value for r in result.table}
    assert values[("1", "0.2")] == values[("2", "0.2")]


# ---- the examples ---------------------------------------------------------------------------------
from abl.interpreter.report.terminal import count_forwards  # noqa: E402


def test_digit7_example(cache):
    experiment = Experiment.from_file(ROOT / "examples" / "digit7.abl", overrides={"epochs": "5"},
                                      cache_dir=cache)
    result = experiment.run()
    check_unique_keys(result.table)
    assert count_forwards(experiment.plan)[0] == result.forward_passes     # what `abl plan` announces
    model, train, test = experiment.model("net"), experiment.stimuli("train"), experiment.stimuli("test")
    hot7 = list(top(scores(run(model, train.images, record=["fc2"])[1]["fc2"], train.labels.numpy(),
                           "activation", 7), 5))
    base, _ = run(model, test.images)
    checked = 0
    for row in result.table:
        if row.intervention is None:
            logits = base
        elif row.intervention == "ablating hot7":
            logits, _ = run(model, test.images, {"fc2": lambda o: _set(o, hot7, 0.0)})
        else:
            if row.repeat % 10:
                continue                                 # a sample of the draws of both streams
            units = list(random_draw("rand5", "net", "fc2", 5, 64, 0, row.claim, row.repeat))
            logits, _ = run(model, test.images, {"fc2": lambda o: _set(o, units, 0.0)})
        mask = torch.ones(len(test.labels), dtype=torch.bool) if not row.cls else test.labels == int(row.cls)
        expect_close(row, output_value("accuracy", logits[mask], base[mask], test.labels[mask]))
        checked += 1
    assert checked > 50
    claims = {r.claim for r in result.table if r.units == "rand5"}
    assert claims == {0, 3}          # the measure statement's draws and the third claim's own


def test_hayne_example_sample(cache):
    experiment = Experiment.from_file(ROOT / "examples" / "hayne_grid.abl",
                                      overrides={"layers": "[conv2, fc1]"}, cache_dir=cache)
    result = experiment.run()
    check_unique_keys(result.table)
    assert count_forwards(experiment.plan)[0] == result.forward_passes     # what `abl plan` announces
    model, probe_set, evaluated = experiment.model("digits_cnn"), experiment.stimuli("probe"), experiment.stimuli("eval")
    base, _ = run(model, evaluated.images)
    rng = np.random.default_rng(0)
    rows = [r for r in result.table if r.cell]
    sample = [rows[i] for i in rng.choice(len(rows), size=24, replace=False)]
    for row in sample:
        cls, layer = int(row.cls), row.layer
        values = run(model, probe_set.images, record=[layer])[1][layer]
        labels = probe_set.labels.numpy()
        cells = grid(scores(values, labels, "selectivity", cls), scores(values, labels, "magnitude", cls), 4, 4)
        r, c = row.cell
        units = list(cells[r][c])
        if row.measure == "rank deficit":
            logits, _ = run(model, evaluated.images, {layer: lambda o: _set(o, units, 0.0)})
            mask = evaluated.labels == cls
            expect_close(row, output_value("rank deficit", logits[mask], base[mask], evaluated.labels[mask]))
        else:
            assert row.fit_on == "probe"
            eval_values = run(model, evaluated.images, record=[layer])[1][layer]
            expect_close(row, probe(values[:, units], labels, eval_values[:, units],
                                    evaluated.labels.numpy(), cls, 0))


def test_selectivity_knob_example_sample(cache):
    experiment = Experiment.from_file(ROOT / "examples" / "selectivity_knob.abl",
                                      overrides={"epochs": "1", "alphas": "[-10, -1, 0, 1, 10]", "seeds": "1"},
                                      cache_dir=cache)
    result = experiment.run()
    check_unique_keys(result.table)
    assert count_forwards(experiment.plan)[0] == result.forward_passes     # what `abl plan` announces
    test = experiment.stimuli("test")
    from torchvision.transforms.functional import gaussian_blur

    checked = 0
    for row in result.table:
        if row.measure == "selectivity index unit":
            continue
        alpha = row.dim("alpha")
        model = experiment.executor.model(f"net[alpha={alpha},seed={row.dim('seed')}]").module
        images = test.images
        if row.dim("sigma"):
            sigma = float(row.dim("sigma"))
            kernel = min(2 * math.ceil(3 * sigma) + 1, 15)
            images = gaussian_blur(images, [kernel, kernel], [sigma, sigma])
            assert row.stimuli == f"blurred[alpha={alpha},sigma={row.dim('sigma')}]"
        elif row.dim("level"):
            noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(0))
            images = (images + float(row.dim("level")) * noise).clamp(0, 1)
        if row.measure == "accuracy":
            logits, _ = run(model, images)
            expect_close(row, output_value("accuracy", logits, logits, test.labels))
        else:
            recorded = run(model, images, record=[row.layer])[1][row.layer]
            expect_close(row, selectivity_index(recorded, test.labels.numpy()).mean())
        checked += 1
    assert checked == 5 * (1 + 2 + 3 + 3)


# ---- identities -----------------------------------------------------------------------------------

def test_two_values_under_one_key_fail_loudly():
    from abl.interpreter.run.table import DuplicateResultError, ResultRow, ResultsTable

    table = ResultsTable()
    table.add(ResultRow("logit", "test", 1.0, 10))
    table.add(ResultRow("logit", "test", 1.0, 10))            # the same measurement twice: kept once
    assert len(table) == 1
    with pytest.raises(DuplicateResultError, match="share the result key"):
        table.add(ResultRow("logit", "test", 2.0, 10))


def test_a_corruption_seed_formats_and_plans_without_touching_the_split():
    from abl.interpreter.api import plan_program
    from abl.spec.fmt import format_text
    from abl.spec.frontend import compile_text

    text = HEADER + "stimuli noisy7 = test noise 0.3 seed 7\nmeasure accuracy on noisy7\nmeasure accuracy on test\n"
    assert "noise 0.3 seed 7" in format_text(text).text
    plan = plan_program(compile_text(text, "x.abl", None).program)
    stimuli = dict(plan.stimuli)
    assert stimuli["noisy7"].seed == stimuli["test"].seed == 3           # the split's seed: the spec's
    assert [(c.kind, c.severity, c.seed) for c in stimuli["noisy7"].corruptions] == [("noise", 0.3, 7)]


def test_the_manual_says_incoming_scaling_scales_biases():
    manual = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    assert "multiply the weights into the units **and their biases** by F" in manual
