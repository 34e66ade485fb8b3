"""A corpus of broken specs (tests/broken/): each is an example with one syntax error injected
into one line, named BASE-LINE-KIND.abl. Its diagnostics are pinned (BASE-LINE-KIND.expected.json)
and must be exactly one syntax error on that line: a statement that did not parse takes nothing
down with it (no "undefined" for the names it would have defined, no "never used" for what it
used, no empty list for a `for each` whose header broke, no claim checked against measurements
that may be on a broken line)."""

import json
import re
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


# ---- no message rejects a token it names among the expected ones --------------------------------
_UNEXPECTED = re.compile(r"unexpected (`[^`]*`|[^,]+), expected (.*)")
HEAD = ('experiment "x"\nseed 0\nstimuli test = digits split test\nmodel net = train mlp [64, 10] on test\n'
        "units a = [0] in fc1\nunits b = [1] in fc1\n")
TRICKY = [  # once "unexpected `-`, expected `+` or `-`": a SIGN token lost to set difference's `-`
    "expect accuracy on test ablating a >= accuracy on test ablating b * 5%",
    "expect accuracy on test ablating a >= accuracy on test ablating b - - 5%",
    "expect accuracy on test ablating a >= accuracy on test ablating b + + 5%",
    "expect accuracy on test >= accuracy on test ablating b 5%",
    "measure accuracy on test ablating a - - b",
    "measure accuracy on test where class != 3 ablating a",
    "units c = top 10%% by activation in fc1",
]


def _self_contradicting(text: str, name: str) -> list[str]:
    found = []
    for diagnostic in compile_source(SourceFile.from_text(text, name)).diagnostics:
        match = _UNEXPECTED.match(diagnostic.message)
        if diagnostic.code == "E101" and match and match.group(1) in re.findall(r"`[^`]*`", match.group(2)):
            found.append(diagnostic.message)
    return found


def test_no_syntax_error_names_the_token_it_rejects_among_the_expected():
    texts = [(path.name, path.read_text(encoding="utf-8")) for path in CASES]
    texts += [(f"tricky-{i}.abl", HEAD + line + "\n") for i, line in enumerate(TRICKY)]
    contradictions = {name: found for name, text in texts if (found := _self_contradicting(text, name))}
    assert not contradictions, contradictions
    # the audit is not vacuous: every tricky line is a syntax error naming what it found
    assert all(any(d.code == "E101" and d.message.startswith("unexpected")
                   for d in compile_source(SourceFile.from_text(HEAD + line + "\n", "t.abl")).diagnostics)
               for line in TRICKY if "!=" not in line and "%%" not in line)
