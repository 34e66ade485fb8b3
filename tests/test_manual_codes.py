"""The manual's diagnostics table says what lint says (issue 36): each example in the table's
example column, linted after the snippet preamble, gives the code of its row; every code abl can
emit has a row; and no prose cites a code the table does not have."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from abl.spec.codes import CODES
from abl.spec.frontend import compile_text

from test_snippets import with_preamble

MANUAL = Path(__file__).resolve().parent.parent / "docs" / "language.md"

# examples that are not a spec line as written in the table: what they stand for
STANDS_FOR = {
    "E102": "seed 0\n  seed 1\n",
    "E104": "param p = " + "[" * 200 + "]" * 200 + "\n",
    "E202": "stimuli test = digits split test\nstimuli test = digits split test\n",
    "E314": "for each class c:\n    units cells = grid 2x2 over selectivity, magnitude for class c in fc2\n"
            "    measure accuracy on test ablating (cells | hot7)\n",
    "E206": "for each class c:\n    measure accuracy on test where class == c\n"
            "measure accuracy on test where class == c\n",
    "E316": "param alphas = [-1, 0, 1]\nfor each alpha in $alphas:\n    measure accuracy on test\n"
            "expect accuracy[alpha = -10] on test > 50%\n",
    "E317": "measure probability of class 3 on test\nreport curve accuracy by v\n",
    "W502": "",                                                   # the preamble without `seed`
    "W503": "expect drop of accuracy on test ablating hot7 > drop ablating rand5 repeats 5\n",
}
# codes lint cannot show from text alone: the model (E4xx), a command-line flag, a lock file
NOT_FROM_TEXT = {"E205", "E400", "E401", "E402", "E403", "E404", "W506"}


def table_rows() -> list[tuple[str, str]]:
    """(code, example) of every row of the Diagnostics table."""
    section = MANUAL.read_text(encoding="utf-8").split("\n## Diagnostics", 1)[1]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if len(cells) == 5 and re.fullmatch(r"[EW]\d{3}", cells[0]):
            rows.append((cells[0], cells[4]))
    return rows


def example_text(code: str, example: str) -> str:
    if code in STANDS_FOR:
        return STANDS_FOR[code]
    first = example.split(";")[0]
    spans = re.findall(r"`((?:[^`\\]|\\.)+)`", first)
    return "\n".join(span.replace("\\|", "|") for span in spans) + "\n"


def test_the_table_has_a_row_for_every_code_and_no_other():
    codes = [code for code, _ in table_rows()]
    assert sorted(codes) == sorted(CODES), set(codes) ^ set(CODES)


@pytest.mark.parametrize("code,example", [r for r in table_rows() if r[0] not in NOT_FROM_TEXT],
                         ids=lambda v: v if re.fullmatch(r"[EW]\d{3}", str(v)) else "")
def test_each_example_gives_its_rows_code(code, example):
    fragment = example_text(code, example)
    text, _ = with_preamble(fragment)
    if code == "W502":
        text = text.replace("seed 0\n", "", 1)     # lint's W502 needs a spec without a header line
    emitted = {d.code for d in compile_text(text).diagnostics}
    assert code in emitted, f"{code}: `{fragment.strip()}` gives {sorted(emitted)}"


def test_every_code_cited_in_the_manual_exists():
    cited = set(re.findall(r"\b([EW]\d{3})\b", MANUAL.read_text(encoding="utf-8")))
    assert cited <= set(CODES), cited - set(CODES)
