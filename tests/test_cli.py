"""The `abl` command as a user meets it: exit codes, clean errors, never a traceback."""

import json
import subprocess
import sys
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def run_cli(*args, cwd=None, env_extra=None):
    import os

    env = dict(os.environ, NO_COLOR="1")
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "abl.interpreter.cli", *args], capture_output=True,
                          text=True, cwd=cwd or ROOT, env=env, timeout=600)


def test_lint_examples_clean():
    result = run_cli("lint", "examples/")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


def test_lint_problems_exit_1_and_point_at_them(tmp_path):
    spec = tmp_path / "bad.abl"
    spec.write_text('experiment "x"\nseed 0\nstimuli s = digts split test\n')
    result = run_cli("lint", str(spec))
    assert result.returncode == 1
    assert f"{spec}:3:13: E303" in result.stdout           # on stdout, as ruff does
    assert "did you mean `digits`?" in result.stdout
    assert "^^^^^" in result.stdout


@pytest.mark.parametrize("setup", ["missing", "directory-empty", "bad-bytes", "empty"])
def test_lint_bad_inputs_have_clean_errors(tmp_path, setup):
    if setup == "missing":
        target = tmp_path / "nope.abl"
    elif setup == "directory-empty":
        target = tmp_path
    elif setup == "bad-bytes":
        target = tmp_path / "bytes.abl"
        target.write_bytes(b'experiment "\xff\xfe"\n')
    else:
        target = tmp_path / "empty.abl"
        target.write_text("")
    result = run_cli("lint", str(target))
    assert "Traceback" not in result.stderr + result.stdout
    if setup == "empty":
        assert result.returncode == 1  # an empty spec is linted: it lacks experiment and seed (W502)
        assert "W502" in result.stdout
    else:
        assert result.returncode == 2
        assert str(target) in result.stderr


def test_lint_machine_formats(tmp_path):
    spec = tmp_path / "bad.abl"
    spec.write_text('experiment "x"\nseed 0\nstimuli s = digts split test\n')
    as_json = json.loads(run_cli("lint", "--format", "json", str(spec)).stdout)
    (e303,) = [d for d in as_json if d["code"] == "E303"]
    assert e303["line"] == 3 and e303["column"] == 13
    github = run_cli("lint", "--format", "github", str(spec)).stdout
    assert "::error file=" in github and "title=E303" in github
    sarif = json.loads(run_cli("lint", "--format", "sarif", str(spec)).stdout)
    assert sarif["version"] == "2.1.0"
    assert "E303" in {r["ruleId"] for r in sarif["runs"][0]["results"]}


def test_lint_deep_finds_unknown_layer(tmp_path):
    spec = tmp_path / "deep.abl"
    spec.write_text('experiment "x"\nseed 0\nstimuli s = digits split test\n'
                    'model m = torchvision resnet18 weights none\n'
                    'units u = all in layer9\nmeasure accuracy on s ablating u\n')
    shallow = run_cli("lint", str(spec))
    assert shallow.returncode == 0, shallow.stderr
    deep = run_cli("lint", "--deep", str(spec))
    assert deep.returncode == 1
    assert "E401" in deep.stdout and "layer4" in deep.stdout


def test_lint_deep_says_which_files_it_skipped(tmp_path):
    spec = tmp_path / "broken.abl"
    spec.write_text('experiment "x"\nseed 0\nstimuli s = digts split test\n')
    result = run_cli("lint", "--deep", str(spec))
    assert result.returncode == 1
    assert f"--deep skipped {spec}: it has errors" in result.stderr


LINTY = ('experiment "x"\nseed 0\nstimuli s = digts split test\n'
         'stimuli unused = digits split train\n')


def test_lint_select_and_ignore_by_code_or_prefix(tmp_path):
    spec = tmp_path / "s.abl"
    spec.write_text(LINTY)
    both = run_cli("lint", str(spec))
    assert "E303" in both.stdout and "W501" in both.stdout
    errors_only = run_cli("lint", "--select", "E", str(spec))
    assert "E303" in errors_only.stdout and "W501" not in errors_only.stdout
    assert errors_only.returncode == 1
    nothing = run_cli("lint", "--select", "E", "--ignore", "E303", str(spec))
    assert nothing.returncode == 0 and "E303" not in nothing.stdout
    assert run_cli("lint", "--select", "Q9", str(spec)).returncode == 2


