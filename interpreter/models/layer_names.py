"""Layer names -> module paths: the one lookup (with "did you mean" and the model's layers, written
so that they paste back into a spec) that runs, `abl lint --deep` and training all use."""

from __future__ import annotations

from typing import Mapping, Sequence

from abl.interpreter.errors import RunError


def layer_names(aliases: Mapping[str, str], paths: Sequence[str]) -> list[str]:
    """Aliases first, then the module paths no alias names."""
    return list(aliases) + [path for path in paths if path and path not in aliases]


def resolve_layer(model: str, name: str, aliases: Mapping[str, str], paths: Sequence[str],
                  message: str | None = None) -> str:
    """The module path of `name` (an alias or a path); RunError E401 when the model has neither."""
    if name in aliases:
        return aliases[name]
    if name and name in paths:
        return name
    from abl.spec.diagnostics import did_you_mean, listing

    names = layer_names(aliases, paths)
    suggestion = did_you_mean(name, names, pasteable=True)
    layers = f"its layers: {listing(names, 24, pasteable=True)}"
    raise RunError(message or f"model `{model}` has no layer `{name}`", code="E401",
                   help=f"{suggestion} {layers}" if suggestion else layers)
