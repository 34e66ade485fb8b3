"""A run folder read back: results as a typed DataFrame, verdicts, manifest, parameters, unit sets.

Only a complete run folder is read (its manifest says `"status": "complete"`, written last); an
interrupted one is refused with the command that completes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from abl.interpreter.errors import RunError


@dataclass(frozen=True)
class LoadedRun:
    """A complete run folder read back (`load_run`).

    Attributes:
        path: the folder.
        manifest: manifest.json (versions, seed, device, hashes, wall time).
        params: params.json (the parameters as run).
        spec: the spec as run (spec.abl).
        results: results.parquet as a DataFrame, the columns and types of `RunResult.to_pandas()`.
        verdicts: one row per expectation (a DataFrame; the same as `verdicts_frame()`).
        selections: selections.json (every unit set as resolved).
        provenance: results.parquet's `abl` metadata.
    """

    path: Path
    manifest: dict
    params: dict
    spec: str                         # the spec as run
    results: object                   # pandas.DataFrame: frames.results_frame's columns and types
    verdicts: object                  # pandas.DataFrame: one row per expectation (expectations.json)
    selections: list = field(default_factory=list)
    provenance: dict = field(default_factory=dict)    # results.parquet's metadata

    @property
    def experiment(self) -> str:
        """The spec's `experiment` name."""
        return self.manifest.get("experiment", "")

    def verdicts_frame(self):
        """One row per expectation, the columns of `RunResult.verdicts_frame()` (expectations.json)."""
        return self.verdicts


def load_run(path: str | Path) -> LoadedRun:
    """The complete run folder at `path`; an interrupted one raises RunError naming the `abl run
    --resume` command that completes it."""
    import pandas as pd

    from abl.interpreter.results.frames import read_parquet, typed

    folder = Path(path)
    manifest = _json(folder, "manifest.json")
    status = manifest.get("status", "running") if isinstance(manifest, dict) else "unknown"
    if status != "complete":
        raise RunError(f"{folder} is not a complete run (its manifest says `{status}`)"
                       + (f": {manifest.get('reason')}" if status == "failed" and manifest.get("reason") else ""),
                       help=not_complete_help(folder, status))
    params = _json(folder, "params.json")
    verdicts = pd.DataFrame.from_records(_json(folder, "expectations.json"))
    selections = _json(folder, "selections.json") if (folder / "selections.json").is_file() else []
    parquet = folder / "results.parquet"
    provenance: dict = {}
    if parquet.is_file():
        results, provenance = read_parquet(parquet)
    else:                                   # a folder from before results.parquet: the CSV, typed
        results = pd.read_csv(folder / "results.csv", dtype=str, keep_default_na=False)
        from abl.interpreter.run.table import COLUMNS

        results = typed(results, [c for c in results.columns if c not in COLUMNS])
    try:
        spec = (folder / "spec.abl").read_text(encoding="utf-8")
    except OSError as error:
        raise RunError(f"{folder}: cannot read spec.abl ({error.strerror or error})") from None
    return LoadedRun(folder, manifest, params, spec, results, verdicts, selections, provenance)


def _json(folder: Path, name: str):
    try:
        return json.loads((folder / name).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{folder} is not a run folder: it has no {name}",
                       help="name a folder written by `abl run`") from None
    except (OSError, ValueError) as error:
        raise RunError(f"{folder / name} cannot be read ({error})") from None


def not_complete_help(folder, status: str) -> str:
    """What to do with a folder that is not complete: only an interrupted run can be resumed."""
    if status == "interrupted":
        return f"`abl run --resume {folder}` completes the interrupted run"
    if status == "failed":
        return "the run stopped on this error: fix its cause and start the run again"
    if status == "running":
        return ("the run is still going, or it stopped without a word (killed): if it was, "
                f"`abl run --resume {folder}` completes it")
    return "start a new run"