def test_lint_suppression_comments(tmp_path):
    spec = tmp_path / "s.abl"
    spec.write_text(LINTY.replace("split train\n", "split train  # abl: ignore[W501]\n"))
    result = run_cli("lint", str(spec))
    assert "`unused` is never used" not in result.stdout and "`s` is never used" in result.stdout
    assert "E303" in result.stdout
    spec.write_text("# abl: ignore-file[E303]\n" + LINTY)
    result = run_cli("lint", str(spec))
    assert "E303" not in result.stdout and "W501" in result.stdout
    spec.write_text("# abl: ignore-file\n" + LINTY)
    assert run_cli("lint", str(spec)).returncode == 0


def test_lint_settings_from_pyproject_overridden_by_flags(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.abl]\nignore = ["W5"]\n')
    (tmp_path / "specs").mkdir()
    spec = tmp_path / "specs" / "s.abl"
    spec.write_text(LINTY)
    result = run_cli("lint", str(spec))
    assert "W501" not in result.stdout and "E303" in result.stdout
    result = run_cli("lint", "--ignore", "E303", str(spec))
    assert result.returncode == 0
    (tmp_path / "pyproject.toml").write_text('[tool.abl]\nignor = ["W5"]\n')
    broken = run_cli("lint", str(spec))
    assert broken.returncode == 2 and "unknown key(s) ignor" in broken.stderr


def test_lint_exit_zero_output_file_statistics_and_stdin(tmp_path):
    spec = tmp_path / "s.abl"
    spec.write_text(LINTY)
    out = tmp_path / "out.txt"
    result = run_cli("lint", "--exit-zero", "--statistics", "--output-file", str(out), str(spec))
    assert result.returncode == 0 and result.stdout == ""
    written = out.read_text()
    assert "E303" in written and "1  E303  unknown-dataset" in written
    piped = subprocess.run([sys.executable, "-m", "abl.interpreter.cli", "lint", "-", "--stdin-filename", "p.abl"],
                           input=LINTY, capture_output=True, text=True, cwd=ROOT)
    assert piped.returncode == 1 and "p.abl:3:13: E303" in piped.stdout


def test_set_problems_point_at_the_flag(tmp_path):
    spec = tmp_path / "s.abl"
    spec.write_text('experiment "x"\nseed 0\nparam data = "digits"\nstimuli s = $data split test\n'
                    'model m = train mlp [64, 10] on s\nmeasure accuracy on s\n')
    result = run_cli("lint", "--set", "dta=mnist", str(spec))
    assert result.returncode == 2
    assert "error: --set dta=mnist: E205" in result.stderr and "did you mean `data`?" in result.stderr
    assert ":1:1:" not in result.stdout + result.stderr
    bad_value = run_cli("lint", "--set", "data=[1, 2]", str(spec))
    assert bad_value.returncode == 1 and "the value comes from `--set data=[1, 2]`" in bad_value.stdout


def test_explain_prints_brackets_as_written():
    result = run_cli("explain", "E310")
    assert result.returncode == 0 and "[cell = 3,3]" in result.stdout and "[row in [0, 3]]" in result.stdout


def test_explain():
    result = run_cli("explain", "E302")
    assert result.returncode == 0 and "unknown-metric" in result.stdout
    assert run_cli("explain", "E999").returncode == 2


def test_fmt_check_and_rewrite(tmp_path):
    spec = tmp_path / "messy.abl"
    spec.write_text('experiment   "x"\r\nseed 0\r\n\r\n\r\nstimuli s=digits   split test\r\n')
    assert run_cli("fmt", "--check", str(spec)).returncode == 1
    spec.chmod(0o640)
    assert run_cli("fmt", str(spec)).returncode == 0
    assert (spec.stat().st_mode & 0o777) == 0o640          # rewritten in place, keeping its mode
    assert run_cli("fmt", "--check", str(spec)).returncode == 0
    assert spec.read_text() == 'experiment "x"\nseed 0\n\nstimuli s = digits split test\n'


