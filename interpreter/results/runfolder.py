"""The run folder: everything needed to share and reproduce a run.

    spec.abl            the spec as run (byte for byte)
    params.json         the resolved parameters (defaults with --set overrides applied)
    manifest.json       versions, seed, device, hashes of stimuli and weights, wall time; written
                        last with "status": "complete" ("running" until then; "interrupted" on
                        Ctrl-C, resumable; "failed" with its "reason" on a run-time error)
    results.csv         the tidy results table (one row per value)
    results.parquet     the same, typed (frames.py), with the run's provenance in its metadata
    results.jsonl       the same rows as JSON lines
    expectations.json   each expectation's verdict with the numbers that decided it
    selections.json     every unit set as resolved: layer, unit indices, scores, random draws
    exemplars.json      `report exemplars`: per unit, its top images' indices, activations, labels
    figures/            PNG (and SVG) figures of the `report` statements
    report.txt          the terminal report as plain text
    shards/             each finished shard's rows and per-image values (shard_store.py): what
                        `abl run --resume` keeps of an interrupted run
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import platform
import re
import shlex
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from abl.interpreter.atomic import atomic_path, write_text
from abl.interpreter.errors import RunError


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "experiment"


# what a run writes: an earlier run of the same spec in `--out` loses exactly these
OWN_FILES = ("spec.abl", "params.json", "manifest.json", "results.csv", "results.parquet", "results.jsonl",
             "expectations.json", "selections.json", "report.txt")
OWN_FOLDERS = ("figures", "shards")


class ResumeRefused(RunError):
    """`--resume` on a folder that cannot be resumed (not a run folder, another spec, ...)."""


@dataclass
class RunFolder:
    path: Path
    plan: object
    spec_path: Path                   # where the spec was when the run started (relative paths)
    overrides: dict
    started: str = ""
    execution: dict = field(default_factory=dict)     # executor, threads: what resuming must match
    resumed: list = field(default_factory=list)       # when the run was resumed
    kept_shards: int = 0                              # finished shards a resumed run kept
    complete: bool = False                            # the completion marker is written
    _manifest: dict = field(default_factory=dict, repr=False)
    _digest: str = field(default="", repr=False)

    @staticmethod
    def read_running(path: Path) -> dict:
        """The manifest of a folder to resume; refused when it is not an interrupted run."""
        manifest_path = Path(path) / "manifest.json"
        if not Path(path).is_dir() or not manifest_path.is_file() or not (Path(path) / "spec.abl").is_file():
            raise ResumeRefused(f"--resume {path}: not a run folder (no manifest.json and spec.abl)",
                                help="name a folder written by `abl run`")
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            params = json.loads((Path(path) / "params.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ResumeRefused(f"--resume {path}: its manifest.json or params.json cannot be read ({error})",
                                help="start a new run") from None
        if not isinstance(manifest, dict) or "execution" not in manifest:
            raise ResumeRefused(f"--resume {path}: the folder was written by an abl that could not resume runs",
                                help="start a new run")
        return {**manifest, "params": params}

    @staticmethod
    def reopen(plan, path: Path, manifest: dict) -> "RunFolder":
        now = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
        folder = RunFolder(Path(path), plan, Path(manifest["spec"]), manifest.get("overrides", {}),
                           manifest.get("started", ""), manifest["execution"],
                           list(manifest.get("resumed", [])) + [now])
        with folder._writing():
            folder._write_running()
        return folder

    def _write_running(self, status: str = "running", reason: str = "") -> None:
        _write_json(self.path / "manifest.json", {
            "experiment": self.plan.experiment, "status": status, "started": self.started,
            "spec": str(self.spec_path), "overrides": self.overrides, "precision": self.plan.precision,
            "execution": self.execution,
            **({"resumed": self.resumed} if self.resumed else {}), **({"reason": reason} if reason else {})})

    def mark_failed(self, reason: str) -> None:
        """Best effort, on a run-time error: the manifest says the run failed, and why."""
        try:
            self._write_running("failed", reason)
        except OSError:
            pass

    def mark_interrupted(self) -> None:
        """Best effort, on Ctrl-C: the manifest says the run can be resumed."""
        try:
            self._write_running("interrupted")
        except OSError:
            pass

    @staticmethod
    def create(plan, out: str | None, spec_path: Path, overrides: dict,
               execution: dict | None = None) -> "RunFolder":
        started = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
        if out:
            path = Path(out)
            _claim_folder(path, spec_path)
        else:
            stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            path = Path("runs") / f"{_slug(plan.experiment)}-{stamp}"
            suffix = 1
            while path.exists():
                suffix += 1
                path = Path("runs") / f"{_slug(plan.experiment)}-{stamp}-{suffix}"
        try:
            path.mkdir(parents=True, exist_ok=True)
            with atomic_path(path / "spec.abl") as temporary:
                temporary.write_bytes(spec_path.read_bytes())
            _write_json(path / "params.json", dict(plan.params))
            folder = RunFolder(path, plan, spec_path.resolve(), overrides, started, dict(execution or {}))
            # until `finish` replaces it, the manifest says the run is not complete
            folder._write_running()
        except OSError as error:
            raise RunError(f"cannot write the run folder {path}: {error.strerror or error}",
                           help="choose another folder with --out") from None
        return folder

    def write(self, result, wall_seconds: float, device: str, figures: bool = True,
              progress=None) -> list[Path]:
        """The results, each file written whole (temp file and rename); the manifest, which marks
        the folder complete, is written last, by `finish`."""
        with self._writing():
            return self._write(result, wall_seconds, device, figures, progress)

    @contextlib.contextmanager
    def _writing(self):
        try:
            yield
        except OSError as error:    # a full disk, a read-only folder: the run is not marked complete
            raise RunError(f"cannot write the run folder {self.path}: {error.strerror or error}",
                           help="free some space or choose another folder with --out; the folder's "
                                "manifest says `running`, not `complete`") from None

    def _write(self, result, wall_seconds: float, device: str, figures: bool, progress) -> list[Path]:
        with atomic_path(self.path / "results.csv") as temporary:
            result.table.write_csv(temporary)
        with atomic_path(self.path / "results.jsonl") as temporary:
            result.table.write_jsonl(temporary)
        _write_json(self.path / "expectations.json", [v.as_record() for v in result.verdicts])
        _write_json(self.path / "selections.json", list(result.selections))
        if result.exemplars:
            _write_json(self.path / "exemplars.json", [record for record, _ in result.exemplars])
        self._manifest = self.manifest(result, wall_seconds, device)
        from abl.interpreter.results.frames import write_parquet

        write_parquet(result.to_pandas(), self.path / "results.parquet", self.provenance())
        if not figures:
            return []
        from abl.interpreter.report.draw import write_figures

        return write_figures(result, self.path / "figures", progress)

    def provenance(self) -> dict:
        """What results.parquet carries in its metadata (key `abl`)."""
        keys = ("experiment", "spec_sha256", "seed", "device", "precision", "versions", "started", "execution")
        return {**{key: self._manifest.get(key) for key in keys}, "params": dict(self.plan.params),
                "overrides": self.overrides}

    def shard_digest(self) -> str:
        """What this run's shard files must have been computed from (shard_store.plan_digest)."""
        from abl.interpreter.results.shard_store import plan_digest
        from abl.interpreter.version import abl_version

        if not self._digest:
            params = dict(self.plan.params)
            if self.execution.get("shards") == "network":        # other shards, other batches
                params["--whole-network-shards"] = True
            self._digest = plan_digest((self.path / "spec.abl").read_bytes(), params,
                                       int(self.execution["threads"]), abl_version())
        return self._digest

    def keep_shard(self, result) -> None:
        """A finished shard, written into shards/ as it arrives."""
        from abl.interpreter.results.shard_store import write_shard

        with self._writing():
            write_shard(self.path, self.shard_digest(), result)

    def finished_shards(self):
        """(the shards this run already finished, notes on shard files set aside)."""
        from abl.interpreter.results.shard_store import read_shards

        return read_shards(self.path, self.shard_digest())

    def finish(self) -> None:
        """The completion marker: manifest.json with `"status": "complete"`, written last."""
        with self._writing():
            _write_json(self.path / "manifest.json", {**self._manifest, "status": "complete"})
        self.complete = True

    def manifest(self, result, wall_seconds: float, device: str) -> dict:
        import torch

        from abl.interpreter.version import abl_version

        plan = self.plan
        return {
            "experiment": plan.experiment,
            "spec": str(self.spec_path),
            "spec_sha256": hashlib.sha256((self.path / "spec.abl").read_bytes()).hexdigest(),
            "overrides": self.overrides,
            "seed": plan.seed,
            "device": device,
            "precision": plan.precision,     # of the forward passes; statistics are float64
            "execution": {**self.execution, "shards": len(result.shards),
                          "shard_seconds": round(sum(s.seconds for s in result.shards), 3),
                          "kept_shards": self.kept_shards,
                          "nodes": sorted({s.node for s in result.shards if s.node})},
            **({"resumed": self.resumed} if self.resumed else {}),
            "command": shlex.join(["abl"] + sys.argv[1:]) if sys.argv else "",
            "started": self.started,
            "wall_seconds": round(wall_seconds, 3),
            "forward_passes": result.forward_passes,
            "versions": {"abl": abl_version(), "python": platform.python_version(),
                         "torch": torch.__version__,      # with its build tag (+cu130, +cpu)
                         **package_versions(), "platform": platform.platform()},
            "stimuli": {key: {"sha256": s.sha256, "n": s.n, "classes": [s.class_names[i] for i in s.present_classes]}
                        for key, s in sorted(result.stimuli_records.items())},
            "models": {key: m.as_record() for key, m in sorted(result.model_records.items())},
            "results_rows": len(result.table),
        }

    def write_report_text(self, renderable) -> None:
        with self._writing(), atomic_path(self.path / "report.txt") as temporary:
            with open(temporary, "w", encoding="utf-8") as handle:
                Console(file=handle, width=120, no_color=True, force_terminal=False, markup=False).print(renderable, crop=False)


