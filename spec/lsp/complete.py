"""Completion: the keywords the grammar accepts at the cursor (Lark's interactive parser, through
`parser.expected_after`), and, where a name may come, the names that fit the words before it:
declared stimuli, models, unit sets and measures, measures and unit metrics, layer aliases,
`$param` names, datasets and architectures."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .. import vocabulary
from ..expected import expected_after
from ..source import Span
from .document import Analysis
from .layer_aliases import spec_layer_aliases
from .symbols import KIND_WORDS, Declaration

_PARTIAL = re.compile(r"\$?[A-Za-z_][A-Za-z0-9_.-]*$|\$$")
_LAST_WORD = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*)\W*$")

# the word before the cursor -> which declared kinds fit after it
_KINDS_AFTER = {"on": ("stimuli",), "using": ("model",), "ablating": ("units",), "mean-ablating": ("units",),
                "clamping": ("units",), "scaling": ("units",), "of": ("units",), "|": ("units",),
                "&": ("units",), "=": ("stimuli", "model", "units"), "in": ("var",), "measure": ("measure",),
                "expect": ("measure",), "report": ("measure",)}


@dataclass(frozen=True)
class Candidate:
    label: str
    kind: str            # keyword | name | measure | metric | layer | param | value
    detail: str = ""


@dataclass(frozen=True)
class Completion:
    candidates: tuple[Candidate, ...]
    replace: Span        # the partial word the chosen candidate replaces


def complete(analysis: Analysis, offset: int) -> Completion:
    source = analysis.source
    line, column = source.position(offset)
    before_cursor = source.line_text(line)[: column - 1]
    partial = _PARTIAL.search(before_cursor)
    start = partial.start() if partial else len(before_cursor)
    replace = source.span(offset - (len(before_cursor) - start), offset)
    if "#" in before_cursor[:start] and _in_comment(before_cursor[:start]):
        return Completion((), replace)
    statement_start = before_cursor[:start]
    expected = expected_after(statement_start)
    visible = [d for d in analysis.declarations if d.span.start < offset]
    candidates: list[Candidate] = []
    if expected is not None:
        candidates += [Candidate(word, "keyword", "keyword") for word in expected.keywords]
        if "PARAM_REF" in expected.terminals:
            candidates += _params(visible)
        if "NAME" in expected.terminals:
            candidates += _names(analysis, statement_start, visible)
    else:       # the line does not parse so far: offer every word that might fit
        candidates += _params(visible) + _names(analysis, statement_start, visible)
    return Completion(tuple(dict.fromkeys(candidates)), replace)


def _in_comment(text: str) -> bool:
    return "#" in re.sub(r'"(?:[^"\\]|\\.)*"', "", text)


def _params(visible: list[Declaration]) -> list[Candidate]:
    return [Candidate("$" + d.name, "param", "parameter") for d in visible if d.kind == "param"]


def _names(analysis: Analysis, statement_start: str, visible: list[Declaration]) -> list[Candidate]:
    words = statement_start.split()
    previous = words[-1] if words else ""
    first = words[0] if words else ""
    declared = [Candidate(d.name, "name", KIND_WORDS[d.kind]) for d in visible if d.kind != "param"]
    if previous == "train":
        return [Candidate(a, "value", "built-in network") for a in vocabulary.BUILTIN_ARCHITECTURES]
    if previous == "torchvision":
        return [Candidate(a, "value", "torchvision network") for a in vocabulary.TORCHVISION_ARCHITECTURES]
    if first == "stimuli" and previous == "=":
        return [Candidate(d, "value", "dataset") for d in vocabulary.DATASETS] + _kinds(visible, ("stimuli",))
    if previous in ("by", "over", ",") and first == "units":
        return [Candidate(m, "metric", "unit metric") for m in vocabulary.UNIT_METRICS]
    if previous == "in" and first in ("units", "measure", "for", "report") or previous in ("[", "layer"):
        layers = [Candidate(a, "layer", "layer alias") for a in spec_layer_aliases(analysis.spec)]
        return layers + _kinds(visible, ("var",))
    if previous in ("measure", "expect", "report", "vs", "=") and first in ("measure", "expect", "report"):
        measures = [Candidate(m, "measure", "measure") for m in vocabulary.MEASURES]
        kinds = [Candidate(k, "value", "report kind") for k in vocabulary.REPORT_KINDS] if previous == "report" else []
        return kinds + measures + _kinds(visible, ("measure",))
    if previous in _KINDS_AFTER:
        fitting = _kinds(visible, _KINDS_AFTER[previous])
        if fitting:
            return fitting + [c for c in declared if c not in fitting]
    return declared


def _kinds(visible: list[Declaration], kinds: tuple[str, ...]) -> list[Candidate]:
    return [Candidate(d.name, "name", KIND_WORDS[d.kind]) for d in visible if d.kind in kinds]
