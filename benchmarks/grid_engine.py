"""Benchmark: a Hayne-style grid workload through abl's batched engine vs. a naive loop.

The workload: for every class of the digits test split and every cell of a 4x4
selectivity x magnitude grid in each of three layers of the digits CNN, zero the cell's
units and compute the logits (the seeds' way: one hooked forward per condition).
abl runs all conditions of a layer in one batched pass (the network before the layer
runs once). Both paths must give identical logits.

    python benchmarks/grid_engine.py [--repeats 3] [--cells 4] [--workload cnn|mlp] [--smoke]

The gain depends on where the ablated layer sits: the batched engine runs the network before
the layer once, but everything after it still runs once per condition. Ablations late in the
network (an MLP's hidden layers, a CNN's fc layers) gain most; ablations right after the first
conv gain little.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch


WORKLOADS = {
    "cnn": ("train cnn on train epochs 5", "[conv1, conv2, fc1]"),
    "mlp": ("train mlp [64, 128, 64, 32, 10] on train epochs 5", "[fc1, fc2, fc3]"),
}


def build(cells: int, cache_dir: Path, workload: str):
    from abl.interpreter.api import Experiment

    model, layers = WORKLOADS[workload]
    text = f"""experiment "benchmark"
seed 0
stimuli train = digits split train
stimuli test = digits split test
model net = {model}
for each class c, each layer L in {layers}:
    units cells = grid {cells}x{cells} over selectivity, magnitude for class c in L on train
    measure rank deficit on test where class == c ablating cells
"""
    experiment = Experiment.from_text(text, cache_dir=cache_dir, device="cpu")
    executor = experiment.executor
    executor.model("net")
    executor.record_all()
    return experiment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cells", type=int, default=4)
    parser.add_argument("--workload", choices=sorted(WORKLOADS), action="append")
    parser.add_argument("--smoke", action="store_true", help="seconds: one repetition, 2x2 grids of the mlp (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.repeats, args.cells, args.workload = 1, 2, ["mlp"]
    for workload in args.workload or sorted(WORKLOADS):
        print(f"== {workload}: {args.cells}x{args.cells} grid, 10 classes, 3 layers")
        bench(args, workload)


def bench(args, workload: str) -> None:
    torch.set_num_threads(max(1, torch.get_num_threads()))
    from abl.interpreter.backend.run import run_conditions, run_conditions_naive

    with tempfile.TemporaryDirectory() as cache:
        experiment = build(args.cells, Path(cache), workload)
        executor = experiment.executor
        plan = experiment.plan
        model = executor.model("net").module
        stimuli = executor.stimuli("test")
        seen = {}
        for item in plan.measures:
            seen.setdefault(item.interventions, executor.condition(item))
        conditions = list(seen.values())
        batches = list(stimuli.batches(512))
        print(f"{len(conditions)} conditions over {stimuli.n} images "
              f"({len(conditions) * stimuli.n} image-forwards)")

        def timed(fn):
            times, out = [], None
            for _ in range(args.repeats):
                start = time.perf_counter()
                out = fn(model, iter(batches), conditions)
                times.append(time.perf_counter() - start)
            return statistics.median(times), out

        naive_time, naive = timed(run_conditions_naive)
        batched_time, batched = timed(run_conditions)
        worst = max(float((a - b).abs().max()) for a, b in zip(naive, batched))
        print(f"naive loop (one hooked forward per condition): {naive_time:8.3f} s")
        print(f"abl batched engine:                           {batched_time:8.3f} s")
        print(f"speed-up: {naive_time / batched_time:.1f}x;  max |logit difference|: {worst:.2e}")
        assert worst <= 1e-4, "the two engines disagree"


if __name__ == "__main__":
    main()
