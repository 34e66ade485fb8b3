"""Lint knows every torchvision classification model without importing torch: the generated
table (spec/torchvision_models.py) equals the installed torchvision's list, all of its names lint
clean, a name it lacks is a warning (W505) that `abl run` settles, and a misspelling still gets
"did you mean"."""

import importlib
from pathlib import Path

import pytest

from abl.spec.frontend import compile_text
from abl.spec.torchvision_models import TORCHVISION_MODELS

cli_main = importlib.import_module("abl.interpreter.cli.main")
HEAD = 'experiment "x"\nseed 0\nstimuli test = digits split test\n'
ROOT = Path(__file__).resolve().parent.parent


def test_the_table_is_the_installed_torchvisions_list():
    torchvision = pytest.importorskip("torchvision")
    assert TORCHVISION_MODELS == tuple(sorted(torchvision.models.list_models(module=torchvision.models)))
    assert len(TORCHVISION_MODELS) >= 80


def test_the_generator_writes_the_table_as_it_is():
    pytest.importorskip("torchvision")
    import runpy

    generated = runpy.run_path(str(ROOT / "docs" / "torchvision_models.py"))["module_text"]()
    assert generated == (ROOT / "spec" / "torchvision_models.py").read_text(encoding="utf-8")


def test_every_torchvision_model_lints_clean(tmp_path, capsys):
    lines = [HEAD]
    for index, name in enumerate(TORCHVISION_MODELS):
        lines.append(f"model m{index} = torchvision {name} weights none\nmeasure accuracy on test using m{index}\n")
    spec = tmp_path / "all.abl"
    spec.write_text("".join(lines))
    assert cli_main.main(["lint", str(spec)]) == 0, capsys.readouterr()


def test_an_unknown_name_is_a_warning_and_a_misspelt_one_gets_did_you_mean():
    result = compile_text(HEAD + "model n = torchvision resnet9000 weights none\nmeasure accuracy on test using n\n")
    assert not result.has_errors and [d.code for d in result.diagnostics] == ["W505"]
    result = compile_text(HEAD + "model n = torchvision alexnt weights none\nmeasure accuracy on test using n\n")
    assert [d.code for d in result.diagnostics] == ["W505"] and "did you mean `alexnet`?" in result.diagnostics[0].help


def test_abl_run_settles_an_unknown_name(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    spec = tmp_path / "x.abl"
    spec.write_text(HEAD + "model n = torchvision resnet9000 weights none\nmeasure accuracy on test using n\n")
    code = cli_main.main(["run", str(spec), "--out", str(tmp_path / "run"), "--cache-dir", str(tmp_path / "c")])
    said = capsys.readouterr()
    text = said.out + said.err
    assert code == 2 and "resnet9000" in text and "internal error" not in text, text
