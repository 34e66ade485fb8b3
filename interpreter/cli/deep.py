"""`abl lint --deep`: model-aware checks for models that can be built offline without training
(built-in architectures, torchvision and timm architectures without weights): every layer named
exists (the same lookup as a run's, layer_names.py).
Class names and indices are checked by the planner against the stimuli."""

from __future__ import annotations

from abl.spec.diagnostics import Diagnostic, DiagnosticSink
from abl.spec.source import Span

from abl.interpreter.errors import RunError
from abl.interpreter.models.layer_names import resolve_layer
from abl.interpreter.plan.plan import Plan
from abl.interpreter.plan.units import ScaleConnection


def deep_check(program) -> list[Diagnostic]:
    from abl.interpreter.plan.planner import PlanError, plan_program

    sink = DiagnosticSink(program.source)
    try:
        plan = plan_program(program)
    except PlanError as error:
        return list(error.diagnostics)
    except RunError as error:
        # e.g. a stimuli folder that does not exist: reported at the top of the file
        sink.report(error.code or "E404", error.message, Span.unknown(), help=error.help)
        return sink.diagnostics
    check_layers(plan, sink)
    return sink.diagnostics


def check_layers(plan: Plan, sink: DiagnosticSink) -> None:
    from abl.interpreter.models.checks import describe_model

    described: dict[str, object] = {}
    for key, spec in plan.models:
        try:
            described[key] = describe_model(spec)
        except RunError:
            described[key] = None
    for item in plan.measures:
        uses = []
        for intervention in item.interventions:
            if intervention.units is not None:
                uses.extend((leaf.layer, leaf.layer_span or leaf.span) for leaf in intervention.units.leaves())
            elif isinstance(intervention, ScaleConnection):
                uses.append((intervention.layer, intervention.span))
        if item.of_units is not None:
            uses.extend((leaf.layer, leaf.layer_span or leaf.span) for leaf in item.of_units.leaves())
        if item.in_layer:
            uses.append((item.in_layer, item.span))
        description = described.get(item.model)
        if description is None:
            continue
        aliases, paths = description
        for layer, span in uses:
            try:
                resolve_layer(item.model, layer, aliases, paths)
            except RunError as error:
                sink.report("E401", error.message, span, help=error.help)
