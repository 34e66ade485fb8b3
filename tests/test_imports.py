"""The import arrows point one way: the language (spec/) knows nothing of torch or the interpreter,
and Lark stays inside the parser and the tree lowering."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"spec": "abl.spec", "interpreter": "abl.interpreter"}

FORBIDDEN_IN_SPEC = ("torch", "torchvision", "abl.interpreter", "interpreter")
LARK_ALLOWED = {"spec/parser.py", "spec/lower.py", "spec/lower_claims.py"}


def modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def _module_name(path: Path) -> str:
    relative = path.relative_to(ROOT).with_suffix("")
    parts = list(relative.parts)
    parts[0] = PACKAGES[parts[0]]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _package_of(path: Path) -> str:
    """The package a module's relative imports start from."""
    module = _module_name(path)
    return module if path.name == "__init__.py" else module.rsplit(".", 1)[0]


def imports_of(source: str, package: str) -> set[str]:
    """Every module a source file imports (anywhere in it, also inside functions), absolute."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _matches(module: str, banned: str) -> bool:
    return module == banned or module.startswith(banned + ".")


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_there_are_modules_to_check():
    assert len(modules("spec")) >= 10 and len(modules("interpreter")) >= 5
    assert (ROOT / "spec" / "parser.py").exists() and (ROOT / "spec" / "lower.py").exists()


@pytest.mark.parametrize("path", modules("spec"), ids=_rel)
def test_spec_imports_no_torch_and_no_interpreter(path):
    imported = imports_of(path.read_text(encoding="utf-8"), _package_of(path))
    bad = sorted(m for m in imported for banned in FORBIDDEN_IN_SPEC if _matches(m, banned))
    assert not bad, f"{_rel(path)} imports {bad}"


@pytest.mark.parametrize("path", modules("spec") + modules("interpreter"), ids=_rel)
def test_only_parser_and_lower_import_lark(path):
    imported = imports_of(path.read_text(encoding="utf-8"), _package_of(path))
    uses_lark = any(_matches(m, "lark") for m in imported)
    if _rel(path) in LARK_ALLOWED:
        assert uses_lark, f"{_rel(path)} is expected to be the Lark bridge"
    else:
        assert not uses_lark, f"{_rel(path)} imports lark; only {sorted(LARK_ALLOWED)} may"


@pytest.mark.parametrize("path", modules("interpreter"), ids=_rel)
def test_interpreter_reaches_the_language_through_its_package(path):
    """The interpreter imports `abl.spec...`, never a top-level `spec` module."""
    imported = imports_of(path.read_text(encoding="utf-8"), _package_of(path))
    assert not [m for m in imported if _matches(m, "spec")]


# ---- the walker itself --------------------------------------------------------------------------

def test_walker_sees_every_kind_of_import():
    source = ("import torch.nn as nn\n"
              "from ..interpreter import plan\n"
              "from . import ast\n"
              "def late():\n"
              "    from lark import Lark\n"
              "    import torchvision\n")
    found = imports_of(source, "abl.spec")
    assert {"torch.nn", "abl.interpreter", "abl.interpreter.plan", "abl.spec.ast", "lark",
            "torchvision"} <= found
    assert any(_matches(m, "torch") for m in found)
    assert not any(_matches(m, "torch") for m in imports_of("import torchaudio_like\n", "abl.spec"))


def test_relative_imports_resolve_inside_subpackages():
    found = imports_of("from ..diagnostics import Diagnostic\nfrom .text import x\n", "abl.spec.emit")
    assert "abl.spec.diagnostics" in found and "abl.spec.emit.text" in found
    assert _package_of(ROOT / "spec" / "emit" / "json.py") == "abl.spec.emit"
    assert _package_of(ROOT / "spec" / "emit" / "__init__.py") == "abl.spec.emit"
    assert _package_of(ROOT / "spec" / "check.py") == "abl.spec"


def test_no_import_cycles_between_modules():
    """Imports anywhere in a module (also inside functions) form no cycle: phases import one way."""
    graph: dict[str, set[str]] = {}
    for folder in PACKAGES:
        for path in modules(folder):
            graph[_module_name(path)] = set()
    for folder in PACKAGES:
        for path in modules(folder):
            name = _module_name(path)
            found = imports_of(path.read_text(encoding="utf-8"), _package_of(path))
            graph[name] = {module for module in found if module in graph and module != name}
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, trail: list[str]) -> bool:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycle.extend(trail[trail.index(target):] + [node, target] if target in trail else [node, target])
                return True
            if target not in state and visit(target, trail + [node]):
                return True
        state[node] = 2
        return False

    for node in sorted(graph):
        if node not in state and visit(node, []):
            break
    assert not cycle, " -> ".join(cycle)


# ---- the interpreter's layers ---------------------------------------------------------------------

BACKEND_MAY_IMPORT = ("abl.interpreter.backend", "abl.interpreter.conditions", "abl.interpreter.errors",
                      "torch", "numpy", "__future__", "contextlib", "dataclasses", "typing", "collections",
                      "re", "math", "os", "enum", "functools", "itertools")
LOADERS = ("models", "stimuli", "folder_stimuli", "photo_stimuli", "training", "networks", "zoo", "timm_zoo",
           "corruptions", "cache", "specs")
ABOVE_THE_LOADERS = ("abl.interpreter.execute", "abl.interpreter.cli", "abl.interpreter.cli_run",
                     "abl.interpreter.cli_common", "abl.interpreter.cli_tools", "abl.interpreter.api",
                     "abl.interpreter.scheduling", "abl.interpreter.ray_executor", "abl.interpreter.planner",
                     "abl.interpreter.report", "abl.interpreter.runfolder", "abl.interpreter.shards")


@pytest.mark.parametrize("path", modules("interpreter/backend"), ids=_rel)
def test_the_backend_imports_only_its_data_types(path):
    """The hooks backend sees Conditions and RunErrors, never plans, specs or parse trees."""
    imported = imports_of(path.read_text(encoding="utf-8"), _package_of(path))
    bad = sorted(m for m in imported if not any(_matches(m, allowed) for allowed in BACKEND_MAY_IMPORT))
    assert not bad, f"{_rel(path)} imports {bad}"


@pytest.mark.parametrize("name", LOADERS)
def test_the_loaders_never_import_the_executor_or_the_cli(name):
    path = ROOT / "interpreter" / f"{name}.py"
    imported = imports_of(path.read_text(encoding="utf-8"), _package_of(path))
    bad = sorted(m for m in imported for banned in ABOVE_THE_LOADERS if _matches(m, banned))
    assert not bad, f"{_rel(path)} imports {bad}"


SYNTAX = ("abl.spec.ast", "abl.spec.ast_exprs", "abl.spec.parser", "abl.spec.lower", "abl.spec.unparse")


@pytest.mark.parametrize("path", sorted((ROOT / "interpreter").glob("planner*.py")), ids=_rel)
def test_the_planner_reads_the_resolved_program_never_syntax(path):
    """The checker hands the planner resolved statements (abl.spec.resolved): no parse tree, no
    AST node, no unparsing of one."""
    imported = imports_of(path.read_text(encoding="utf-8"), _package_of(path))
    bad = sorted(m for m in imported for banned in SYNTAX if _matches(m, banned))
    assert not bad, f"{_rel(path)} imports {bad}"


SIZE_LIMIT = 360
OVER_THE_LIMIT = {"interpreter/figures.py": "the figure functions: independent, sharing helpers",
                  "interpreter/execute.py": "the executor's split lands with the paper-scale engine issue"}


@pytest.mark.parametrize("path", modules("spec") + modules("interpreter"), ids=_rel)
def test_no_module_grows_past_a_few_hundred_lines(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    if _rel(path) in OVER_THE_LIMIT:
        return
    assert lines <= SIZE_LIMIT, f"{_rel(path)} has {lines} lines; split it by job"


def test_plan_and_lint_import_no_torch(tmp_path):
    """`abl plan` and `abl lint` (without --deep) run without loading torch."""
    import subprocess
    import sys

    spec = ROOT / "examples" / "hayne_grid.abl"
    probe = ("import sys\nfrom abl.interpreter.cli import main\n"
             "for argv in (['lint', sys.argv[1]], ['plan', sys.argv[1]]):\n"
             "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
             "print('torch' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", probe, str(spec)], capture_output=True, text=True, cwd=tmp_path)
    assert done.stdout.strip().splitlines()[-1] == "False", done.stdout + done.stderr
