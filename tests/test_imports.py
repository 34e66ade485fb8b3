"""The import arrows point one way: the language (spec/) knows nothing of torch or the interpreter,
and Lark stays inside the parser and the tree lowering."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"spec": "abl.spec", "interpreter": "abl.interpreter"}

FORBIDDEN_IN_SPEC = ("torch", "torchvision", "abl.interpreter", "interpreter")
LARK_ALLOWED = {"spec/parser.py", "spec/lower.py", "spec/lower_claims.py",
                "spec/expected.py"}     # the parser's tables, asked what may come next (completion)


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

BACKEND_MAY_IMPORT = ("abl.interpreter.backend", "abl.interpreter.backend.conditions", "abl.interpreter.errors",
                      "torch", "numpy", "__future__", "contextlib", "dataclasses", "typing", "collections",
                      "re", "math", "os", "enum", "functools", "itertools")

# ---- the subpackages: phases, imported one way ------------------------------------------------

# Each subpackage of abl.interpreter and what it may import of the others (the top-level modules
# errors, atomic, progress, version, cache, selectivity and seeding are shared by all; api is the top).
# Read bottom-up: plan < backend < data < models < run < report < results < cluster < cli.
SUBPACKAGES = {
    "plan": set(),
    "backend": set(),
    "data": {"plan"},
    "models": {"plan", "data", "backend"},
    "run": {"plan", "backend", "data", "models"},
    "report": {"plan", "run"},
    "results": {"plan", "run", "report"},
    "cluster": {"plan", "backend", "data", "models", "run", "results"},
    "cli": {"plan", "backend", "data", "models", "run", "report", "results", "cluster"},
}
CORE = {"errors", "atomic", "progress", "version", "cache", "selectivity", "seeding"}
TOP = {"api"}


def subpackage_of(module: str) -> str | None:
    """`abl.interpreter.run.executor` -> "run"; a shared top-level module -> "core"; "api" -> "api"."""
    parts = module.split(".")
    if parts[:2] != ["abl", "interpreter"] or len(parts) < 3:
        return None
    if parts[2] in SUBPACKAGES:
        return parts[2]
    if parts[2] in CORE:
        return "core"
    if parts[2] in TOP:
        return "api"
    return None


def forbidden_imports(module: str, imported: set[str]) -> list[str]:
    """The imports of `module` that its subpackage may not make (SUBPACKAGES)."""
    own = subpackage_of(module)
    if own is None or own == "api":
        return []
    allowed = SUBPACKAGES.get(own, set()) | {own, "core"}
    bad = []
    for target in sorted(imported):
        other = subpackage_of(target)
        if other is None or other in allowed:
            continue
        if own == "core" and other == "core":
            continue
        bad.append(f"{target} ({other})")
    return bad


def test_every_module_lives_in_a_subpackage_or_is_shared():
    loose = sorted(p.stem for p in (ROOT / "interpreter").glob("*.py") if p.stem != "__init__")
    assert set(loose) == CORE | TOP, f"modules directly in interpreter/: {loose}"
    assert len(loose) <= 10
    folders = sorted(p.name for p in (ROOT / "interpreter").iterdir()
                     if p.is_dir() and (p / "__init__.py").exists())
    assert folders == sorted(SUBPACKAGES)


@pytest.mark.parametrize("name", sorted(SUBPACKAGES))
def test_every_subpackage_says_what_it_owns_and_may_import(name):
    doc = ast.get_docstring(ast.parse((ROOT / "interpreter" / name / "__init__.py").read_text(encoding="utf-8")))
    assert doc and len(doc.split()) >= 25, f"interpreter/{name}/__init__.py needs a paragraph on what it owns"
    assert "import" in doc, f"interpreter/{name}/__init__.py should say what it may import"


@pytest.mark.parametrize("path", modules("interpreter"), ids=_rel)
def test_subpackages_import_only_the_phases_below_them(path):
    imported = imports_of(path.read_text(encoding="utf-8"), _package_of(path))
    bad = forbidden_imports(_module_name(path), imported)
    assert not bad, f"{_rel(path)} ({subpackage_of(_module_name(path))}) imports {bad}"


def test_the_core_modules_import_no_subpackage():
    for name in sorted(CORE):
        path = ROOT / "interpreter" / f"{name}.py"
        imported = imports_of(path.read_text(encoding="utf-8"), _package_of(path))
        reached = sorted(m for m in imported if subpackage_of(m) not in (None, "core"))
        assert not reached, f"interpreter/{name}.py imports {reached}"


def test_the_subpackage_graph_itself_is_acyclic():
    order: list[str] = []
    remaining = {name: set(deps) for name, deps in SUBPACKAGES.items()}
    while remaining:
        ready = sorted(name for name, deps in remaining.items() if not deps - set(order))
        assert ready, f"cycle among {sorted(remaining)}"
        order.extend(ready)
        for name in ready:
            del remaining[name]
    assert order.index("plan") < order.index("run") < order.index("results") < order.index("cli")


def test_the_rule_catches_a_forbidden_import():
    """The rule itself fails on what it forbids: data importing run, plan importing torch-free
    data, the backend importing the plan, results drawn into by report."""
    assert forbidden_imports("abl.interpreter.data.stimuli", {"abl.interpreter.run.executor"}) == \
        ["abl.interpreter.run.executor (run)"]
    assert forbidden_imports("abl.interpreter.plan.catalog", {"abl.interpreter.data.photos"})
    assert forbidden_imports("abl.interpreter.backend.run", {"abl.interpreter.plan.plan"})
    assert forbidden_imports("abl.interpreter.report.figures", {"abl.interpreter.results.frames"})
    assert forbidden_imports("abl.interpreter.errors", {"abl.interpreter.run.table"})
    assert not forbidden_imports("abl.interpreter.run.executor",
                                 {"abl.interpreter.plan.plan", "abl.interpreter.errors", "torch"})
    source = "from abl.interpreter.cli.main import main\n"
    imported = imports_of(source, "abl.interpreter.models")
    assert "abl.interpreter.cli.main (cli)" in forbidden_imports("abl.interpreter.models.zoo", imported)


@pytest.mark.parametrize("path", modules("interpreter/plan"), ids=_rel)
def test_the_plan_imports_no_torch(path):
    imported = imports_of(path.read_text(encoding="utf-8"), _package_of(path))
    assert not [m for m in imported if _matches(m, "torch") or _matches(m, "torchvision")], _rel(path)


SYNTAX = ("abl.spec.ast", "abl.spec.ast_exprs", "abl.spec.parser", "abl.spec.lower", "abl.spec.unparse")


@pytest.mark.parametrize("path", modules("interpreter/plan"), ids=_rel)
def test_the_planner_reads_the_resolved_program_never_syntax(path):
    """The checker hands the planner resolved statements (abl.spec.resolved): no parse tree, no
    AST node, no unparsing of one."""
    imported = imports_of(path.read_text(encoding="utf-8"), _package_of(path))
    bad = sorted(m for m in imported for banned in SYNTAX if _matches(m, banned))
    assert not bad, f"{_rel(path)} imports {bad}"


SIZE_LIMIT = 360       # about 350: a module past it is usually two
OVER_THE_LIMIT: dict[str, str] = {}


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
    probe = ("import sys\nfrom abl.interpreter.cli.main import main\n"
             "for argv in (['lint', sys.argv[1]], ['plan', sys.argv[1]]):\n"
             "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
             "print('torch' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", probe, str(spec)], capture_output=True, text=True, cwd=tmp_path)
    assert done.stdout.strip().splitlines()[-1] == "False", done.stdout + done.stderr


def test_the_architecture_picture_is_the_import_graph():
    """docs/architecture.md's diagram is generated from the code (docs/architecture_graph.py):
    refresh it with `python docs/architecture_graph.py --write` when the graph changes."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("architecture_graph", ROOT / "docs" / "architecture_graph.py")
    graph = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(graph)
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert graph.embedded(doc) == graph.mermaid()
    for source, target in graph.subpackage_edges():
        assert target in SUBPACKAGES[source], f"{source} -> {target} is not in the rules"


def test_every_package_is_installed():
    """pyproject.toml lists every package folder, so an install carries all of them."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"])
    found = {_module_name(path) for folder in PACKAGES for path in modules(folder) if path.name == "__init__.py"}
    assert found == listed


def test_the_top_level_is_the_fixed_layout():
    """spec/ (the language, editor grammars included), interpreter/, examples/, tests/, docs/,
    benchmarks/, .ci/, pyproject.toml and README.md: nothing else is tracked at the top."""
    import subprocess

    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if tracked.returncode != 0:
        pytest.skip("not a git checkout")
    top = {path.split("/", 1)[0] for path in tracked.stdout.splitlines()}
    allowed = {"spec", "interpreter", "examples", "tests", "docs", "benchmarks", ".ci", "pyproject.toml",
               "README.md", ".gitignore", ".pre-commit-hooks.yaml", ".pre-commit-config.yaml", "LICENSE",
               "mkdocs.yml"}        # tool configuration beside pyproject.toml
    assert top <= allowed, f"unexpected at the top level: {sorted(top - allowed)}"
