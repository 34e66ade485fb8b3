"""Run notes about dead units, read off the resolved unit sets (selections.json) and the plan.

- per layer: how many of its units are dead (never active) and rarely active (on fewer than 1% of
  the images; run/unit_metrics.py: `liveness`), where any are;
- per random-control claim: a warning when the selection and its control differ in their share of
  dead units by DEAD_SHARE_GAP or more, since ablating a dead unit changes nothing and a control
  of dead units is a weak one (`random K in L among live` draws only live units).
"""

from __future__ import annotations

from abl.interpreter.plan.plan import ControlClaim, Plan

DEAD_SHARE_GAP = 0.10


def _key(name, model, draw, claim) -> tuple:
    return (name, model, draw, claim)


def _record_key(record: dict) -> tuple:
    return _key(record["name"], record["model"], record.get("draw"), record.get("claim"))


def _selection_keys(selection) -> tuple:
    from abl.interpreter.run.selections import _draws

    draws = _draws(selection)
    if not draws:
        return _key(selection.name, selection.model, None, None)
    return _key(selection.name, selection.model, max(d.draw for d in draws), max(d.stream for d in draws))


def layer_notes(selections: list[dict]) -> list[str]:
    """One note per (model, layer) with dead or rarely active units."""
    seen: dict[tuple, str] = {}
    for record in selections:
        for layer, dead in record.get("dead_units", {}).items():
            rare = record["rarely_active_units"][layer]
            key = (record["model"], layer)
            if (dead or rare) and key not in seen:
                seen[key] = (f"model {record['model']}, layer {layer} (on {record['stimuli'] or 'its stimuli'}): "
                             f"{dead} of {record['layer_units'][layer]} units are dead (never active), "
                             f"{rare} rarely active (on fewer than 1% of the images)")
    return list(seen.values())


def _share(plan: Plan, measurements, by_key: dict) -> tuple[list[float], list[str]]:
    shares, names = [], []
    for index in measurements:
        for intervention in plan.measures[index].interventions:
            units = getattr(intervention, "units", None)
            record = by_key.get(_selection_keys(units)) if units is not None else None
            if record is not None and "dead_share" in record:
                shares.append(record["dead_share"])
                names.append(record["name"])
    return shares, list(dict.fromkeys(names))


def control_notes(plan: Plan, selections: list[dict]) -> list[str]:
    """A note per random-control claim whose two sides differ in their share of dead units."""
    by_key = {_record_key(record): record for record in selections}
    notes = []
    for number, claim in enumerate(plan.expectations, start=1):
        if not isinstance(claim, ControlClaim):
            continue
        left, left_names = _share(plan, claim.lhs.measurements, by_key)
        right, right_names = _share(plan, claim.rhs.measurements, by_key)
        if not left or not right:
            continue
        a, b = sum(left) / len(left), sum(right) / len(right)
        if abs(a - b) >= DEAD_SHARE_GAP:
            notes.append(f"line {claim.span.line}: `{claim.text}`: the selection "
                         f"({', '.join(left_names)}) is {100 * a:.0f}% dead units, its control "
                         f"({', '.join(right_names)}) {100 * b:.0f}% on average over its draws; a dead unit's "
                         f"ablation changes nothing, so draw the control from live units: "
                         f"`random K in LAYER among live`")
    return notes
