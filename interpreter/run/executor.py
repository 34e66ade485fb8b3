"""Plan -> a shard's results, phase by phase, each phase its own module with typed inputs and
outputs: loading (loading.py: stimuli and models, the memory budget), recording (recording.py:
one pass per (model, stimuli) for every layer the plan needs), selections (selections.py),
conditions (interventions.py builds them, condition_runs.py runs them batched over only the
images they need), probes (probing.py), measuring (measuring.py: rows per measurement type). The
Executor holds one run's state and runs the phases in order for each shard; the local shard loop
and Ray call `run_shard` (cluster/)."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import numpy as np
import torch

from abl.interpreter.backend.conditions import Condition
from abl.interpreter.cache import default_cache_dir
from abl.interpreter.errors import RunError, user_frame
from abl.interpreter.plan.plan import ExemplarsReport, FeaturesReport, MeasureItem, Plan
from abl.interpreter.plan.shards import Shard
from abl.interpreter.plan.units import Selection
from abl.interpreter.progress import Progress, SilentProgress
from abl.interpreter.run.claim_sides import ImageValues
from abl.interpreter.run.condition_runs import ConditionOutputs, run_all_conditions
from abl.interpreter.run.interventions import ConditionBuilder
from abl.interpreter.run.loading import Loader, resolve_device, resolve_precision
from abl.interpreter.run.measuring import Measurer
from abl.interpreter.run.outputs import ModelRecord, ShardResult, StimuliRecord
from abl.interpreter.run.probing import ProbeFits, fit_probes
from abl.interpreter.run.recording import Recordings, check_layers, record_all
from abl.interpreter.run.selections import Selector
from abl.interpreter.run.table import ResultRow

__all__ = ["Executor", "resolve_device", "resolve_precision"]


class Executor:
    def __init__(self, plan: Plan, progress: Progress | None = None, cache_dir: Path | None = None,
                 device: str | None = None, batch_size: int = 256, memory_budget: int | None = None,
                 threads: int | None = None, keep_state: bool = True, loaded_stimuli: dict | None = None,
                 loaded_models: dict | None = None, precision: str | None = None):
        self.plan = plan
        self.keep_state = keep_state               # False: each shard's statistics and outputs freed after it
        self.scope = plan                          # the part of the plan being run: a shard's
        self.threads = threads                     # torch threads while running (None: torch's default)
        self.progress = progress or SilentProgress()
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.device = resolve_device(device or plan.device)
        self.precision = resolve_precision(precision or plan.precision, self.device)
        self.loader = Loader(plan, self.progress, self.cache_dir, self.device, batch_size, memory_budget,
                             loaded_stimuli, loaded_models, self.precision)
        self.recordings = Recordings()
        self.outputs = ConditionOutputs()
        self._new_selections()
        self.probes = ProbeFits()
        self.per_image: dict[tuple, ImageValues] = {}
        self.forward_passes = 0

    def _new_selections(self) -> None:
        self.selector = Selector(self.recordings.stats, self._attribute)
        self.conditions = ConditionBuilder(self.loader, self.recordings, self.selector)

    def _attribute(self, leaf, metric: str):
        """A unit set's attribution scores (run/attribution.py) on its class's images, and how."""
        from abl.interpreter.run.attribution import attribution_record, unit_attributions
        from abl.interpreter.backend.hooks import module_at

        model, stimuli = self.model(leaf.model), self.stimuli(leaf.stimuli)
        positions = np.flatnonzero(stimuli.labels.numpy() == leaf.target_class)
        images = stimuli.take(positions)
        module = module_at(model.module, model.resolve_layer(leaf.layer))
        scores = unit_attributions(model.module, module, images, metric, leaf.target_class, leaf.per_element,
                                   self.device)
        return scores, attribution_record(metric, len(positions))

    # ---- what the phases hold, for the API, the shard loop and tests --------------------------
    @property
    def memory_budget(self) -> int | None:
        return self.loader.memory_budget

    @memory_budget.setter
    def memory_budget(self, value: int | None) -> None:
        self.loader.memory_budget = value

    @property
    def model_records(self) -> dict[str, ModelRecord]:
        return self.loader.model_records

    @property
    def loaded_stimuli(self) -> dict:
        """The stimuli sets loaded so far, by key."""
        return self.loader.stimuli_sets

    @property
    def loaded_models(self) -> dict:
        """The models built so far, by key."""
        return self.loader.models

    def stimuli(self, key: str):
        return self.loader.stimuli(key)

    def model(self, key: str):
        return self.loader.model(key)

    def stats(self, model: str, stimuli: str, layer: str, interventions: tuple = ()):
        return self.recordings.stats(model, stimuli, layer, interventions)

    def resolve(self, selection: Selection) -> dict[str, tuple[int, ...]]:
        """A selection -> {layer as written: sorted unit indices}."""
        return self.selector.resolve(selection)

    def condition(self, item: MeasureItem) -> Condition:
        return self.conditions.for_item(item)

    # ---- the phases, in order ------------------------------------------------------------------
    def check_layers(self) -> None:
        check_layers(self.scope, self.loader)

    def record_all(self) -> None:
        self.forward_passes += record_all(self.scope, self.loader, self.recordings, self.conditions.build)

    def run_all_conditions(self) -> None:
        self.forward_passes += run_all_conditions(self.scope, self.loader, self.conditions, self.outputs)

    def measure_all(self) -> list[list[ResultRow]]:
        self.probes = fit_probes(self.scope, self.recordings, self.selector, self.progress)
        measurer = Measurer(self.plan, self.loader, self.recordings, self.outputs, self.selector, self.probes)
        measured = measurer.measure_all(self.scope)
        self.per_image.update(measurer.per_image)
        return measured

    # ---- shards ----------------------------------------------------------------------------------
    def run_shard(self, shard: Shard, recording: ShardResult | None = None) -> ShardResult:
        """One shard's work: its models built, its statistics recorded, its units selected, its
        conditions run and measured. A `recording` shard only records; a `conditions` shard reads
        its statistics from `recording` (its recording shard's result) instead. Errors raised by
        the user's model code become RunErrors."""
        try:
            with _torch_threads(self.threads):
                return self._run_shard(shard, recording)
        except RunError:
            raise
        except Exception as error:
            where = user_frame(error.__traceback__)
            if where is None:
                raise               # abl's own bug: the CLI says so
            raise RunError(f"the model's code raised {type(error).__name__}: {error} ({where})",
                           help="abl runs your network's forward as it is; fix the error there "
                                "(ABL_DEBUG=1 shows the traceback)") from error
        finally:
            self.scope = self.plan
            if not self.keep_state:
                self.loader.forget()
                self.recordings.clear()
                self.outputs.clear()
                self.probes = ProbeFits()

    def _recording_keys(self, shard: Shard) -> list:
        from abl.interpreter.plan.recordings import recording_requirements
        from abl.interpreter.plan.shards import plan_shards, shard_plan

        if shard.kind == "conditions":
            shard = plan_shards(self.plan)[shard.after]
        return list(recording_requirements(shard_plan(self.plan, shard)))

    def _run_shard(self, shard: Shard, recording: ShardResult | None) -> ShardResult:
        import os
        import platform

        from abl.interpreter.plan.shards import shard_plan

        started, started_at = time.perf_counter(), time.time()
        self.scope = shard_plan(self.plan, shard)
        self.per_image = {}
        self._new_selections()                      # each shard's own
        self.loader.used_stimuli = set()
        passes = self.forward_passes
        notes = len(getattr(self.progress, "notes", []))
        for key in sorted({m.model for m in self.scope.measures}):
            self.model(key)
        self.check_layers()
        recorded: tuple = ()
        baselines: tuple = ()
        if shard.kind == "conditions":
            if recording is None:
                raise RunError(f"internal: {shard.label} needs its recording (shard {shard.after + 1})")
            self.recordings.load(self._recording_keys(shard), recording.recording)
            self.outputs.load_baselines(recording.baselines)
        else:
            self.record_all()
        if shard.kind == "recording":           # and the baselines its conditions shards compare with
            recorded = self.recordings.export(self._recording_keys(shard))
            self.forward_passes += run_all_conditions(self.scope, self.loader, self.conditions, self.outputs,
                                                      only="baseline")
            baselines = self.outputs.baselines()
            measured, features, exemplars = [], {}, []
        else:
            self.run_all_conditions()
            measured = self.measure_all()
            features = self.feature_visualisations()
            exemplars = self.exemplars()
        rows = tuple((index, tuple(item_rows)) for index, item_rows in zip(shard.measures, measured))
        per_image = tuple(self.per_image.items())
        stimuli = tuple(StimuliRecord(key, s.fingerprint, int(s.n), tuple(s.class_names),
                                      tuple(int(c) for c in s.present_classes))
                        for key in sorted(self.loader.used_stimuli) for s in [self.loaded_stimuli[key]])
        models = tuple(self.model_records[key] for key in shard.models if key in self.model_records)
        return ShardResult(shard.index, rows, per_image,
                           tuple(r.as_record() for r in self.selector.resolved()), stimuli, models,
                           tuple(getattr(self.progress, "notes", [])[notes:]), self.forward_passes - passes,
                           tuple(features.items()), time.perf_counter() - started, torch.get_num_threads(),
                           platform.node(), os.getpid(), started_at, shard.kind, recorded, baselines,
                           tuple(exemplars))

    def exemplars(self) -> list[tuple[dict, np.ndarray]]:
        """`report exemplars`: each unit's top images (run/exemplars.py)."""
        from abl.interpreter.run.exemplars import unit_exemplars

        out = []
        for report in self.scope.reports:
            if isinstance(report, ExemplarsReport):
                model = self.model(report.units[0].model)
                out += unit_exemplars(report, self.resolve, model, self.stimuli(report.stimuli),
                                      self.loader.row_plan(report.units[0].model, report.stimuli).batch, self.device)
        return out

    def feature_visualisations(self) -> dict[str, np.ndarray]:
        from abl.interpreter.run.featurevis import visualize_unit

        images: dict[str, np.ndarray] = {}
        for report in self.scope.reports:
            if not isinstance(report, FeaturesReport):
                continue
            for selection in report.units:
                model = self.model(selection.model)
                shape = model.input_shape or tuple(self.stimuli(selection.stimuli).shape)
                for layer, units in self.resolve(selection).items():
                    path = model.resolve_layer(layer)
                    with self.progress.task(f"feature visualisation of {selection.name}", len(units)) as task:
                        for unit in units:
                            result = visualize_unit(model.module, path, unit, shape, steps=report.steps,
                                                    seed=self.plan.seed, device=self.device)
                            image = getattr(result, "image", result)
                            label = f"{layer}:{unit}"
                            if hasattr(result, "activation"):   # the gain the optimisation reached
                                label += f"\nact {result.start_activation:.2g} -> {result.activation:.3g}"
                            images[label] = np.asarray(image)
                            task.advance()
        return images


@contextlib.contextmanager
def _torch_threads(threads: int | None):
    """torch's intra-op threads set for the block (None: left as they are), restored after.
    Training's numbers depend on the thread count (its reductions are split across threads)."""
    before = torch.get_num_threads()
    if not threads or threads == before:
        yield
        return
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)
