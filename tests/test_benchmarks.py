"""Every benchmark keeps a `--smoke` size, and CI runs each of them (.ci/run), so none can rot."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = sorted((ROOT / "benchmarks").glob("*.py"))


def test_there_are_benchmarks():
    assert len(BENCHMARKS) >= 5


@pytest.mark.parametrize("path", BENCHMARKS, ids=lambda p: p.name)
def test_every_benchmark_has_a_smoke_flag(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    flags = [node.args[0].value for node in ast.walk(tree)
             if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument"
             and node.args and isinstance(node.args[0], ast.Constant)]
    assert "--smoke" in flags, f"{path.name} has no --smoke size"
    assert "--smoke" in (ast.get_docstring(tree) or ""), f"{path.name}'s docstring does not show --smoke"


def test_ci_runs_every_smoke():
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert 'for benchmark in benchmarks/*.py' in script and '"$benchmark" --smoke' in script
