"""Measuring: every measurement in scope -> its result rows, with bootstrap intervals over
images, dispatched on the measurement's plan type (plan.plan: OutputMeasure, ProbeMeasure, ...)."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from abl.interpreter.errors import RunError

from abl.interpreter.plan.plan import (ActivationMeasure, MeasureItem, OutputMeasure, Plan, ProbeMeasure,
                                        SelectiveDeficitMeasure, SelectivityIndexMeasure, needs_baseline)
from abl.interpreter.plan.units import recorded_layer
from abl.interpreter.run.claim_sides import ImageValues
from abl.interpreter.run.condition_runs import ConditionOutputs
from abl.interpreter.run.loading import Loader
from abl.interpreter.run.probing import ProbeFits
from abl.interpreter.run.recording import Recordings
from abl.interpreter.run.selections import Selector
from abl.interpreter.run.table import SELECTIVITY_UNIT, ResultRow


class Measurer:
    """Rows of each measurement, from the recordings, the conditions' outputs and the probes.
    `per_image` collects the per-image values of the output measures (paired tests read them)."""

    def __init__(self, plan: Plan, loader: Loader, recordings: Recordings, outputs: ConditionOutputs,
                 selector: Selector, probes: ProbeFits):
        self.plan = plan
        self.loader = loader
        self.recordings = recordings
        self.outputs = outputs
        self.selector = selector
        self.probes = probes
        self.per_image: dict[tuple, ImageValues] = {}
        self._pending: list | None = None    # during measure_all: intervals drawn together at the end
        self._item_index = 0

    def measure_all(self, scope: Plan) -> list[list[ResultRow]]:
        """The rows of each measurement in scope, in order. The intervals of output measures over
        the same images (a grid's cells on one class) are drawn together (_draw_intervals)."""
        self._pending, measured = [], []
        try:
            for index, item in enumerate(scope.measures):
                self._item_index = index
                measured.append(self.measure(item, self._common(item)))
            return self._draw_intervals(measured, self._pending)
        finally:
            self._pending = None

    def _images_seed(self, stimuli: str, positions: np.ndarray):
        """The generator of one group's resamples: the spec's seed and the images resampled."""
        import hashlib

        from abl.interpreter.run.statistics import stream_seed

        digest = hashlib.sha256(np.ascontiguousarray(positions, dtype=np.int64).tobytes()).hexdigest()
        return stream_seed(self.plan.seed, "bootstrap", stimuli, len(positions), digest)

    def _draw_intervals(self, measured: list[list[ResultRow]], pending: list) -> list[list[ResultRow]]:
        """Each pending (item index, row index, stimuli, positions, values): rows over the same
        images of the same stimuli share one draw of resamples (statistics.bootstrap_mean_cis)."""
        from abl.interpreter.run.statistics import bootstrap_mean_cis

        groups: dict[tuple, list] = {}
        for entry in pending:
            _, _, stimuli, positions, _ = entry
            groups.setdefault((stimuli, positions.tobytes()), []).append(entry)
        for (stimuli, _), entries in groups.items():
            values = np.stack([entry[4] for entry in entries])
            intervals = bootstrap_mean_cis(values, self.plan.confidence, self.plan.resamples,
                                           self._images_seed(stimuli, entries[0][3]))
            for (item_index, row_index, *_), interval in zip(entries, intervals):
                rows = measured[item_index]
                rows[row_index] = dataclasses.replace(rows[row_index], ci_low=interval.low, ci_high=interval.high)
        return measured

    def _common(self, item: MeasureItem) -> dict:
        return dict(stimuli=item.stimuli_label or item.stimuli, model=item.model,
                    layer=item.layer_label, units=item.units_label, cell=item.cell,
                    intervention=item.intervention_label, repeat=item.repeat, dims=item.dims,
                    fit_on=item.fit_label, claim=item.claim)

    def _interval_seed(self, row: ResultRow) -> int:
        from abl.interpreter.run.statistics import stream_seed

        return stream_seed(self.plan.seed, *row.key)

    @functools.singledispatchmethod
    def measure(self, item: MeasureItem, common: dict) -> list[ResultRow]:
        raise TypeError(f"no measuring for {type(item).__name__}")

    @measure.register
    def _(self, item: ProbeMeasure, common: dict) -> list[ResultRow]:
        from abl.interpreter.run.statistics import bootstrap_balanced_accuracy_ci

        stimuli = self.loader.stimuli(item.stimuli)
        target = item.where_class if item.where_class is not None else item.of_units.leaves()[0].target_class
        row = ResultRow(measure=item.label, value=float(self.probes.scores[item]), n=stimuli.n,
                        cls=stimuli.class_names[target], **common)
        if item in self.probes.predictions:      # held out: an interval over its images
            truth, predicted = self.probes.predictions[item]
            interval = bootstrap_balanced_accuracy_ci(truth, predicted, self.plan.confidence,
                                                      self.plan.resamples, self._interval_seed(row))
            row = dataclasses.replace(row, ci_low=interval.low, ci_high=interval.high)
        return [row]

    @measure.register
    def _(self, item: SelectivityIndexMeasure, common: dict) -> list[ResultRow]:
        from abl.interpreter.selectivity import class_selectivity_index

        stimuli = self.loader.stimuli(item.stimuli)
        stats = self.recordings.stats(item.model, item.stimuli, item.in_layer, item.interventions)
        means = stats.class_means()
        if means.shape[0] < 2:
            present = [stimuli.class_names[c] for c in stats.present]
            raise RunError(f"the selectivity index compares a unit's class means, so it needs at least two "
                           f"classes; stimuli `{item.stimuli_label or item.stimuli}` have "
                           f"{'only class ' + present[0] if present else 'no images'}",
                           help="measure it on stimuli with several classes", span=item.span)
        values = np.asarray(class_selectivity_index(means), dtype=float)
        common = {**common, "layer": item.in_layer}
        rows = [ResultRow(measure=item.label, value=float(np.mean(values)), n=stimuli.n, **common)]
        for unit, value in enumerate(values):
            rows.append(ResultRow(measure=SELECTIVITY_UNIT, value=float(value), n=stimuli.n,
                                  **{**common, "units": str(unit)}))
        return rows

    @measure.register
    def _(self, item: ActivationMeasure, common: dict) -> list[ResultRow]:
        names = self.loader.stimuli(item.stimuli).class_names
        elementwise = {leaf.layer: leaf.per_element for leaf in item.of_units.leaves()}
        rows = []
        for layer, units in self.selector.resolve(item.of_units).items():
            stats = self.recordings.stats(item.model, item.stimuli, recorded_layer(layer, elementwise[layer]),
                                          item.interventions)
            classes = [item.where_class] if item.where_class is not None else [None]
            if item.per_class:           # the layer's mean, then one row per class present
                classes = [None] + [c for c in range(len(stats.class_counts)) if stats.class_counts[c]]
            for cls in classes:
                if cls is not None:
                    row = stats.class_sums[cls] / max(stats.class_counts[cls], 1)
                    n = int(stats.class_counts[cls])
                else:
                    row, n = stats.mean(), stats.n
                rows.append(ResultRow(measure=item.label, value=float(np.mean(row[list(units)])), n=n,
                                      cls=names[cls] if cls is not None else "",
                                      **{**common, "layer": recorded_layer(layer, elementwise[layer])}))
        return rows

    def _outputs_of(self, item: OutputMeasure):
        positions, values = self.outputs.of(item)
        base_positions, base_values = self.outputs.of(item, baseline=True) if needs_baseline(item) \
            else (positions, values)
        at = np.searchsorted(base_positions, positions)
        return positions, values, base_values, at

    @measure.register
    def _(self, item: SelectiveDeficitMeasure, common: dict) -> list[ResultRow]:
        from abl.interpreter.run import measures
        from abl.interpreter.run.statistics import bootstrap_difference_ci

        stimuli = self.loader.stimuli(item.stimuli)
        positions, values, base_values, at = self._outputs_of(item)
        image_labels = stimuli.labels.numpy()[positions]
        deficits = measures.image_values("rank deficit", None, None, values,
                                         {k: v[at] for k, v in base_values.items()})
        mine = image_labels == item.where_class
        row = ResultRow(measure=item.label, n=len(positions), cls=stimuli.class_names[item.where_class],
                        value=measures.selective_rank_deficit(deficits, image_labels, item.where_class), **common)
        interval = bootstrap_difference_ci(deficits[mine], deficits[~mine], self.plan.confidence,
                                           self.plan.resamples, self._interval_seed(row))
        return [dataclasses.replace(row, ci_low=interval.low, ci_high=interval.high)]

    @measure.register
    def _(self, item: OutputMeasure, common: dict) -> list[ResultRow]:
        from abl.interpreter.run import measures
        from abl.interpreter.run.statistics import bootstrap_mean_cis

        stimuli = self.loader.stimuli(item.stimuli)
        names = stimuli.class_names
        positions, values, base_values, at = self._outputs_of(item)
        image_labels = stimuli.labels.numpy()[positions]
        classes = [item.where_class] if item.where_class is not None else [None]
        if item.per_class:
            classes = [None] + list(stimuli.present_classes)
        rows = []
        for cls in classes:
            mask = np.ones(len(positions), dtype=bool) if cls is None else \
                (image_labels != cls) if item.where_not else image_labels == cls
            n = int(mask.sum())
            if n == 0:
                continue
            chosen = {k: v[mask] for k, v in values.items()}
            chosen_base = {k: v[at[mask]] for k, v in base_values.items()}
            value = measures.from_per_image(item.metric, item.top, item.of_class, chosen, chosen_base)
            images = measures.image_values(item.metric, item.top, item.of_class, chosen, chosen_base)
            label = "" if cls is None else f"not {names[cls]}" if item.where_not else names[cls]
            row = ResultRow(measure=item.label, value=value, n=n, cls=label, **common)
            chosen_positions = positions[mask]
            if self._pending is not None:        # drawn with the other rows over these images
                self._pending.append((self._item_index, len(rows), item.stimuli, chosen_positions, images))
            else:
                [interval] = bootstrap_mean_cis(images[None, :], self.plan.confidence, self.plan.resamples,
                                                self._images_seed(item.stimuli, chosen_positions))
                row = dataclasses.replace(row, ci_low=interval.low, ci_high=interval.high)
            rows.append(row)
            self.per_image[row.key] = ImageValues(item.stimuli, positions[mask], images)
        return rows
