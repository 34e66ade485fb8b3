"""`abl plan`'s view: what a run will load, select, measure and decide, as a tree, and the passes
it will make."""

from __future__ import annotations

import re


from collections import defaultdict

from rich.markup import escape as _escape
from rich.text import Text
from rich.tree import Tree

from abl.interpreter.plan.plan import (ControlClaim, Plan,
                                        condition_groups)



def count_forwards(plan: Plan) -> tuple[int, int]:
    """(passes over stimuli sets, distinct conditions): the passes the executor will make, shard by
    shard (plan/shards.py's costs: recordings, baselines, one batched run per (model, stimuli))."""
    from abl.interpreter.plan.shards import plan_shards, shard_costs

    runs = condition_groups(plan)
    conditions = sum(len(c) for c in runs.values())
    passes = sum(p for costs in shard_costs(plan, plan_shards(plan)).values() for p, _ in costs)
    return passes, conditions


def plan_tree(plan: Plan) -> Tree:
    root = Tree(f"[bold]{_escape(plan.experiment)}[/]  seed {plan.seed}, device {plan.device}, "
                f"precision {plan.precision}, "
                f"random controls x{plan.repeats}, {plan.confidence:.0%} intervals from {plan.resamples} resamples")
    if plan.params:
        params = root.add("[bold]parameters[/]")
        for name, value in plan.params:
            params.add(_escape(f"{name} = {value!r}"))
    stimuli = root.add("[bold]load stimuli[/]")
    for key, spec in plan.stimuli:
        bits = [spec.source + (f" {spec.path!r}" if spec.path else "")]
        if spec.split:
            bits.append(f"split {spec.split} (holdout {spec.test_fraction:g})")
        if spec.classes:
            bits.append(f"classes {list(spec.classes)}")
        if spec.per_class:
            bits.append(f"per class {spec.per_class}")
        for corruption in spec.corruptions:
            bits.append(f"{corruption.kind} {corruption.severity:g}")
        if spec.preprocess != "auto":
            bits.append(f"preprocess {spec.preprocess}")
        stimuli.add(_escape(f"{key}: " + ", ".join(bits)))
    models = root.add("[bold]build models[/]")
    for key, spec in plan.models:
        if spec.kind == "train":
            text = (f"train {spec.arch} {list(spec.widths) if spec.widths else ''} on {spec.train_on}, "
                    f"{spec.epochs} epochs, lr {spec.lr:g}, batch {spec.batch_size}, seed {spec.seed}")
            if spec.regularize:
                text += f", selectivity regulariser {spec.regularize:+g}"
            text += " (cached after the first run)"
        elif spec.kind in ("torchvision", "timm"):
            text = f"{spec.kind} {spec.arch}, weights {spec.weights}"
        else:
            text = f"{spec.kind} {spec.path}"
        models.add(_escape(f"{key}: {text}"))
    forwards, conditions = count_forwards(plan)
    from abl.interpreter.plan.shards import plan_shards, shard_summary

    split = plan_shards(plan)
    shards = len(split)
    shard_node = root.add(f"[bold]shards[/] ({shards})")
    for line in shard_summary(plan, split):
        shard_node.add(_escape(line))
    measures = root.add(f"[bold]measure[/] ({len(plan.measures)} values in {conditions} conditions, "
                        f"about {forwards} passes over stimuli sets, in {shards} "
                        f"shard{'s' if shards != 1 else ''})")
    grouped: dict[tuple, list] = defaultdict(list)
    for item in plan.measures:
        grouped[(item.label, item.stimuli, item.intervention_label, item.hidden, item.claim)].append(item)
    for (label, stimuli_key, intervention, hidden, claim), items in grouped.items():
        cells = {i.cell for i in items if i.cell is not None}
        draws = {i.repeat for i in items}
        extra = []
        if cells:
            extra.append(f"{len(cells)} grid cells")
        if len(draws) > 1:
            extra.append(f"{len(draws)} random draws")
        families = len(items) // max(1, len(cells) or 1) // max(1, len(draws))
        if families > 1:
            extra.append(f"x{families} bindings")
        text = _escape(f"{label} on {stimuli_key}")
        if intervention is not None:
            text += " " + _escape(intervention)
        if extra:
            text += " [dim](" + ", ".join(extra) + ")[/]"
        if claim:
            text += f" [dim](claim {claim}'s own draws)[/]"
        elif hidden:
            text += " [dim](for an expectation)[/]"
        measures.add(text)
    if plan.expectations:
        expect = root.add("[bold]decide expectations[/]")
        for item in plan.expectations:
            suffix = f" [dim]({item.repeats} random draws, p <= {item.significance:g})[/]" if isinstance(item, ControlClaim) else ""
            expect.add(f"{_escape(expanded(item.shown, plan.params))}{suffix}")
    if plan.reports:
        reports = root.add("[bold]report[/]")
        for item in plan.reports:
            reports.add(_escape(expanded(item.text, plan.params)))
    return markup_labels(root)


def expanded(text: str, params) -> str:
    """A statement's text with its `$name` parameters replaced by their values (as `--set` gives them)."""
    values = dict(params)

    def value(match) -> str:
        found = values.get(match.group(1), match.group(0))
        return found if isinstance(found, str) else str(found)
    return re.sub(r"\$([A-Za-z_]\w*)", value, text)


def markup_labels(tree: Tree) -> Tree:
    """The tree's labels (markup with the user's text escaped) as rich Text, so that they look the
    same on a console that reads no markup (abl's consoles print text as it is)."""
    if isinstance(tree.label, str):
        tree.label = Text.from_markup(tree.label)
    for child in tree.children:
        markup_labels(child)
    return tree


# ---- results -----------------------------------------------------------------------------
