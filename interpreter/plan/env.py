"""The planner's bindings (`_Env`) and its errors: what its parts share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from abl.spec.diagnostics import Diagnostic, SpecError


class PlanError(SpecError):
    """A spec that checks but cannot be planned against its data (an unknown class, ...)."""

    def __init__(self, diagnostics: list[Diagnostic]):
        Exception.__init__(self, "; ".join(d.message for d in diagnostics))
        self.diagnostics = diagnostics


class Binding(NamedTuple):
    """A loop variable's value in one member of a family."""
    kind: str                 # class | layer | var
    value: object             # a class index, a layer as written, a number or a word
    text: str                 # as the rows and keys show it


@dataclass
class _Env:
    bindings: dict[str, Binding] = field(default_factory=dict)
    stimuli: dict[str, str] = field(default_factory=dict)     # name -> key
    models: dict[str, str] = field(default_factory=dict)      # name -> key
    units: dict[str, tuple[object, "_Env"]] = field(default_factory=dict)
    # name -> the name as bound here (`noisy[alpha=0.5]`), also where the images are shared
    stimuli_labels: dict[str, str] = field(default_factory=dict)

    def child(self) -> "_Env":
        return _Env(dict(self.bindings), dict(self.stimuli), dict(self.models), dict(self.units),
                    dict(self.stimuli_labels))

    def stimuli_label(self, name: str) -> str:
        return self.stimuli_labels.get(name, self.stimuli[name])

    def dims(self) -> tuple[tuple[str, str], ...]:
        """Every loop binding (class, layer and plain variables, replicate seeds) by its variable's
        name: part of each row's key, so two iterations never share one."""
        return tuple((name, text) for name, (_, _, text) in self.bindings.items())

    def suffix(self) -> str:
        if not self.bindings:
            return ""
        return "[" + ",".join(f"{name}={text}" for name, (_, _, text) in self.bindings.items()) + "]"


class _Abort(Exception):
    pass
