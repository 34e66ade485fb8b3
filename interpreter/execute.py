"""Plan -> results, phase by phase: load stimuli and models, record once, select units
(selections.py), run the conditions (condition_runs.py says which images each needs), measure,
decide expectations (decide.py). Shared work is done once: one recording pass per (model,
stimuli) for all the layers the plan needs, one batched run per (model, stimuli, image subset)
for all its conditions."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections import defaultdict
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .cache import default_cache_dir
from .condition_runs import condition_runs, subset_batches
from .conditions import ActivationEdit, Condition, EditMode, WeightEdit, WeightTarget
from .claim_sides import ImageValues
from .errors import RunError, at_statement
from .plan import MeasureItem, Plan
from .plan_units import (Clamp, InterventionPlan, MeanAblate, Scale, ScaleConnection, ScaleWeights, Selection,
                         recorded_layer, split_recorded)
from .recordings import recording_requirements
from .progress import Progress, SilentProgress
from .results import SELECTIVITY_UNIT, ResultRow, intervention_text
from .selections import Selector
from .shard_results import ModelRecord, RunResult, ShardResult, StimuliRecord, merge
from .shards import Shard


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RunError(f"device `{name}` was asked for, but torch sees no CUDA device",
                       help="use `device auto` or `device cpu`, or run where a GPU is visible")
    return torch.device(name)


class Executor:
    def __init__(self, plan: Plan, progress: Progress | None = None, cache_dir: Path | None = None,
                 device: str | None = None, batch_size: int = 256, memory_budget: int | None = None,
                 threads: int | None = None, keep_state: bool = True, loaded_stimuli: dict | None = None):
        self.plan = plan
        self.keep_state = keep_state               # False: each shard's statistics and outputs freed after it
        self.scope = plan                          # the part of the plan being run: a shard's
        self.threads = threads                     # torch threads while running (None: torch's default)
        self.model_records: dict[str, ModelRecord] = {}
        self.progress = progress or SilentProgress()
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.device = resolve_device(device or plan.device)
        self.batch_size = batch_size
        self._memory_budget = memory_budget        # bytes for conditions in flight (None: default)
        self._row_plans: dict[tuple[str, str], tuple] = {}
        self._stimuli: dict = {} if loaded_stimuli is None else loaded_stimuli    # may be shared
        self._used_stimuli: set[str] = set()       # by the shard running
        self._models: dict = {}
        self._stats: dict[tuple[str, str, tuple], dict] = {}
        self._selector = Selector(self.stats)
        self._outputs: dict[tuple[str, str], dict] = {}
        self.per_image: dict[tuple, ImageValues] = {}
        self._probe_predictions: dict[MeasureItem, tuple[np.ndarray, np.ndarray]] = {}
        self.forward_passes = 0

    # ---- loading ----------------------------------------------------------------------
    def stimuli(self, key: str):
        self._used_stimuli.add(key)
        if key not in self._stimuli:
            from .stimuli import load_stimuli

            spec = self.plan.stimuli_spec(key)
            with at_statement(spec.span):
                self._stimuli[key] = load_stimuli(spec, self.progress)
        return self._stimuli[key]

    def model(self, key: str):
        if key not in self._models:
            from .models import build_model

            spec = self.plan.model_spec(key)
            training = {}
            if spec.train_on:
                training[spec.train_on] = self.stimuli(spec.train_on)
            started = time.perf_counter()
            with at_statement(spec.span):
                loaded = build_model(spec, training, self.progress, self.cache_dir)
            loaded.module.to(self.device)
            source = ("cache" if loaded.cached else "trained") if spec.kind == "train" else "built"
            self.model_records[key] = ModelRecord(key, loaded.weights_fingerprint, loaded.pretrained, spec.kind,
                                                  spec.arch, source, time.perf_counter() - started)
            self._models[key] = loaded
        return self._models[key]

    # ---- recording -------------------------------------------------------------------------
    def _requirements(self) -> dict[tuple[str, str, tuple], tuple[set[str], set[str]]]:
        return recording_requirements(self.scope)

    def record_all(self) -> None:
        from .backend.record import record_layers

        requirements = self._requirements()
        # plain recordings first: selections and mean-ablation values come from them
        for key in sorted(requirements, key=lambda k: bool(k[2])):
            model_key, stimuli_key, interventions = key
            layers, keep = requirements[key]
            model = self.model(model_key)
            stimuli = self.stimuli(stimuli_key)
            condition = self._condition(model_key, stimuli_key, interventions, "") if interventions else None
            num_classes = max(len(stimuli.class_names), int(stimuli.labels.max()) + 1)
            batch_size, _, _ = self._budgeted(model_key, stimuli_key)
            total = math.ceil(stimuli.n / batch_size)
            self._stats[key] = {}
            # channel units and element units of a layer are two reductions: one pass each
            for per_element in sorted({split_recorded(layer)[1] for layer in layers}):
                chosen = sorted(layer for layer in layers if split_recorded(layer)[1] == per_element)
                paths = {layer: model.resolve_layer(split_recorded(layer)[0]) for layer in chosen}
                keep_paths = {paths[layer] for layer in keep if layer in paths}
                what = f"recording {model_key} on {stimuli_key}" + \
                    (" per element" if per_element else "") + (" under interventions" if interventions else "")
                with self.progress.task(what, total) as task:
                    stats = record_layers(model.module, _advancing(stimuli.batches(batch_size), task),
                                          sorted(set(paths.values())), num_classes, keep_features=keep_paths,
                                          device=self.device, condition=condition, per_element=per_element)
                self.forward_passes += 1
                self._stats[key].update({layer: stats[path] for layer, path in paths.items()})

    def check_layers(self) -> None:
        """Every layer the plan names exists in its model, checked before any work, so that an
        unknown layer is reported at the line and column that wrote it."""
        for item in self.scope.measures:
            model = self.model(item.model)
            selections = [i.units for i in item.interventions if i.units is not None]
            selections += [item.of_units] if item.of_units is not None else []
            for selection in selections:
                for leaf in selection.leaves():
                    try:
                        self.model(leaf.model).resolve_layer(leaf.layer)
                    except RunError as error:
                        raise error.at(leaf.layer_span or leaf.span) from None
            layers = [(item.in_layer, item.span)] if item.in_layer else []
            layers += [(i.layer, i.span) for i in item.interventions if isinstance(i, ScaleConnection)]
            for layer, span in layers:
                try:
                    model.resolve_layer(layer)
                except RunError as error:
                    raise error.at(span) from None

    def stats(self, model: str, stimuli: str, layer: str, interventions: tuple = ()):
        try:
            return self._stats[(model, stimuli, interventions)][layer]
        except KeyError:
            raise RunError(f"internal: no recording of layer {layer} for {model} on {stimuli}") from None

    # ---- selections -------------------------------------------------------------------------
    def resolve(self, selection: Selection) -> dict[str, tuple[int, ...]]:
        """A selection -> {layer as written: sorted unit indices}."""
        return self._selector.resolve(selection)

    # ---- conditions ---------------------------------------------------------------------------
    def condition(self, item: MeasureItem) -> Condition:
        label = intervention_text(item.intervention_label) + (f" cell {item.cell}" if item.cell is not None else "") + \
            (f" draw {item.repeat}" if item.repeat else "")
        return self._condition(item.model, item.stimuli, item.interventions, label)

    def _condition(self, model_key: str, stimuli_key: str, interventions: tuple[InterventionPlan, ...],
                   label: str) -> Condition:
        model = self.model(model_key)
        edits: list[ActivationEdit] = []
        weight_edits: list[WeightEdit] = []
        for intervention in interventions:
            if isinstance(intervention, (ScaleWeights, ScaleConnection)):
                weight_edits.extend(self._weight_edits(intervention, model))
                continue
            elementwise = {leaf.layer: leaf.per_element for leaf in intervention.units.leaves()}
            value = intervention.value if isinstance(intervention, Clamp) else \
                intervention.factor if isinstance(intervention, Scale) else 0.0
            for layer, units in self.resolve(intervention.units).items():
                path = model.resolve_layer(layer)
                means: tuple[float, ...] = ()
                if isinstance(intervention, MeanAblate):
                    layer_means = self.stats(model_key, stimuli_key,
                                             recorded_layer(layer, elementwise[layer])).mean()
                    means = tuple(float(layer_means[u]) for u in units)
                if intervention.token is not None and elementwise[layer]:
                    raise RunError(f"`at token {intervention.token}` edits whole units at one token, but "
                                   f"`{intervention.units.name}` is selected per element",
                                   help="select the units without `per element`", span=intervention.span)
                edits.append(ActivationEdit(path, units, EditMode(intervention.mode), value,
                                            means, elementwise[layer], intervention.token))
        return Condition(label, tuple(edits), tuple(weight_edits))

    def _weight_edits(self, intervention: ScaleWeights | ScaleConnection, model) -> list[WeightEdit]:
        from .backend.weights import weight_module_for

        if isinstance(intervention, ScaleConnection):
            path = model.resolve_layer(intervention.layer)
            module = weight_module_for(model.module, path, "incoming")
            out_unit, in_unit = intervention.connection
            return [WeightEdit(module, WeightTarget.INCOMING, (out_unit,), intervention.factor,
                               connection=(out_unit, in_unit))]
        if any(leaf.per_element for leaf in intervention.units.leaves()):
            raise RunError(f"weight edits act on whole units, not on elements: `{intervention.units.name}` "
                           "is selected per element", help="select the units without `per element`")
        edits = []
        for layer, units in self.resolve(intervention.units).items():
            path = model.resolve_layer(layer)
            module = weight_module_for(model.module, path, intervention.direction)
            edits.append(WeightEdit(module, WeightTarget(intervention.direction), units,
                                    intervention.factor))
        return edits

    def _budgeted(self, model_key: str, stimuli_key: str):
        """(images per batch, rows per whole-network forward, rows the network after a layer may
        carry) for this model on these stimuli within the memory budget (backend/budget.py), for
        recording passes and condition runs alike."""
        from .backend.budget import default_budget, plan_rows, row_costs

        if (model_key, stimuli_key) not in self._row_plans:
            budget = self._memory_budget or default_budget(self.device)
            one = self.stimuli(stimuli_key).take([0]).to(self.device)
            costs = row_costs(self.model(model_key).module, one)
            batch, rows = plan_rows(budget, costs.full, self.batch_size)

            def rows_after(path: str, budget=budget, costs=costs, rows=rows) -> int:
                return max(rows, budget // max(costs.from_layer(path), 1))

            self._row_plans[(model_key, stimuli_key)] = (batch, rows, rows_after)
        return self._row_plans[(model_key, stimuli_key)]

    def run_all_conditions(self) -> None:
        """Every condition over only the images its measurements read (the union of their `where
        class` subsets; the baseline over the union of all), conditions with the same images
        batched together; outputs reduced to per-image values as the batches come."""
        from .backend.run import run_conditions
        from .measures import per_image

        for (model_key, stimuli_key), runs in condition_runs(self.scope).items():
            model = self.model(model_key)
            stimuli = self.stimuli(stimuli_key)
            labels = stimuli.labels.numpy()
            batch_size, rows, rows_after = self._budgeted(model_key, stimuli_key)
            by_images: dict = defaultdict(list)
            for key, run in runs.items():
                by_images[run.classes].append(key)
            outputs: dict[tuple, tuple[np.ndarray, dict]] = {}
            for classes, keys in by_images.items():
                positions = np.arange(len(labels)) if classes is None else \
                    np.flatnonzero(np.isin(labels, sorted(classes)))
                if len(positions) == 0:
                    continue
                built = [self.condition(runs[key].first) if key else Condition("baseline") for key in keys]
                quantities = sorted(set().union(*(runs[key].quantities for key in keys)))

                def reduce(logits, batch_labels, quantities=quantities):
                    if not bool(torch.isfinite(logits).all()):
                        raise RunError(f"non-finite outputs (NaN/inf) from {model_key} on {stimuli_key}",
                                       help="check the stimuli for NaN/inf pixels and the model for NaN weights")
                    return per_image(logits, batch_labels, quantities)

                batches = stimuli.batches(batch_size) if classes is None else \
                    subset_batches(stimuli, positions, batch_size)
                total = math.ceil(len(positions) / batch_size) * len(built)     # condition-batches
                what = f"{len(built)} conditions of {model_key} on {stimuli_key}"
                if classes is not None:
                    what += f" ({len(positions)} images of class{'es' if len(classes) > 1 else ''} " \
                            f"{', '.join(stimuli.class_names[c] for c in sorted(classes))})"
                with self.progress.task(what, total) as task:
                    values = run_conditions(model.module, batches, built, device=self.device, reduce=reduce,
                                            max_batch_images=rows, advance=task.advance, rows_after=rows_after)
                for key, per_condition in zip(keys, values):
                    outputs[key] = (positions, per_condition)
            self.forward_passes += 1
            self._outputs[(model_key, stimuli_key)] = outputs

    def outputs(self, item: MeasureItem, baseline: bool = False) -> tuple[np.ndarray, dict]:
        """(image positions, {quantity: per-image values}) of the item's condition."""
        key = () if baseline else item.interventions
        return self._outputs[(item.model, item.stimuli)][key]

    # ---- measuring ----------------------------------------------------------------------------
    def measure_all(self) -> list[list[ResultRow]]:
        """The rows of each measurement in scope, in order."""
        from . import measures
        from .selectivity import class_selectivity_index
        from .statistics import (bootstrap_balanced_accuracy_ci, bootstrap_difference_ci,
                                 bootstrap_mean_ci, stream_seed)

        probes = self.probe_values()
        measured: list[list[ResultRow]] = []
        for item in self.scope.measures:
            rows: list[ResultRow] = []
            measured.append(rows)
            stimuli = self.stimuli(item.stimuli)
            names = stimuli.class_names
            labels = stimuli.labels
            common = dict(stimuli=item.stimuli_label or item.stimuli, model=item.model,
                          layer=item.layer_label, units=item.units_label, cell=item.cell,
                          intervention=item.intervention_label, repeat=item.repeat, dims=item.dims,
                          fit_on=item.fit_label, claim=item.claim)
            if item.metric == "probe accuracy":
                target = item.where_class if item.where_class is not None else \
                    item.of_units.leaves()[0].target_class
                row = ResultRow(measure=item.label, value=float(probes[item]), n=stimuli.n,
                                cls=names[target], **common)
                if item in self._probe_predictions:      # held out: an interval over its images
                    truth, predicted = self._probe_predictions[item]
                    interval = bootstrap_balanced_accuracy_ci(truth, predicted, self.plan.confidence,
                                                              self.plan.resamples,
                                                              stream_seed(self.plan.seed, *row.key))
                    row = dataclasses.replace(row, ci_low=interval.low, ci_high=interval.high)
                rows.append(row)
                continue
            if item.metric == "selectivity index":
                stats = self.stats(item.model, item.stimuli, item.in_layer, item.interventions)
                values = np.asarray(class_selectivity_index(stats.class_means()), dtype=float)
                common["layer"] = item.in_layer
                rows.append(ResultRow(measure=item.label, value=float(np.mean(values)), n=stimuli.n, **common))
                for unit, value in enumerate(values):
                    rows.append(ResultRow(measure=SELECTIVITY_UNIT, value=float(value), n=stimuli.n,
                                        **{**common, "units": str(unit)}))
                continue
            if item.metric == "activation":
                selection = self.resolve(item.of_units)
                elementwise = {leaf.layer: leaf.per_element for leaf in item.of_units.leaves()}
                for layer, units in selection.items():
                    stats = self.stats(item.model, item.stimuli, recorded_layer(layer, elementwise[layer]),
                                       item.interventions)
                    if item.where_class is not None:
                        row = stats.class_sums[item.where_class] / max(stats.class_counts[item.where_class], 1)
                        n = int(stats.class_counts[item.where_class])
                    else:
                        row, n = stats.mean(), stats.n
                    rows.append(ResultRow(measure=item.label, value=float(np.mean(row[list(units)])), n=n,
                                        cls=names[item.where_class] if item.where_class is not None else "",
                                        **{**common, "layer": recorded_layer(layer, elementwise[layer])}))
                continue
            positions, values = self.outputs(item)
            base_positions, base_values = self.outputs(item, baseline=True) \
                if item.metric in ("rank deficit", "selective rank deficit", "rank change") else (positions, values)
            at = np.searchsorted(base_positions, positions)
            image_labels = labels.numpy()[positions]
            if item.metric == "selective rank deficit":
                deficits = measures.image_values("rank deficit", None, None, values,
                                                 {k: v[at] for k, v in base_values.items()})
                mine = image_labels == item.where_class
                row = ResultRow(measure=item.label, n=len(positions), cls=names[item.where_class],
                                value=measures.selective_rank_deficit(deficits, image_labels, item.where_class),
                                **common)
                interval = bootstrap_difference_ci(deficits[mine], deficits[~mine], self.plan.confidence,
                                                   self.plan.resamples, stream_seed(self.plan.seed, *row.key))
                rows.append(dataclasses.replace(row, ci_low=interval.low, ci_high=interval.high))
                continue
            classes = [item.where_class] if item.where_class is not None else [None]
            if item.per_class:
                classes = [None] + list(stimuli.present_classes)
            for cls in classes:
                mask = np.ones(len(positions), dtype=bool) if cls is None else image_labels == cls
                n = int(mask.sum())
                if n == 0:
                    continue
                chosen = {k: v[mask] for k, v in values.items()}
                chosen_base = {k: v[at[mask]] for k, v in base_values.items()}
                value = measures.from_per_image(item.metric, item.top, item.of_class, chosen, chosen_base)
                images = measures.image_values(item.metric, item.top, item.of_class, chosen, chosen_base)
                row = ResultRow(measure=item.label, value=value, n=n, cls="" if cls is None else names[cls],
                                **common)
                interval = bootstrap_mean_ci(images, self.plan.confidence, self.plan.resamples,
                                             stream_seed(self.plan.seed, *row.key))
                row = dataclasses.replace(row, ci_low=interval.low, ci_high=interval.high)
                rows.append(row)
                self.per_image[row.key] = ImageValues(item.stimuli, positions[mask], images)
        return measured

    def probe_values(self) -> dict[MeasureItem, float]:
        """Every probe's balanced accuracy. Probes that share their features (the cells of one
        class and layer's grid: same model, fit and evaluation stimuli, target class and layers)
        are fitted together in one batched solve."""

        groups: dict[tuple, list[tuple[MeasureItem, list[int]]]] = defaultdict(list)
        for item in self.scope.measures:
            if item.metric != "probe accuracy":
                continue
            selection = item.of_units
            target = item.where_class if item.where_class is not None else selection.leaves()[0].target_class
            if target is None:
                raise RunError("a probe needs the class it decodes",
                               help="select the units `for class C`, or add `where class == C`")
            fit_key = item.fit_on or selection.leaves()[0].stimuli
            elementwise = {leaf.layer: leaf.per_element for leaf in selection.leaves()}
            resolved = {recorded_layer(layer, elementwise[layer]): units
                        for layer, units in self.resolve(selection).items()}
            layers = tuple(sorted(resolved))
            widths = [self.stats(item.model, fit_key, layer).unit_count() for layer in layers]
            offsets = dict(zip(layers, np.cumsum([0] + widths[:-1])))
            columns = [int(offsets[layer]) + u for layer, units in resolved.items() for u in units]
            groups[(item.model, fit_key, item.stimuli, target, layers)].append((item, columns))
        values: dict[MeasureItem, float] = {}
        probes = sum(len(members) for members in groups.values())
        if probes:
            with self.progress.task(f"fitting {probes} probes", probes) as task:
                self._fit_probe_groups(groups, values, task)
        return values

    def _fit_probe_groups(self, groups, values, task) -> None:
        from .probes import probe_accuracies

        for (model, fit_key, stimuli, target, layers), members in groups.items():
            fit = np.concatenate([self.stats(model, fit_key, layer).features for layer in layers], axis=1)
            fit_labels = self.stats(model, fit_key, layers[0]).labels
            same = fit_key == stimuli
            evaluated = None if same else \
                np.concatenate([self.stats(model, stimuli, layer).features for layer in layers], axis=1)
            eval_labels = None if same else self.stats(model, stimuli, layers[0]).labels
            task.describe(f"fitting probes of {model} for class {target}")
            predictions: list = []
            scores = probe_accuracies(fit, fit_labels, evaluated, eval_labels, target,
                                      [columns for _, columns in members], self.plan.seed,
                                      predictions=predictions)
            task.advance(len(members))
            values.update({item: score for (item, _), score in zip(members, scores)})
            self._probe_predictions.update({item: pair for (item, _), pair in zip(members, predictions)})

    # ---- shards and whole runs ---------------------------------------------------------------------
    def run(self, finished: dict[int, ShardResult] | None = None,
            on_finished: Callable[[ShardResult], None] | None = None) -> RunResult:
        """The whole plan, shard after shard in this process (see shards.py): shards already
        `finished` (a resumed run) are not run again; each new result goes to `on_finished`."""
        from .shards import plan_shards

        shards = plan_shards(self.plan)
        results = dict(finished or {})
        with contextlib.ExitStack() as stack:
            overall = stack.enter_context(self.progress.task(f"{len(shards)} shards", len(shards))) \
                if len(shards) > 1 else None
            if overall is not None:
                overall.advance(len(results))
            for shard in shards:
                if shard.index in results:
                    continue
                if overall is not None:
                    overall.describe(f"{shard.label} of {len(shards)}")
                results[shard.index] = self.run_shard(shard)
                if on_finished is not None:
                    on_finished(results[shard.index])
                if overall is not None:
                    overall.advance()
        return merge(self.plan, list(results.values()), self._stimuli, self._models)

    def run_shard(self, shard: Shard) -> ShardResult:
        """One shard's work: its models built, its statistics recorded, its units selected, its
        conditions run and measured. Errors raised by the user's model code become RunErrors."""
        try:
            with _torch_threads(self.threads):
                return self._run_shard(shard)
        except RunError:
            raise
        except Exception as error:
            where = _user_frame(error.__traceback__)
            if where is None:
                raise               # abl's own bug: the CLI says so
            raise RunError(f"the model's code raised {type(error).__name__}: {error} ({where})",
                           help="abl runs your network's forward as it is; fix the error there "
                                "(ABL_DEBUG=1 shows the traceback)") from error
        finally:
            self.scope = self.plan
            if not self.keep_state:
                self._models.clear()
                self._stats.clear()
                self._outputs.clear()
                self._probe_predictions.clear()

    def _run_shard(self, shard: Shard) -> ShardResult:
        import os
        import platform

        from .shards import shard_plan

        started, started_at = time.perf_counter(), time.time()
        self.scope = shard_plan(self.plan, shard)
        self.per_image, self._selector = {}, Selector(self.stats)     # each shard's own
        self._used_stimuli = set()
        passes = self.forward_passes
        notes = len(getattr(self.progress, "notes", []))
        for key in sorted({m.model for m in self.scope.measures}):
            self.model(key)
        self.check_layers()
        self.record_all()
        self.run_all_conditions()
        measured = self.measure_all()
        features = self.feature_visualisations()
        rows = tuple((index, tuple(item_rows)) for index, item_rows in zip(shard.measures, measured))
        per_image = tuple(self.per_image.items())
        stimuli = tuple(StimuliRecord(key, s.fingerprint, int(s.n), tuple(s.class_names),
                                      tuple(int(c) for c in s.present_classes))
                        for key in sorted(self._used_stimuli) for s in [self._stimuli[key]])
        models = tuple(self.model_records[key] for key in shard.models if key in self.model_records)
        return ShardResult(shard.index, rows, per_image,
                           tuple(r.as_record() for r in self._selector.resolved()), stimuli, models,
                           tuple(getattr(self.progress, "notes", [])[notes:]), self.forward_passes - passes,
                           tuple(features.items()), time.perf_counter() - started, torch.get_num_threads(),
                           platform.node(), os.getpid(), started_at)

    def feature_visualisations(self) -> dict[str, np.ndarray]:
        from .featurevis import visualize_unit

        images: dict[str, np.ndarray] = {}
        for report in self.scope.reports:
            if report.kind != "features":
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


def _user_frame(traceback) -> str | None:
    """`file:line` of the innermost frame when it lies outside abl, torch and the standard
    library: the user's model raised, not abl."""
    import sysconfig

    ours = (Path(__file__).resolve().parent,)
    library = (Path(sysconfig.get_paths()["stdlib"]).resolve(),)
    last = None
    while traceback is not None:
        last = traceback
        traceback = traceback.tb_next
    if last is None:
        return None
    filename = Path(last.tb_frame.f_code.co_filename)
    try:
        resolved = filename.resolve()
    except OSError:
        return None
    import torch as _torch

    foreign = (Path(_torch.__file__).resolve().parent,) + ours + library
    if filename.name.startswith("<") or any(resolved.is_relative_to(root) for root in foreign):
        return None
    return f"{filename}:{last.tb_lineno}"


def _advancing(batches, task):
    for batch in batches:
        yield batch
        task.advance()
