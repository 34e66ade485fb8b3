"""Loading: a plan's stimuli sets and models, each built once, with the record of how, and the
memory budget of each (model, stimuli) pair's batches (after checking that the model reads them)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from abl.interpreter.errors import RunError, at_statement
from abl.interpreter.plan.plan import Plan
from abl.interpreter.progress import Progress
from abl.interpreter.run.outputs import ModelRecord


def mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(name: str) -> torch.device:
    """`auto`: CUDA when torch sees it, else Apple's MPS, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if mps_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RunError(f"device `{name}` was asked for, but torch sees no CUDA device",
                       help="use `device auto` or `device cpu`, or run where a GPU is visible")
    if name == "mps" and not mps_available():
        raise RunError("device `mps` was asked for, but torch sees no MPS device (Apple silicon, macOS 12.3+)",
                       help="use `device auto` or `device cpu`")
    return torch.device(name)


SHARED_MODELS = 2


def resolve_precision(name: str, device: torch.device):
    """The precision `name` on `device` (backend/precision.py); RunError for fp16 on the CPU."""
    from abl.interpreter.backend.precision import check_precision

    return check_precision(name, device)


@dataclass(frozen=True)
class RowPlan:
    """How much one (model, stimuli) pair may carry at once within the memory budget
    (backend/budget.py): images per batch, rows per whole-network forward, and the rows the
    network after a layer may carry."""

    batch: int
    rows: int
    rows_after: Callable[[str], int]


class Loader:
    """Stimuli sets and models by key, loaded on first use and kept (stimuli may be shared
    between executors of one worker)."""

    def __init__(self, plan: Plan, progress: Progress, cache_dir: Path, device: torch.device,
                 batch_size: int, memory_budget: int | None, loaded_stimuli: dict | None = None,
                 loaded_models: dict | None = None, precision=None):
        from abl.interpreter.backend.precision import FP32

        self.plan = plan
        self.precision = precision or FP32      # of the forwards: models cast on loading
        self.progress = progress
        self.cache_dir = cache_dir
        self.device = device
        self.batch_size = batch_size
        self.memory_budget = memory_budget       # bytes for conditions in flight (None: default)
        self.stimuli_sets: dict = {} if loaded_stimuli is None else loaded_stimuli
        self.models: dict = {}
        # key -> (LoadedModel, ModelRecord) kept between shards (a worker's, the local loop's):
        # the shards of one network build it once; the latest SHARED_MODELS models are kept
        self.shared_models: dict = {} if loaded_models is None else loaded_models
        self.model_records: dict[str, ModelRecord] = {}
        self.used_stimuli: set[str] = set()      # by the shard running
        self._row_plans: dict[tuple[str, str], RowPlan] = {}

    def stimuli(self, key: str):
        self.used_stimuli.add(key)
        if key not in self.stimuli_sets:
            from abl.interpreter.data.stimuli import load_stimuli

            spec = self.plan.stimuli_spec(key)
            with at_statement(spec.span):
                self.stimuli_sets[key] = load_stimuli(spec, self.progress)
        return self.stimuli_sets[key]

    def model(self, key: str):
        if key not in self.models and key in self.shared_models:
            self.models[key], self.model_records[key] = self.shared_models[key]
        if key not in self.models:
            from abl.interpreter.backend.budget import default_budget
            from abl.interpreter.backend.precision import apply_precision
            from abl.interpreter.models.build import build_model
            from abl.interpreter.models.checks import check_size, out_of_memory

            spec = self.plan.model_spec(key)
            training = {}
            if spec.train_on:
                training[spec.train_on] = self.stimuli(spec.train_on)
            started = time.perf_counter()
            budget = self.memory_budget or default_budget(self.device)
            with at_statement(spec.span):
                check_size(spec, self.device, budget)
                try:
                    loaded = build_model(spec, training, self.progress, self.cache_dir)
                    loaded.module.to(self.device)
                except (RuntimeError, MemoryError) as error:
                    located = out_of_memory(spec, error, self.device, budget)
                    if located is None:
                        raise
                    raise located from None
            apply_precision(loaded.module, self.precision)
            source = ("cache" if loaded.cached else "trained") if spec.kind == "train" else "built"
            self.model_records[key] = ModelRecord(key, loaded.weights_fingerprint, loaded.pretrained, spec.kind,
                                                  spec.arch, source, time.perf_counter() - started)
            self.models[key] = loaded
            while len(self.shared_models) >= SHARED_MODELS:
                self.shared_models.pop(next(iter(self.shared_models)))
            self.shared_models[key] = (loaded, self.model_records[key])
        return self.models[key]

    def row_plan(self, model_key: str, stimuli_key: str) -> RowPlan:
        """The batch sizes of this model on these stimuli within the memory budget, for recording
        passes and condition runs alike."""
        from abl.interpreter.backend.budget import default_budget, plan_rows, row_costs
        from abl.interpreter.models.checks import check_fits

        if (model_key, stimuli_key) not in self._row_plans:
            budget = self.memory_budget or default_budget(self.device)
            model, stimuli = self.model(model_key), self.stimuli(stimuli_key)
            with at_statement(self.plan.model_spec(model_key).span):
                check_fits(model, stimuli, self.device)     # before the estimate runs the model
            one = stimuli.take([0]).to(self.device)
            costs = row_costs(model.module, one)
            batch, rows = plan_rows(budget, costs.full, self.batch_size)

            def rows_after(path: str, budget=budget, costs=costs, rows=rows) -> int:
                return max(rows, budget // max(costs.from_layer(path), 1))

            self._row_plans[(model_key, stimuli_key)] = RowPlan(batch, rows, rows_after)
        return self._row_plans[(model_key, stimuli_key)]

    def forget(self) -> None:
        """Drop the models (a shard's state freed after it); stimuli stay."""
        self.models.clear()
