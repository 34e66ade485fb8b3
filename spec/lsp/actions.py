"""Quick fixes: a diagnostic whose help proposes a replacement ("did you mean `test`?") becomes a
code action that writes the replacement over the diagnostic's span."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from ..diagnostics import Diagnostic

_DID_YOU_MEAN = re.compile(r"did you mean `([^`\n]+)`\?")


@dataclass(frozen=True)
class QuickFix:
    title: str
    diagnostic: Diagnostic
    replacement: str


def quick_fixes(diagnostics: Iterable[Diagnostic], start: int, end: int) -> tuple[QuickFix, ...]:
    """The fixes of the diagnostics that touch the character range [start, end]."""
    fixes = []
    for diagnostic in diagnostics:
        span = diagnostic.span
        if span.end < start or span.start > end or span.line != span.end_line or span.start == span.end:
            continue
        match = _DID_YOU_MEAN.search(diagnostic.help or "")
        if match:
            fixes.append(QuickFix(f"{diagnostic.code}: replace with `{match.group(1)}`", diagnostic, match.group(1)))
    return tuple(fixes)
