"""Planning, by job: expectations (the rows they read, their families) and reports."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from abl.spec import resolved as r
from abl.spec.diagnostics import did_you_mean, listing
from abl.spec.families import same_value
from abl.spec.vocabulary import MEASURES_NEEDING_INTERVENTION

from abl.interpreter.plan.plan import (ChangeClaim, ControlClaim, ExpectItem, ExtremeClaim, Family, MeasureItem, NumberClaim,
                   OffTargetClaim, QuantityClaim, REPORT_TYPES, ResultQuery)
from abl.interpreter.plan.units import Selection
from abl.interpreter.plan.env import Binding, _Abort, _Env


@dataclass(frozen=True)
class _Rows:
    """Which measurements a side of a claim reads, before they all are planned."""

    measure: str
    stimuli: str                      # as bound in the claim's scope
    model: str | None
    models: tuple[str, ...]           # a replicated model's members
    units: str                        # `activation of a`: the unit set's name
    intervention: str | None
    claim: int = 0                    # whose random draws: 0, or the claim's number
    baseline_claim: int = 0           # the same for the quantity without its interventions
    bound: tuple[tuple[str, str], ...] = ()   # the claim's own iteration: its loop bindings
    named: frozenset[str] = frozenset()       # the dimensions the claim selects, averages or quantifies

    def measurements(self, measures: "MeasureIndex", baseline: bool) -> tuple[int, ...]:
        """The ids of the measurements of the same measure, stimuli as bound, model(s), unit set
        and interventions (`baseline`: none), and the claim's own random draws. A side without
        interventions reads plain values; when its measure has none (`rank deficit`, or
        `accuracy[s = 2]` of `measure accuracy ... scaling hot by s`), the intervened ones."""
        wanted = None if baseline else self.intervention
        claim = self.baseline_claim if baseline else self.claim
        items = measures.items
        candidates = [i for i in measures.ids(self.measure, self.stimuli, claim)
                      for m in (items[i],)
                      if (self.model is None or m.model == self.model)
                      and (not self.models or m.model in self.models)
                      and (not self.units or m.units_label == self.units)]
        if baseline or wanted is not None or any(items[i].intervention_label == wanted for i in candidates):
            candidates = [i for i in candidates if items[i].intervention_label == wanted]
        # a claim reads the rows of its own iteration, and loop rows of other loops only when it
        # names their variable (when nothing is left, the run says which variable to name)
        own = [i for i in candidates if self._own(items[i].dims)]
        return tuple(own or candidates)

    def _own(self, dims: tuple[tuple[str, str], ...]) -> bool:
        bound = dict(self.bound)
        return all(key in self.named or key == "seed" or (key in bound and same_value(bound[key], value))
                   for key, value in dims)


class MeasureIndex:
    """The planned measurements by (measure, stimuli as bound, claim): a claim's sides look up
    their candidates instead of scanning every measurement (a paper-sized plan has 10^5)."""

    def __init__(self, items: list[MeasureItem]):
        self.items = items
        self._ids: dict[tuple[str, str, int], list[int]] = {}
        for i, m in enumerate(items):
            self._ids.setdefault((m.label, m.stimuli_label or m.stimuli, m.claim), []).append(i)

    def ids(self, measure: str, stimuli: str, claim: int) -> list[int]:
        return self._ids.get((measure, stimuli, claim), [])


class ClaimPlanning:
    """Part of the Planner (planner.py): shares its state."""

    # ---- expectations ----------------------------------------------------------------------
    def _query(self, quantity: r.Quantity, env: _Env,
               claims: tuple[int, int] = (0, 0)) -> tuple[ResultQuery, _Rows]:
        """A side of a claim, and the measurements it reads (resolved to ids once all are planned).
        `claims`: whose random draws the rows are, with and without the interventions."""
        stimuli = env.stimuli[quantity.stimuli]
        label = self._metric_label(quantity, stimuli, self._of_class(quantity, env, stimuli))
        cls = None
        if quantity.where_class is not None:
            cls = self._class_index(quantity.where_class, env, stimuli)
        dims = list(env.dims())
        among = []
        for selector in quantity.selectors:
            if selector.key == "class":
                cls = self._class_index(selector.value, env, stimuli)
            elif selector.key == "not class":
                continue                # the other classes' rows: OffTargetClaim reads them all
            elif selector.among:
                among += self._among(selector, env, stimuli)
            else:
                dims += self._selected(selector, env, stimuli)
        context = []
        for name, (kind, value, text) in env.bindings.items():
            if kind == "class" and cls is None:
                context.append(("class", self._info(stimuli).class_names[value]))
            elif kind == "layer":
                context.append(("layer", text))
        model = env.models.get(quantity.model) if quantity.model is not None else None
        models = tuple(member for member, _ in self.replicas.get(model, ()))
        intervention = " and ".join(i.text for i in quantity.interventions) or None
        layer = self._layer(quantity.metric.in_layer, env) if quantity.metric.in_layer is not None else None
        units = ""
        if quantity.metric.of_units is not None:
            of_units = quantity.metric.of_units
            units = of_units.name if isinstance(of_units, r.UnitRef) else of_units.text
        named = {k for k, _ in dims} | {k for k, _ in among}
        rows = _Rows(label, env.stimuli_label(quantity.stimuli), None if models else model, models, units,
                     intervention, *claims, bound=env.dims(), named=frozenset(named))
        query = ResultQuery(label, stimuli, cls, (), dims=tuple(dims), drop=quantity.drop,
                            text=quantity.text, layer=layer, among=tuple(among),
                            context=tuple(context))
        return query, rows

    def _resolve_rows(self, item: ExpectItem, sides: tuple[_Rows, ...], index: MeasureIndex) -> ExpectItem:
        """The expectation with its sides' measurement ids, once every measurement is planned (a
        later claim's hidden measurement can hold values an earlier claim reads)."""
        names = ("lhs", "rhs")[:len(sides)]
        return dataclasses.replace(item, **{name: dataclasses.replace(
            getattr(item, name), measurements=rows.measurements(index, baseline=False),
            baseline_measurements=rows.measurements(index, baseline=True))
            for name, rows in zip(names, sides)})

    def _member_text(self, key: str, value, env: _Env, stimuli: str) -> list[tuple[str, str]]:
        """One selected member as (dimension, value) pairs: a cell is its row and its column."""
        if key == "cell":
            row, col = (v.text for v in value)
            return [("row", row), ("col", col)]
        if key == "class":
            return [("class", self._info(stimuli).class_names[self._class_index(value, env, stimuli)])]
        if key == "layer":
            return [("layer", self._layer(value, env))]
        if isinstance(value, r.Var) or (value.bare and value.text in env.bindings):
            return [(key, env.bindings[value.text].text)]
        return [(key, value.text)]

    def _selected(self, selector: r.Selector, env: _Env, stimuli: str) -> list[tuple[str, str]]:
        return self._member_text(selector.key, selector.value, env, stimuli)

    def _among(self, selector: r.Selector, env: _Env, stimuli: str) -> list[tuple[str, tuple[str, ...]]]:
        values = [self._member_text(selector.key, item, env, stimuli)[0][1] for item in selector.value]
        return [(selector.key, tuple(values))]

    def _is_random(self, quantity: r.Quantity, env: _Env) -> bool:
        """Whether the quantity's interventions or units draw random units."""
        if quantity.model is None or quantity.model not in env.models:
            return False
        model = env.models[quantity.model]
        stimuli = env.stimuli[quantity.stimuli]
        terms = [quantity.metric.of_units] if quantity.metric.of_units is not None else []
        terms += [i.units for i in quantity.interventions if getattr(i, "units", None) is not None]
        return any(selection.is_random for term in terms
                   for _, selection in self._bind_units(term, env, model, stimuli))

    def _ensure_measured(self, quantity: r.Quantity, env: _Env, repeats: int | None,
                         claim: int) -> tuple[int, int]:
        """Plan (hidden) measurements for an expectation's quantity and its baseline; random draws
        are the claim's own (`repeats` of them, seeded by the claim's stream). Returns the claim
        numbers the planned rows carry, with and without the interventions (0: shared rows, or
        rows the expectation reads from `measure` statements)."""
        if quantity.model is not None and any(s.key == "not class" for s in quantity.selectors):
            # `[class != c]`: the value of every class, their mean over those but c taken when deciding
            metric = dataclasses.replace(quantity.metric, per_class=True)
            quantity = dataclasses.replace(quantity, metric=metric, selectors=(), where_class=None)
        if quantity.model is None or any(s.key != "class" for s in quantity.selectors):
            return (0, 0)
        if quantity.metric.text in MEASURES_NEEDING_INTERVENTION and not quantity.interventions:
            return (0, 0)           # reads the family of `measure ... ablating UNITS` statements
        if quantity.selectors and quantity.where_class is None:
            quantity = dataclasses.replace(quantity, where_class=quantity.selectors[0].value, selectors=())
        after = self._measure(quantity, env, hidden=True, repeats=repeats, claim=claim)
        before = after
        if quantity.interventions:
            before = self._measure(dataclasses.replace(quantity, interventions=()), env, hidden=True,
                                   repeats=repeats, claim=claim)
        return (max(item.claim for item in after), max(item.claim for item in before))

    def _expect(self, decl: r.ExpectDecl, env: _Env) -> None:
        repeats = decl.repeats if decl.repeats is not None else self.program.header.repeats
        claim = len(self.expectations) + 1
        # a claim over a family reads the `measure` statements' values; others measure what they need
        over_family = bool(decl.families) or isinstance(decl.test, r.ExtremeTest)
        claims = (0, 0) if over_family else self._ensure_measured(decl.quantity, env, repeats, claim)
        lhs, lhs_rows = self._query(decl.quantity, env, claims)
        sides = (lhs_rows,)
        family = self._family(decl, env, lhs.stimuli)
        test = decl.test
        common = dict(text=decl.text, lhs=lhs, significance=decl.significance, family=family,
                      bindings=env.dims(), span=decl.span)
        if isinstance(test, r.ChangeTest):
            item = ChangeClaim(amount=float(test.amount.value), direction=test.direction, bound=test.bound,
                               **common)
        elif isinstance(test, r.CompareNumber):
            item = NumberClaim(op=test.op, threshold=float(test.value.value), **common)
        elif isinstance(test, r.ExtremeTest):
            item = ExtremeClaim(**common)
        else:
            rhs_quantity, rhs_env = test.rhs, env
            if any(s.key == "not class" for s in rhs_quantity.selectors):
                # the other classes' values, measured for this claim: a `vs class` dimension keeps
                # them apart from those of another member of `for each class c`, whose units differ
                rhs_env = env.child()
                name = self._info(lhs.stimuli).class_names[lhs.cls]
                rhs_env.bindings["vs class"] = Binding("var", name, name)
            rhs_claims = (0, 0) if over_family else self._ensure_measured(rhs_quantity, rhs_env, repeats, claim)
            rhs, rhs_rows = self._query(rhs_quantity, rhs_env, rhs_claims)
            sides = (lhs_rows, rhs_rows)
            if bool(rhs_quantity.interventions) and self._is_random(rhs_quantity, env):
                item = ControlClaim(rhs=rhs, op=test.op, repeats=repeats, **common)
            elif any(s.key == "not class" for s in rhs_quantity.selectors):
                item = OffTargetClaim(rhs=rhs, op=test.op, target=lhs.cls, **common)
            else:
                offset = test.offset if test.offset is not None else 0.0
                same_models = (lhs_rows.models or (lhs_rows.model,)) == (rhs_rows.models or (rhs_rows.model,))
                item = QuantityClaim(rhs=rhs, op=test.op, offset=offset, same_models=same_models, **common)
        named = set(family.average) | set(family.quantify) | {k for k, _ in family.at}
        if "row" in named:
            named.add("cell")
        sides = tuple(dataclasses.replace(side, named=side.named | named) for side in sides)
        self.expectations.append(item)
        self._claim_rows.append(sides)

    def _family(self, decl: r.ExpectDecl, env: _Env, stimuli: str) -> Family:
        def expand(names) -> tuple[str, ...]:
            out: list[str] = []
            for name in names:
                out += ["row", "col"] if name == "cell" else [name]
            return tuple(out)

        average: tuple[str, ...] = ()
        quantify: tuple[str, ...] = ()
        share = 1.0
        for clause in decl.families:
            if clause.averaging:
                average += expand(clause.dims)
            else:
                quantify += expand(clause.dims)
                share = 1.0 if clause.every else clause.share
        extreme, at = "", ()
        if isinstance(decl.test, r.ExtremeTest):
            extreme = "largest" if decl.test.largest else "smallest"
            selector = decl.test.at[0]
            at = tuple(self._member_text(selector.key, selector.value, env, stimuli))
        return Family(average, quantify, share, extreme, at)

    # ---- reports --------------------------------------------------------------------------
    def _report(self, decl: r.ReportDecl, env: _Env) -> None:
        metric = ""
        if decl.metric is not None:
            metric = decl.metric.text + (f" top-{int(decl.metric.top.value)}" if decl.metric.top else "")
            stimuli_key = env.stimuli.get(decl.stimuli, "") if decl.stimuli is not None else \
                next(iter(env.stimuli.values()), "")
            if decl.metric.of_class is not None and stimuli_key and decl.metric.text in ("logit", "probability"):
                index = self._class_index(decl.metric.of_class, env, stimuli_key)
                metric += f" of class {self._info(stimuli_key).class_names[index]}"    # as measurements say it
        units: tuple[Selection, ...] = ()
        if decl.units is not None:
            models = list(dict.fromkeys(env.models.values()))
            if len(models) != 1:
                self.fail("E308", "`report features` needs exactly one model in scope", decl.span)
            stimuli = next(iter(env.stimuli.values()), "")
            units = tuple(s for _, s in self._bind_units(decl.units, env, models[0], stimuli))
        item = REPORT_TYPES[decl.kind](
            metric, decl.by, decl.versus.text if decl.versus is not None else "",
            decl.over or "", env.stimuli.get(decl.stimuli, "") if decl.stimuli is not None else "",
            units, decl.steps, decl.text, decl.span)
        if decl.kind == "exemplars":        # on the units' own stimuli unless `on S` says otherwise
            item = dataclasses.replace(item, top=decl.top, stimuli=item.stimuli or units[0].leaves()[0].stimuli)
        self.reports.append(item)

    def _resolve_reports(self) -> None:
        """Each report's metric (and `vs` metric) as the measurements label it: `probability` is
        `probability of class 3` when that is the only one; several candidates, or none, are E317."""
        labels = list(dict.fromkeys(item.label for item in self.measures))
        resolved = []
        for report in self.reports:
            try:
                changes = {name: self._measured_label(getattr(report, name), labels, report)
                           for name in ("metric", "versus") if getattr(report, name)}
            except _Abort:
                continue
            resolved.append(dataclasses.replace(report, **changes))
        self.reports = resolved

    def _measured_label(self, metric: str, labels: list[str], report) -> str:
        if metric in labels:
            return metric
        fits = [label for label in labels if label.startswith(metric + " ")]
        if len(fits) == 1:
            return fits[0]
        if fits:
            self.fail("E317", f"`{report.text}`: `{metric}` could be any of {listing(fits)}", report.span,
                      help=f"name one: `{report.text.replace(metric, fits[0], 1)}`")
        self.fail("E317", f"`{report.text}` shows `{metric}`, which no measurement measures", report.span,
                  help=did_you_mean(metric, labels) or (f"measured: {listing(labels)}" if labels else
                                                        f"add `measure {metric} on ...`"))
        return metric

