"""`abl plan` and `abl run` (with `--resume`, executors and tracking): compile, plan, run the
shards, write the run folder, print the report."""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

from abl.spec.source import SourceReadError

from abl.interpreter.cli.common import ExitCode, _consoles, _parse_sets, _print_diagnostics, labelled

EXECUTORS = ("local", "ray")


# ---- plan / run -----------------------------------------------------------------------------

def _compile_for_run(args, err):
    from abl.spec.frontend import compile_file

    overrides = _parse_sets(args.set, err)
    if overrides is None:
        return None
    try:
        result = compile_file(args.spec, overrides)
    except SourceReadError as error:
        err.print(labelled("error:", "red", f"{error.path}: {error.reason}"))
        return None
    _print_diagnostics(list(result.diagnostics), err, collected=getattr(args, "collected", None))
    if result.program is None:
        errors = sum(d.is_error for d in result.diagnostics)
        err.print(labelled("error:", "red", f"{args.spec} has {errors} error(s); nothing was run"))
        return None
    return result, overrides


def _format(args) -> str:
    return getattr(args, "format", None) or "text"


def _make_plan(program, err, args=None):
    from abl.interpreter.plan.planner import plan_program
    from abl.interpreter.plan.planner import PlanError

    precision = getattr(args, "precision", None)
    if precision and precision != program.header.precision:      # `--precision` overrides the header
        from dataclasses import replace

        program = replace(program, header=replace(program.header, precision=precision))
    try:
        return plan_program(program)
    except PlanError as error:
        _print_diagnostics(error.diagnostics, err, collected=getattr(args, "collected", None))
        return None


def _plan_of(args, err):
    """The spec's plan, or None once its problems are printed."""
    compiled = _compile_for_run(args, err)
    return None if compiled is None else _make_plan(compiled[0].program, err, args)


def cmd_plan(args) -> int:
    from abl.interpreter.report.terminal import plan_tree

    out, err = _consoles(args.no_color)
    plan = _plan_of(args, err)
    if plan is None:
        return ExitCode.ERROR
    out.print(plan_tree(plan))
    return ExitCode.OK


def cmd_run(args) -> int:
    from abl.interpreter.results.runfolder import RunFolder

    out, err = _consoles(args.no_color)
    if _format(args) == "json":
        out = err                    # stdout carries the JSON array of diagnostics alone
    args.executor_given = args.executor is not None
    if args.ray_address and args.executor == "local":
        err.print("error: --ray-address needs --executor ray")
        return ExitCode.ERROR
    args.executor = args.executor or ("ray" if args.ray_address else "local")
    budget = None
    if args.memory_budget:
        from abl.interpreter.backend.budget import parse_size

        try:
            budget = parse_size(args.memory_budget)
        except ValueError as error:
            err.print(f"error: --memory-budget: {error}")
            return ExitCode.ERROR
    if args.threads is not None and args.threads < 1:
        err.print("error: --threads must be at least 1")
        return ExitCode.ERROR
    if args.executor == "ray":
        from abl.interpreter.cluster.ray_executor import import_ray

        import_ray()                        # before anything is written: say how to install it
    if args.log == "mlflow":
        from abl.interpreter.results.tracking import import_mlflow

        import_mlflow()
    if args.resume:
        return _resume(args, out, err, budget)
    if args.spec is None:
        err.print("error: `abl run` needs a SPEC (or --resume RUN_DIR)")
        return ExitCode.ERROR
    compiled = _compile_for_run(args, err)
    if compiled is None:
        return ExitCode.ERROR
    front_end, overrides = compiled
    from abl.interpreter.cli.lock import check_lock

    args.lock_statuses = check_lock(front_end, args.spec, getattr(args, "require_lock", False))
    for status in args.lock_statuses or ():
        if status.status == "dropped":
            err.print(f"[yellow]warning:[/] the locked claim `{status.text}` is gone from the spec", markup=True)
    plan = _make_plan(front_end.program, err, args)
    if plan is None:
        return ExitCode.ERROR
    _check_precision(args, plan)            # before a folder is made for a run that cannot start
    execution = {"executor": args.executor, "threads": _threads(args)}
    if getattr(args, "whole_network_shards", False):
        execution["shards"] = "network"
    folder = RunFolder.create(plan, args.out, Path(args.spec), overrides, execution)
    return _execute(args, out, err, plan, folder, budget, {})


