"""Results as DataFrames and Parquet, run folders read back, two runs compared, runs logged to
MLflow: each checked against the run folder the CLI wrote."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from abl.interpreter.api import Experiment, load_run
from abl.interpreter.errors import RunError

ROOT = Path(__file__).resolve().parent.parent
KNOB = ROOT / "examples" / "selectivity_knob.abl"
DIGIT7 = ROOT / "examples" / "digit7.abl"
SMALL_KNOB = {"epochs": "1", "seeds": "1", "alphas": "[-10, -1, 0, 1, 10]"}


def abl(*args, cache, cwd=ROOT, env_extra=None):
    env = dict(os.environ, NO_COLOR="1", ABL_CACHE_DIR=str(cache), **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "abl.interpreter.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=600)


def sets(overrides: dict) -> list[str]:
    return [item for name, value in overrides.items() for item in ("--set", f"{name}={value}")]


@pytest.fixture(scope="module")
def knob_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("knob")
    done = abl("run", str(KNOB), *sets(SMALL_KNOB), "--out", str(root / "run"), "--no-figures", cache=root / "cache")
    assert done.returncode in (0, 1), done.stderr
    return root


def test_load_run_gives_the_same_frame_as_the_result(knob_run):
    loaded = load_run(knob_run / "run")
    result = Experiment.from_file(KNOB, overrides=SMALL_KNOB, cache_dir=knob_run / "cache").run()
    assert_frame_equal(loaded.results, result.to_pandas())
    assert loaded.params == json.loads((knob_run / "run" / "params.json").read_text())
    assert loaded.manifest["status"] == "complete" and loaded.experiment == "selectivity knob"
    assert list(loaded.verdicts["verdict"]) == ["PASS" if v.passed else "FAIL" for v in result.verdicts]
    assert len(loaded.selections) == len(result.selections)


def test_the_frame_is_typed_and_sweep_variables_are_columns(knob_run):
    frame = load_run(knob_run / "run").results
    assert frame["value"].dtype == "float64" and frame["ci_low"].dtype == "float64"
    assert frame["n"].dtype == "int64" and frame["repeat"].dtype == "int64"
    assert frame["alpha"].dtype == "Int64" and sorted(frame["alpha"].dropna().unique()) == [-10, -1, 0, 1, 10]
    assert frame["sigma"].dtype == "float64"
    assert frame["measure"].dtype == "string"
    # the same numbers as the CSV, bit for bit
    csv = pd.read_csv(knob_run / "run" / "results.csv")
    assert list(csv["value"]) == list(frame["value"])
    # a notebook's first question: accuracy by alpha
    by_alpha = frame[(frame.measure == "accuracy") & (frame.stimuli == "test")].groupby("alpha")["value"].mean()
    assert list(by_alpha.index) == [-10, -1, 0, 1, 10] and by_alpha.between(0, 1).all()


def test_parquet_round_trips_with_the_runs_provenance(knob_run):
    from abl.interpreter.results.frames import read_parquet

    folder = knob_run / "run"
    frame, provenance = read_parquet(folder / "results.parquet")
    assert_frame_equal(frame, load_run(folder).results)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert provenance["spec_sha256"] == manifest["spec_sha256"]
    assert provenance["versions"] == manifest["versions"] and provenance["seed"] == 0
    assert provenance["params"]["epochs"] == 1 and provenance["overrides"] == SMALL_KNOB
    # plain pyarrow sees the same metadata
    import pyarrow.parquet as pq

    assert json.loads(pq.read_schema(folder / "results.parquet").metadata[b"abl"])["experiment"] == "selectivity knob"


def test_compare_same_spec_agrees_and_a_changed_set_differs(knob_run, tmp_path):
    again = abl("run", str(KNOB), *sets(SMALL_KNOB), "--out", str(tmp_path / "again"), "--no-figures",
                cache=knob_run / "cache")
    assert again.returncode in (0, 1)
    same = abl("compare", str(knob_run / "run"), str(tmp_path / "again"), cache=tmp_path)
    assert same.returncode == 0, same.stdout + same.stderr
    assert "the runs agree" in same.stdout and "0 moved" in same.stdout

    changed = abl("run", str(KNOB), *sets({**SMALL_KNOB, "epochs": "2"}), "--out", str(tmp_path / "changed"),
                  "--no-figures", cache=knob_run / "cache")
    assert changed.returncode in (0, 1)
    text = abl("compare", str(knob_run / "run"), str(tmp_path / "changed"), cache=tmp_path)
    assert text.returncode == 1 and "param epochs" in text.stdout and "values that moved" in text.stdout
    as_json = abl("compare", str(knob_run / "run"), str(tmp_path / "changed"), "--format", "json", cache=tmp_path)
    assert as_json.returncode == 1
    report = json.loads(as_json.stdout)
    assert report["agree"] is False
    assert report["params"] == [{"what": "param epochs", "a": 1, "b": 2}]
    assert report["moved"] and all(m["a"] != m["b"] for m in report["moved"])
    moved = report["moved"][0]
    if moved["a_interval"]:                  # beyond the other run's interval, as documented
        low, high = moved["b_interval"]
        assert not (low <= moved["a"] <= high) or not (moved["a_interval"][0] <= moved["b"] <= moved["a_interval"][1])
    assert any(c["what"].startswith("models ") for c in report["environment"])   # new weights, shown


def test_compare_and_load_run_refuse_an_incomplete_run(knob_run, tmp_path):
    import shutil

    folder = tmp_path / "interrupted"
    shutil.copytree(knob_run / "run", folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**manifest, "status": "interrupted"}))
    with pytest.raises(RunError, match="not a complete run") as error:
        load_run(folder)
    assert f"abl run --resume {folder}" in error.value.help
    refused = abl("compare", str(knob_run / "run"), str(folder), cache=tmp_path)
    assert refused.returncode == 2 and "not a complete run" in refused.stderr and "Traceback" not in refused.stderr
    missing = abl("compare", str(knob_run / "run"), str(tmp_path / "nowhere"), cache=tmp_path)
    assert missing.returncode == 2 and "not a run folder" in missing.stderr


def test_log_mlflow_records_params_and_one_metric_per_row(tmp_path):
    pytest.importorskip("mlflow", reason="the MLflow test needs the `mlflow` extra (in the test extras)")
    from mlflow.tracking import MlflowClient

    from abl.interpreter.results.tracking import metric_names

    store = (tmp_path / "store").as_uri()
    done = abl("run", str(DIGIT7), "--set", "epochs=5", "--out", str(tmp_path / "run"), "--no-figures", "--log",
               "mlflow", cache=tmp_path / "cache", env_extra={"MLFLOW_TRACKING_URI": store,
                                                               "MLFLOW_ALLOW_FILE_STORE": "true"})
    assert done.returncode in (0, 1), done.stderr
    assert "logged to MLflow: run" in done.stderr
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    client = MlflowClient(store)
    (run,) = client.search_runs([client.get_experiment_by_name("digit-7 units").experiment_id])
    params = json.loads((tmp_path / "run" / "params.json").read_text())
    assert run.data.params == {name: str(value) for name, value in params.items()}
    result = Experiment.from_file(DIGIT7, overrides={"epochs": "5"}, cache_dir=tmp_path / "cache").run()
    rows = list(result.table)
    expected = {name: row.value for name, row in zip(metric_names(rows), rows) if math.isfinite(row.value)}
    logged = {k: v for k, v in run.data.metrics.items() if not k.startswith("claim_")}
    assert logged == expected and len(logged) == len(rows)
    for verdict in result.verdicts:
        assert run.data.metrics[f"claim_{verdict.claim}.passed"] == float(verdict.passed)
    assert run.data.tags["abl.spec_sha256"] == json.loads((tmp_path / "run" / "manifest.json").read_text())["spec_sha256"]
    assert "results.parquet" in {a.path for a in client.list_artifacts(run.info.run_id)}


def test_without_mlflow_the_flag_says_how_to_install_it(tmp_path):
    code = ("import sys; sys.modules['mlflow'] = None; from abl.interpreter.cli.main import main; "
            f"sys.exit(main(['run', {str(DIGIT7)!r}, '--log', 'mlflow', '--out', {str(tmp_path / 'run')!r}]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, NO_COLOR="1"), timeout=120)
    assert done.returncode == 2 and "pip install 'abl[mlflow]'" in done.stderr
    assert not (tmp_path / "run").exists()
