"""Every platform: the memory budget without /proc/meminfo or os.sysconf (macOS, Windows), the
cache folder from platformdirs with empty variables unset, and `--device auto|cpu|cuda|mps`."""

import os
import sys
from pathlib import Path

import pytest
import torch

from abl.interpreter.backend import budget
from abl.interpreter.cache import default_cache_dir
from abl.interpreter.errors import RunError
from abl.interpreter.run import loading

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("with_psutil", [True, False])
def test_a_run_without_proc_meminfo_or_sysconf_ends(monkeypatch, tmp_path, with_psutil):
    """Windows has no os.sysconf, macOS no SC_AVPHYS_PAGES and neither /proc/meminfo."""
    from abl.interpreter.api import run_file

    import psutil    # noqa: F401  (on Linux, psutil reads os.sysconf as it is imported)

    monkeypatch.setattr(budget, "MEMINFO", str(tmp_path / "no-such-meminfo"))
    monkeypatch.delattr(os, "sysconf")
    if not with_psutil:
        monkeypatch.setitem(sys.modules, "psutil", None)
        assert budget.available_bytes(torch.device("cpu")) == budget.UNKNOWN_MEMORY
    else:
        assert budget.available_bytes(torch.device("cpu")) == pytest.approx(
            psutil.virtual_memory().available, rel=0.5)
    result = run_file(ROOT / "examples" / "digit7.abl", overrides={"epochs": "2"}, cache_dir=tmp_path / "cache")
    assert len(result.verdicts) == 3 and len(result.table) > 0


def test_macos_sysconf_without_the_name(monkeypatch, tmp_path):
    def sysconf(name):
        raise ValueError("unrecognized configuration name")

    monkeypatch.setattr(budget, "MEMINFO", str(tmp_path / "none"))
    monkeypatch.setattr(os, "sysconf", sysconf)
    monkeypatch.setitem(sys.modules, "psutil", None)
    assert budget.default_budget(torch.device("cpu")) == budget.CPU_DEFAULT


def test_cache_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("ABL_CACHE_DIR", "")
    monkeypatch.setenv("XDG_CACHE_HOME", "")                 # empty = unset, not the relative `abl/`
    assert default_cache_dir() == tmp_path / ".cache" / "abl"
    assert default_cache_dir().is_absolute()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "abl"
    monkeypatch.setenv("ABL_CACHE_DIR", str(tmp_path / "mine"))  # still wins
    assert default_cache_dir() == tmp_path / "mine"


def test_devices(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(loading, "mps_available", lambda: True)
    assert loading.resolve_device("auto").type == "mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert loading.resolve_device("auto").type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(loading, "mps_available", lambda: False)
    assert loading.resolve_device("auto").type == "cpu"
    with pytest.raises(RunError, match="no MPS device"):
        loading.resolve_device("mps")


def test_mps_is_a_device_for_the_checker_and_the_cli():
    from abl.interpreter.cli.main import build_parser
    from abl.spec.frontend import compile_text

    result = compile_text('experiment "x"\nseed 0\ndevice mps\nstimuli s = digits split test\n')
    assert not result.has_errors and result.program.header.device == "mps"
    assert build_parser().parse_args(["run", "x.abl", "--device", "mps"]).device == "mps"
