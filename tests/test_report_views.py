"""Issue 34, item 3: every number a terminal view prints is the table's value for the row it names
(several models, loops over classes and variables, several stimuli sets: nothing averaged)."""

import io
import re

import pytest
from rich.console import Console

HEAD = ('experiment "x"\nseed 0\nstimuli train = digits split train\nstimuli test = digits split test\n'
        'model a = train mlp [64, 32, 10] on train epochs 2\nmodel b = train mlp [64, 16, 10] on train epochs 1\n')
FAMILY = HEAD + ("for each class c in [3, 7], each layer L in [fc1]:\n"
                 "    units hi = top 3 by activation for class c in L\n"
                 "    measure accuracy on test where class == c ablating hi using a\n"
                 "    measure accuracy on test where class == c ablating hi using b\n"
                 "for each level in [0.2, 0.6]:\n"
                 "    stimuli noisy = test noise level\n"
                 "    measure accuracy on noisy using a\n"
                 "    measure accuracy on noisy using b\n"
                 "for each k in [2, 4]:\n"
                 "    units tk = top k by activation for class 3 in fc1\n"
                 "    measure accuracy per class on train ablating tk using a\n"
                 "    measure accuracy per class on train ablating tk using b\n"
                 "measure accuracy per class on test using a\nmeasure accuracy per class on test using b\n"
                 "measure accuracy per class on train using a\nmeasure accuracy per class on train using b\n")
FORMS = {"table": "report table accuracy per class\n", "bars": "report bars accuracy per class\n",
         "heatmap": "report heatmap accuracy by class x layer\n", "curve": "report curve accuracy by level\n"}


@pytest.fixture(scope="module")
def family_run(tmp_path_factory):
    from abl.interpreter.api import Experiment

    cache = tmp_path_factory.mktemp("abl-cache")
    return Experiment.from_text(FAMILY + "".join(FORMS.values()), cache_dir=cache, device="cpu").run()


def text_of(renderable) -> str:
    console = Console(width=400, file=io.StringIO(), color_system=None)
    console.print(renderable)
    return console.file.getvalue()


def printed_numbers(text: str) -> set[str]:
    """The 4-decimal values a view prints (not signed changes, not intervals)."""
    return set(re.findall(r"(?<![\d.+\-\[])(\d\.\d{4})(?![\d])", text))


@pytest.mark.parametrize("form", list(FORMS))
def test_every_printed_number_is_its_rows_value(family_run, form):
    from abl.interpreter.report.terminal import _report_view

    (item,) = [i for i in family_run.plan.reports if i.kind == form]
    text = text_of(_report_view(item, family_run.table, [item]))
    values = {f"{r.value:.4f}" for r in family_run.table if r.measure == "accuracy"}
    numbers = printed_numbers(text)
    assert numbers and numbers <= values, (numbers - values, text)
    assert "model=a" in text and "model=b" in text or (form == "curve" and " a " in text and " b " in text), text


def test_two_models_each_print_their_own_accuracy(tmp_path):
    import csv
    import os
    import subprocess
    import sys

    spec = tmp_path / "s.abl"
    spec.write_text(HEAD + "measure accuracy on test using a\nmeasure accuracy on test using b\n")
    env = dict(os.environ, NO_COLOR="1", ABL_CACHE_DIR=str(tmp_path / "cache"), COLUMNS="100")
    result = subprocess.run([sys.executable, "-m", "abl.interpreter.cli", "run", str(spec), "--out",
                             str(tmp_path / "run"), "--no-figures"], capture_output=True, text=True, env=env,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "run" / "results.csv") as handle:
        rows = {r["model"]: float(r["value"]) for r in csv.DictReader(handle)}
    report = (tmp_path / "run" / "report.txt").read_text()
    for model, value in rows.items():
        assert any(f"model={model}" in line and f"{value:.4g}" in line for line in report.splitlines()), report