def test_run_with_errors_exits_2_without_traceback(tmp_path):
    spec = tmp_path / "bad.abl"
    spec.write_text('experiment "x"\nseed 0\nstimuli s = digits split test\nmeasure accuracy on t\n')
    result = run_cli("run", str(spec), "--out", str(tmp_path / "run"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "E201" in result.stderr


def test_unknown_set_is_a_usage_error(tmp_path):
    result = run_cli("plan", str(EXAMPLES / "digit7.abl"), "--set", "epoch=3")
    assert result.returncode == 2
    assert "E205" in result.stderr and "epochs" in result.stderr


def test_plan_prints_tree():
    result = run_cli("plan", str(EXAMPLES / "hayne_grid.abl"))
    assert result.returncode == 0, result.stderr
    assert "grid cells" in result.stdout and "forward passes" in result.stdout or "passes" in result.stdout


def test_fmt_diff_and_stdin_and_check(tmp_path):
    spec = tmp_path / "messy.abl"
    messy = 'experiment "x"\nseed 0\nstimuli   s = digits split test\n'
    spec.write_text(messy)
    diff = run_cli("fmt", "--diff", str(spec))
    assert diff.returncode == 1 and "-stimuli   s" in diff.stdout and "+stimuli s" in diff.stdout
    assert spec.read_text() == messy                      # --diff writes nothing
    piped = subprocess.run([sys.executable, "-m", "abl.interpreter.cli", "fmt", "-"], input=messy,
                           capture_output=True, text=True, cwd=ROOT)
    assert piped.returncode == 0 and piped.stdout == 'experiment "x"\nseed 0\nstimuli s = digits split test\n'
    assert run_cli("fmt", "--check", str(spec)).returncode == 1
    spec.chmod(0o640)
    assert run_cli("fmt", str(spec)).returncode == 0
    assert (spec.stat().st_mode & 0o777) == 0o640          # rewritten in place, keeping its mode
    assert run_cli("fmt", "--check", str(spec)).returncode == 0
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_pre_commit_hooks_rewrite_and_check():
    import re

    hooks = (ROOT / ".pre-commit-hooks.yaml").read_text()
    entries = dict(re.findall(r"- id: (\S+)\n(?:  .*\n)*?  entry: (.+)", hooks))
    assert entries == {"abl-lint": "abl lint", "abl-fmt": "abl fmt", "abl-fmt-check": "abl fmt --check"}


def test_api_spec_errors_print_their_diagnostics_and_notebooks_get_text_progress(tmp_path):
    import io

    from abl.interpreter.api import Experiment
    from abl.interpreter.progress import TextProgress
    from abl.spec.diagnostics import SpecError

    with pytest.raises(SpecError) as error:
        Experiment.from_text('experiment "x"\nseed 0\nstimuli s = digts split test\n')
    assert "E303" in str(error.value) and "did you mean `digits`?" in str(error.value)
    stream = io.StringIO()
    progress = TextProgress(stream, min_seconds=0.0)
    with progress.task("training net", 10) as task:
        task.describe("training net: epoch 1/1, loss 0.5")
    assert stream.getvalue().startswith("training net: epoch 1/1, loss 0.5: done in")


def test_a_closed_stdout_keeps_the_exit_code(tmp_path):
    """`abl lint ... | head -c0` and `abl run ... | true`: the command's own code, no internal error."""
    bad = tmp_path / "bad.abl"
    bad.write_text('experiment "x"\nseed 0\nstimuli s = digts split test\n')
    good = tmp_path / "good.abl"
    good.write_text('experiment "x"\nseed 0\nstimuli s = digits split test\n'
                    'model m = train mlp [64, 10] on s epochs 1\nmeasure accuracy on s\n')
    cases = [(["lint", "--format", "json", str(bad)], 1), (["lint", str(bad)], 1),
             (["run", str(good), "--out", str(tmp_path / "run"), "--no-figures"], 0)]
    for args, expected in cases:
        process = subprocess.Popen([sys.executable, "-m", "abl.interpreter.cli", *args], cwd=ROOT,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        process.stdout.close()
        stderr = process.stderr.read().decode()
        assert process.wait() == expected, (args, stderr)
        assert "internal error" not in stderr and "Traceback" not in stderr and "BrokenPipe" not in stderr


def _full_disk(limit_bytes: int):
    """preexec_fn: files may not grow past `limit_bytes` (EFBIG instead of the SIGXFSZ kill)."""
    def limit():
        import resource
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
    return limit


def test_a_full_disk_loses_nothing(tmp_path):
    messy = tmp_path / "messy.abl"
    original = 'experiment "x"\nseed 0\nstimuli   s = digits split test\n' + "# padding\n" * 60
    messy.write_text(original)
    fmt = subprocess.run([sys.executable, "-m", "abl.interpreter.cli", "fmt", str(messy)], capture_output=True,
                         text=True, cwd=ROOT, preexec_fn=_full_disk(300))
    assert fmt.returncode == 2 and "not written" in fmt.stderr and "internal error" not in fmt.stderr
    assert messy.read_text() == original and not list(tmp_path.glob(".*.tmp"))
    out = tmp_path / "run"
    env = dict(__import__("os").environ, NO_COLOR="1", ABL_CACHE_DIR=str(tmp_path / "cache"))
    run = subprocess.run([sys.executable, "-m", "abl.interpreter.cli", "run", str(EXAMPLES / "digit7.abl"),
                          "--set", "epochs=2", "--out", str(out), "--no-figures"], capture_output=True, text=True,
                         cwd=ROOT, env=env, preexec_fn=_full_disk(2000), timeout=600)
    assert run.returncode == 2 and "cannot write the run folder" in run.stderr, run.stderr
    assert "internal error" not in run.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "cannot write the run folder" in manifest["reason"]
    assert not list(out.glob(".*.tmp"))


def test_an_unknown_layer_at_run_time_points_at_the_spec(tmp_path):
    """As a lint diagnostic: path:line:col at the layer, the source line, a caret under the layer."""
    spec = tmp_path / "s.abl"
    spec.write_text('experiment "x"\nseed 0\nstimuli s = digits split test\n'
                    'model net = train mlp [64, 16, 10] on s epochs 1\n'
                    'units u = top 3 by activation in fc9\nmeasure accuracy on s ablating u\n')
    result = run_cli("run", str(spec), "--out", str(tmp_path / "run"), "--no-figures")
    assert result.returncode == 2
    assert f"{spec}:5:34: E401 error: model `net` has no layer `fc9`" in result.stderr     # at the layer
    assert "5 | units u = top 3 by activation in fc9\n" in result.stderr
    assert "\n  |" + " " * 34 + "^^^\n" in result.stderr and "did you mean `fc2`?" in result.stderr


def test_a_run_time_error_points_at_its_statement_as_lint_does_in_text_and_json(tmp_path):
    spec = tmp_path / "late.abl"
    spec.write_text('experiment "late"\nseed 0\nstimuli test = digits split test\n'
                    "model net = train mlp [64, 16, 10] on test epochs 1\n"
                    "units hot = top 3 by activation in fc9 on test\n"
                    "measure accuracy on test ablating hot\n")
    env = {"ABL_CACHE_DIR": str(tmp_path / "cache")}
    # (the text form: test_an_unknown_layer_at_run_time_points_at_the_spec)
    as_json = run_cli("run", str(spec), "--out", str(tmp_path / "b"), "--no-figures", "--format", "json",
                      env_extra=env)
    assert as_json.returncode == 2
    (record,) = [r for r in json.loads(as_json.stdout) if r["code"] != "W507"]   # measured on its training set
    lint = json.loads(run_cli("lint", "--format", "json", str(tmp_path / "x.abl")).stdout or "[]")
    assert lint == [] or set(lint[0]) == set(record)
    assert set(record) == {"path", "line", "column", "end_line", "end_column", "code", "severity", "message", "help"}
    assert (record["line"], record["column"], record["end_column"], record["code"]) == (5, 36, 39, "E401")
    # a loader's error points at the declaration it was loading
    spec.write_text('experiment "late"\nseed 0\nstimuli s = imagefolder "/no/such/folder"\n'
                    'model m = torchvision alexnet weights none\nmeasure accuracy on s using m\n')
    missing = run_cli("run", str(spec), "--out", str(tmp_path / "c"), "--format", "json", env_extra=env)
    (record,) = json.loads(missing.stdout)
    assert (record["line"], record["column"], record["code"]) == (3, 1, "E400")


def test_where_class_names_an_imagenet_folder_as_classes_does(tmp_path):
    """`where class == "Indian_cobra"` plans and runs against a folder named Indian_cobra."""
    from PIL import Image

    rng = __import__("numpy").random.default_rng(0)
    for name in ("Indian_cobra", "junco"):
        (tmp_path / "val" / name).mkdir(parents=True)
        for k in range(3):
            pixels = rng.integers(0, 255, size=(64, 64, 3), dtype="uint8")
            Image.fromarray(pixels).save(tmp_path / "val" / name / f"{k}.png")
    (tmp_path / "tiny.py").write_text(
        "from torch import nn\n"
        "def make():\n"
        "    return nn.Sequential(nn.Conv2d(3, 4, 7, stride=8), nn.ReLU(), nn.AdaptiveAvgPool2d(1),\n"
        "                         nn.Flatten(), nn.Linear(4, 1000))\n")
    spec = tmp_path / "cobra.abl"
    spec.write_text(f'experiment "cobra"\nseed 0\nstimuli s = imagefolder "{tmp_path / "val"}" '
                    'classes ["Indian_cobra", "junco"]\nmodel m = python "tiny:make"\n'
                    'measure accuracy on s where class == "Indian_cobra" using m\n'
                    'measure accuracy on s where class == "Indian cobra" using m\n')
    env = {"ABL_CACHE_DIR": str(tmp_path / "cache")}
    assert run_cli("plan", str(spec), cwd=tmp_path, env_extra=env).returncode == 0
    done = run_cli("run", str(spec), "--out", str(tmp_path / "out"), "--no-figures", cwd=tmp_path, env_extra=env)
    assert done.returncode == 0, done.stderr
    rows = (tmp_path / "out" / "results.csv").read_text().splitlines()
    assert len(rows) == 2 and ",Indian cobra," in rows[1]      # one class, measured once
