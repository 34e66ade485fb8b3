"""Unit selections -> unit indices, from the plain network's recorded statistics: ranked,
random (the documented seed recipe; `among live`, `from SET`), explicit, all, threshold, grid cells
and set algebra. Each resolved set records its layers' dead and rarely active units."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from abl.interpreter.errors import RunError, check_count, check_range
from abl.interpreter.plan.units import (AllUnits, ExplicitUnits, GridCellUnits, PooledRandomUnits, RandomUnits,
                                        RankedUnits, Selection, ThresholdUnits, UnitLeaf, UnitSetOperation,
                                        unit_count)
from abl.interpreter.plan.planner import selection_seed


@dataclass(frozen=True)
class ResolvedSelection:
    """A unit set as the run resolved it: enough to re-ablate exactly the same units."""

    selection: Selection
    units: tuple[tuple[str, tuple[int, ...]], ...]          # (layer as written, sorted indices)
    scores: tuple[tuple[str, tuple[float, ...]], ...] = ()   # ranked/threshold/grid: per unit, in order
    liveness: tuple[tuple[str, int, int, int, int], ...] = ()  # (layer, units, dead, rare, chosen dead)
    attribution: dict | None = None                          # `by conductance`: method, baseline, steps

    def as_record(self) -> dict:
        s = self.selection
        record = {"name": s.name, "kind": s.kind, "model": s.model, "stimuli": getattr(s, "stimuli", ""),
                  "layers": [layer for layer, _ in self.units], "per_element": getattr(s, "per_element", False),
                  "units": {layer: list(units) for layer, units in self.units}}
        if getattr(s, "metric", ""):
            record["metric"] = s.metric
        if getattr(s, "fraction", None) is not None:       # `top 10%`: the share and the count it gave
            record["percent"] = round(100 * s.fraction, 6)
            record["count"] = sum(len(units) for _, units in self.units)
        if isinstance(s, GridCellUnits):
            record["column_metric"] = s.column_metric
        if getattr(s, "target_class", None) is not None:
            record["class"] = s.target_class
        if isinstance(s, GridCellUnits):
            record["cell"] = str(s.cell)
        if s.is_random:
            # which draw, of whose stream: 0 for `measure` statements, j for claim j's controls
            draws = _draws(s)
            record["draw"] = max(leaf.draw for leaf in draws)
            record["claim"] = max(leaf.stream for leaf in draws)
        if getattr(s, "among_live", False):
            record["among"] = "live"
        if isinstance(s, PooledRandomUnits):
            record["from"] = s.pool.name
        if isinstance(s, UnitSetOperation):
            record["of"] = [s.left.name, s.right.name]
        record["bindings"] = {k: v for leaf in s.leaves() for k, v in leaf.bindings}
        if self.liveness:
            # per layer: units never active, units active on fewer than 1% of the images, and how
            # many of the chosen units are dead; dead_share: the chosen units' share of dead ones
            record["layer_units"] = {layer: n for layer, n, *_ in self.liveness}
            record["dead_units"] = {layer: dead for layer, _, dead, _, _ in self.liveness}
            record["rarely_active_units"] = {layer: rare for layer, _, _, rare, _ in self.liveness}
            chosen = sum(len(units) for _, units in self.units)
            record["dead_share"] = round(sum(c for *_, c in self.liveness) / chosen, 6) if chosen else 0.0
        if self.attribution is not None:
            record["attribution"] = dict(self.attribution)
        if self.scores:
            record["scores"] = {name: [round(float(v), 6) for v in values] for name, values in self.scores}
        return record


class Selector:
    """Resolves selections (memoised) with `stats(model, stimuli, layer)` -> LayerStats."""

    def __init__(self, stats: Callable, attribute: Callable | None = None):
        self.stats = stats
        self.attribute = attribute      # (leaf, metric) -> ((U,) scores, record): attributions (attribution.py)
        self._attributions: dict[tuple, dict] = {}
        self._selections: dict[Selection, dict[str, tuple[int, ...]]] = {}
        self._grids: dict = {}

    def resolve(self, selection: Selection) -> dict[str, tuple[int, ...]]:
        """A selection -> {layer as written: sorted unit indices}."""
        if selection in self._selections:
            return self._selections[selection]
        if isinstance(selection, UnitSetOperation):
            left = self.resolve(selection.left)
            right = self.resolve(selection.right)
            result: dict[str, tuple[int, ...]] = {}
            for layer in dict.fromkeys(list(left) + list(right)):
                a, b = set(left.get(layer, ())), set(right.get(layer, ()))
                units = {"union": a | b, "intersection": a & b, "difference": a - b}[selection.op]
                if units:
                    result[layer] = tuple(sorted(units))
            if not result:
                raise RunError(f"unit set `{selection.name}` is empty",
                               help="the set algebra leaves no unit; check the operands")
            self._selections[selection] = result
            return result
        if isinstance(selection, PooledRandomUnits):
            result = self._pooled(selection)
            self._selections[selection] = result
            return result
        result = {selection.layer: tuple(sorted(self._leaf_units(selection)))}
        self._selections[selection] = result
        return result

    def resolved(self) -> list[ResolvedSelection]:
        """Every selection resolved so far, in the order first resolved."""
        return [ResolvedSelection(selection, tuple(units.items()), self._scores(selection, units),
                                  self.liveness(selection, units), self.attribution_record(selection))
                for selection, units in self._selections.items()]

    def liveness(self, selection: Selection, units: dict) -> tuple:
        """(layer, dead units, rarely active units, dead units chosen) per layer of the set."""
        from abl.interpreter.run import unit_metrics

        out = []
        for leaf in {leaf.layer: leaf for leaf in reversed(selection.leaves())}.values():
            if leaf.layer not in units:
                continue
            stats = self.stats(leaf.model, leaf.stimuli, leaf.recorded_layer)
            if getattr(stats, "active_counts", None) is None:
                return ()
            dead, rare = unit_metrics.liveness(stats)
            out.append((leaf.layer, len(dead), int(dead.sum()), int(rare.sum()), int(dead[list(units[leaf.layer])].sum())))
        return tuple(out)

    def _scores(self, selection: Selection, units: dict) -> tuple:
        if not isinstance(selection, (RankedUnits, ThresholdUnits, GridCellUnits)):
            return ()
        stats = self.stats(selection.model, selection.stimuli, selection.recorded_layer)
        chosen = list(units[selection.layer])
        metrics = [selection.metric] + ([selection.column_metric] if isinstance(selection, GridCellUnits) else [])
        return tuple((metric, tuple(self.scores(selection, stats, metric)[chosen])) for metric in metrics)

    def scores(self, selection: UnitLeaf, stats, metric: str) -> np.ndarray:
        """(U,) the unit metric's scores: from the recording, or an attribution (run/attribution.py)."""
        from abl.interpreter.run import unit_metrics
        from abl.interpreter.run.attribution import ATTRIBUTION_METRICS

        if metric not in ATTRIBUTION_METRICS:
            return unit_metrics.unit_scores(stats, metric, selection.target_class)
        key = (selection.model, selection.stimuli, selection.layer, selection.per_element,
               selection.target_class, metric)
        if key not in self._attributions:
            scores, record = self.attribute(selection, metric)
            self._attributions[key] = {"scores": scores, "record": record}
        return self._attributions[key]["scores"]

    def attribution_record(self, selection: Selection) -> dict | None:
        """How an attribution-ranked set's scores were computed (method, baseline, steps)."""
        for metric in (getattr(selection, "metric", ""), getattr(selection, "column_metric", "")):
            key = (getattr(selection, "model", ""), getattr(selection, "stimuli", ""),
                   getattr(selection, "layer", ""), getattr(selection, "per_element", False),
                   getattr(selection, "target_class", None), metric)
            if key in self._attributions:
                return self._attributions[key]["record"]
        return None

    def _pooled(self, selection: PooledRandomUnits) -> dict[str, tuple[int, ...]]:
        """`random N from SET`: N of SET's (layer, unit) pairs, in SET's order, drawn uniformly."""
        from abl.interpreter.run import unit_metrics

        pool = [(layer, unit) for layer, units in self.resolve(selection.pool).items() for unit in units]
        count = unit_count(selection, len(pool))
        check_count(count, len(pool), f"unit set `{selection.name}` (from `{selection.pool.name}`)")
        rng = np.random.default_rng(selection_seed(selection))
        result: dict[str, list[int]] = {}
        for i in unit_metrics.random_units(len(pool), count, rng):
            result.setdefault(pool[i][0], []).append(pool[i][1])
        return {layer: tuple(sorted(units)) for layer, units in result.items()}

    def _matched(self, selection: RandomUnits, stats, count: int) -> tuple[int, ...]:
        """`random K in L matching SET by METRIC`: for each unit of SET in L (ascending), one other
        unit drawn uniformly from the same of 10 equal-count bins of L's units ranked by METRIC (the
        nearest bin with a unit left when that one is used up, the lower on a tie)."""
        targets = sorted(self.resolve(selection.matching).get(selection.layer, ()))
        if count != len(targets):
            raise RunError(f"unit set `{selection.name}` draws {count} units to match the {len(targets)} of "
                           f"`{selection.matching.name}` in {selection.layer}", code="E403",
                           help=f"draw as many as the set has there: `random {len(targets)} in ...`")
        scores = np.asarray(self.scores(selection, stats, selection.match_metric), dtype=np.float64)
        order = np.lexsort((np.arange(len(scores)), scores))
        bins = np.array_split(order, min(10, len(scores)))
        bin_of = {int(unit): b for b, members in enumerate(bins) for unit in members}
        rng = np.random.default_rng(selection_seed(selection))
        taken, chosen = set(targets), []
        for target in targets:
            home, candidates = bin_of[target], []
            for b in sorted(range(len(bins)), key=lambda b: (abs(b - home), b)):
                candidates = sorted(int(u) for u in bins[b] if int(u) not in taken)
                if candidates:
                    break
            if not candidates:
                raise RunError(f"unit set `{selection.name}`: no unit of {selection.layer} is left to match "
                               f"`{selection.matching.name}`", code="E403", help="match a smaller set")
            chosen.append(candidates[int(rng.integers(len(candidates)))])
            taken.add(chosen[-1])
        return tuple(sorted(chosen))

    def _leaf_units(self, selection: UnitLeaf) -> tuple[int, ...]:
        from abl.interpreter.run import unit_metrics
        from abl.interpreter.run.grid import equal_count_grid

        stats = self.stats(selection.model, selection.stimuli, selection.recorded_layer)
        n_units = stats.unit_count()
        where = f"unit set `{selection.name}` in {selection.layer}"
        if isinstance(selection, (RankedUnits, RandomUnits)):
            count = unit_count(selection, n_units)
            check_count(count, n_units, where)
        if isinstance(selection, RankedUnits):
            scores = self.scores(selection, stats, selection.metric)
            return unit_metrics.top_k(scores, count, bottom=selection.bottom)
        if isinstance(selection, RandomUnits) and selection.matching is not None:
            return self._matched(selection, stats, count)
        if isinstance(selection, RandomUnits) and selection.among_live:
            live = unit_metrics.live_units(stats)
            check_count(count, len(live), f"{where} among its {len(live)} live units")
            rng = np.random.default_rng(selection_seed(selection))
            return tuple(int(live[i]) for i in unit_metrics.random_units(len(live), count, rng))
        if isinstance(selection, RandomUnits):
            rng = np.random.default_rng(selection_seed(selection))
            return unit_metrics.random_units(n_units, count, rng)
        if isinstance(selection, ExplicitUnits):
            check_range(selection.indices, n_units, "unit", f"layer {selection.layer} (unit set `{selection.name}`)")
            return selection.indices
        if isinstance(selection, AllUnits):
            return tuple(range(n_units))
        if isinstance(selection, ThresholdUnits):
            scores = self.scores(selection, stats, selection.metric)
            units = unit_metrics.threshold(scores, selection.op, selection.threshold)
            if not units:
                raise RunError(f"{where}: no unit has {selection.metric} {selection.op} {selection.threshold:g}",
                               help=f"{selection.metric} ranges from {np.nanmin(scores):.3g} to {np.nanmax(scores):.3g} here")
            return units
        if isinstance(selection, GridCellUnits):
            key = (selection.model, selection.stimuli, selection.layer, selection.metric,
                   selection.column_metric, selection.target_class, selection.rows, selection.cols)
            if key not in self._grids:
                rows = self.scores(selection, stats, selection.metric)
                cols = self.scores(selection, stats, selection.column_metric)
                self._grids[key] = equal_count_grid(rows, cols, selection.rows, selection.cols)
            return tuple(self._grids[key][selection.cell.row][selection.cell.col])
        raise AssertionError(selection)


def _draws(selection: Selection) -> list:
    """The random parts of a selection: its `random` leaves and `random N from SET` nodes."""
    if isinstance(selection, PooledRandomUnits):
        return [selection] + _draws(selection.pool)
    if isinstance(selection, UnitSetOperation):
        return _draws(selection.left) + _draws(selection.right)
    return [selection] if isinstance(selection, RandomUnits) else []
