"""`abl lock SPEC` (pre-registration) and what `abl run` does with a lock: mark each claim
pre-registered, changed (with the difference) or new, and with `--require-lock` refuse a missing
or differing lock before any work. The comparison itself is the language's (spec/lock.py)."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from abl.spec.lock import LOCK_FORMAT, claims, compare, lock_path, read_lock
from abl.spec.source import SourceReadError

from abl.interpreter.atomic import write_text
from abl.interpreter.cli.common import ExitCode, _consoles, _parse_sets, _print_diagnostics
from abl.interpreter.errors import RunError
from abl.interpreter.version import abl_version


def _existing_runs(spec_path: Path, experiment: str) -> list[str]:
    """Run folders of this experiment under runs/ here or beside the spec (the default --out)."""
    from abl.interpreter.results.runfolder import _slug

    found = set()
    for root in {Path.cwd() / "runs", spec_path.resolve().parent / "runs"}:
        if root.is_dir():
            found |= {str(p) for p in root.glob(f"{_slug(experiment)}-*") if (p / "manifest.json").is_file()}
    return sorted(found)


def lock_record(front_end, spec_path: Path, existing: list[str] | None = None) -> dict:
    program = front_end.program
    header = program.header
    existing = _existing_runs(spec_path, header.experiment) if existing is None else existing
    return {"format": LOCK_FORMAT, "abl": abl_version(), "spec": spec_path.name,
            "experiment": header.experiment,
            "locked_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "seed": header.seed, "params": dict(header.params), "repeats": header.repeats,
            "resamples": header.resamples,
            "claims": claims(front_end.spec.statements, header.repeats),
            "results_existed": bool(existing), "existing_runs": existing,
            "hashes": "not recorded here: every run folder's manifest.json holds the SHA-256 of its "
                      "stimuli and weights, and `abl compare` compares them"}


def cmd_lock(args) -> int:
    from abl.spec.frontend import compile_file

    out, err = _consoles(args.no_color)
    overrides = _parse_sets(args.set, err)
    if overrides is None:
        return ExitCode.ERROR
    try:
        front_end = compile_file(args.spec, overrides)
    except SourceReadError as error:
        err.print(f"[red]error:[/] {error.path}: {error.reason}")
        return ExitCode.ERROR
    _print_diagnostics(list(front_end.diagnostics), err)
    if front_end.program is None:
        err.print(f"[red]error:[/] {args.spec} does not compile; nothing was locked")
        return ExitCode.ERROR
    spec_path = Path(args.spec)
    record = lock_record(front_end, spec_path)
    path = lock_path(spec_path)
    write_text(path, json.dumps(record, indent=2, default=str) + "\n")
    out.print(f"locked {len(record['claims'])} claim(s) of {spec_path} in {path}", markup=False)
    if record["results_existed"]:
        err.print(f"[yellow]warning:[/] results of this experiment already exist "
                  f"({len(record['existing_runs'])} run folder(s)); the lock says so (`results_existed`)")
    return ExitCode.OK


def check_lock(front_end, spec_path: str, require: bool) -> list | None:
    """The claims' statuses against the spec's lock (None when there is no lock and none is
    required); with `require`, a missing lock or any claim not pre-registered is a RunError."""
    path = lock_path(spec_path)
    try:
        lock = read_lock(path)
    except ValueError as error:
        raise RunError(str(error), help=f"`abl lock {spec_path}` writes a new one") from None
    if lock is None:
        if require:
            raise RunError(f"--require-lock: {spec_path} has no lock file ({path.name})",
                           help=f"`abl lock {spec_path}` pre-registers its claims; commit the lock file")
        return None
    header = front_end.program.header
    statuses = compare(lock, claims(front_end.spec.statements, header.repeats), header.seed, dict(header.params))
    if require:
        off = [s for s in statuses if s.status != "pre-registered"]
        if off:
            first = off[0]
            where = f"claim {first.claim} (line {first.line})" if first.claim else "a locked claim"
            why = "; ".join(first.differences) or {"new": "it is not in the lock",
                                                    "dropped": "it is gone from the spec"}[first.status]
            more = f" (and {len(off) - 1} more)" if len(off) > 1 else ""
            raise RunError(f"--require-lock: {where} `{first.text}` is {first.status} since its lock: {why}{more}",
                           help=f"restore the locked claim, or lock again (`abl lock {spec_path}`) and "
                                "say so: a changed claim is no longer pre-registered")
    return statuses


def annotate(verdicts: list, statuses: list | None) -> list:
    """Each verdict with its registration status, in expectations.json and in its evidence."""
    if statuses is None:
        return verdicts
    # by line: a claim inside `for each` is one statement of the lock but several verdicts
    by_line = {s.line: s for s in statuses if s.claim}
    annotated = []
    for verdict in verdicts:
        status = by_line.get(verdict.line)
        if status is None:
            annotated.append(verdict)
            continue
        text = status.status + (f" ({'; '.join(status.differences)})" if status.differences else "")
        extra = verdict.extra + (("registration", status.status),) + \
            ((("registration_differences", list(status.differences)),) if status.differences else ())
        annotated.append(dataclasses.replace(verdict, extra=extra, detail=f"{verdict.detail}; {text}"))
    return annotated
