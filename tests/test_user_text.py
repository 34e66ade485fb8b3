"""What the user typed is printed as typed: brackets, `[/red]` and unicode in flags, file and folder
names and spec text reach every message path verbatim (none of it is read as rich markup), and no
command line ends in a traceback or an "internal error"."""

import importlib
import io
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

cli_main = importlib.import_module("abl.interpreter.cli.main")      # the module (the package exports `main`)

ROOT = Path(__file__).resolve().parent.parent
DIGIT7 = ROOT / "examples" / "digit7.abl"
NASTY = ["[/red]", "[/]", "acc[class 7]", "[bold]x[/bold]", "a\\[b]", "[red", "x]\\"]


def abl(capsys, *argv) -> tuple[int, str]:
    code = cli_main.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.fixture(autouse=True)
def _plain(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")


@pytest.mark.parametrize("text", NASTY)
def test_set_and_explain_keep_brackets(capsys, text):
    code, said = abl(capsys, "run", DIGIT7, "--set", text)
    assert code == 2 and f"--set takes NAME=VALUE, got `{text}`" in said
    code, said = abl(capsys, "explain", text)
    assert code == 2 and f"unknown code `{text}`" in said


@pytest.mark.parametrize("text", NASTY[:3])
def test_errors_with_and_without_a_source_line_and_internal_errors(capsys, monkeypatch, tmp_path, text):
    from abl.interpreter.errors import RunError

    folder = tmp_path / text.replace("/", "_")
    folder.mkdir()
    spec = folder / f"{text.replace('/', '_')}.abl"
    spec.write_text('experiment "x"\nseed 0\nstimuli s = digts split test\n')
    code, said = abl(capsys, "lint", spec)                  # located: file name and source line
    assert code == 1 and f"{spec}:3:13: E303" in said and "digts" in said
    code, said = abl(capsys, "plan", spec)
    assert code == 2 and str(spec) in said

    def raising(error):
        def handler(args):
            raise error
        return handler

    for error, expected in ((RunError(f"no layer {text}", help=f"try {text}"), f"error: no layer {text}"),
                            (ValueError(f"boom {text}"), f"internal error: ValueError: boom {text}"),
                            (OSError(36, "File name too long", text), f"error: {text}: File name too long")):
        monkeypatch.setattr(cli_main, "cmd_explain", raising(error))
        code, said = abl(capsys, "explain", "E101")
        assert code == 2 and expected in said and "Traceback" not in said
        if isinstance(error, RunError):
            assert f"= help: try {text}" in said


def test_progress_labels_and_warnings_keep_brackets():
    from rich.console import Console

    from abl.interpreter.progress import RichProgress

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, no_color=True, width=200)   # markup on, as rich's default
    with RichProgress(console) as progress:
        with progress.task("model [/red] net", total=2) as task:
            task.describe("loss [/] 0.1")
            progress._progress.refresh()
            progress.note("layer [bold]fc2[/bold] has [/] traps")
    shown = buffer.getvalue()
    assert "warning: layer [bold]fc2[/bold] has [/] traps" in shown
    assert "loss [/] 0.1" in shown


def test_report_and_compare_tables_keep_brackets():
    from rich.console import Console

    from abl.interpreter.cli.compare import render
    from abl.interpreter.results.compare import Change, Comparison, MovedValue

    comparison = Comparison("[/]a", "b[/red]", params=(Change("param [/]", "[/red]", "[x]"),),
                            moved=(MovedValue({"layer": "[/]fc"}, 1.0, 2.0, (0.5, 1.5), None),),
                            environment=(Change("torch", "[/]", "2"),))
    buffer = io.StringIO()
    console = Console(file=buffer, width=200, no_color=True)           # markup on: the cells are Text
    for part in render(comparison):
        console.print(part)
    shown = buffer.getvalue()
    for text in ("[/]a", "b[/red]", "param [/]", "[/red]", "[x]", "layer=[/]fc"):
        assert text in shown