def _check_precision(args, plan) -> None:
    """RunError for a precision the device cannot run (fp16 on the CPU), checked here when the
    device is known (a Ray run's device is its workers': each shard checks it there)."""
    from abl.interpreter.run.executor import resolve_device, resolve_precision

    if getattr(args, "executor", "local") != "ray":
        resolve_precision(plan.precision, resolve_device(args.device or plan.device))


def _threads(args) -> int:
    if args.threads:
        return int(args.threads)
    if args.executor == "ray":
        return 1
    import torch

    return torch.get_num_threads()


def _resume(args, out, err, budget) -> int:
    """`abl run [SPEC] --resume RUN_DIR`: the folder's spec and parameters, its finished shards kept."""
    from abl.spec.frontend import compile_text

    from abl.interpreter.results.runfolder import ResumeRefused, RunFolder

    if args.out:
        err.print("error: --resume and --out cannot be used together: a resumed run completes its own folder")
        return ExitCode.ERROR
    folder_path = Path(args.resume)
    manifest = RunFolder.read_running(folder_path)
    if manifest.get("status") == "complete":
        err.print(f"{folder_path} is complete; nothing to resume (its report is {folder_path / 'report.txt'})")
        return ExitCode.OK
    spec_text = (folder_path / "spec.abl").read_bytes()
    if args.spec is not None and Path(args.spec).read_bytes() != spec_text:
        raise ResumeRefused(f"--resume {folder_path}: {args.spec} differs from the spec the run started with "
                            f"({folder_path / 'spec.abl'})",
                            help=f"resume with the folder's own spec (`abl run --resume {folder_path}`), "
                                 "or start a new run")
    started_in = manifest.get("precision")
    if args.precision and started_in and args.precision != started_in:
        raise ResumeRefused(f"--resume {folder_path}: the run started in precision {started_in}, not "
                            f"{args.precision}; its finished shards would not match the rest",
                            help="leave --precision out to resume with the run's own")
    args.precision = args.precision or started_in
    overrides = manifest.get("overrides", {})
    if args.set:
        asked = _parse_sets(args.set, err)
        if asked is None:
            return ExitCode.ERROR
        overrides = {**overrides, **asked}
    execution = manifest["execution"]
    if args.threads and int(args.threads) != execution.get("threads"):
        raise ResumeRefused(f"--resume {folder_path}: the run started with {execution.get('threads')} threads, "
                            f"not {args.threads}; its finished shards would not match the rest",
                            help="leave --threads out to resume with the run's own")
    original = manifest.get("spec") or str(folder_path / "spec.abl")
    front_end = compile_text(spec_text.decode("utf-8"), original, overrides)
    args.spec = original                    # run-time errors point at the spec as it was run
    _print_diagnostics(list(front_end.diagnostics), err, collected=getattr(args, "collected", None))
    if front_end.program is None:
        err.print(labelled("error:", "red", f"{folder_path / 'spec.abl'} no longer compiles; nothing was run"))
        return ExitCode.ERROR
    plan = _make_plan(front_end.program, err, args)
    if plan is None:
        return ExitCode.ERROR
    if json.loads(json.dumps(dict(plan.params), default=str)) != manifest["params"]:
        raise ResumeRefused(f"--resume {folder_path}: the parameters differ from the run's params.json",
                            help="resume without --set (the run's own parameters are used)")
    if args.executor_given:
        execution = {**execution, "executor": args.executor}
    else:
        args.executor = execution.get("executor", "local")
    folder = RunFolder.reopen(plan, folder_path, {**manifest, "execution": execution})
    finished, notes = folder.finished_shards()
    folder.kept_shards = len(finished)
    for note in notes:
        err.print(labelled("warning:", "yellow", note))
    err.print(f"resuming {folder_path}: {len(finished)} finished shard(s) kept")
    return _execute(args, out, err, plan, folder, budget, finished)


def _execute(args, out, err, plan, folder, budget, finished) -> int:
    """Runs into `folder`; an interruption at any point before the folder is complete marks it
    `interrupted` and says how to complete it."""
    try:
        return _run_into(args, out, err, plan, folder, budget, finished)
    except KeyboardInterrupt:
        if not folder.complete:
            folder.mark_interrupted()
            err.print(f"interrupted: `abl run --resume {folder.path}` completes the run "
                      "(its finished shards are kept)")
        raise
    except Exception as error:      # a run-time error (or a bug): the folder says the run failed
        if not folder.complete:
            folder.mark_failed(getattr(error, "message", "") or f"{type(error).__name__}: {error}")
        raise


