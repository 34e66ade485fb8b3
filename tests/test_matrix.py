"""The matrix of issue 31: every documented model source x every measure family x every
intervention, each on a tiny model, each value equal to the same number computed with plain
torch (forward hooks and hand-made weight edits) on the same module and images.

One spec per source runs once (module-scoped); the parametrized tests read its rows. Measures
that need hooks run on every source that has them; a TorchScript file serves the whole-network
measures, and recording or editing its layers is a located E401. The last test runs every
`report` form of the manual on one spec and checks that each figure is drawn.
"""

from __future__ import annotations

import copy
import sys

import numpy as np
import pytest
import torch
from torch import nn

from abl.interpreter.api import Experiment
from abl.interpreter.errors import RunError

pytestmark = pytest.mark.filterwarnings("ignore")

SIZE = 32          # the 3-channel images of the torchvision / timm sources: 3 x 32 x 32


# ---------------------------------------------------------------------------- the sources
def _write_images(folder, per_class: int, seed: int):
    from PIL import Image

    rng = np.random.default_rng(seed)
    for k, name in enumerate(["ant", "bee", "cat"]):
        (folder / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
            pixels[..., k] = np.clip(pixels[..., k].astype(int) + 80, 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / name / f"{i}.png")


FACTORY = """\
import torch
from torch import nn

def network():
    torch.manual_seed(3)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 12), nn.ReLU(), nn.Linear(12, 10))
"""

DIGITS = ('stimuli train = digits split train per class 8\n'
          'stimuli test = digits split test per class 5\n')
PHOTOS = None          # filled in by the fixture: the image folders' stimuli lines

# source -> (model line, layer of the units, hooks?)
SOURCES = {
    "train_mlp": ("model net = train mlp [64, 16, 12, 10] on train epochs 2", "fc1", True),
    "train_cnn": ("model net = train cnn on train epochs 1", "conv1", True),
    "torchvision": ("model net = torchvision squeezenet1_1 weights none", "features.1", True),
    "timm": ("model net = timm test_resnet weights none", "conv1", True),       # the stem: timm zero-inits each block's last BN
    "state_dict": ('model net = file "{tmp}/mlp.pt" arch mlp', "fc1", True),
    "torchscript": ('model net = file "{tmp}/mlp.ts"', None, False),
    "factory": ('model net = python "abl_matrix_factory:network"', '"2"', True),      # a numeric path is quoted
}
RGB = {"torchvision", "timm"}

# (id, intervention text, kind, parameter)
INTERVENTIONS = [
    ("zero", "ablating u", "act", 0.0),
    ("mean", "mean-ablating u", "act", None),
    ("clamp", "clamping u to 2.5", "act", 2.5),
    ("scale", "scaling u by 0.5", "scale", 0.5),
    ("incoming", "scaling incoming weights of u by 0.5", "incoming", 0.5),
    ("outgoing", "zeroing outgoing weights of u", "outgoing", 0.0),
    ("connection", "scaling weight [1, {i}] of {layer} by 3", "connection", 3.0),
]
# the connection's input: a pixel of the digits that is not always 0 (the flat networks' first
# layer), else the first input channel
FLAT = {"train_mlp", "state_dict", "factory"}


def _text(source, text, layer):
    return text.format(layer=layer, i=20 if source in FLAT else 0)


# the next conv of a torchvision / timm layer is not one obvious module (a Fire block's two
# expands, a residual branch): their weight edits are the incoming ones and a connection
NO_OUTGOING = RGB


def _spec(source: str, tmp) -> str:
    model, layer, hooks = SOURCES[source]
    stimuli = PHOTOS if source in RGB else DIGITS
    lines = ['experiment "matrix"', "seed 0", stimuli, model.format(tmp=tmp)]
    lines += ["measure accuracy on test", "measure accuracy top 2 on test", "measure loss on test",
              "measure logit of class 1 on test", "measure probability of class 1 on test",
              "measure rank on test"]
    if hooks:
        lines += [f"units u = top 3 by activation for class 1 in {layer} on train",
                  "measure activation of u on test",
                  f"measure selectivity index in {layer} on test",
                  "measure probe accuracy of u on test fit on train where class == 1",
                  "measure rank deficit on test ablating u",
                  "measure rank change on test scaling u by 0.5"]
        for name, text, kind, _ in INTERVENTIONS:
            if kind == "outgoing" and source in NO_OUTGOING:
                continue
            lines.append(f"measure loss on test {_text(source, text, layer)}")
        lines.append("measure activation of u on test clamping u to 2.5")
    return "\n".join(lines) + "\n"


class _Runs(dict):
    """source -> (experiment, result, rows), each source's spec run once, on first use (so that a
    source that breaks fails its own tests only)."""

    def __init__(self, tmp, cache):
        super().__init__()
        self.tmp, self.cache = tmp, cache

    def __missing__(self, source):
        exp = Experiment.from_text(_spec(source, self.tmp), cache_dir=self.cache, device="cpu")
        result = exp.run()
        self[source] = (exp, result, result.to_pandas())
        return self[source]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The sources' files (image folders, a state dict, a TorchScript file, a factory module) and
    their runs."""
    global PHOTOS
    from abl.interpreter.models.networks import MLP

    tmp = tmp_path_factory.mktemp("matrix")
    _write_images(tmp / "img_train", 6, 0)
    _write_images(tmp / "img_test", 4, 1)
    PHOTOS = (f'stimuli train = imagefolder "{tmp}/img_train" preprocess none\n'
              f'stimuli test = imagefolder "{tmp}/img_test" preprocess none\n')
    torch.manual_seed(0)
    mlp = MLP((64, 16, 12, 10)).eval()
    torch.save(mlp.state_dict(), tmp / "mlp.pt")
    torch.jit.save(torch.jit.trace(mlp, torch.zeros(2, 1, 8, 8)), tmp / "mlp.ts")      # traced: MLP.forward loops over getattr
    (tmp / "abl_matrix_factory.py").write_text(FACTORY)
    sys.path.insert(0, str(tmp))
    cache = tmp / "cache"
    try:
        yield {"tmp": tmp, "runs": _Runs(tmp, cache), "cache": cache}
    finally:
        sys.path.remove(str(tmp))
        sys.modules.pop("abl_matrix_factory", None)


# ---------------------------------------------------------------------------- plain torch
def _path(result, module, layer):
    loaded = next(m for m in result.models.values() if m.module is module)
    return loaded.resolve_layer(layer.strip('"'))


def _outputs(module, images, path=None, edit=None):
    """(logits, the layer's output) of one forward, `edit(output)` replacing the layer's output."""
    seen = {}

    def hook(_module, _inputs, output):
        if edit is not None:
            output = edit(output)
        seen["out"] = output
        return output

    handle = module.get_submodule(path).register_forward_hook(hook) if path else None
    try:
        with torch.no_grad():
            logits = module(images)
    finally:
        if handle is not None:
            handle.remove()
    return logits.double(), seen.get("out")


def _unit_means(output):
    """(N, units): a conv channel averaged over space."""
    output = output.double()
    return output.flatten(2).mean(2) if output.dim() == 4 else output


def _ranks(logits, labels):
    true = logits.gather(1, labels[:, None])
    return 1 + (logits > true).sum(1)


def _value(frame, measure, intervention="none", units=None):
    rows = frame[(frame["measure"] == measure) & (frame["intervention"] == intervention)]
    if units is not None:
        rows = rows[rows["units"] == units]
    assert len(rows) == 1, (measure, intervention, sorted(set(frame["measure"])))
    return float(rows["value"].iloc[0])


def _selected(result, name="u"):
    records = [s for s in result.selections if s["name"] == name]
    assert len(records) == 1, result.selections
    (units,) = records[0]["units"].values()           # {layer: [unit, ...]}
    return sorted(int(i) for i in units)


def _weighted(module):
    return [(p, m) for p, m in module.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))]


def _incoming_outgoing(module, path):
    weighted = _weighted(module)
    names = [p for p, _ in module.named_modules()]
    inside = [i for i, (p, _) in enumerate(weighted) if p == path or p.startswith(path + ".")]
    if inside:
        k = inside[-1]
    else:
        before = names.index(path)
        k = max(i for i, (p, _) in enumerate(weighted) if names.index(p) < before)
    return weighted[k][0], (weighted[k + 1][0] if k + 1 < len(weighted) else None)


# ---------------------------------------------------------------------------- the tests
ALL = list(SOURCES)
HOOKED = [s for s in SOURCES if SOURCES[s][2]]


@pytest.mark.parametrize("source", ALL)
def test_whole_network_measures(world, source):
    exp, result, frame = world["runs"][source]
    module, test = exp.model("net"), exp.stimuli("test")
    images, labels = test.images, torch.as_tensor(test.labels).long()
    logits, _ = _outputs(module, images)
    assert _value(frame, "accuracy") == float((logits.argmax(1) == labels).double().mean())
    top2 = logits.topk(2, dim=1).indices
    assert _value(frame, "accuracy top-2") == float((top2 == labels[:, None]).any(1).double().mean())
    np.testing.assert_allclose(_value(frame, "loss"),
                               float(nn.functional.cross_entropy(logits, labels)), rtol=1e-5, atol=1e-6)
    one = test.class_names[1]            # rows name a class by its name: `bee` of the image folders
    np.testing.assert_allclose(_value(frame, f"logit of class {one}"), float(logits[:, 1].mean()), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_value(frame, f"probability of class {one}"),
                               float(logits.softmax(1)[:, 1].mean()), rtol=1e-5, atol=1e-6)
    assert _value(frame, "rank") == pytest.approx(float(_ranks(logits, labels).double().mean()), abs=1e-12)


@pytest.mark.parametrize("source", HOOKED)
def test_unit_measures_and_selection(world, source):
    exp, result, frame = world["runs"][source]
    layer = SOURCES[source][1]
    module, train, test = exp.model("net"), exp.stimuli("train"), exp.stimuli("test")
    path = _path(result, module, layer)
    # the selection: top 3 by mean activation over class 1's training images
    _, out_train = _outputs(module, train.images, path)
    train_means = _unit_means(out_train)
    train_labels = torch.as_tensor(train.labels).long()
    score = train_means[train_labels == 1].mean(0)
    units = _selected(result)
    expected = sorted(int(i) for i in torch.argsort(score, descending=True, stable=True)[:3])
    assert units == expected
    # activation of u: the mean over images and units
    _, out_test = _outputs(module, test.images, path)
    test_means = _unit_means(out_test)
    labels = torch.as_tensor(test.labels).long()
    np.testing.assert_allclose(_value(frame, "activation", units="u"),
                               float(test_means[:, units].mean()), rtol=1e-5, atol=1e-6)
    # selectivity index in L: the mean over units of (mu_max - mu_-max) / (mu_max + mu_-max + 1e-6)
    classes = sorted(set(labels.tolist()))
    class_means = torch.stack([test_means[labels == k].mean(0) for k in classes])       # (K, units)
    top, arg = class_means.max(0)
    others = (class_means.sum(0) - top) / (len(classes) - 1)
    index = ((top - others) / (top + others + 1e-6)).where(top > 0, torch.zeros_like(top))
    np.testing.assert_allclose(_value(frame, "selectivity index"), float(index.mean()), rtol=1e-5, atol=1e-6)
    # probe accuracy: class 1 vs rest, fitted on train, balanced accuracy on test
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=1000))
    probe.fit(train_means[:, units].numpy(), (train_labels == 1).numpy())
    expected = balanced_accuracy_score((labels == 1).numpy(), probe.predict(test_means[:, units].numpy()))
    np.testing.assert_allclose(_value(frame, "probe accuracy"), expected, atol=1e-9)


def _intervened_logits(module, images, path, kind, parameter, units, plain_out, column):
    if kind in ("act", "scale"):
        if parameter is None:                                         # mean-ablating
            means = _unit_means(plain_out)[:, units].mean(0)
        index = torch.tensor(units)

        def edit(output):
            output = output.clone()
            shape = (1, len(units)) + (1,) * (output.dim() - 2)
            if kind == "scale":
                output[:, index] = output[:, index] * parameter
            elif parameter is None:
                output[:, index] = means.to(output.dtype).reshape(shape)
            else:
                output[:, index] = parameter
            return output
        return _outputs(module, images, path, edit)
    edited = copy.deepcopy(module)
    incoming, outgoing = _incoming_outgoing(edited, path)
    with torch.no_grad():
        if kind == "incoming":
            target = edited.get_submodule(incoming)
            target.weight[units] *= parameter
            if target.bias is not None:
                target.bias[units] *= parameter
        elif kind == "outgoing":
            edited.get_submodule(outgoing).weight[:, units] *= parameter
        else:                                                         # connection [1, column] of the layer
            edited.get_submodule(incoming).weight[1, column] *= parameter
    return _outputs(edited, images, path)


@pytest.mark.parametrize("source, name, text, kind, parameter",
                         [pytest.param(s, *i, id=f"{s}-{i[0]}") for s in HOOKED for i in INTERVENTIONS
                          if not (i[2] == "outgoing" and s in NO_OUTGOING)])
def test_interventions(world, source, name, text, kind, parameter):
    exp, result, frame = world["runs"][source]
    layer = SOURCES[source][1]
    module, test = exp.model("net"), exp.stimuli("test")
    images, labels = test.images, torch.as_tensor(test.labels).long()
    path = _path(result, module, layer)
    units = _selected(result)
    plain, plain_out = _outputs(module, images, path)
    logits, out = _intervened_logits(module, images, path, kind, parameter, units, plain_out,
                                     20 if source in FLAT else 0)
    assert not torch.equal(logits, plain)           # the intervention changes the network's outputs
    np.testing.assert_allclose(_value(frame, "loss", _text(source, text, layer)),
                               float(nn.functional.cross_entropy(logits, labels)), rtol=1e-5, atol=1e-6)
    if name == "zero":
        deficit = (_ranks(logits, labels) - _ranks(plain, labels)).clamp(min=0).double().mean()
        np.testing.assert_allclose(_value(frame, "rank deficit", "ablating u"), float(deficit), atol=1e-12)
    if name == "scale":
        change = (_ranks(logits, labels) - _ranks(plain, labels)).double().mean()
        np.testing.assert_allclose(_value(frame, "rank change", "scaling u by 0.5"), float(change), atol=1e-12)
    if name == "clamp":                 # the unit measure under the intervention reads the clamped units
        assert _value(frame, "activation", "clamping u to 2.5", units="u") == pytest.approx(2.5)
    # the run leaves the parameters as they were
    after, _ = _outputs(module, images)
    assert torch.equal(after, plain)


def test_torchscript_layers_are_a_located_e401(world):
    tmp = world["tmp"]
    text = (f'experiment "ts"\nseed 0\n{DIGITS}model net = file "{tmp}/mlp.ts"\n'
            "measure accuracy on test\nmeasure activation of [0, 1] in fc1 on test\n")
    exp = Experiment.from_text(text, cache_dir=world["cache"], device="cpu")
    with pytest.raises(RunError) as error:
        exp.run()
    assert error.value.code == "E401"
    assert "TorchScript" in error.value.message and "fc1" in error.value.message
    assert error.value.span is not None and error.value.span.line == 7


# ---------------------------------------------------------------------------- every report
REPORTS = """\
experiment "reports"
seed 0
stimuli train = digits split train per class 8
stimuli test = digits split test per class 5
model net = train mlp [64, 16, 12, 10] on train epochs 2
units hot = top 3 by activation for class 1 in fc1 on train
measure accuracy per class on test
measure accuracy per class on test ablating hot
measure selectivity index in fc1 on test
for each class c in [1, 2], each layer L in [fc1, fc2]:
    units cells = grid 2x2 over selectivity, magnitude for class c in L on train
    measure rank deficit on test where class == c ablating cells
for each v in [0, 1, 2]:
    measure probability of class 3 on test clamping hot to v
    measure accuracy on test clamping hot to v
report table accuracy per class
report bars accuracy per class
report heatmap rank deficit by cell, class x layer
report histogram selectivity index
report curve probability by v
report scatter accuracy vs probability over v
report features of hot steps 4
"""


def test_every_report_form_draws_its_figure(world, tmp_path):
    from abl.interpreter.cli.main import main

    spec = tmp_path / "reports.abl"
    spec.write_text(REPORTS)
    out = tmp_path / "run"
    code = main(["run", str(spec), "--out", str(out), "--device", "cpu", "--cache-dir", str(world["cache"])])
    assert code in (0, 1)
    figures = sorted(p.name for p in (out / "figures").iterdir())
    for kind in ("bars", "heatmap", "histogram", "curve", "scatter", "features"):
        assert any(kind in name for name in figures), (kind, figures)
