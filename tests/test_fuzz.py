"""The front-end never crashes: on random text, on mutated examples and on random sequences of the
grammar's own words, `compile_text` returns diagnostics (each with a known code and a span inside
the text) instead of raising. Where a mutated spec still parses, `abl fmt` keeps its meaning."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from abl.spec.codes import CODES
from abl.spec.fmt import format_text
from abl.spec.frontend import compile_text
from abl.spec.parser import _parser, grammar_text

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "examples").glob("*.abl"))]
EXAMPLES += [p.read_text(encoding="utf-8") for p in sorted((ROOT / "tests" / "golden").glob("*.abl"))]

# Deterministic and quick by default; `ABL_FUZZ_EXAMPLES=5000 ABL_FUZZ_RANDOM=1` hunts harder.
FUZZ = settings(max_examples=int(os.environ.get("ABL_FUZZ_EXAMPLES", "200")), deadline=None,
                derandomize=os.environ.get("ABL_FUZZ_RANDOM") != "1", database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def assert_well_behaved(text: str):
    result = compile_text(text, "fuzz.abl")          # must not raise
    length = len(result.source.text)
    for d in result.diagnostics:
        assert d.code in CODES, d
        assert 0 <= d.span.start <= d.span.end <= length, (d.code, d.span, length)
        assert 1 <= d.span.line <= d.span.end_line and d.span.column >= 1, d
        assert d.message, d
    if result.program is not None:
        assert not result.has_errors
    return result


def _strip(node):
    if isinstance(node, tuple):
        return tuple(_strip(i) for i in node)
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        return (type(node).__name__,) + tuple((f.name, _strip(getattr(node, f.name)))
                                              for f in dataclasses.fields(node)
                                              if f.name not in ("span", "size_span", "dim_spans", "path"))
    return node


def assert_fmt_sound(text: str):
    """When a text parses, formatting it is idempotent and keeps its tree."""
    result = format_text(text, "fuzz.abl")             # must not raise
    if result.text is None:
        assert result.diagnostics
        return
    again = format_text(result.text, "fuzz.abl")
    assert again.text == result.text, (text, result.text)
    before = compile_text(text, "fuzz.abl").spec
    after = compile_text(result.text, "fuzz.abl").spec
    assert _strip(after) == _strip(before), (text, result.text)


# ---- random text ---------------------------------------------------------------------------------

SPEC_CHARS = st.sampled_from(list("abcdefxyz_0123456789 \t\n\r#\"\\$[](),:=|&-+<>!%.×éλ\ufeff") +
                             ["    ", "\n    ", " in ", " on ", " by ", "for each ", "units "])


@FUZZ
@given(st.text(max_size=200))
def test_random_unicode_text(text):
    assert_well_behaved(text)


@FUZZ
@given(st.lists(SPEC_CHARS, max_size=120).map("".join))
def test_random_spec_like_text(text):
    assert_well_behaved(text)


# ---- mutations of the examples ------------------------------------------------------------------

@st.composite
def mutated(draw):
    text = draw(st.sampled_from(EXAMPLES))
    for _ in range(draw(st.integers(1, 4))):
        lines = text.split("\n")
        kind = draw(st.sampled_from(["delete", "insert", "swap", "drop_line", "dup_line",
                                     "delete_span", "indent_line"]))
        if kind in ("delete", "insert", "swap", "delete_span") and text:
            i = draw(st.integers(0, len(text) - 1))
            if kind == "delete":
                text = text[:i] + text[i + 1:]
            elif kind == "insert":
                text = text[:i] + draw(SPEC_CHARS) + text[i:]
            elif kind == "swap" and i + 1 < len(text):
                text = text[:i] + text[i + 1] + text[i] + text[i + 2:]
            else:
                j = draw(st.integers(i, min(len(text), i + 20)))
                text = text[:i] + text[j:]
        elif kind in ("drop_line", "dup_line", "indent_line") and lines:
            i = draw(st.integers(0, len(lines) - 1))
            if kind == "drop_line":
                del lines[i]
            elif kind == "dup_line":
                lines.insert(i, lines[i])
            else:
                lines[i] = draw(st.sampled_from([" ", "  ", "    ", "\t", "        "])) + lines[i]
            text = "\n".join(lines)
    return text


@FUZZ
@given(mutated())
def test_mutated_examples(text):
    assert_well_behaved(text)


@FUZZ
@given(mutated())
def test_mutated_examples_format_soundly(text):
    assert_fmt_sound(text)


@FUZZ
@given(st.sampled_from(EXAMPLES), st.data())
def test_byte_level_mutations(text, data):
    raw = bytearray(text.encode("utf-8"))
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, max(len(raw) - 1, 0)))
        op = data.draw(st.sampled_from(["flip", "delete", "insert"]))
        if op == "flip" and raw:
            raw[i] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "delete" and raw:
            del raw[i]
        else:
            raw.insert(i, data.draw(st.integers(0, 255)))
    assert_well_behaved(bytes(raw).decode("utf-8", errors="replace"))


# ---- random sequences of the grammar's words ---------------------------------------------------------

def _keywords() -> list[str]:
    words = {t.pattern.value for t in _parser().terminals if t.pattern.type == "str"}
    words |= set(re.findall(r'"([^"\s]+)"', grammar_text()))
    return sorted(words)


TOKENS = st.one_of(
    st.sampled_from(_keywords()),
    st.sampled_from(["drop of", "at least", "at most", "drops", "rises", "incoming", "outgoing",
                     "class", "layer", "mean-ablating", "4x4", "2 x 3", "3%", "-1", "0.5", "1e3",
                     '"s"', '"unterminated', "$p", "fc2", "features.3", "net", "test", "train",
                     "hot7", "c", "L", "accuracy", "activation", "selectivity", "magnitude",
                     "rank deficit", "digits", "mlp", "cnn", "alexnet", "#", "# note"]),
    st.sampled_from(["\n", "\n    ", "\n        ", "\n  ", ":\n    ", "\n\n", "[", "]", "(", ")", ","]),
)


@FUZZ
@given(st.lists(TOKENS, max_size=40).map(" ".join))
def test_random_keyword_sequences(text):
    assert_well_behaved(text)


@st.composite
def statements(draw):
    """Lines that start like real statements, so that parsing gets past the first word."""
    starts = ["experiment", "seed", "device", "repeats", "param p =", "stimuli s =", "model m =",
              "units u =", "measure", "expect", "report", "for each", "    measure", "measure m ="]
    lines = []
    for _ in range(draw(st.integers(1, 8))):
        tokens = draw(st.lists(TOKENS, max_size=12))
        lines.append(draw(st.sampled_from(starts)) + " " + " ".join(tokens))
    return "\n".join(lines) + draw(st.sampled_from(["", "\n"]))


@FUZZ
@given(statements())
def test_random_statements(text):
    assert_well_behaved(text)


@FUZZ
@given(statements())
def test_random_statements_format_soundly(text):
    assert_fmt_sound(text)
