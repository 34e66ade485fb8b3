"""`abl run ... --log mlflow`: the finished run logged to an MLflow tracking store.

The store is `$MLFLOW_TRACKING_URI`, else `./mlruns` (a local file store). One MLflow run per abl
run, in the MLflow experiment named after the spec's `experiment`: the resolved parameters as
params; one metric per result row (its value, under `metric_name(row)`: the row's key columns
that are set, joined with `.`); per claim `claim_J.passed` (1 or 0) and `claim_J.p_value`; tags
with the spec's SHA-256, abl's version and the run folder; and the run folder as artifacts.
MLflow is an optional extra (`pip install 'abl[mlflow]'`, the light `mlflow-skinny` client).
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

from abl.interpreter.errors import RunError, import_extra
from abl.interpreter.run.table import ResultRow

_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_\-. :]")
MAX_KEY = 250


def import_mlflow():
    return import_extra("mlflow", "`--log mlflow`", "MLflow", "mlflow")


def metric_name(row: ResultRow) -> str:
    """A row's metric key: its key columns that are set, `.`-joined, in MLflow's alphabet."""
    parts = [row.measure, row.stimuli, row.model, f"class {row.cls}" if row.cls else "", row.layer,
             f"units {row.units}" if row.units else "", f"cell {row.cell}" if row.cell is not None else "",
             row.intervention or "",
             f"repeat {row.repeat}" if row.repeat else "", f"fit on {row.fit_on}" if row.fit_on else "",
             f"claim {row.claim}" if row.claim else ""]
    parts += [f"{key} {value}" for key, value in row.dims]
    # `.`, not `/`: MLflow's file store makes `/` a folder, and `accuracy/test` would then be
    # both a file and the folder of `accuracy/test/class 7`
    return _NOT_ALLOWED.sub("_", ".".join(p.replace("/", "_") for p in parts if p))


def metric_names(rows: list[ResultRow]) -> list[str]:
    """Every row's metric key, made unique (and short enough) by a `#k` suffix where needed."""
    names, seen = [], {}
    for row in rows:
        name = metric_name(row)
        if len(name) > MAX_KEY - 8:
            name = name[:MAX_KEY - 8]
        count = seen.get(name, 0)
        seen[name] = count + 1
        names.append(name if count == 0 else f"{name}#{count}")
    return names


def log_run(result, folder: Path, manifest: dict) -> str:
    """Logs the run; returns the MLflow run id."""
    mlflow = import_mlflow()
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        # the documented default; MLflow 3 keeps its file store in "maintenance mode" behind this switch
        uri = (Path.cwd() / "mlruns").resolve().as_uri()
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    try:
        return _log(mlflow, uri, result, folder, manifest)
    except mlflow.exceptions.MlflowException as error:
        raise RunError(f"could not log the run to MLflow at {uri}: {str(error).splitlines()[0]}",
                       help=f"the run folder {folder} is complete; check MLFLOW_TRACKING_URI") from None


def _log(mlflow, uri: str, result, folder: Path, manifest: dict) -> str:
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(result.plan.experiment)
    rows = list(result.table)
    metrics = {name: row.value for name, row in zip(metric_names(rows), rows) if math.isfinite(row.value)}
    for verdict in result.verdicts:
        metrics[f"claim_{verdict.claim}.passed"] = 1.0 if verdict.passed else 0.0
        if verdict.p_value is not None and math.isfinite(verdict.p_value):
            metrics[f"claim_{verdict.claim}.p_value"] = float(verdict.p_value)
    with mlflow.start_run(run_name=Path(folder).name) as run:
        params = {name: str(value) for name, value in result.plan.params}
        if params:
            mlflow.log_params(params)
        mlflow.set_tags({"abl.spec_sha256": manifest.get("spec_sha256", ""),
                         "abl.version": manifest.get("versions", {}).get("abl", ""),
                         "abl.run_folder": str(Path(folder).resolve()),
                         "abl.all_passed": str(result.all_passed)})
        items = list(metrics.items())
        for start in range(0, len(items), 1000):          # MLflow's batch limit
            mlflow.log_metrics(dict(items[start:start + 1000]))
        mlflow.log_artifacts(str(folder))
        return run.info.run_id
