"""What the grammar accepts next after the beginning of a statement: the language server's
completion asks Lark's interactive parser (the same LALR tables as `parser.py`), so keywords are
offered exactly where the grammar allows them."""

from __future__ import annotations

import dataclasses

from lark.exceptions import UnexpectedInput
from lark.indenter import DedentError

from .parser import _keyword_of, _parser

_PATTERN_KEYWORDS = {"DROP": ("drop",), "CHANGE": ("drops", "rises"), "BOUND": ("at least", "at most"),
                     "EXTREME": ("largest", "smallest"), "IN_EVERY": ("in every",),
                     "IN_AT_LEAST": ("in at least",), "MEAN_ABLATING": ("mean-ablating",),
                     "WEIGHT_DIRECTION": ("incoming", "outgoing"), "BINDER_KIND": ("class", "layer"),
                     "PER_ELEMENT": ("per element",), "TRAIN": ("train",)}


@dataclasses.dataclass(frozen=True)
class Expected:
    keywords: tuple[str, ...]     # the words the grammar accepts next
    terminals: frozenset[str]     # every terminal it accepts next (NAME, PARAM_REF, NUMBER, ...)


def expected_after(statement_start: str) -> Expected | None:
    """What the grammar accepts after the beginning of one statement (its indentation stripped),
    or None when that beginning already breaks the grammar."""
    interactive = _parser().parse_interactive(statement_start.lstrip())
    try:
        interactive.exhaust_lexer()
        accepted = frozenset(interactive.accepts())
    except (UnexpectedInput, DedentError):
        return None
    words = set()
    for name in accepted:
        keyword = _keyword_of(name)
        words.update((keyword,) if keyword else _PATTERN_KEYWORDS.get(name, ()))
    return Expected(tuple(sorted(words)), accepted)
