"""A network from outside abl fits in memory: peak RSS and wall time of `abl run
examples/efficientnet_grid.abl` (the pretrained EfficientNet-Lite0, Hayne grid over three blocks,
5 classes of real photos, 241 conditions at 224 px) under the default memory budget (256 MiB on
the CPU) and under the former default (4 GiB), interleaved, several repetitions. Target (issue
12): peak RSS at most 4 GB on the 2-core, 24 GB development machine. The results of the two
budgets are compared value by value:
the budget changes how many rows go through the network at once, not what is computed, so the
largest difference must be 0 up to float rounding of batched kernels (reported as it is).

    pip install -e ".[efficientnet]"
    python benchmarks/outside_network.py [--repeats 1] [--other-budget 4GB] [--smoke]

Run from the repository root (the spec imports examples/efficientnet_lite0.py from there).
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "examples" / "efficientnet_grid.abl"


SMOKE_SETTINGS: list[str] = []      # --smoke: one late block only


def run(out: Path, cache: Path, budget: str | None) -> tuple[float, float]:
    """(peak RSS in GB, wall seconds) of one `abl run`."""
    command = ["/usr/bin/time", "-f", "%M", sys.executable, "-m", "abl.interpreter.cli", "run", str(SPEC),
               "--out", str(out), "--no-figures", "--cache-dir", str(cache), *SMOKE_SETTINGS]
    if budget:
        command += ["--memory-budget", budget]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, NO_COLOR="1"))
    wall = time.perf_counter() - started
    if result.returncode not in (0, 1):
        sys.exit(f"abl run failed:\n{result.stderr[-3000:]}")
    return int(result.stderr.strip().splitlines()[-1]) / 1024 ** 2, wall


def values(folder: Path) -> list[float]:
    with open(folder / "results.csv", newline="") as handle:
        return [float(row["value"]) for row in csv.DictReader(handle)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--other-budget", default="4GB")
    parser.add_argument("--smoke", action="store_true", help="one repetition over one block (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.repeats = 1
        SMOKE_SETTINGS.extend(["--set", "layers=[1._blocks.15]"])
    contenders = {"default budget": None, f"--memory-budget {args.other_budget}": args.other_budget}
    peaks: dict[str, list[float]] = {name: [] for name in contenders}
    walls: dict[str, list[float]] = {name: [] for name in contenders}
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for index, (name, budget) in enumerate(contenders.items()):     # interleaved
                out = Path(tmp) / f"run-{index}-{repeat}"
                peak, wall = run(out, Path(tmp) / "cache", budget)
                peaks[name].append(peak)
                walls[name].append(wall)
                results[name] = values(out)
    first, second = list(contenders)
    difference = max(abs(a - b) for a, b in zip(results[first], results[second]))
    for name in contenders:
        print(f"{name:>26}: peak RSS min {min(peaks[name]):.2f} GB, median {statistics.median(peaks[name]):.2f} GB; "
              f"wall min {min(walls[name]):.0f} s, median {statistics.median(walls[name]):.0f} s")
    print(f"time ratio (other / default, medians): {statistics.median(walls[second]) / statistics.median(walls[first]):.2f}")
    print(f"rows: {len(results[first])}; largest difference in results between the budgets: {difference:.3g}")
    if difference > 1e-3:
        raise SystemExit("the two budgets computed different results")
    print(f"target: peak RSS <= 4 GB under the default budget: "
          f"{'met' if max(peaks[first]) <= 4.0 else 'NOT met'} ({max(peaks[first]):.2f} GB)")


if __name__ == "__main__":
    main()
