"""A corpus of broken specs (tests/broken/): each is an example with one syntax error injected
into one line, named BASE-LINE-KIND.abl. Its diagnostics are pinned (BASE-LINE-KIND.expected.json)
and must be exactly one syntax error on that line: a statement that did not parse takes nothing
down with it (no "undefined" for the names it would have defined, no "never used" for what it
used, no empty list for a `for each` whose header broke, no claim checked against measurements
that may be on a broken line)."""

import json
from pathlib import Path

import pytest

from abl.spec.frontend import compile_source
from abl.spec.source import SourceFile

CORPUS = Path(__file__).resolve().parent / "broken"
CASES = sorted(CORPUS.glob("*.abl"))


def test_the_corpus_is_large_and_varied():
    assert len(CASES) >= 30
    kinds = {path.stem.split("-", 2)[2] for path in CASES}
    assert {"keyword", "no-equals", "unclosed", "no-colon", "stray"} <= kinds


@pytest.mark.parametrize("path", CASES, ids=[path.stem for path in CASES])
def test_one_syntax_error_and_nothing_else(path):
    injected = int(path.stem.split("-")[1])
    diagnostics = [{"code": d.code, "line": d.span.line, "column": d.span.column, "message": d.message,
                    "help": d.help} for d in compile_source(SourceFile.read(str(path))).diagnostics]
    assert diagnostics == json.loads(path.with_suffix(".expected.json").read_text())
    (only,) = diagnostics
    assert only["code"].startswith("E1") and only["line"] == injected
