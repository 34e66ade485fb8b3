"""The plan in shards: independent pieces of work that can run anywhere, in any order.

A shard is one connected group of models (joined by measurements that select units in one model
and measure another) with every measurement and feature report that touches them. Shards share
nothing but the stimuli: each builds (trains or loads) its own models, records their statistics,
selects units and runs its conditions, so a shard computes exactly what the whole plan would
compute for it. A sweep over trained networks (one model per alpha and seed) is one shard per
network; a grid over one network is one shard. Plain data, no torch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from abl.interpreter.plan.plan import ExemplarsReport, FeaturesReport, MeasureItem, Plan, ReportItem
from abl.interpreter.plan.units import Selection


@dataclass(frozen=True)
class Shard:
    index: int                        # position in the plan's shard order (by first measurement)
    models: tuple[str, ...]           # the model keys it builds
    measures: tuple[int, ...]         # indices into plan.measures
    reports: tuple[int, ...] = ()     # indices into plan.reports (feature visualisations)

    @property
    def label(self) -> str:
        shown = ", ".join(self.models[:3]) + (f" and {len(self.models) - 3} more" if len(self.models) > 3 else "")
        return f"shard {self.index + 1} ({shown})"


def _selection_models(selection: Selection | None) -> set[str]:
    return set() if selection is None else {leaf.model for leaf in selection.leaves()}


def _item_models(item: MeasureItem) -> set[str]:
    models = {item.model} | _selection_models(item.of_units)
    for intervention in item.interventions:
        models |= _selection_models(intervention.units)
    return models


def _report_models(report: ReportItem) -> set[str]:
    return set().union(*(_selection_models(s) for s in report.units)) if report.units else set()


def plan_shards(plan: Plan) -> tuple[Shard, ...]:
    """The plan's shards, ordered by their first measurement (then report)."""
    parent: dict[str, str] = {}

    def find(key: str) -> str:
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    def join(models: set[str]) -> None:
        first, *rest = sorted(models)
        for other in rest:
            parent[find(other)] = find(first)

    reports = [(i, r) for i, r in enumerate(plan.reports)
               if isinstance(r, (FeaturesReport, ExemplarsReport)) and r.units]
    for item in plan.measures:
        join(_item_models(item))
    for _, report in reports:
        join(_report_models(report))
    groups: dict[str, tuple[list[int], list[int]]] = {}
    for index, item in enumerate(plan.measures):
        groups.setdefault(find(item.model), ([], []))[0].append(index)
    for index, report in reports:
        groups.setdefault(find(sorted(_report_models(report))[0]), ([], []))[1].append(index)
    members: dict[str, list[str]] = {}
    for key in parent:
        members.setdefault(find(key), []).append(key)
    ordered = sorted(groups.items(), key=lambda kv: (min(kv[1][0], default=len(plan.measures)),
                                                     min(kv[1][1], default=0)))
    return tuple(Shard(i, tuple(sorted(members[root])), tuple(measures), tuple(report_indices))
                 for i, (root, (measures, report_indices)) in enumerate(ordered))


def shard_plan(plan: Plan, shard: Shard) -> Plan:
    """The plan restricted to one shard: its measurements and reports, no expectations."""
    return dataclasses.replace(plan, measures=tuple(plan.measures[i] for i in shard.measures),
                               expectations=(), reports=tuple(plan.reports[i] for i in shard.reports))
