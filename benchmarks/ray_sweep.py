"""The selectivity sweep (21 trained networks, one shard each) run locally and on a local Ray
instance, as a user runs it:

    abl run examples/selectivity_knob.abl --set epochs=E --threads 1 --no-figures          (local)
    abl run examples/selectivity_knob.abl --set epochs=E --executor ray --no-figures       (Ray)

Both contenders use one torch thread per shard, so their results must be byte-identical; each
repetition trains from an empty cache. Runs alternate (local, Ray, local, Ray, ...). Reports per
contender the wall time (min, median), the sum of the trainings' times recorded in the manifest
(Ray: trainings in parallel on the workers, so wall < sum when the trainings dominate), the peak
RSS of the `abl` process and its children (Ray's workers are not children of the driver: their
peak is not in it), and whether the results files are identical.

    python benchmarks/ray_sweep.py [--epochs 8] [--repetitions 2] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "examples" / "selectivity_knob.abl"


def run(executor: str, epochs: int, root: Path, tag: str) -> dict:
    out, cache = root / f"run-{tag}", root / f"cache-{tag}"
    args = ["run", str(SPEC), "--set", f"epochs={epochs}", "--no-figures", "--out", str(out)]
    args += ["--executor", "ray"] if executor == "ray" else ["--threads", "1"]
    env = dict(os.environ, NO_COLOR="1", ABL_CACHE_DIR=str(cache))
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "abl.interpreter.cli", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT)
    wall = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(done.stderr)
    manifest = json.loads((out / "manifest.json").read_text())
    peak = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024 ** 2   # GB (ru_maxrss in KB)
    return {"wall": wall, "training": sum(m["seconds"] for m in manifest["models"].values()),
            "shards": manifest["execution"]["shard_seconds"], "rss": peak,
            "files": {name: (out / name).read_bytes() for name in ("results.csv", "expectations.json")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--repetitions", type=int, default=2)
    parser.add_argument("--smoke", action="store_true", help="one repetition of 1-epoch trainings (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.epochs, args.repetitions = 1, 1
    results: dict[str, list[dict]] = {"local": [], "ray": []}
    with tempfile.TemporaryDirectory() as tmp:
        for repetition in range(args.repetitions):
            for executor in ("local", "ray"):
                results[executor].append(run(executor, args.epochs, Path(tmp), f"{executor}{repetition}"))
                last = results[executor][-1]
                print(f"  {executor:5} rep {repetition}: wall {last['wall']:.1f} s, trainings {last['training']:.1f} s, "
                      f"shards {last['shards']:.1f} s", flush=True)
    reference = results["local"][0]["files"]
    identical = all(r["files"] == reference for runs in results.values() for r in runs)
    print(f"\nselectivity sweep, 21 networks x {args.epochs} epochs, {os.cpu_count()} CPUs, "
          f"{args.repetitions} repetitions each, interleaved")
    print(f"{'':6} {'wall min':>9} {'median':>8} {'trainings':>10} {'wall/trainings':>15} {'peak RSS':>9}")
    for executor, runs in results.items():
        walls = [r["wall"] for r in runs]
        training = statistics.median(r["training"] for r in runs)
        print(f"{executor:6} {min(walls):8.1f}s {statistics.median(walls):7.1f}s {training:9.1f}s "
              f"{statistics.median(walls) / training:15.2f} {max(r['rss'] for r in runs):8.2f}G")
    ratio = [lw / rw for lw, rw in zip((r["wall"] for r in results["local"]), (r["wall"] for r in results["ray"]))]
    print(f"local/Ray wall ratio: min {min(ratio):.2f}, median {statistics.median(ratio):.2f}")
    print(f"results.csv and expectations.json identical across all runs: {identical} "
          f"(largest difference: {'0' if identical else 'nonzero'})")
    if not identical:
        raise SystemExit("local and Ray runs differ")


if __name__ == "__main__":
    main()
