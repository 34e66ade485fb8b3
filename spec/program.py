"""The checked program and the symbols the checker resolves names to (plain data, no checking)."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import ast, resolved
from .source import SourceFile, Span

DEFAULT_REPEATS = 100
DEFAULT_MAX_PLAN = 1_000_000      # bindings x draws a spec may expand to (ABL_MAX_PLAN overrides)
CLASS_GUESS = 1000                # `for each class c` without a list: up to ImageNet's classes


def max_plan() -> int:
    import os

    try:
        return max(1, int(os.environ.get("ABL_MAX_PLAN", DEFAULT_MAX_PLAN)))
    except ValueError:
        return DEFAULT_MAX_PLAN
DEFAULT_CONFIDENCE = 0.95
DEFAULT_RESAMPLES = 1000


@dataclass(frozen=True)
class Header:
    """What the spec says about the whole experiment; the plan shares this object."""
    experiment: str
    seed: int
    device: str
    repeats: int
    params: tuple[tuple[str, object], ...]    # after `--set`, as Python values
    confidence: float = DEFAULT_CONFIDENCE     # the level of every interval
    resamples: int = DEFAULT_RESAMPLES         # bootstrap and permutation resamples
    precision: str = "fp32"                    # forward passes: fp32, bf16 or fp16


@dataclass(frozen=True)
class Program:
    """A spec that passed every check: what the planner consumes. Its statements are resolved
    (resolved.py): no syntax is left for the planner to read."""
    source: SourceFile
    header: Header
    statements: tuple[resolved.Statement, ...]


# ---- symbols ------------------------------------------------------------------------

@dataclass
class Symbol:
    kind: str            # stimuli | model | units | measure | param | class-var | layer-var | var
    span: Span
    used: bool = False
    is_grid: bool = False


@dataclass
class Scope:
    parent: "Scope | None" = None
    symbols: dict[str, Symbol] = field(default_factory=dict)

    def lookup(self, name: str) -> Symbol | None:
        scope: Scope | None = self
        while scope is not None:
            if name in scope.symbols:
                return scope.symbols[name]
            scope = scope.parent
        return None

    def visible(self) -> dict[str, Symbol]:
        names: dict[str, Symbol] = {}
        chain = []
        scope: Scope | None = self
        while scope is not None:
            chain.append(scope)
            scope = scope.parent
        for scope in reversed(chain):
            names.update(scope.symbols)
        return names


KIND_WORDS = {"stimuli": "stimuli", "model": "model", "units": "unit set", "measure": "measure",
              "param": "parameter", "class-var": "class variable", "layer-var": "layer variable",
              "var": "loop variable"}


def python_value(value: ast.Value) -> object:
    if isinstance(value, (ast.Number, ast.Percent)):
        return int(value.value) if isinstance(value, ast.Number) and value.is_int else value.value
    if isinstance(value, (ast.String, ast.Name)):
        return value.value
    if isinstance(value, ast.ListValue):
        return [python_value(item) for item in value.items]
    return f"${value.name}"
