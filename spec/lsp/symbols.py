"""Declared names and where they are mentioned: what hover, completion, go to definition and find
references share. Declarations come from the AST (lines that did not parse are simply absent);
mentions are found lexically (every bare word or `$word` outside strings and comments), so they
work on a spec that is half typed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator

from .. import ast
from ..source import SourceFile, Span
from ..visit import nodes_of

KIND_WORDS = {"param": "parameter", "stimuli": "stimuli", "model": "model", "units": "unit set",
              "measure": "measure", "var": "loop variable"}

# a word, a `$param`, a string (skipped) or a comment (skipped); a `.`-path counts as one word
_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"?|#[^\n]*|\$?[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*')


@dataclass(frozen=True)
class Declaration:
    name: str
    kind: str           # a key of KIND_WORDS
    span: Span          # of the name where it is declared
    statement: Span     # of the whole declaring statement


@dataclass(frozen=True)
class Word:
    text: str           # as written, `$` included
    span: Span

    @property
    def name(self) -> str:
        return self.text.lstrip("$")


def declarations(spec: ast.Spec) -> tuple[Declaration, ...]:
    found: list[Declaration] = []
    kinds = ((ast.Param, "param"), (ast.StimuliDecl, "stimuli"), (ast.ModelDecl, "model"),
             (ast.UnitsDecl, "units"), (ast.MeasureDecl, "measure"))
    for kind, word in kinds:
        for statement in nodes_of(kind, spec.statements):
            if statement.name is not None:
                found.append(Declaration(statement.name.value, word, statement.name.span, statement.span))
    for block in nodes_of(ast.ForBlock, spec.statements):
        for binder in block.binders:
            if binder.variable.value != ast.BROKEN:
                found.append(Declaration(binder.variable.value, "var", binder.variable.span, binder.span))
    return tuple(sorted(found, key=lambda d: d.span.start))


def words(source: SourceFile) -> Iterator[Word]:
    """Every bare word and `$word` of the text, strings and comments skipped."""
    for match in _TOKEN.finditer(source.text):
        text = match.group(0)
        if text[0] not in '"#':
            yield Word(text, source.span(match.start(), match.end()))


def word_at(source: SourceFile, offset: int) -> Word | None:
    """The word under (or just before) the cursor."""
    for word in words(source):
        if word.span.start <= offset <= word.span.end:
            return word
        if word.span.start > offset:
            break
    return None


def declaration_of(name: str, found: tuple[Declaration, ...], offset: int) -> Declaration | None:
    """The declaration a mention at `offset` means: the last one of that name before it (a loop
    variable shadows nothing, names are unique otherwise), else the first."""
    same = [d for d in found if d.name == name]
    before = [d for d in same if d.span.start <= offset]
    return (before or same or [None])[-1 if before else 0]


def mentions(source: SourceFile, declaration: Declaration) -> tuple[Span, ...]:
    """Every place the declared name is written, its declaration included: `$name` for a
    parameter (a bare `model` is the keyword, not the parameter), the bare word for the rest."""
    written = "$" + declaration.name if declaration.kind == "param" else declaration.name
    found = [word.span for word in words(source) if word.text == written]
    if declaration.span not in found:
        found.append(declaration.span)
    return tuple(sorted(found, key=lambda span: span.start))
