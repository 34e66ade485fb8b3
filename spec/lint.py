"""Lint rules: the W5xx warnings, each a registered function over what the checker learned.

A rule is a generator `rule(facts) -> Finding...` registered under its code with `@lint_rule`;
`run_lint` runs every registered rule once the checker has walked the spec. Rules never see Lark
trees or the checker's internals, only `LintFacts` (the statements after parameter substitution
and the symbols with their use), so a new rule is one function and one entry in codes.py.

Every warning can be silenced where it is reported by a comment on its line, `# abl: ignore[W501]`
(or for the whole file, `# abl: ignore-file[W502]`), and for a whole run by `--ignore W5` or
`[tool.abl] ignore` (settings.py applies both).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterator

from . import ast
from .diagnostics import did_you_mean
from .program import DEFAULT_REPEATS, KIND_WORDS, Symbol
from .source import Span
from .visit import nodes_of
from .vocabulary import BUILTIN_ARCHITECTURES, TORCHVISION_ARCHITECTURES


@dataclass(frozen=True)
class LintFacts:
    statements: tuple[ast.Statement, ...]          # after `$param` substitution
    params: tuple[tuple[str, Symbol], ...]          # declared parameters, in order
    definitions: tuple[tuple[str, Symbol], ...]     # stimuli, models, unit sets, measures, in order
    loop_variables: tuple[tuple[str, Symbol], ...]  # every `for each` binding
    broken_mentions: frozenset[str]                 # words on lines that did not parse
    had_syntax_errors: bool
    written: tuple[ast.Statement, ...] = ()         # as written ($params kept): what a lock records
    path: str = ""                                  # the spec's file, for its lock beside it


@dataclass(frozen=True)
class Finding:
    message: str
    span: Span
    help: str | None = None


Rule = Callable[[LintFacts], Iterator[Finding]]
RULES: dict[str, Rule] = {}


def lint_rule(code: str) -> Callable[[Rule], Rule]:
    def register(rule: Rule) -> Rule:
        if code in RULES:
            raise ValueError(f"lint rule {code} registered twice")
        RULES[code] = rule
        return rule
    return register


def run_lint(facts: LintFacts, report: Callable[[str, str, Span, str | None], None]) -> None:
    for code, rule in RULES.items():
        for finding in rule(facts):
            report(code, finding.message, finding.span, finding.help)


# ---- the rules ---------------------------------------------------------------------------------

@lint_rule("W501")
def unused_definitions(facts: LintFacts) -> Iterator[Finding]:
    for name, symbol in facts.loop_variables:
        if not symbol.used and name not in facts.broken_mentions:   # used, maybe, on a broken line
            yield Finding(f"loop variable `{name}` is never used", symbol.span,
                          "use it in the block's statements, or drop the binding")
    if facts.had_syntax_errors:
        return              # with lines dropped by syntax errors, "unused" would be a guess
    for name, symbol in facts.params:
        if not symbol.used:
            yield Finding(f"parameter `{name}` is never used", symbol.span, f"refer to it as `${name}`, or delete it")
    for name, symbol in facts.definitions:
        if not symbol.used and symbol.kind in ("stimuli", "model", "units"):
            yield Finding(f"{KIND_WORDS[symbol.kind]} `{name}` is never used", symbol.span, "use it, or delete it")


@lint_rule("W502")
def missing_header(facts: LintFacts) -> Iterator[Finding]:
    if facts.had_syntax_errors:
        return
    first_line = Span(0, 0, 1, 1, 1, 1)
    kinds = {type(statement) for statement in facts.statements}
    if ast.Experiment not in kinds:
        yield Finding("the spec has no `experiment` name", first_line, 'add `experiment "what this tests"` at the top')
    if ast.Seed not in kinds:
        yield Finding("the spec has no `seed`; seed 0 is used", first_line, "add `seed 0` to make the choice explicit")


@lint_rule("W503")
def weak_control(facts: LintFacts) -> Iterator[Finding]:
    """Too few draws for a meaningful p, or for the claim's significance: the smallest p of a
    random control is 1/(draws + 1), and Holm over m tested claims can multiply it by m."""
    from .lock import claims

    expects = list(nodes_of(ast.ExpectDecl, facts.statements))
    tested = sum(1 for e in expects if not e.families and " == " not in _text(e) and " != " not in _text(e))
    repeats = next((int(r.value.value) for r in nodes_of(ast.Repeats, facts.statements)
                    if isinstance(r.value, ast.Number) and r.value.is_int), DEFAULT_REPEATS)
    for statement, claim in zip(expects, claims(facts.statements, repeats)):
        draws = claim.get("control_draws")
        option = next((o for o in statement.options if o.key == "repeats"), None)
        if not isinstance(draws, int) or draws < 1:
            continue
        span = option.span if option is not None else statement.span
        alpha, m = claim["significance"], max(tested, 1)
        if draws < 20:
            yield Finding(f"{draws} random draws give p-values no smaller than {1 / (draws + 1):.2f}",
                          span, "use `repeats 100` or more")
        elif m / (draws + 1) > alpha:
            needed = math.ceil(m / alpha) - 1
            holm = (f", and Holm over {m} tested claims can make it {m / (draws + 1):.3g}" if m > 1 else "")
            yield Finding(f"{draws} random draws cannot reach significance {alpha:g}: the smallest p is "
                          f"1/{draws + 1} = {1 / (draws + 1):.3g}{holm}", span,
                          f"use `repeats {needed}` or more (the claim can then pass)")


def _text(statement) -> str:
    from .unparse import statement_text

    return statement_text(statement)


@lint_rule("W504")
def reseeded_derived_stimuli(facts: LintFacts) -> Iterator[Finding]:
    declared: set[str] = set()
    for statement in nodes_of(ast.StimuliDecl, facts.statements):
        source = statement.source
        seeds = [option for option in statement.options if option.key == "seed"]
        if isinstance(source, ast.Name) and source.value in declared and seeds:
            yield Finding(f"`seed` re-draws the split: `{statement.name.value}` no longer holds the images of "
                          f"`{source.value}`", seeds[0].span,
                          "to seed only a corruption, write the seed after it: `noise 0.3 seed 7`")
        declared.add(statement.name.value)


@lint_rule("W505")
def unknown_torchvision_model(facts: LintFacts) -> Iterator[Finding]:
    """A torchvision name (or a file model's `arch`) the generated table lacks: a misspelling, or a
    model of a newer torchvision, which `abl run` builds (or refuses) against the installed one."""
    for statement in nodes_of(ast.ModelDecl, facts.statements):
        expr = statement.expr
        if isinstance(expr, ast.TorchvisionModel):
            arch, known, what = expr.arch, TORCHVISION_ARCHITECTURES, "a torchvision model"
        elif isinstance(expr, ast.FileModel) and expr.arch is not None:
            arch, known, what = expr.arch, BUILTIN_ARCHITECTURES + TORCHVISION_ARCHITECTURES, "an architecture"
        else:
            continue
        if arch.value not in known:
            yield Finding(f"`{arch.value}` is not {what} abl knows", arch.span,
                          did_you_mean(arch.value, known) or "names as in torchvision.models.list_models(), "
                          "e.g. `alexnet`, `resnet101`; `abl run` checks it against the installed torchvision")


@lint_rule("W506")
def changed_since_lock(facts: LintFacts) -> Iterator[Finding]:
    """A claim that differs from the spec's lock file (`abl lock`), or is not in it."""
    from .lock import claims, compare, lock_path, read_lock

    if not facts.path or facts.had_syntax_errors:
        return
    try:
        lock = read_lock(lock_path(facts.path))
    except (ValueError, OSError):
        return
    if lock is None:
        return
    expects = list(nodes_of(ast.ExpectDecl, facts.written))
    for status in compare(lock, claims(facts.written)):
        if status.status not in ("changed", "new") or not 1 <= status.claim <= len(expects):
            continue
        span = expects[status.claim - 1].span
        if status.status == "new":
            yield Finding("claim is not in the spec's lock: it is not pre-registered", span,
                          "lock again (`abl lock SPEC`) if it should be, and say so")
        else:
            yield Finding(f"claim changed since its lock: {'; '.join(status.differences)}", span,
                          "restore the locked claim, or lock again (`abl lock SPEC`) and say so")


def _root(name: str, stimuli: dict) -> tuple[str, str, str]:
    """(source, path, split) of the images a stimuli set holds: a derived set (`test noise 0.3`)
    holds its base's; "" for a split not named (every image of the source)."""
    seen = set()
    while name in stimuli and name not in seen:
        seen.add(name)
        decl = stimuli[name]
        source = decl.source
        if isinstance(source, ast.Name) and source.value in stimuli and source.value != name:
            if not any(option.key == "split" for option in decl.options):
                name = source.value
                continue
        split = next((str(getattr(o.value, "value", "")) for o in decl.options if o.key == "split"), "")
        return (str(getattr(source, "value", "")), str(getattr(decl.path, "value", "") if decl.path else ""), split)
    return (name, "", "")


@lint_rule("W507")
def measured_on_training_stimuli(facts: LintFacts) -> Iterator[Finding]:
    """A trained model measured on the images it was trained on: the same set, or the same source
    with the same split (or without one, so all its images)."""
    stimuli = {s.name.value: s for s in nodes_of(ast.StimuliDecl, facts.statements)}
    trained = {m.name.value: m.expr.train_on.value for m in nodes_of(ast.ModelDecl, facts.statements)
               if isinstance(m.expr, ast.TrainModel)}
    models = [m.name.value for m in nodes_of(ast.ModelDecl, facts.statements)]
    warned = set()
    for quantity in nodes_of(ast.Quantity, facts.statements):
        if quantity.stimuli is None:
            continue
        model = quantity.model.value if quantity.model is not None else (models[0] if len(models) == 1 else None)
        if model not in trained or (model, quantity.stimuli.value) in warned:
            continue
        train, measured = trained[model], quantity.stimuli.value
        a, b = _root(train, stimuli), _root(measured, stimuli)
        same = train == measured or (a[:2] == b[:2] and (a[2] == b[2] or not a[2] or not b[2]))
        if same:
            warned.add((model, measured))
            how = "the same set" if train == measured else f"`{measured}` holds images of `{train}`"
            yield Finding(f"`{model}` is measured on the stimuli it was trained on ({how}): its values "
                          "say how well it fits its training images, not how it generalises",
                          quantity.stimuli.span, f"measure on held-out images, e.g. `stimuli test = "
                          f"{b[0] or 'digits'} split test`, or say `# abl: ignore[W507]` if that is the point")


FRACTIONS = ("accuracy", "probability", "probe accuracy")


def fraction_above_one(statements) -> Iterator[Finding]:
    """E318, an error the checker reports (not a lint rule): a fraction-valued measure (0 to 1)
    compared with a plain number above 1, `> 95`, which never holds."""
    for decl in nodes_of(ast.ExpectDecl, statements):
        metric = decl.quantity.metric
        if metric is None or metric.metric.text not in FRACTIONS:
            continue
        test = decl.test
        value = getattr(test, "value", None) or getattr(test, "amount", None) or getattr(test, "offset", None)
        if isinstance(value, ast.Number) and value.value > 1:
            yield Finding(f"`{metric.metric.text}` is a fraction from 0 to 1: `{value.text}` is above any "
                          "value it can take", value.span, f"did you mean `{value.text}%`?")
