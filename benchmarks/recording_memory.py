"""Recording memory is flat in the number of stimuli: peak RSS of `abl run` recording a layer's
per-class statistics (the selectivity index of an MLP's hidden layer) over 5,000 and over 50,000
Fashion-MNIST images (Debian's `dataset-fashion-mnist`: `apt-get install dataset-fashion-mnist`).
The statistics are streamed batch by batch (per-class sums in float64), so only the images
themselves grow with N; the target is peak(50,000) <= 1.2 x peak(5,000).

    python benchmarks/recording_memory.py [--repeats 2] [--smoke]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

SPEC = """experiment "recording memory"
seed 0
param n = 500
stimuli small = fashion_mnist split train per class 100
stimuli big = fashion_mnist split train per class $n
model net = train mlp [784, 256, 10] on small epochs 1
measure selectivity index in fc1 on big
"""


def smoke_spec(spec: str) -> str:
    """--smoke: the same spec on the embedded MNIST subset (CI has no Debian Fashion-MNIST)."""
    return spec.replace("fashion_mnist", "mnist")


def peak_rss_gb(spec: Path, per_class: int, cache: Path, out: Path) -> float:
    command = ["/usr/bin/time", "-f", "%M", sys.executable, "-m", "abl.interpreter.cli", "run", str(spec),
               "--set", f"n={per_class}", "--out", str(out), "--no-figures", "--cache-dir", str(cache)]
    result = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ, NO_COLOR="1"))
    if result.returncode not in (0, 1):
        sys.exit(f"abl run failed:\n{result.stderr[-2000:]}")
    return int(result.stderr.strip().splitlines()[-1]) / 1024 ** 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--smoke", action="store_true", help="one repetition at 50 and 500 images (CI)")
    args = parser.parse_args()
    sizes = (50, 500) if args.smoke else (500, 5000)
    if args.smoke:
        args.repeats = 1
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "recording.abl"
        spec.write_text(smoke_spec(SPEC) if args.smoke else SPEC)
        peaks: dict[int, list[float]] = {size: [] for size in sizes}
        for repeat in range(args.repeats):
            for per_class in peaks:              # interleaved: 5,000 then 50,000, repeatedly
                peaks[per_class].append(peak_rss_gb(spec, per_class, Path(tmp) / "cache",
                                                    Path(tmp) / f"run-{per_class}-{repeat}"))
    small, large = (statistics.median(peaks[size]) for size in sizes)
    for size in sizes:
        print(f"peak RSS, {size * 10:,} images: min {min(peaks[size]):.3f} GB, "
              f"median {statistics.median(peaks[size]):.3f} GB")
    print(f"ratio (medians): {large / small:.2f}  (target <= 1.2)")


if __name__ == "__main__":
    main()
