"""Benchmark: `precision bf16` against fp32 on the Hayne grid, whole runs, and what bf16 changes.

The workload is benchmarks/hayne_scale.py's AlexNet grid (torchvision AlexNet with random
weights, photo-derived images from its `photo_folder`, 8 classes, the paper's 7 layers, a 4x4
selectivity x magnitude grid per class and layer, each cell ablated on its class's images), with
the hayne_grid example's claims. Each contender is a whole run of the spec (`Experiment.run()`:
model, recording, selections, 896 ablation conditions, intervals, verdicts), fp32 and bf16
interleaved in one process (fp32, bf16, fp32, bf16, ...).

Printed: each one's min and median time and the fp32/bf16 ratios, the process's peak RSS, and
the agreement table of bf16 against fp32: the largest difference of a rank deficit, the share of
cells equal, the share of bf16 values inside fp32's bootstrap interval, verdicts that changed.

    python benchmarks/precision.py [--per-class 10] [--repeats 3]
    python benchmarks/precision.py --smoke     # seconds: the digits CNN, 2 classes x 1 layer; checks agreement (CI)
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hayne_scale import photo_folder, spec_text  # noqa: E402

CLAIMS = ("expect rank deficit on eval is largest at [cell = 3,3] averaged over class, layer\n"
          "expect rank deficit on eval is largest at [cell = 3,3] in at least 50% of class x layer\n")


def spec(workload: str, folder: Path | None, precision: str) -> str:
    text = spec_text(workload, folder).replace("seed 0\n", f"seed 0\nprecision {precision}\n", 1)
    return text + CLAIMS


def run(text: str, cache: Path):
    from abl.interpreter.api import Experiment

    return Experiment.from_text(text, cache_dir=cache, device="cpu").run()


def deficits(result) -> dict:
    return {(r.cls, r.layer, r.cell): (r.value, r.ci_low, r.ci_high) for r in result.table
            if r.measure == "rank deficit"}


def agreement(fp32, bf16) -> dict:
    a, b = deficits(fp32), deficits(bf16)
    assert a.keys() == b.keys(), "the two runs measured different cells"
    differences = [abs(a[k][0] - b[k][0]) for k in a]
    inside = [a[k][1] <= b[k][0] <= a[k][2] for k in a]
    changed = [va.text for va, vb in zip(fp32.verdicts, bf16.verdicts) if va.passed != vb.passed]
    return {"cells": len(a), "max |difference|": max(differences),
            "cells equal": sum(d == 0 for d in differences) / len(a),
            "bf16 inside fp32's interval": sum(inside) / len(a),
            "verdicts changed": f"{len(changed)} of {len(fp32.verdicts)}" + (f": {changed}" if changed else "")}


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=10, help="photos per class")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="a seconds-long run that checks agreement (CI)")
    args = parser.parse_args()
    workload = "smoke" if args.smoke else "alexnet"
    repeats = 1 if args.smoke else args.repeats
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = photo_folder(Path(tmp) / "photos", args.per_class) if workload == "alexnet" else None
        texts = {name: spec(workload, folder, name) for name in ("fp32", "bf16")}
        run(texts["fp32"], Path(tmp) / "abl")            # untimed: trains/caches, warms up
        times = {name: [] for name in texts}
        results = {}
        for _ in range(repeats):
            for name, text in texts.items():
                started = time.perf_counter()
                results[name] = run(text, Path(tmp) / "abl")
                times[name].append(time.perf_counter() - started)
    print(f"== {workload}: {len(deficits(results['fp32']))} ablated cells, whole runs, {repeats} interleaved repeats")
    print(f"{'precision':<10} {'min s':>8} {'median s':>9}")
    for name in texts:
        print(f"{name:<10} {min(times[name]):8.2f} {statistics.median(times[name]):9.2f}")
    print(f"fp32/bf16 time: min {min(times['fp32']) / min(times['bf16']):.2f}x, "
          f"median {statistics.median(times['fp32']) / statistics.median(times['bf16']):.2f}x")
    print(f"peak RSS of the whole process: {peak_rss_gb():.2f} GB")
    table = agreement(results["fp32"], results["bf16"])
    print("agreement of bf16 with fp32:")
    for key, value in table.items():
        print(f"  {key:<30} {value:.3f}" if isinstance(value, float) else f"  {key:<30} {value}")
    if args.smoke and (table["bf16 inside fp32's interval"] < 0.9 or table["max |difference|"] > 0.5):
        raise SystemExit(f"bf16 disagrees with fp32 beyond the smoke tolerance: {table}")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