def _claim_folder(path: Path, spec_path: Path) -> None:
    """`--out DIR`: a new or empty folder, or an earlier run of the same spec (its files are
    replaced); anything else is refused before anything is written."""
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise RunError(f"--out {path} is not a folder", help="name a new or empty folder")
    if not path.exists() or not any(path.iterdir()):
        return
    earlier = path / "spec.abl"
    same_spec = earlier.is_file() and not earlier.is_symlink() and \
        earlier.read_bytes() == spec_path.read_bytes()
    if not same_spec:
        raise RunError(f"--out {path} is not empty and is not a run folder of this spec; nothing was written",
                       help="name a new or empty folder (a run of the same spec is replaced)")
    foreign = [p.name for p in path.iterdir() if p.name not in OWN_FILES + OWN_FOLDERS
               and not (p.name.startswith(".") and p.name.endswith(".tmp"))]   # an interrupted write
    if foreign:
        raise RunError(f"--out {path} holds files abl did not write ({', '.join(sorted(foreign)[:3])}); "
                       "nothing was written", help="name a new or empty folder")
    for leftover in path.glob(".*.tmp"):
        leftover.unlink()
    for name in OWN_FILES:
        target = path / name
        if target.is_symlink() or target.is_file():
            target.unlink()
    for name in OWN_FOLDERS:
        folder = path / name
        if folder.is_symlink():
            folder.unlink()
        elif folder.is_dir():
            shutil.rmtree(folder)


# the packages whose versions a run records (besides abl, python and torch), by distribution name
RECORDED_PACKAGES = ("torchvision", "numpy", "scipy", "scikit-learn", "pandas", "matplotlib", "lark")


def package_versions() -> dict[str, str]:
    """Each recorded package's installed version from its distribution metadata (a public API,
    no import: importing torchvision only to ask costs about 2 s of a digits run)."""
    from importlib import metadata

    versions = {}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _write_json(path: Path, data) -> None:
    write_text(path, json.dumps(data, indent=2, default=str) + "\n")
