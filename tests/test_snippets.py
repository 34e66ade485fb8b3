"""Every spec shown in the documentation lints as shown (issue 36).

The marking convention, for README.md, docs/*.md and the markdown cells of examples/notebook.ipynb:

- ```` ```abl ````: a complete spec. It must lint with no diagnostic at all: pasted into a file,
  `abl lint` is silent and `abl run` runs it.
- ```` ```abl fragment ````: a few statements out of a spec. Linted after `PREAMBLE` (stimuli
  `train`, `test`, `probe`, `eval`, model `net`, unit sets `hot7`, `rand5`, `a`, `b`, and the Hayne
  grid measured per class x layer x cell); a name (or header: `experiment`, `seed`) the fragment
  declares itself replaces the preamble's. No error, and no warning but W501 (a fragment may declare what it does not use).
- ```` ```text ```` (or `ebnf`, `bash`, ...): grammar and commands, not linted.

A bare ```` ``` ```` fence is refused: every block says what it is.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from abl.spec.frontend import compile_text

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^([ \t]*)```([^\n`]*)\n(.*?)^\1```", re.M | re.S)
DECLARATION = re.compile(r"^\s*(?:stimuli|model|units|param|measure)\s+(\w+)\s*=", re.M)
HEADER = re.compile(r"^(experiment|seed)\b", re.M)

PREAMBLE = """\
experiment "preamble"
seed 0
stimuli train = digits split train
stimuli test = digits split test
stimuli probe = digits split train holdout 0.5
stimuli eval = digits split test
model net = train mlp [64, 128, 64, 32, 10] on train epochs 1
units hot7 = top 5 by activation for class 7 in fc2 on train
units rand5 = random 5 in fc2
units a = top 3 by activation in fc1
units b = random 3 in fc1
for each class c, each layer L in [fc1, fc2]:
    units cells = grid 4x4 over selectivity, magnitude for class c in L on probe
    measure probe accuracy of cells on eval fit on probe using net
    measure rank deficit on eval where class == c ablating cells using net
"""


def _markdown_sources() -> list[tuple[str, str]]:
    sources = [(path.relative_to(ROOT).as_posix(), path.read_text(encoding="utf-8"))
               for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]]
    notebook = json.loads((ROOT / "examples" / "notebook.ipynb").read_text(encoding="utf-8"))
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] == "markdown":
            sources.append((f"examples/notebook.ipynb#cell{index}", "".join(cell["source"])))
    return sources


def blocks() -> list[tuple[str, str, str]]:
    """(where, info string, body) of every fenced block."""
    found = []
    for name, text in _markdown_sources():
        for match in FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            indent = match.group(1)
            body = "".join(row[len(indent):] if row.startswith(indent) else row
                           for row in match.group(3).splitlines(keepends=True))
            found.append((f"{name}:{line}", match.group(2).strip(), body))
    return found


def spec_blocks(kind: str) -> list[tuple[str, str]]:
    return [(where, body) for where, info, body in blocks() if info == kind]


def with_preamble(fragment: str) -> tuple[str, int]:
    """The fragment after the preamble, minus the preamble's declarations of names it declares."""
    own = set(DECLARATION.findall(fragment)) | set(HEADER.findall(fragment))
    kept = [line for line in PREAMBLE.splitlines(keepends=True)       # top-level declarations only
            if line[:1].isspace() or not (m := DECLARATION.match(line) or HEADER.match(line))
            or m.group(1) not in own]
    preamble = "".join(kept)
    return preamble + fragment, preamble.count("\n")


def _shown(diagnostics) -> str:
    return "\n".join(f"  line {d.span.line}: {d.code} {d.message}" for d in diagnostics)


def test_every_fenced_block_says_what_it_is():
    bare = [where for where, info, _ in blocks() if info == ""]
    assert not bare, "fences without a language (```abl, ```abl fragment, ```text, ...):\n" + "\n".join(bare)


def test_the_documentation_shows_specs_of_both_kinds():
    assert len(spec_blocks("abl")) >= 5 and len(spec_blocks("abl fragment")) >= 8


@pytest.mark.parametrize("where,body", spec_blocks("abl"), ids=lambda v: v if ":" in str(v)[:60] else "")
def test_a_complete_spec_lints_clean(where, body):
    result = compile_text(body, where)
    assert not result.diagnostics, f"{where}:\n{_shown(result.diagnostics)}"


@pytest.mark.parametrize("where,body", spec_blocks("abl fragment"), ids=lambda v: v if ":" in str(v)[:60] else "")
def test_a_fragment_lints_clean_after_the_preamble(where, body):
    text, offset = with_preamble(body)
    result = compile_text(text, where)
    own = [d for d in result.diagnostics if d.span.line > offset or d.is_error]
    problems = [d for d in own if d.is_error or d.code != "W501"]
    assert not problems, f"{where} (lines counted after the {offset}-line preamble):\n{_shown(problems)}"


def test_the_preamble_itself_is_clean_of_errors():
    assert not compile_text(PREAMBLE).has_errors


def test_the_readme_says_where_each_commands_json_goes():
    """Every command with `--format json` has a row in the README's `--format json` table."""
    import argparse

    from abl.interpreter.cli.main import build_parser

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("### Machine-readable output: `--format json`", 1)[1].split("\n\n###", 1)[0]
    subparsers = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    with_json = sorted(name for name, sub in subparsers.choices.items()
                       for action in sub._actions if "--format" in action.option_strings
                       and "json" in (action.choices or ()))
    assert with_json, "no command has --format json?"
    missing = [name for name in with_json if f"| `abl {name} " not in table]
    assert not missing, missing
