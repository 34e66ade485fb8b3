"""Benchmark: the bootstrap intervals of the Hayne grid's rank deficits, one `scipy.stats.bootstrap`
call per value (before issue 26) against one draw per group of values over the same images
(`statistics.bootstrap_mean_cis`, now).

The values are the digits grid's own (benchmarks/hayne_scale.py's digits workload: 10 classes x
3 layers x 16 cells, each cell's per-image rank deficits over its class's eval images), taken
from a run of abl's ablation phase; the two ways run interleaved in one process. Printed: each
one's min and median time, the ratio, and the largest difference between the grouped interval
and `scipy.stats.bootstrap` run on the same generator (0 up to summation order).

    python benchmarks/bootstrap.py [--repeats 5]
    python benchmarks/bootstrap.py --smoke     # seconds: 2 classes x 1 layer; checks agreement (CI)
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hayne_scale import abl_phase, prepare  # noqa: E402


def per_row(rows, level, resamples, seed) -> list:
    from abl.interpreter.run.statistics import bootstrap_mean_ci, stream_seed

    return [bootstrap_mean_ci(values, level, resamples, stream_seed(seed, *key)) for key, _, values in rows]


def grouped(rows, level, resamples, seed) -> list:
    from abl.interpreter.run.statistics import bootstrap_mean_cis, stream_seed

    groups: dict = {}
    for key, positions, values in rows:
        groups.setdefault(positions.tobytes(), []).append(values)
    out = []
    for name, members in groups.items():
        out += bootstrap_mean_cis(np.stack(members), level, resamples, stream_seed(seed, "bootstrap", name))
    return out


def check_against_scipy(rows, level, resamples, seed) -> float:
    """The grouped intervals against scipy.stats.bootstrap, row by row, on the group's generator."""
    from scipy import stats

    from abl.interpreter.run.statistics import _batch, stream_seed

    intervals = grouped(rows, level, resamples, seed)
    order = {}
    for key, positions, values in rows:
        order.setdefault(positions.tobytes(), []).append(values)
    worst, index = 0.0, 0
    for name, members in order.items():
        for values in members:
            interval = intervals[index]
            index += 1
            if np.ptp(values) == 0:
                worst = max(worst, abs(interval.low - values[0]), abs(interval.high - values[0]))
                continue
            result = stats.bootstrap((np.asarray(values, dtype=np.float64),),
                                     lambda a, axis=-1: np.mean(a, axis=axis, dtype=np.float64),
                                     n_resamples=resamples, confidence_level=level, method="percentile",
                                     vectorized=True, random_state=stream_seed(seed, "bootstrap", name),
                                     batch=_batch(len(values), resamples))
            worst = max(worst, abs(interval.low - result.confidence_interval.low),
                        abs(interval.high - result.confidence_interval.high))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="a seconds-long run that checks agreement (CI)")
    args = parser.parse_args()
    workload, repeats = ("smoke", 1) if args.smoke else ("digits", args.repeats)
    with tempfile.TemporaryDirectory() as tmp:
        experiment = prepare(workload, Path(tmp), 16)
        abl_phase(experiment)
        plan = experiment.plan
        rows = [(key, image_values.positions, np.asarray(image_values.values, dtype=np.float64))
                for key, image_values in experiment.executor.per_image.items()]
    level, resamples, seed = plan.confidence, plan.resamples, plan.seed
    groups = len({positions.tobytes() for _, positions, _ in rows})
    print(f"== {workload}: {len(rows)} values in {groups} groups of images, {resamples} resamples")
    contenders = {"per value (scipy)": per_row, "grouped": grouped}
    times = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, run in contenders.items():
            started = time.perf_counter()
            run(rows, level, resamples, seed)
            times[name].append(time.perf_counter() - started)
    for name in contenders:
        print(f"{name:<18} min {min(times[name]):.3f} s, median {statistics.median(times[name]):.3f} s")
    old, new = times["per value (scipy)"], times["grouped"]
    print(f"per value / grouped: min {min(old) / min(new):.2f}x, median "
          f"{statistics.median(old) / statistics.median(new):.2f}x")
    worst = check_against_scipy(rows, level, resamples, seed)
    print(f"largest difference from scipy.stats.bootstrap on the same generator: {worst:.3g}")
    if worst > 1e-9:
        raise SystemExit(f"the grouped intervals differ from scipy's by {worst}")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
