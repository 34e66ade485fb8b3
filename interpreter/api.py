"""The Python API (for notebooks): compile a spec, get its models and stimuli, run it.

    from abl.interpreter.api import Experiment
    exp = Experiment.from_file("examples/digit7.abl", overrides={"epochs": "10"})
    net = exp.model("net")            # a torch.nn.Module (trained and cached on first use)
    test = exp.stimuli("test")        # images (N, C, H, W) and labels
    result = exp.run()                # RunResult: .table (tidy rows), .verdicts
    frame = result.to_pandas()        # the results as a typed DataFrame
    earlier = load_run("runs/digit-7-units-20261124-101500")   # a run folder read back
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from abl.spec.diagnostics import SpecError
from abl.spec.frontend import FrontEndResult, compile_file, compile_text

from abl.interpreter.cluster.local import run_locally
from abl.interpreter.results.run_result import RunResult
from abl.interpreter.run.executor import Executor
from abl.interpreter.plan.plan import Plan
from abl.interpreter.plan.planner import plan_program
from abl.interpreter.progress import Progress


def _in_notebook() -> bool:
    """Running in a Jupyter kernel (not merely with ipykernel imported somewhere)."""
    import sys

    if "IPython" not in sys.modules:
        return False
    shell = sys.modules["IPython"].get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def notebook_progress():
    """Progress in a notebook: rich's bars, drawn live in the cell as a widget (needs
    ipywidgets); without ipywidgets, a plain line as each task of more than a second ends."""
    import importlib.util

    from rich.console import Console

    from abl.interpreter.progress import TextProgress

    if importlib.util.find_spec("ipywidgets") is None:     # rich draws live bars as a widget
        return TextProgress()
    return _StartedRichProgress(Console(force_jupyter=True, markup=False))


class _StartedRichProgress:
    """RichProgress that starts its display with the first task and stops with the last, so that
    a notebook cell needs no `with` block around `exp.run()`."""

    def __init__(self, console) -> None:
        from abl.interpreter.progress import RichProgress

        self._progress = RichProgress(console)
        self.notes = self._progress.notes
        self._open = 0

    def task(self, description: str, total):
        import contextlib

        @contextlib.contextmanager
        def opened():
            if self._open == 0:
                self._progress.__enter__()
            self._open += 1
            try:
                with self._progress.task(description, total) as task:
                    yield task
            finally:
                self._open -= 1
                if self._open == 0:
                    self._progress.__exit__(None, None, None)

        return opened()

    def note(self, message: str) -> None:
        self._progress.note(message)




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
            progress = notebook_progress()
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
        matches = [key for key in keys if self.plan.declared_name(key) == name]
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
        return run_locally(self.executor)


def load_run(path: str | Path):
    """A complete run folder read back (run_loading.LoadedRun): `.results` (a typed DataFrame),
    `.verdicts`, `.manifest`, `.params`, `.selections`, `.spec`, `.provenance`."""
    from abl.interpreter.results.run_loading import load_run as _load_run

    return _load_run(path)


def run_file(path: str | Path, overrides: dict[str, str] | None = None, **kwargs) -> RunResult:
    return Experiment.from_file(path, overrides, **kwargs).run()
