"""Writes the subpackage import graph of abl.interpreter as a Mermaid diagram, read from the code
itself (every import, also inside functions). docs/architecture.md embeds its output between the
`architecture-graph` markers; tests/test_imports.py checks that the two agree.

    python docs/architecture_graph.py            # print the diagram
    python docs/architecture_graph.py --write    # refresh docs/architecture.md
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ORDER = ("cli", "cluster", "results", "report", "run", "models", "data", "backend", "plan")
START, END = "<!-- architecture-graph: start -->", "<!-- architecture-graph: end -->"


def _subpackage(module: str) -> str | None:
    parts = module.split(".")
    if parts[:2] != ["abl", "interpreter"] or len(parts) < 3:
        return None
    return parts[2] if parts[2] in ORDER else None


def subpackage_edges() -> set[tuple[str, str]]:
    edges = set()
    for path in sorted((ROOT / "interpreter").rglob("*.py")):
        parts = path.relative_to(ROOT / "interpreter").parts
        if len(parts) < 2 or parts[0] not in ORDER:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                target = _subpackage(node.module)
                if target and target != parts[0]:
                    edges.add((parts[0], target))
    return edges


def mermaid() -> str:
    edges = subpackage_edges()
    lines = ["```mermaid", "flowchart TD"]
    for source in ORDER:
        for target in ORDER:
            if (source, target) in edges:
                lines.append(f"    {source} --> {target}")
    lines.append("```")
    return "\n".join(lines)


def embedded(text: str) -> str:
    return text.split(START, 1)[1].split(END, 1)[0].strip()


if __name__ == "__main__":
    diagram = mermaid()
    if "--write" in sys.argv:
        doc = ROOT / "docs" / "architecture.md"
        text = doc.read_text(encoding="utf-8")
        head, rest = text.split(START, 1)
        doc.write_text(head + START + "\n" + diagram + "\n" + END + rest.split(END, 1)[1], encoding="utf-8")
    else:
        print(diagram)
