"""What one shard hands back.

A ShardResult is plain, picklable data (it travels back from Ray workers and is written into the
run folder as the shard finishes): the rows of each of its measurements, the per-image values
the statistics need, the unit sets as resolved, and records of the stimuli and models it used.
results/run_result.py merges the shards into the run's result.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from abl.interpreter.run.claim_sides import ImageValues
from abl.interpreter.run.table import ResultRow


@dataclass(frozen=True)
class StimuliRecord:
    key: str
    sha256: str
    n: int
    class_names: tuple[str, ...]
    present_classes: tuple[int, ...]


@dataclass(frozen=True)
class ModelRecord:
    key: str
    weights_sha256: str
    pretrained: bool
    kind: str
    arch: str
    source: str                       # trained | cache | built (architectures, files, factories)
    seconds: float                    # building it: training, loading, or reading the cache

    def as_record(self) -> dict:
        return {"weights_sha256": self.weights_sha256, "pretrained": self.pretrained, "kind": self.kind,
                "arch": self.arch, "source": self.source, "seconds": round(self.seconds, 3)}


@dataclass(frozen=True)
class ShardResult:
    index: int
    rows: tuple[tuple[int, tuple[ResultRow, ...]], ...]      # (measurement index, its rows)
    per_image: tuple[tuple[tuple, ImageValues], ...] = ()     # (row key, the row's per-image values)
    selections: tuple[dict, ...] = ()                        # ResolvedSelection.as_record()
    stimuli: tuple[StimuliRecord, ...] = ()
    models: tuple[ModelRecord, ...] = ()
    notes: tuple[str, ...] = ()
    forward_passes: int = 0
    feature_images: tuple[tuple[str, np.ndarray], ...] = ()
    seconds: float = 0.0
    threads: int = 0                  # torch threads the shard ran with
    node: str = ""                    # the machine that ran it
    pid: int = 0                      # and the process
    started_at: float = 0.0           # wall clock (time.time()) when it started
    kind: str = "network"             # the shard's kind (plan/shards.py)
    # a recording shard's statistics, for its conditions shards: (index of the (model, stimuli,
    # interventions) key in recording_requirements order, layer as written, LayerStats)
    recording: tuple = ()
    # and its baselines: ((model, stimuli), image positions, ((quantity, per-image values), ...))
    baselines: tuple = ()
    exemplars: tuple[tuple[dict, np.ndarray], ...] = ()   # `report exemplars`: (record, images) per unit
