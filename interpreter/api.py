"""The Python API (for notebooks): compile a spec, get its models and stimuli, run it.

    from abl.interpreter.api import Experiment
    exp = Experiment.from_file("examples/digit7.abl", overrides={"epochs": "10"})
    net = exp.model("net")            # a torch.nn.Module (trained and cached on first use)
    test = exp.stimuli("test")        # images (N, C, H, W) and labels
    result = exp.run(out="runs/d7")   # RunResult: .table (tidy rows), .verdicts; a run folder
    frame = result.to_pandas()        # the results as a typed DataFrame
    result.verdicts_frame()           # one row per claim (as earlier.verdicts_frame())
    earlier = load_run("runs/digit-7-units-20261124-101500")   # a run folder read back
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from pathlib import Path

from abl.spec.diagnostics import SpecError
from abl.spec import ast as _ast
from abl.spec.frontend import FrontEndResult, compile_file, compile_text
from abl.spec.visit import nodes_of

from abl.interpreter.cluster.local import run_locally
from abl.interpreter.errors import RunError
from abl.interpreter.results.run_result import RunResult
from abl.interpreter.run.executor import Executor
from abl.interpreter.plan.plan import Plan
from abl.interpreter.plan.planner import plan_program
from abl.interpreter.progress import Progress

if TYPE_CHECKING:                                   # pandas is imported only when a folder is read
    from abl.interpreter.results.run_loading import LoadedRun


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

_DECLARATIONS = {"model": _ast.ModelDecl, "stimuli": _ast.StimuliDecl}


class UnknownName(RunError, KeyError):
    """`Experiment.model(name)` / `.stimuli(name)` of a name the plan does not hold: never declared,
    or declared but used by no statement (a KeyError, as before, with a message that says which)."""


@dataclass
class Experiment:
    """A checked, planned spec, ready to run: the Python face of `abl run`.

    Make one with `Experiment.from_file` or `Experiment.from_text`; a spec with errors raises
    `SpecError` (its `.diagnostics` are lint's). `model(name)` and `stimuli(name)` load what the
    spec declares without running it; `run()` runs every measurement and decides every claim.

    Attributes:
        front_end: the compiled spec (`abl.spec.frontend.FrontEndResult`: source, AST, program,
            diagnostics, warnings included).
        plan: what the run will load, select, measure and decide (`plan.measures`,
            `plan.expectations`, `plan.params`, `plan.experiment`).
        executor: loads stimuli and models (cached) and runs the plan's shards.
        overrides: the `--set` values the spec was compiled with (NAME -> text).
    """

    front_end: FrontEndResult
    plan: Plan
    executor: Executor
    overrides: dict = field(default_factory=dict)

    @staticmethod
    def _build(front_end: FrontEndResult, progress: Progress | None, cache_dir, device,
               overrides: dict | None = None) -> "Experiment":
        if front_end.program is None:
            raise SpecError(list(front_end.diagnostics))
        if progress is None and _in_notebook():
            progress = notebook_progress()
        plan = plan_program(front_end.program)
        return Experiment(front_end, plan, Executor(plan, progress, cache_dir, device), dict(overrides or {}))

    @staticmethod
    def from_file(path: str | Path, overrides: dict[str, str] | None = None,
                  progress: Progress | None = None, cache_dir: str | Path | None = None, device: str | None = None) -> "Experiment":
        """Compile and plan the spec in a `.abl` file.

        Args:
            path: the spec file.
            overrides: parameter values, as `abl run --set NAME=VALUE` (`{"epochs": "10"}`).
            progress: where progress goes (`abl.interpreter.progress`); by default bars in a
                notebook, nothing elsewhere.
            cache_dir: where trained models are cached (default: `$ABL_CACHE_DIR`, else the
                user cache folder).
            device: `"cpu"`, `"cuda"`, `"auto"`; default: the spec's `device`.

        Raises:
            SpecError: the spec has errors (`.diagnostics`, as `abl lint` reports them).
            SourceReadError: the file cannot be read.
        """
        return Experiment._build(compile_file(str(path), overrides), progress, cache_dir, device, overrides)

    @staticmethod
    def from_text(text: str, overrides: dict[str, str] | None = None, path: str = "<string>",
                  progress: Progress | None = None, cache_dir: str | Path | None = None, device: str | None = None) -> "Experiment":
        """Compile and plan a spec given as text; `path` names it in diagnostics. The other
        arguments are `from_file`'s.

        Raises:
            SpecError: the spec has errors.
        """
        return Experiment._build(compile_text(text, path, overrides), progress, cache_dir, device, overrides)

    def _key(self, name: str, table, kind: str) -> str:
        keys = [key for key, _ in table]
        if name in keys:
            return name
        matches = [key for key in keys if self.plan.declared_name(key) == name]
        if len(matches) == 1:
            return matches[0]
        names = sorted({self.plan.declared_name(key) for key in keys})
        declared = [d for d in nodes_of(_DECLARATIONS[kind], self.front_end.spec.statements) if d.name.value == name]
        if declared:
            raise UnknownName(f"{kind} `{name}` is declared on line {declared[0].span.line} but no statement "
                              f"uses it, so the run never loads it",
                              help=f"use it in a `measure` or `expect` (or load one of {names or 'none'})")
        raise UnknownName(f"the spec declares no {kind} `{name}`",
                          help=f"its {kind}: {', '.join(f'`{n}`' for n in names) or 'none'}")

    def model(self, name: str):
        """The `torch.nn.Module` of a model the spec declares and uses: built, loaded or trained
        (and cached) on first use, in eval mode.

        Raises:
            UnknownName (a KeyError): no such model, or one that no statement uses.
        """
        return self.executor.model(self._key(name, self.plan.models, "model")).module

    def stimuli(self, name: str):
        """The stimuli set a spec declares and uses, loaded: `.images` (a tensor N, C, H, W),
        `.labels`, `.class_names`.

        Raises:
            UnknownName (a KeyError): no such stimuli set, or one that no statement uses.
        """
        return self.executor.stimuli(self._key(name, self.plan.stimuli, "stimuli"))

    def run(self, out: str | Path | None = None, figures: bool = True) -> RunResult:
        """Run the spec: every measurement, every claim decided.

        Args:
            out: also write a run folder there, as `abl run SPEC --out DIR` (the folder must be
                new, empty, or an earlier run of the same spec); `load_run` and `abl compare`
                read it.
            figures: with `out`, draw the `report` figures into `out/figures`.

        Returns:
            RunResult: `.table` (the tidy rows), `.verdicts`, `.verdicts_frame()`, `.to_pandas()`.
        """
        if out is None:
            return run_locally(self.executor)
        return _run_into_folder(self, Path(out), figures)


def _run_into_folder(exp: Experiment, out: Path, figures: bool) -> RunResult:
    """The run, written as `abl run --out` writes it (cli/run.py): the same RunFolder, shards
    kept as they finish, the manifest marked complete last."""
    import tempfile
    import time

    import torch

    from abl.interpreter.report.terminal import render_report
    from abl.interpreter.results.runfolder import RunFolder

    source = exp.front_end.source
    spec_path = Path(source.path)
    with tempfile.TemporaryDirectory(prefix="abl-spec-") as scratch:
        if not spec_path.is_file():           # a spec from text: the folder's spec.abl is that text
            spec_path = Path(scratch) / "spec.abl"
            spec_path.write_text(source.text, encoding="utf-8")
        execution = {"executor": "local", "threads": torch.get_num_threads()}
        folder = RunFolder.create(exp.plan, str(out), spec_path, dict(exp.overrides), execution)
    started = time.time()
    result = run_locally(exp.executor, on_finished=folder.keep_shard)
    written = folder.write(result, time.time() - started, str(exp.executor.device), figures=figures)
    folder.write_report_text(render_report(result, written, folder.path))
    folder.finish()
    return result


def load_run(path: str | Path) -> "LoadedRun":
    """A complete run folder (written by `abl run` or `Experiment.run(out=...)`) read back.

    Returns:
        The folder's `.results` (a DataFrame, the columns and types of `RunResult.to_pandas()`),
            `.verdicts_frame()` (the columns of `RunResult.verdicts_frame()`), `.manifest`,
            `.params`, `.selections`, `.spec`, `.provenance`.

    Raises:
        RunError: not a run folder, or an interrupted one (the message names the `--resume`
            command that completes it).
    """
    from abl.interpreter.results.run_loading import load_run as _load_run

    return _load_run(path)


def run_file(path: str | Path, overrides: dict[str, str] | None = None, out: str | Path | None = None,
             **kwargs) -> RunResult:
    """`Experiment.from_file(path, overrides, **kwargs).run(out=out)` in one call."""
    return Experiment.from_file(path, overrides, **kwargs).run(out=out)
