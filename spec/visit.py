"""Walking and rewriting trees of frozen dataclasses (the AST, the resolved program): one visitor
for every job that looks at every node (parameter substitution, tests' searches)."""

from __future__ import annotations

import dataclasses
from typing import Callable, Iterator

from .source import Span


def _is_node(value) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, (type, Span))   # a span is a leaf


def nodes(tree) -> Iterator[object]:
    """Every node of a tree (tuples of nodes included), each before its children, in field order."""
    if isinstance(tree, tuple):
        for item in tree:
            yield from nodes(item)
    elif _is_node(tree):
        yield tree
        for f in dataclasses.fields(tree):
            yield from nodes(getattr(tree, f.name))


def nodes_of(kind: type, tree) -> Iterator:
    """Every node of this kind in a tree (`for each` bodies included), in source order."""
    return (node for node in nodes(tree) if isinstance(node, kind))


def transform(tree, change: Callable[[object], object | None]):
    """The tree with every node for which `change` returns a replacement replaced (its children are
    not visited); a node is rebuilt only where something below it changed, else kept as it is."""
    if isinstance(tree, tuple):
        items = tuple(transform(item, change) for item in tree)
        return tree if all(a is b for a, b in zip(items, tree)) else items
    if not _is_node(tree):
        return tree
    replacement = change(tree)
    if replacement is not None:
        return replacement
    changes = {}
    for f in dataclasses.fields(tree):
        value = getattr(tree, f.name)
        new = transform(value, change)
        if new is not value:
            changes[f.name] = new
    return dataclasses.replace(tree, **changes) if changes else tree
