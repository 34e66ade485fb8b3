"""The Hayne grid spec on torchvision CNNs (random weights: no download) with real photographs in
ImageFolder layout, 224x224 as the paper's networks take them."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "examples" / "hayne_grid.abl"
ALEXNET_LAYERS = "[conv1, conv2, conv3, conv4, conv5, fc6, fc7]"


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    """Three ImageNet-named classes of real photographs (crops of scikit-learn's sample images)."""
    from sklearn.datasets import load_sample_images

    photos = load_sample_images().images          # china, flower: 427x640 RGB
    root = tmp_path_factory.mktemp("imagenet") / "val"
    rng = np.random.default_rng(0)
    for index, name in enumerate(["junco", "bookcase", "goldfish"]):
        folder = root / name
        folder.mkdir(parents=True)
        photo = photos[index % 2]
        for k in range(4):
            top, left = rng.integers(0, 120), rng.integers(0, 300)
            crop = photo[top:top + 300, left:left + 300]
            Image.fromarray(crop).save(folder / f"img{k}.jpg")
    return root


def abl_run(tmp_path, *sets):
    env = dict(os.environ, NO_COLOR="1", ABL_CACHE_DIR=str(tmp_path / "cache"),
               TORCH_HOME=str(tmp_path / "torch-home"))
    out = tmp_path / "run"
    args = [sys.executable, "-m", "abl.interpreter.cli", "run", str(SPEC), "--out", str(out), "--no-figures"]
    for item in sets:
        args += ["--set", item]
    result = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=env, timeout=900)
    return result, out


def test_alexnet_seven_layers_end_to_end(image_folder, tmp_path):
    result, out = abl_run(tmp_path, "model=alexnet", f"data={image_folder}", f"layers={ALEXNET_LAYERS}")
    assert result.returncode == 0, result.stderr
    assert "RANDOM weights" in result.stderr and "alexnet-owt-7be5be79.pth" in result.stderr
    rows = list(csv.DictReader(open(out / "results.csv")))
    layers = {r["layer"] for r in rows}
    assert layers == {"conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7"}
    classes = {r["class"] for r in rows}
    assert classes == {"junco", "bookcase", "goldfish"}
    for measure in ("probe accuracy", "rank deficit"):
        assert len([r for r in rows if r["measure"] == measure]) == 3 * 7 * 16
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["models"]["net"]["pretrained"] is False
    from abl.interpreter.api import Experiment

    exp = Experiment.from_file(SPEC, overrides={"model": "alexnet", "data": str(image_folder),
                                                "layers": ALEXNET_LAYERS})
    assert tuple(exp.stimuli("eval").images.shape[1:]) == (3, 224, 224)


@pytest.mark.parametrize("arch, layer", [("vgg16", "fc7"), ("mobilenet_v2", "conv_last"),
                                         ("resnet101", "layer4")])
def test_other_paper_networks_run_one_layer(image_folder, tmp_path, arch, layer):
    result, out = abl_run(tmp_path, f"model={arch}", f"data={image_folder}", f"layers=[{layer}]")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert {r["layer"] for r in rows} == {layer}
    assert len([r for r in rows if r["measure"] == "rank deficit"]) == 3 * 16