def _run_into(args, out, err, plan, folder, budget, finished) -> int:
    from abl.interpreter.progress import RichProgress, SilentProgress
    from abl.interpreter.report.terminal import render_report
    from abl.interpreter.cluster.scheduling import ExecutionOptions, run_plan

    started = time.time()
    threads = int(folder.execution["threads"])
    err.print(labelled(f"{plan.experiment}:", "bold", _plan_line(plan)), soft_wrap=False)   # wrap at words
    use_bars = err.is_terminal and not os.environ.get("CI")
    progress = RichProgress(err) if use_bars else SilentProgress()
    cache_dir = args.cache_dir or os.environ.get("ABL_CACHE_DIR") or None
    options = ExecutionOptions(Path(cache_dir).resolve() if cache_dir else None, args.device, budget,
                               threads, run_id=f"{folder.shard_digest()}-{started}",
                               split=folder.execution.get("shards") != "network")
    with progress if use_bars else contextlib.nullcontext():
        result = run_plan(plan, options, progress, folder.execution["executor"], args.ray_address,
                          finished, folder.keep_shard)
        if getattr(args, "lock_statuses", None) is not None:
            from abl.interpreter.cli.lock import annotate

            result.verdicts = annotate(result.verdicts, args.lock_statuses)
        device = _device_of(args, plan)
        figures = folder.write(result, time.time() - started, device, figures=not args.no_figures,
                               progress=progress if use_bars else None)
    if not use_bars:
        for note in progress.notes:
            err.print(labelled("warning:", "yellow", note))
    for note in result.notes:
        if note not in progress.notes:      # notes from shards that ran elsewhere
            err.print(labelled("warning:", "yellow", note))
    report = render_report(result, figures, folder.path)
    folder.write_report_text(report)
    folder.finish()
    out.print(report, crop=False)
    if args.log == "mlflow":
        from abl.interpreter.results.tracking import log_run

        run_id = log_run(result, folder.path, folder._manifest)
        err.print(f"logged to MLflow: run {run_id} in experiment `{plan.experiment}`")
    return ExitCode.OK if result.all_passed else ExitCode.FAILED


def _device_of(args, plan) -> str:
    from abl.interpreter.run.executor import resolve_device

    if getattr(args, "executor", "local") == "ray":
        return args.device or plan.device
    return str(resolve_device(args.device or plan.device))


def _plan_line(plan) -> str:
    from abl.interpreter.report.terminal import count_forwards

    forwards, conditions = count_forwards(plan)
    return (f"{len(plan.stimuli)} stimuli sets, {len(plan.models)} model(s), "
            f"{len(plan.measures)} measurements in {conditions} conditions, "
            f"about {forwards} forward passes over stimuli sets")


# ---- layers ---------------------------------------------------------------------------------------

def cmd_layers(args) -> int:
    """`abl layers SPEC [--model NAME]`: each model's module tree with output shapes, units, traps."""
    from abl.spec.diagnostics import did_you_mean

    from abl.interpreter.run.executor import Executor
    from abl.interpreter.models.layers import inspect_layers, layers_tree
    from abl.interpreter.progress import SilentProgress

    out, err = _consoles(args.no_color)
    plan = _plan_of(args, err)
    if plan is None:
        return ExitCode.ERROR
    keys = [key for key, _ in plan.models]
    if args.model:
        chosen = [key for key in keys if key == args.model] or \
            [key for key in keys if plan.declared_name(key) == args.model][:1]
        if not chosen:
            hint = did_you_mean(args.model, sorted({plan.declared_name(key) for key in keys}))
            err.print(f"error: --model {args.model}: the spec declares no such model"
                      + (f"; {hint}" if hint else f" (models: {', '.join(keys)})"))
            return ExitCode.ERROR
    else:                                   # one of each declaration (a sweep's first member)
        measured = list(dict.fromkeys(item.model for item in plan.measures)) or keys
        chosen = list({plan.declared_name(key): key for key in reversed(measured)}.values())[::-1]
    executor = Executor(plan, SilentProgress(), args.cache_dir, args.device)
    inspected = []
    for key in chosen:
        loaded = executor.model(key)
        stimuli = next((item.stimuli for item in plan.measures if item.model == key), None) or \
            plan.model_spec(key).train_on or plan.stimuli[0][0]
        inspected.append(inspect_layers(key, loaded.module, loaded.aliases, executor.stimuli(stimuli).images[0]))
    for note in executor.progress.notes:
        err.print(f"warning: {note}")
    if args.format == "json":
        out.print_json(json.dumps([layers.as_record() for layers in inspected]))
    else:
        for layers in inspected:
            out.print(layers_tree(layers))
    return ExitCode.OK