def test_a_path_with_an_unknown_user_is_a_clean_error(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("ABL_CACHE_DIR", str(tmp_path / "cache"))
    spec = tmp_path / "folder.abl"
    spec.write_text('experiment "x"\nseed 0\nparam p = "x"\nstimuli s = imagefolder $p\n'
                    'model m = torchvision resnet18 weights none\nmeasure accuracy on s\n')
    code, said = abl(capsys, "run", spec, "--set", 'p="~nosuchuser/x"', "--out", tmp_path / "out")
    assert code == 2 and "cannot expand `~nosuchuser`" in said and "internal error" not in said, said


def test_compare_of_folders_with_brackets(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("ABL_CACHE_DIR", str(tmp_path / "cache"))
    a, b = tmp_path / "[" / "]", tmp_path / "[/red]b"
    code, said = abl(capsys, "compare", a, b)          # not run folders: a clean error, names verbatim
    assert code == 2 and str(a) in said
    code, said = abl(capsys, "run", DIGIT7, "--set", "epochs=2", "--no-figures", "--out", a)
    assert code in (0, 1), said
    assert f"run folder: {a}" in said
    assert f"run folder: {a}" in (a / "report.txt").read_text()
    shutil.copytree(a, b)
    code, said = abl(capsys, "compare", a, b)
    assert code == 0, said
    assert f"A {a}" in said and f"B {b}" in said and "the runs agree" in said


# ---- generative: no command line ends in a traceback or an internal error --------------------

FLAG_TEXT = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30),
    st.sampled_from(NASTY + ["~nosuchuser/x", "~nosuchuser", "a" * 300, "x/" + "b" * 300 + "/c.abl",
                             "\x1b[31mred", "é✓🙂", "--", "-"]),
)


@st.composite
def command_lines(draw):
    value = draw(FLAG_TEXT)
    kind = draw(st.sampled_from(["lint", "lint-set", "plan", "plan-set", "explain", "compare", "run-set",
                                 "run-path", "layers-set", "run-folder"]))
    if kind == "lint":
        return ["lint", value or "x"]
    if kind == "lint-set":
        return ["lint", str(DIGIT7), "--set", f"data={value}"]
    if kind == "plan":
        return ["plan", value or "x"]
    if kind == "plan-set":
        return ["plan", str(DIGIT7), "--set", f"{value}={value}"]
    if kind == "explain":
        return ["explain", value or "x"]
    if kind == "compare":
        return ["compare", value or "x", value + "b"]
    if kind == "run-path":
        return ["run", value or "x", "--set", value.replace("=", "") or "x"]
    if kind == "run-folder":        # a path in the spec: `~nosuchuser/x`, a name too long, ...
        quoted = "".join(c for c in value if c not in '"\\' and c.isprintable()) or "x"
        return ["run", "FOLDER_SPEC", "--set", f'p="{quoted}"', "--no-figures", "--out", "OUT"]
    if kind == "layers-set":
        return ["layers", str(DIGIT7), "--set", value.replace("=", "") or "x"]
    return ["run", str(DIGIT7), "--set", value.replace("=", "") or "x", "--out", value or "x"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argv=command_lines())
def test_no_command_line_ends_in_a_traceback(capsys, monkeypatch, tmp_path, argv):
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("ABL_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "work").mkdir(exist_ok=True)
    monkeypatch.chdir(tmp_path / "work")
    spec = tmp_path / "folder.abl"
    spec.write_text('experiment "x"\nseed 0\nparam p = "x"\nstimuli s = imagefolder $p\n'
                    'model m = torchvision resnet18 weights none\nmeasure accuracy on s\n')
    argv = [str(spec) if a == "FOLDER_SPEC" else str(tmp_path / "out") if a == "OUT" else a for a in argv]
    try:
        code = cli_main.main(argv)
    except SystemExit as stop:          # argparse's own usage errors (a value that looks like a flag)
        code = stop.code
    captured = capsys.readouterr()
    said = captured.out + captured.err
    assert "Traceback" not in said and "internal error" not in said, (argv, said)
    assert code in (0, 1, 2), (argv, said)
