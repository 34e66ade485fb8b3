"""The Python API (for notebooks): compile a spec, get its models and stimuli, run it.

    from abl.interpreter.api import Experiment
    exp = Experiment.from_file("examples/digit7.abl", overrides={"epochs": "10"})
    net = exp.model("net")            # a torch.nn.Module (trained and cached on first use)
    test = exp.stimuli("test")        # images (N, C, H, W) and labels
    result = exp.run()                # RunResult: .table (tidy rows), .verdicts
    [row.as_record() for row in result.table]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from abl.spec.diagnostics import SpecError
from abl.spec.frontend import FrontEndResult, compile_file, compile_text

from .execute import Executor, RunResult
from .plan import Plan
from .planner import make_plan
from .progress import Progress


def describe_stimuli(spec):
    from .stimuli import describe

    return describe(spec)


def _in_notebook() -> bool:
    import sys

    return "ipykernel" in sys.modules


def plan_program(program) -> Plan:
    return make_plan(program, describe_stimuli)


@dataclass
class Experiment:
    front_end: FrontEndResult
    plan: Plan
    executor: Executor

    @staticmethod
    def _build(front_end: FrontEndResult, progress: Progress | None, cache_dir, device) -> "Experiment":
        if front_end.program is None:
            raise SpecError(list(front_end.diagnostics))
        if progress is None and _in_notebook():
            from .progress import TextProgress

            progress = TextProgress()
        plan = plan_program(front_end.program)
        return Experiment(front_end, plan, Executor(plan, progress, cache_dir, device))

    @staticmethod
    def from_file(path: str | Path, overrides: dict[str, str] | None = None,
                  progress: Progress | None = None, cache_dir=None, device: str | None = None) -> "Experiment":
        return Experiment._build(compile_file(str(path), overrides), progress, cache_dir, device)

    @staticmethod
    def from_text(text: str, overrides: dict[str, str] | None = None, path: str = "<string>",
                  progress: Progress | None = None, cache_dir=None, device: str | None = None) -> "Experiment":
        return Experiment._build(compile_text(text, path, overrides), progress, cache_dir, device)

    def _key(self, name: str, table) -> str:
        keys = [key for key, _ in table]
        if name in keys:
            return name
        matches = [key for key in keys if key.split("[")[0] == name]
        if len(matches) == 1:
            return matches[0]
        raise KeyError(f"{name!r}: known names are {keys}")

    def model(self, name: str):
        """The torch module of a model declared in the spec (built, trained or loaded)."""
        return self.executor.model(self._key(name, self.plan.models)).module

    def stimuli(self, name: str):
        """The Stimuli (images, labels, class names) of a stimuli set declared in the spec."""
        return self.executor.stimuli(self._key(name, self.plan.stimuli))

    def run(self) -> RunResult:
        return self.executor.run()


def run_file(path: str | Path, overrides: dict[str, str] | None = None, **kwargs) -> RunResult:
    return Experiment.from_file(path, overrides, **kwargs).run()
