"""`abl power SPEC [--from RUN_DIR]`: for each tested claim, the power of its test at the run's n
and level, the minimum detectable effect and the n for 80% power, simulated from the run's own
per-image values (interpreter/run/power.py). Without --from, the spec is run first (a pilot run,
written like `abl run`); with it, the run folder's expectations.json is read."""

from __future__ import annotations

import json
from pathlib import Path

from abl.interpreter.cli.common import ExitCode, _consoles
from abl.interpreter.errors import RunError


def power_lines(records: list[dict]) -> list[str]:
    lines = []
    for record in records:
        power = record.get("power")
        head = f"claim {record['claim']} (line {record['line']}) `{record['expectation']}`"
        if not power:
            why = "not tested" if not record.get("test") else f"{record['test']}: no simulation"
            lines.append(f"{head}: no power ({why})")
            continue
        unit = power["unit"]
        needed = (f"about {power['n_for_80_percent']} {unit} for {power['target']:.0%} power"
                  + (" (normal approximation)" if power.get("n_approximate") else "")
                  if power["n_for_80_percent"] is not None
                  else f"no number of {unit} reaches {power['target']:.0%} at the observed effect "
                       f"{record['effect']:.4g}")
        mde = power.get("minimum_detectable_effect")
        mde_text = f"; minimum detectable effect at n = {power['n']}: {mde:.4g}" if mde is not None else ""
        lines.append(f"{head}: power {power['power']:.2f} at n = {power['n']} {unit} "
                     f"(level {power['alpha']:.3g}){mde_text}; {needed}")
    return lines


def cmd_power(args) -> int:
    out, err = _consoles(args.no_color)
    folder = Path(args.from_run) if args.from_run else None
    if folder is None:
        from abl.interpreter.cli.run import cmd_run

        argv = ["run", args.spec, "--no-figures"] + sum((["--set", s] for s in args.set or []), [])
        argv += ["--out", args.out] if args.out else []
        argv += ["--cache-dir", args.cache_dir] if args.cache_dir else []
        run_args = args.build_parser().parse_args(argv)
        code = cmd_run(run_args)
        if code not in (ExitCode.OK, ExitCode.FAILED):
            return code
        folder = Path(run_args.out) if run_args.out else _newest_run()
    path = folder / "expectations.json"
    if not path.is_file():
        raise RunError(f"{folder} has no expectations.json", help="give a complete run folder of the spec")
    records = json.loads(path.read_text(encoding="utf-8"))
    # a stratified bootstrap (off-target claims, run/off_target.py) has no power analysis
    if records and all(r.get("test") not in (None, "stratified bootstrap") and "power" not in r for r in records):
        raise RunError(f"{folder} was written by an abl without power",
                       help=f"run the spec again: `abl power {args.spec}`")
    out.print(f"power (resampling simulation from {folder}'s per-image values):", markup=False)
    for line in power_lines(records):
        out.print("  " + line, markup=False, soft_wrap=True)
    return ExitCode.OK


def _newest_run() -> Path:
    runs = sorted(Path("runs").glob("*/expectations.json"), key=lambda p: p.stat().st_mtime)
    if not runs:
        raise RunError("the pilot run left no run folder", help="give --out DIR")
    return runs[-1].parent
