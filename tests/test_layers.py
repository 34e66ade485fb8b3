"""`abl layers`: shapes, unit counts, aliases and traps, checked against the networks themselves."""

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from torch import nn

from abl.interpreter.models.layers import inspect_layers

ROOT = Path(__file__).resolve().parent.parent


def abl(*args, cwd=ROOT, cache):
    env = dict(os.environ, NO_COLOR="1", ABL_CACHE_DIR=str(cache), TORCH_HOME=str(cache / "torch"))
    return subprocess.run([sys.executable, "-m", "abl.interpreter.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=600)


class Twice(nn.Module):
    """A ReLU module used twice per forward, and an in-place one."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.act = nn.ReLU()
        self.inplace = nn.ReLU(inplace=True)
        self.fc = nn.Linear(4 * 8 * 8, 10)

    def forward(self, x):
        x = self.act(self.conv(x))
        x = self.act(x - 0.1)
        return self.fc(self.inplace(x).flatten(1))


def test_shapes_units_and_traps_of_a_module(no_hooks_left):
    model = Twice()
    layers = inspect_layers("twice", model, {"hidden": "conv"}, torch.zeros(1, 8, 8))
    info = {layer.path: layer for layer in layers.layers}
    assert info["conv"].output_shape == (4, 8, 8) and info["conv"].units == 4 and info["conv"].unit_axis == "channels"
    assert info["conv"].aliases == ("hidden",) and info["conv"].elements == 256
    assert info["fc"].output_shape == (10,) and info["fc"].unit_axis == "features"
    assert info["act"].calls == 2 and "called 2 times per forward" in info["act"].traps
    assert info["inplace"].traps == ("in-place",)
    assert model.training and not any(m._forward_hooks for m in model.modules())
    no_hooks_left(model)


def test_abl_layers_on_a_built_in_and_on_alexnet(tmp_path):
    done = abl("layers", "examples/digit7.abl", "--format", "json", "--set", "epochs=1", cache=tmp_path)
    assert done.returncode == 0, done.stderr
    (net,) = json.loads(done.stdout)
    rows = {layer["path"]: layer for layer in net["layers"]}
    assert net["input_shape"] == [1, 8, 8]
    assert rows["fc2"]["units"] == 64 and rows["fc2"]["aliases"] == ["fc2"] and rows["fc2"]["unit_axis"] == "features"
    assert rows["logits"]["units"] == 10 and set(rows["logits"]["aliases"]) == {"logits", "fc4"}

    photos = tmp_path / "photos"
    for name in ("junco", "goldfish"):
        (photos / name).mkdir(parents=True)
        from PIL import Image

        for k in range(4):
            Image.new("RGB", (256, 256), (120, 30 * k, 200)).save(photos / name / f"{k}.jpg")
    done = abl("layers", "examples/hayne_grid.abl", "--set", "model=alexnet", "--set", f"data={photos}",
               "--model", "net", "--format", "json", cache=tmp_path)
    assert done.returncode == 0, done.stderr
    (alexnet,) = json.loads(done.stdout)
    rows = {layer["path"]: layer for layer in alexnet["layers"]}
    assert alexnet["input_shape"] == [3, 224, 224]
    assert rows["features.0"]["output_shape"] == [64, 55, 55] and rows["features.1"]["aliases"] == ["conv1"]
    assert rows["features.1"]["traps"] == ["in-place"] and rows["features.12"]["output_shape"] == [256, 6, 6]
    assert rows["classifier.5"]["aliases"] == ["fc7"] and rows["classifier.5"]["units"] == 4096
    text = abl("layers", "examples/hayne_grid.abl", "--set", "model=alexnet", "--set", f"data={photos}",
               "--model", "net", cache=tmp_path)
    assert text.returncode == 0 and "(conv1)  ReLU  64x55x55  64 channels  ! in-place" in text.stdout


def test_abl_layers_names_an_unknown_model(tmp_path):
    done = abl("layers", "examples/digit7.abl", "--model", "nett", cache=tmp_path)
    assert done.returncode == 2 and "did you mean `net`?" in done.stderr and "Traceback" not in done.stderr


def test_a_layer_suggestion_pasted_back_lints_clean_and_runs(tmp_path):
    """All-number module paths (an nn.Sequential of an nn.Sequential) are quoted in every hint,
    so that the hint pastes back into the spec."""
    import re

    (tmp_path / "wrapped.py").write_text(
        "from torch import nn\n"
        "def make():\n"
        "    inner = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))\n"
        "    return nn.Sequential(nn.Identity(), inner)\n")
    spec = tmp_path / "wrapped.abl"
    template = ('experiment "wrapped"\nseed 0\nstimuli test = digits split test\n'
                'model net = python "wrapped:make"\n'
                "units hot = top 3 by activation for class 7 in {layer} on test\n"
                "measure accuracy on test ablating hot\n")
    spec.write_text(template.format(layer='"1.9"'))
    wrong = abl("run", str(spec), "--out", str(tmp_path / "wrong"), "--no-figures", cwd=tmp_path, cache=tmp_path)
    assert wrong.returncode == 2 and "E401" in wrong.stderr
    suggested = re.search(r"did you mean `([^`]+)`\?", wrong.stderr).group(1)
    assert suggested == '"1.3"' and '`"1.2"`' in wrong.stderr
    spec.write_text(template.format(layer="1.9"))
    bare = abl("lint", str(spec), cwd=tmp_path, cache=tmp_path)
    assert bare.returncode == 1 and 'E306' in bare.stdout and 'written in quotes: `in "0"`' in bare.stdout
    spec.write_text(template.format(layer=suggested))
    assert abl("lint", str(spec), cwd=tmp_path, cache=tmp_path).returncode == 0
    right = abl("run", str(spec), "--out", str(tmp_path / "right"), "--no-figures", cwd=tmp_path, cache=tmp_path)
    assert right.returncode == 0, right.stderr


def test_abl_layers_on_a_timm_vit_lists_token_sequences_with_features_as_units(tmp_path):
    import pytest

    pytest.importorskip("timm")
    spec = tmp_path / "vit.abl"
    spec.write_text('experiment "vit"\nseed 0\nstimuli s = photos split test per class 1\n'
                    "model v = timm vit_small_patch16_224 weights none\nmeasure accuracy on s using v\n")
    done = abl("layers", str(spec), "--format", "json", cache=tmp_path)
    assert done.returncode == 0, done.stderr
    (vit,) = json.loads(done.stdout)
    by_path = {layer["path"]: layer for layer in vit["layers"]}
    block = by_path["blocks.6"]
    assert block["output_shape"] == [197, 384] and block["layout"] == "tokens" and block["units"] == 384
    assert block["unit_axis"] == "features x 197 tokens" and "block6" in block["aliases"]
    assert by_path["blocks.6.mlp.fc1"]["units"] == 1536
    assert by_path["patch_embed.proj"]["layout"] == "channels" and by_path["patch_embed.proj"]["units"] == 384
    assert by_path["head"]["output_shape"] == [1000] and by_path["head"]["layout"] == "features"
    from rich.console import Console

    from abl.interpreter.models.layers import LayerInfo, ModelLayers, layers_tree      # the text view of the same

    console = Console(record=True, width=200)
    console.print(layers_tree(ModelLayers("v", (3, 224, 224), (LayerInfo(
        "blocks.6", "Block", ("block6",), (197, 384), 1, layout="tokens"),))))
    text = console.export_text()
    assert "384 features x 197 tokens" in text and "(block6)" in text
