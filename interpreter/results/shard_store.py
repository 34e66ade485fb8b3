"""Finished shards in the run folder, so that an interrupted run loses nothing it finished.

    shards/shard-0003.npz   one file per finished shard, written whole (temp file and rename)

Each file holds its rows and records as JSON (floats written with repr, so they read back
bit for bit) and its per-image values and feature images as arrays, with the digest of what
the shard was computed from: the spec's bytes, the resolved parameters, the torch thread count
and abl's version. `abl run --resume` reuses a file only when its digest is the run's.
Nothing is unpickled: a damaged or foreign file is set aside and its shard run again. A recording
shard's file also holds its statistics (`rec_*` arrays, their layers and keys in the JSON), so
that a resumed run's conditions shards read them instead of recording again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np

from abl.interpreter.atomic import atomic_path
from abl.interpreter.plan.units import Cell
from abl.interpreter.run.claim_sides import ImageValues
from abl.interpreter.run.table import ResultRow
from abl.interpreter.run.outputs import ModelRecord, ShardResult, StimuliRecord

FOLDER = "shards"
FORMAT = 2
STATS_ARRAYS = ("class_sums", "class_counts", "total_sum", "features", "labels", "active_counts")


def plan_digest(spec_bytes: bytes, params: dict, threads: int, version: str) -> str:
    """What a shard's numbers depend on besides the machine: the spec, its parameters, the
    thread count (training's reductions split across threads) and abl's version."""
    record = json.dumps({"params": params, "threads": int(threads), "abl": version, "format": FORMAT},
                        sort_keys=True, default=str)
    return hashlib.sha256(spec_bytes + b"\0" + record.encode()).hexdigest()


def shard_path(folder: Path, index: int) -> Path:
    return Path(folder) / FOLDER / f"shard-{index:04d}.npz"


def write_shard(folder: Path, digest: str, result: ShardResult) -> Path:
    rows = [[index, [_row_record(row) for row in item_rows]] for index, item_rows in result.rows]
    flat = [row.key for _, item_rows in result.rows for row in item_rows]
    position = {}
    for i, key in enumerate(flat):
        position.setdefault(key, i)
    arrays: dict[str, np.ndarray] = {}
    per_image = []
    for i, (key, values) in enumerate(result.per_image):
        per_image.append([position[key], values.stimuli])
        arrays[f"positions_{i}"] = np.asarray(values.positions)
        arrays[f"values_{i}"] = np.asarray(values.values)
    for i, (_, image) in enumerate(result.feature_images):
        arrays[f"feature_{i}"] = np.asarray(image)
    recording = []
    for i, (key, layer, stats) in enumerate(result.recording):
        recording.append([int(key), layer, stats.layer, int(stats.n), [int(c) for c in stats.present]])
        for name in STATS_ARRAYS:
            if getattr(stats, name) is not None:
                arrays[f"rec_{i}_{name}"] = np.asarray(getattr(stats, name))
    for i, (_, images) in enumerate(result.exemplars):
        arrays[f"exemplar_{i}"] = np.asarray(images)
    meta = {"format": FORMAT, "digest": digest, "index": result.index, "rows": rows, "per_image": per_image,
            "selections": list(result.selections),
            "stimuli": [dataclasses.asdict(s) for s in result.stimuli],
            "models": [dataclasses.asdict(m) for m in result.models],
            "notes": list(result.notes), "forward_passes": result.forward_passes,
            "features": [label for label, _ in result.feature_images],
            "seconds": result.seconds, "threads": result.threads, "node": result.node, "pid": result.pid,
            "started_at": result.started_at, "kind": result.kind, "recording": recording,
            "exemplars": [record for record, _ in result.exemplars]}
    baselines = []
    for i, (group, positions, values) in enumerate(result.baselines):
        baselines.append([list(group), [list(quantity) for quantity, _ in values]])
        arrays[f"base_{i}_positions"] = np.asarray(positions)
        for j, (_, array) in enumerate(values):
            arrays[f"base_{i}_{j}"] = np.asarray(array)
    meta["baselines"] = baselines
    arrays["meta"] = np.array(json.dumps(meta, default=str))
    path = shard_path(folder, result.index)
    if path.parent.is_symlink():            # planted: never write through it
        path.parent.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary, open(temporary, "wb") as handle:
        np.savez(handle, **arrays)
    return path


def read_shards(folder: Path, digest: str) -> tuple[dict[int, ShardResult], list[str]]:
    """The finished shards of a run folder whose digest is `digest`, and notes on files set aside."""
    found: dict[int, ShardResult] = {}
    notes: list[str] = []
    for path in sorted((Path(folder) / FOLDER).glob("shard-*.npz")):
        try:
            result, their_digest = _read(path)
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as error:
            notes.append(f"{path} could not be read ({type(error).__name__}: {error}); its shard runs again")
            continue
        if their_digest != digest:
            notes.append(f"{path} was computed from another spec, parameters, thread count or abl version; "
                         "its shard runs again")
            continue
        found[result.index] = result
    return found, notes


def _read(path: Path) -> tuple[ShardResult, str]:
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        if meta.get("format") != FORMAT:
            raise ValueError(f"format {meta.get('format')!r}, expected {FORMAT}")
        rows = tuple((int(index), tuple(_row(r) for r in records)) for index, records in meta["rows"])
        flat = [row for _, item_rows in rows for row in item_rows]
        per_image = tuple((flat[at].key, ImageValues(stimuli, data[f"positions_{i}"], data[f"values_{i}"]))
                          for i, (at, stimuli) in enumerate(meta["per_image"]))
        features = tuple((label, data[f"feature_{i}"]) for i, label in enumerate(meta["features"]))
        recording = tuple(_stats(data, i, entry) for i, entry in enumerate(meta["recording"]))
        baselines = tuple((tuple(group), data[f"base_{i}_positions"],
                           tuple((tuple(q), data[f"base_{i}_{j}"]) for j, q in enumerate(quantities)))
                          for i, (group, quantities) in enumerate(meta["baselines"]))
        exemplars = tuple((record, data[f"exemplar_{i}"]) for i, record in enumerate(meta.get("exemplars", [])))
    result = ShardResult(
        int(meta["index"]), rows, per_image, tuple(meta["selections"]),
        tuple(StimuliRecord(s["key"], s["sha256"], int(s["n"]), tuple(s["class_names"]),
                            tuple(int(c) for c in s["present_classes"])) for s in meta["stimuli"]),
        tuple(ModelRecord(**m) for m in meta["models"]), tuple(meta["notes"]), int(meta["forward_passes"]),
        features, float(meta["seconds"]), int(meta["threads"]), str(meta["node"]), int(meta["pid"]),
        float(meta["started_at"]), str(meta["kind"]), recording, baselines, exemplars)
    return result, meta["digest"]


def _stats(data, i: int, entry: list) -> tuple:
    from abl.interpreter.run.recording import layer_stats

    key, layer, path, n, present = entry
    arrays = {name: data[f"rec_{i}_{name}"] if f"rec_{i}_{name}" in data.files else None
              for name in STATS_ARRAYS}
    return int(key), str(layer), layer_stats(str(path), arrays["class_sums"], arrays["class_counts"],
                                              arrays["total_sum"], int(n), arrays["features"],
                                              arrays["labels"], tuple(int(c) for c in present),
                                              arrays["active_counts"])


def _row_record(row: ResultRow) -> dict:
    record = dataclasses.asdict(row)
    del record["measurements"]                  # the merge gives them (the plan's ids)
    record["dims"] = [[str(k), str(v)] for k, v in row.dims]
    for name in ("n", "repeat", "claim"):
        record[name] = int(record[name])
    for name in ("value", "ci_low", "ci_high"):
        record[name] = float(record[name])
    return record


def _row(record: dict) -> ResultRow:
    record = dict(record)
    record["dims"] = tuple(tuple(pair) for pair in record["dims"])
    if record.get("cell") is not None:          # a grid cell (a NamedTuple) comes back as a list
        record["cell"] = Cell(*record["cell"])
    return ResultRow(**record)
