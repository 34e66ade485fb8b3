"""The canonical text of AST nodes: the printer `abl fmt` lays out (fmt.py), and the labels the
interpreter shows (`ablating hot7`, `mean-ablating (a | b)`, `clamping hot7 to 2.5`).

Set operations (`|`, `&`, `-`, all of one precedence and left-associative) get parentheses only
where the grammar needs them: around a right operand that is itself a set operation, and around a
whole set operation where a single unit term is expected (after `ablating`, `of`, ...). Numbers and
percentages print exactly as written; strings in double quotes with `\\` and `"` escaped."""

from __future__ import annotations

from . import ast

INDENT = "    "


# ---- values ---------------------------------------------------------------------------------

def string_text(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def value_text(value: ast.Value) -> str:
    if isinstance(value, (ast.Number, ast.Percent)):
        return value.text
    if isinstance(value, ast.String):
        return string_text(value.value)
    if isinstance(value, ast.Name):
        return value.value
    if isinstance(value, ast.ParamRef):
        return f"${value.name}"
    if isinstance(value, ast.ListValue):
        return "[" + ", ".join(value_text(item) for item in value.items) + "]"
    raise TypeError(f"not a value: {value!r}")


def _option_text(option: ast.Option) -> str:
    parts = [option.key]
    if option.value is not None:
        parts.append(value_text(option.value))
    if option.extra is not None:
        parts += ["seed" if option.key in ("noise", "blur") else "in", value_text(option.extra)]
    return " ".join(parts)


# ---- units ----------------------------------------------------------------------------------

def _open_ended(expr) -> bool:
    """A selection whose optional trailing `on STIMULI` is absent: an `on` written right after it
    would be read as part of it."""
    if isinstance(expr, ast.RandomSelection) and expr.pool is not None:
        return _open_ended(expr.pool)            # `random 4 from top 8 by ... in L`: the pool's tail
    return (isinstance(expr, (ast.RankedSelection, ast.ThresholdSelection, ast.GridSelection))
            and expr.stimuli is None)


def _selection_tail(expr) -> list[str]:
    parts = []
    if expr.target_class is not None:
        parts += ["for class", value_text(expr.target_class)]
    parts += ["in", value_text(expr.layer)]
    if getattr(expr, "per_element", False):
        parts.append("per element")
    if expr.stimuli is not None:
        parts += ["on", expr.stimuli.value]
    return parts


def unit_expr_text(expr) -> str:
    """A unit expression as written after `units NAME =`."""
    if isinstance(expr, ast.SetOperation):
        return f"{unit_expr_text(expr.left)} {expr.op} {_unit_term_text(expr.right)}"
    if isinstance(expr, ast.UnitRef):
        return expr.name.value
    if isinstance(expr, ast.RankedSelection):
        parts = ["bottom" if expr.bottom else "top", value_text(expr.count), "by",
                 expr.metric.text] + _selection_tail(expr)
    elif isinstance(expr, ast.RandomSelection) and expr.pool is not None:
        parts = ["random", value_text(expr.count), "from", _unit_term_text(expr.pool)]
    elif isinstance(expr, ast.RandomSelection):
        parts = ["random", value_text(expr.count), "in", value_text(expr.layer)] + \
            (["per element"] if expr.per_element else []) + (["among live"] if expr.among_live else []) + \
            (["matching", _unit_term_text(expr.matching), "by", expr.match_metric.text] if expr.matching else [])
    elif isinstance(expr, ast.ExplicitSelection):
        parts = [value_text(expr.indices), "in", value_text(expr.layer)]
    elif isinstance(expr, ast.AllSelection):
        parts = ["all", "in", value_text(expr.layer)] + (["per element"] if expr.per_element else [])
    elif isinstance(expr, ast.ThresholdSelection):
        parts = ["where", expr.metric.text, expr.op, value_text(expr.threshold)] + \
            _selection_tail(expr)
    elif isinstance(expr, ast.GridSelection):
        parts = ["grid", f"{expr.rows}x{expr.cols}", "over",
                 f"{expr.row_metric.text}, {expr.col_metric.text}"] + _selection_tail(expr)
    else:
        raise TypeError(f"not a unit expression: {expr!r}")
    return " ".join(parts)


def _unit_term_text(expr, before_on: bool = False) -> str:
    """A unit expression where the grammar takes a single term: a set operation needs
    parentheses; so does an open-ended selection when `on` follows it."""
    text = unit_expr_text(expr)
    if isinstance(expr, ast.SetOperation) or (before_on and _open_ended(expr)):
        return f"({text})"
    return text


# ---- interventions ----------------------------------------------------------------------------

_ACTIVATION_VERBS = {"zero": "ablating", "mean": "mean-ablating", "clamp": "clamping",
                     "scale": "scaling", "patch": "patching"}


def intervention_text(intervention: ast.Intervention) -> str:
    if isinstance(intervention, ast.ActivationIntervention):
        text = f"{_ACTIVATION_VERBS[intervention.kind]} {_unit_term_text(intervention.units)}"
        if intervention.kind == "clamp":
            text += f" to {value_text(intervention.value)}"
        elif intervention.kind in ("scale", "patch"):
            text += f" {'by' if intervention.kind == 'scale' else 'from'} {value_text(intervention.value)}"
        if intervention.token is not None:
            text += f" at token {value_text(intervention.token)}"
        return text
    verb = "zeroing" if intervention.factor is None else "scaling"
    if intervention.direction == "connection":
        target = (f"weight {value_text(intervention.connection)} of "
                  f"{value_text(intervention.layer)}")
    else:
        target = f"{intervention.direction} weights of {_unit_term_text(intervention.units)}"
    text = f"{verb} {target}"
    if intervention.factor is not None:
        text += f" by {value_text(intervention.factor)}"
    return text


# ---- quantities -------------------------------------------------------------------------------

def metric_phrase_text(phrase: ast.MetricPhrase, before_on: bool = False) -> str:
    """`accuracy top 5 per class`, `logit of class 3`, `probe accuracy of cells`, ...
    `before_on`: the phrase is followed by `on` (decides parentheses around `of UNITS`)."""
    parts = [phrase.metric.text]
    if phrase.top is not None:
        parts += ["top", value_text(phrase.top)]
    if phrase.per_class:
        parts.append("per class")
    if phrase.of_class is not None:
        parts += ["of class", value_text(phrase.of_class)]
    if phrase.of_units is not None:
        last = phrase.in_layer is None
        parts += ["of", _unit_term_text(phrase.of_units, before_on=before_on and last)]
    if phrase.in_layer is not None:
        parts += ["in", value_text(phrase.in_layer)]
    return " ".join(parts)


def _ends_with_argument(phrase: ast.MetricPhrase) -> bool:
    return (phrase.top is not None or phrase.per_class or phrase.of_class is not None
            or phrase.of_units is not None or phrase.in_layer is not None)


def _selectors_text(selectors) -> str:
    items = []
    for selector in selectors:
        if selector.key == "class":
            items.append(f"class {value_text(selector.value)}")
        elif selector.key == "not class":
            items.append(f"class != {value_text(selector.value)}")
        elif selector.among:
            items.append(f"{selector.key} in {value_text(selector.value)}")
        elif isinstance(selector.value, ast.ListValue):      # `cell = 3,3`
            items.append(f"{selector.key} = " + ",".join(value_text(v) for v in selector.value.items))
        else:
            items.append(f"{selector.key} = {value_text(selector.value)}")
    return "[" + ", ".join(items) + "]"


def _qualifier_parts(quantity: ast.Quantity, interventions: bool = True) -> list[str]:
    parts = []
    if quantity.where_class is not None:
        parts += ["where class !=" if quantity.where_not else "where class ==", value_text(quantity.where_class)]
    if quantity.fit_on is not None:
        parts += ["fit on", quantity.fit_on.value]
    if interventions and quantity.interventions:
        parts.append(" and ".join(intervention_text(i) for i in quantity.interventions))
    if quantity.model is not None:
        parts += ["using", quantity.model.value]
    return parts


def quantity_text(quantity: ast.Quantity, interventions: bool = True) -> str:
    """`accuracy per class on test ablating hot7`, `drop of accuracy[class 7] on test ablating
    hot7`, `drop ablating rand5` (the elided right side of a random-control comparison)."""
    parts = []
    if quantity.metric is None:
        if quantity.drop:
            parts.append("drop")
    else:
        if quantity.drop:
            parts.append("drop of")
        before_on = quantity.stimuli is not None and not quantity.selectors
        phrase = metric_phrase_text(quantity.metric, before_on=before_on)
        if quantity.selectors:
            glue = " " if _ends_with_argument(quantity.metric) else ""
            phrase += glue + _selectors_text(quantity.selectors)
        parts.append(phrase)
    if quantity.stimuli is not None:
        parts += ["on", quantity.stimuli.value]
    parts += _qualifier_parts(quantity, interventions)
    return " ".join(parts)


def _test_text(test: ast.ExpectTest) -> str:
    if isinstance(test, ast.ChangeTest):
        return f"{test.direction} by {test.bound} {value_text(test.amount)}"
    if isinstance(test, ast.CompareNumber):
        return f"{test.op} {value_text(test.value)}"
    if isinstance(test, ast.ExtremeTest):
        return f"is {'largest' if test.largest else 'smallest'} at {_selectors_text(test.at)}"
    text = f"{test.op} {quantity_text(test.rhs)}"
    if test.offset is not None:
        text += f" {test.offset_sign or '+'} {value_text(test.offset)}"
    return text


# ---- statements -------------------------------------------------------------------------------

def _model_text(expr: ast.ModelExpr) -> str:
    if isinstance(expr, ast.TrainModel):
        parts = ["train", expr.arch.value]
        if expr.widths is not None:
            parts.append(value_text(expr.widths))
        parts += ["on", expr.train_on.value] + [_option_text(o) for o in expr.options]
        return " ".join(parts)
    if isinstance(expr, (ast.TorchvisionModel, ast.TimmModel)):
        text = f"{'torchvision' if isinstance(expr, ast.TorchvisionModel) else 'timm'} {expr.arch.value}"
        return text + (f" weights {value_text(expr.weights)}" if expr.weights is not None else "")
    if isinstance(expr, ast.FileModel):
        text = f"file {value_text(expr.path)}"
        if expr.arch is not None:
            text += f" arch {expr.arch.value}"
        if expr.arch_python is not None:
            text += f" arch python {value_text(expr.arch_python)}"
        return text
    if isinstance(expr, ast.FactoryModel):
        kwargs = ", ".join(f"{name.value}={value_text(value)}" for name, value in expr.kwargs)
        return f"python {value_text(expr.target)}" + (f" with {kwargs}" if kwargs else "")
    if isinstance(expr, ast.ModelRef):
        return value_text(expr.value)
    raise TypeError(f"not a model expression: {expr!r}")


def _expect_text(decl: ast.ExpectDecl) -> str:
    test = decl.test
    if isinstance(test, ast.ChangeTest):
        # `expect M on S drops by at least X ablating U`: the interventions read after the test
        parts = ["expect", quantity_text(decl.quantity, interventions=False), _test_text(test)]
        if decl.quantity.interventions:
            parts.append(" and ".join(intervention_text(i) for i in decl.quantity.interventions))
    else:
        parts = ["expect", quantity_text(decl.quantity), _test_text(test)]
    parts += [family_text(f) for f in decl.families]
    parts += [_option_text(o) for o in decl.options]
    return " ".join(parts)


def family_text(clause: ast.FamilyClause) -> str:
    if clause.every:
        return "in every " + " x ".join(clause.dims)
    if clause.share is not None:
        return f"in at least {value_text(clause.share)} of " + " x ".join(clause.dims)
    return "averaged over " + ", ".join(clause.dims)


def _report_text(decl: ast.ReportDecl) -> str:
    clauses: list[tuple[str, str]] = []        # (first keyword, text)
    if decl.versus is not None:
        clauses.append(("vs", "vs " + metric_phrase_text(decl.versus)))
    if decl.by:
        clauses.append(("by", "by " + ", ".join(" x ".join(d.names) for d in decl.by)))
    if decl.over is not None:
        clauses.append(("over", f"over {decl.over.value}"))
    if decl.stimuli is not None:
        clauses.append(("on", f"on {decl.stimuli.value}"))
    if decl.steps is not None:
        clauses.append(("steps", f"steps {value_text(decl.steps)}"))
    if decl.top is not None:
        clauses.append(("top", f"top {value_text(decl.top)}"))
    if decl.units is not None and decl.kind.value == "exemplars" and isinstance(decl.units, ast.UnitRef):
        return " ".join(["report exemplars", decl.units.name.value] + [text for _, text in clauses])
    if decl.units is not None:
        # `report features of U ...`; after a metric, `of U` would read as the metric's own
        # argument, so it goes last (a parsed spec always has another clause in between)
        position = 0 if decl.metric is None else len(clauses)
        follows_on = position < len(clauses) and clauses[position][0] == "on"
        clauses.insert(position, ("of", "of " + _unit_term_text(decl.units, before_on=follows_on)))
    # the metric and a `vs` phrase need parentheses around an open `of UNITS` when `on` follows
    parts = ["report", decl.kind.value]
    if decl.metric is not None:
        follows_on = bool(clauses) and clauses[0][0] == "on"
        parts.append(metric_phrase_text(decl.metric, before_on=follows_on))
    for index, (keyword, text) in enumerate(clauses):
        if keyword == "vs":
            follows_on = index + 1 < len(clauses) and clauses[index + 1][0] == "on"
            text = "vs " + metric_phrase_text(decl.versus, before_on=follows_on)
        parts.append(text)
    return " ".join(parts)


def _binder_text(binder: ast.Binder) -> str:
    parts = ["each"]
    if binder.kind:
        parts.append(binder.kind)
    parts.append(binder.variable.value)
    if binder.domain is not None:
        parts += ["in", value_text(binder.domain)]
    return " ".join(parts)


def statement_text(statement) -> str:
    """One statement on one line (a `for` block: its header line only)."""
    if isinstance(statement, ast.Experiment):
        return f"experiment {value_text(statement.name)}"
    if isinstance(statement, ast.Seed):
        return f"seed {value_text(statement.value)}"
    if isinstance(statement, ast.Device):
        return f"device {value_text(statement.value)}"
    if isinstance(statement, ast.Precision):
        return f"precision {value_text(statement.value)}"
    if isinstance(statement, ast.Repeats):
        return f"repeats {value_text(statement.value)}"
    if isinstance(statement, ast.Confidence):
        return f"confidence {value_text(statement.value)}"
    if isinstance(statement, ast.Resamples):
        return f"resamples {value_text(statement.value)}"
    if isinstance(statement, ast.Param):
        return f"param {statement.name.value} = {value_text(statement.value)}"
    if isinstance(statement, ast.StimuliDecl):
        parts = ["stimuli", statement.name.value, "=", value_text(statement.source)]
        if statement.path is not None:
            parts.append(value_text(statement.path))
        parts += [_option_text(o) for o in statement.options]
        return " ".join(parts)
    if isinstance(statement, ast.ModelDecl):
        return f"model {statement.name.value} = {_model_text(statement.expr)}"
    if isinstance(statement, ast.UnitsDecl):
        return f"units {statement.name.value} = {unit_expr_text(statement.expr)}"
    if isinstance(statement, ast.MeasureDecl):
        name = f"{statement.name.value} = " if statement.name is not None else ""
        return f"measure {name}{quantity_text(statement.quantity)}"
    if isinstance(statement, ast.ExpectDecl):
        return _expect_text(statement)
    if isinstance(statement, ast.ReportDecl):
        return _report_text(statement)
    if isinstance(statement, ast.ForBlock):
        return "for " + ", ".join(_binder_text(b) for b in statement.binders) + ":"
    raise TypeError(f"not a statement: {statement!r}")
