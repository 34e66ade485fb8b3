"""The plan in shards: independent pieces of work that can run anywhere, in any order.

A shard is one connected group of models (joined by measurements that select units in one model
and measure another) with every measurement and feature report that touches them. Shards share
nothing but the stimuli: each builds (trains or loads) its own models, records their statistics,
selects units and runs its conditions, so a shard computes exactly what the whole plan would
compute for it. A sweep over trained networks (one model per alpha and seed) is one shard per
network.

Below the network: a network whose measurements select units in several layers, or in one layer
for many classes, splits after its recording. Its `recording` shard builds the model and records
every statistic its measurements need (one pass per stimuli set, shared by all of them); its
`conditions` shards (per layer, and per chunk of CHUNK unit sets in a layer) each select their
units from that recording and run their conditions and probes. A conditions shard names the
recording it needs (`after`); the recording travels to it (Ray's object store, the run folder).
A network with only one such chunk, several models, or feature reports stays one `network` shard.
Plain data, no torch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from abl.interpreter.plan.plan import ExemplarsReport, FeaturesReport, MeasureItem, Plan, ReportItem
from abl.interpreter.plan.units import Selection


CHUNK = 5                             # unit sets (grid cells of a class, ...) of one layer per conditions shard
KINDS = ("network", "recording", "conditions")


@dataclass(frozen=True)
class Shard:
    index: int                        # position in the plan's shard order (by first measurement)
    models: tuple[str, ...]           # the model keys it builds
    measures: tuple[int, ...]         # indices into plan.measures (a recording: all its conditions shards')
    reports: tuple[int, ...] = ()     # indices into plan.reports (feature visualisations)
    kind: str = "network"             # network: all of it; recording; conditions (after its recording)
    after: int | None = None          # conditions: the index of the recording shard it needs
    layer: str = ""                   # conditions: the layer its unit sets are in (a label)

    @property
    def label(self) -> str:
        shown = ", ".join(self.models[:3]) + (f" and {len(self.models) - 3} more" if len(self.models) > 3 else "")
        if self.kind == "recording":
            shown = f"recording {shown}"
        elif self.kind == "conditions":
            shown = f"{shown} {self.layer}".strip()
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


def plan_shards(plan: Plan, split: bool = True) -> tuple[Shard, ...]:
    """The plan's shards, ordered by their first measurement (then report); a network's recording
    right before its conditions shards. `split=False`: one shard per network (as before issue 27)."""
    networks = network_shards(plan)
    if not split:
        return networks
    shards: list[Shard] = []
    for network in networks:
        chunks = _condition_chunks(plan, network)
        if len(chunks) < 2:
            shards.append(dataclasses.replace(network, index=len(shards)))
            continue
        recording = len(shards)
        shards.append(dataclasses.replace(network, index=recording, kind="recording"))
        for layer, measures in chunks:
            shards.append(Shard(len(shards), network.models, measures, (), "conditions", recording, layer))
    return tuple(shards)


def _condition_chunks(plan: Plan, network: Shard) -> list[tuple[str, tuple[int, ...]]]:
    """A network's measurements in chunks: by the layer of their unit sets, then CHUNK unit sets
    (by the class they are selected for: the grid of one class and layer stays together) at a time; measurements that select no
    units join the first chunk. Empty when the network does not split."""
    if len(network.models) != 1 or network.reports:
        return []
    by_layer: dict[str, dict[tuple, list[int]]] = {}
    plain: list[int] = []
    for index in network.measures:
        item = plan.measures[index]
        selections = [s for s in [item.of_units, *(i.units for i in item.interventions)] if s is not None]
        if not selections:
            plain.append(index)
            continue
        leaves = [leaf for s in selections for leaf in s.leaves()]
        key = tuple(sorted({str(getattr(leaf, "target_class", None)) for leaf in leaves}))
        by_layer.setdefault(leaves[0].layer, {}).setdefault(key, []).append(index)
    chunks = []
    for layer, groups in by_layer.items():
        sets = list(groups.values())
        for start in range(0, len(sets), CHUNK):
            chunks.append((layer, sorted(i for group in sets[start:start + CHUNK] for i in group)))
    if chunks and plain:
        chunks[0] = (chunks[0][0], sorted(chunks[0][1] + plain))
    return [(layer, tuple(measures)) for layer, measures in chunks]


def shard_counts(shards) -> dict[str, int]:
    """How many shards of each kind, for `abl plan` and the run's manifest."""
    return {kind: sum(s.kind == kind for s in shards) for kind in KINDS if any(s.kind == kind for s in shards)}


def network_shards(plan: Plan) -> tuple[Shard, ...]:
    """One shard per connected group of models, ordered by first measurement (then report)."""
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


def shard_costs(plan: Plan, shards) -> dict[str, list[tuple[int, int]]]:
    """Kind -> [(passes over stimuli sets, conditions) of each shard of that kind]: the estimated
    cost `abl plan` shows (a recording's passes are its recordings and its baselines; a conditions
    shard's, its batched runs)."""
    from abl.interpreter.plan.plan import condition_groups
    from abl.interpreter.plan.recordings import recording_passes

    costs: dict[str, list[tuple[int, int]]] = {}
    for shard in shards:
        runs = condition_groups(shard_plan(plan, shard))
        baselines = sum(() in c for c in runs.values())
        if shard.kind == "recording":            # its recordings and the baselines
            cost = (recording_passes(shard_plan(plan, shard)) + baselines, baselines)
        elif shard.kind == "conditions":         # its batched runs, the baseline not among them
            cost = (sum(any(key != () for key in c) for c in runs.values()),
                    sum(len(c) for c in runs.values()) - baselines)
        else:
            cost = (recording_passes(shard_plan(plan, shard)) + len(runs), sum(len(c) for c in runs.values()))
        costs.setdefault(shard.kind, []).append(cost)
    return costs


def shard_summary(plan: Plan, shards) -> list[str]:
    """`abl plan`'s lines on the shards: how many of each kind, and their estimated cost."""
    lines = []
    for kind, costs in shard_costs(plan, shards).items():
        conditions = [c for _, c in costs]
        text = (f"{len(costs)} {kind} shard{'s' if len(costs) != 1 else ''}: "
                f"{sum(p for p, _ in costs)} passes over stimuli sets")
        if kind != "recording":
            text += f", {sum(conditions)} conditions ({min(conditions)} to {max(conditions)} a shard)"
        else:
            text += f" (with {sum(conditions)} baseline{'s' if sum(conditions) != 1 else ''})"
        lines.append(text)
    return lines
