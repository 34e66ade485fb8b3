"""One network's grid across a Ray cluster (issue 27): the Hayne grid over a random-init AlexNet's
7 layers (photo-derived images, CLASSES classes x PER_CLASS images, half probe, half eval) on a
local Ray instance with 2 workers x 1 thread against 1 worker x 1 thread, and against the shards
of before issue 27 (one shard for the whole network, `--whole-network-shards`) on 2 workers.

Contenders alternate (ray2, ray1, ray2-whole, ray2, ...); each run starts its own Ray instance
(`ray.init(num_cpus=N)`, not timed) so that no worker is warm from another contender. Printed per
contender: wall min and median, the peak RSS of the driver and every process under it (Ray's
workers included; sampled every 0.1 s), and whether the table, expectations and selections are
byte-identical to the first ray2 run (ray1 must be: the same shards, one thread each).

    python benchmarks/ray_grid.py [--classes 10] [--per-class 10] [--repetitions 3]
    python benchmarks/ray_grid.py --smoke      # seconds: 3 classes x 4 images, 2 layers, checks identity

"shard seconds" is the sum of the shards' own times: over the wall, how many workers were busy
at once (the rest of the wall is Ray's and the workers' start: importing torch, building the
network, decoding the images, once per worker).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
LAYERS = "[conv1, conv2, conv3, conv4, conv5, fc6, fc7]"


def photo_folder(root: Path, classes: int, per_class: int, seed: int = 0) -> Path:
    """`classes` classes of 224x224-and-larger crops of scikit-learn's and matplotlib's sample photos."""
    import os

    import matplotlib
    from PIL import Image
    from sklearn.datasets import load_sample_images

    photos = list(load_sample_images().images)
    photos.append(np.asarray(Image.open(os.path.join(matplotlib.get_data_path(), "sample_data",
                                                     "grace_hopper.jpg")).convert("RGB")))
    rng = np.random.default_rng(seed)
    for index in range(classes):
        photo = photos[index % len(photos)]
        height, width = photo.shape[:2]
        region = (index // len(photos)) % 4
        top0 = 0 if region % 2 == 0 else height // 3
        left0 = 0 if region < 2 else width // 3
        folder = root / f"class{index:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            size = int(rng.integers(224, max(225, min(height, width) - max(top0, left0) // 2)))
            top = top0 + int(rng.integers(0, max(1, height - top0 - size)))
            left = left0 + int(rng.integers(0, max(1, width - left0 - size)))
            crop = photo[top:top + size, left:left + size]
            Image.fromarray(np.ascontiguousarray(crop[:, ::-1] if k % 2 else crop)).save(folder / f"img{k}.jpg")
    return root


def spec_text() -> str:
    text = (ROOT / "examples" / "hayne_grid.abl").read_text()
    return text.replace("model net = $model", "model net = torchvision alexnet weights none")


class PeakRSS:
    """The largest summed RSS of this process and all of its descendants, sampled in a thread."""

    def __init__(self):
        import psutil

        self.me, self.peak, self._stop = psutil.Process(), 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        while not self._stop.is_set():
            total = 0
            for process in [self.me, *self.me.children(recursive=True)]:
                try:
                    total += process.memory_info().rss
                except Exception:       # gone between listing and reading
                    pass
            self.peak = max(self.peak, total)
            time.sleep(0.1)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def run_once(plan, workers: int, split: bool, cache: Path) -> dict:
    import ray

    from abl.interpreter.cluster.scheduling import ExecutionOptions, run_plan

    ray.init(num_cpus=workers, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        options = ExecutionOptions(cache, "cpu", None, 1, run_id=f"bench-{time.time()}", split=split)
        with PeakRSS() as rss:
            started = time.perf_counter()
            result = run_plan(plan, options, executor="ray")
            wall = time.perf_counter() - started
    finally:
        ray.shutdown()
    table = json.dumps([row.as_record() for row in result.table], default=str, sort_keys=True)
    verdicts = json.dumps([v.as_record() for v in result.verdicts], default=str, sort_keys=True)
    selections = json.dumps(result.selections, default=str, sort_keys=True)
    nodes = sorted({s.pid for s in result.shards})
    return {"wall": wall, "rss": rss.peak / 1024 ** 3, "files": (table, verdicts, selections),
            "shards": len(result.shards), "processes": len(nodes), "busy": sum(s.seconds for s in result.shards)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--per-class", type=int, default=10)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--layers", default=LAYERS)
    parser.add_argument("--smoke", action="store_true", help="seconds: 3 classes x 4 images, 2 layers, 1 repetition")
    args = parser.parse_args()
    if args.smoke:
        args.classes, args.per_class, args.repetitions, args.layers = 3, 4, 1, "[conv5, fc7]"
    from abl.interpreter.api import Experiment
    from abl.interpreter.plan.shards import plan_shards, shard_counts

    contenders = {"ray2": (2, True), "ray1": (1, True), "ray2-whole": (2, False)}
    results: dict[str, list[dict]] = {name: [] for name in contenders}
    with tempfile.TemporaryDirectory() as tmp:
        folder = photo_folder(Path(tmp) / "photos", args.classes, args.per_class)
        experiment = Experiment.from_text(spec_text(), overrides={"data": str(folder), "layers": args.layers},
                                          cache_dir=Path(tmp) / "cache", device="cpu")
        plan = experiment.plan
        print(f"Hayne grid, random-init AlexNet, {args.classes} classes x {args.per_class} images, layers "
              f"{args.layers}: shards {shard_counts(plan_shards(plan))}", flush=True)
        for repetition in range(args.repetitions):
            for name, (workers, split) in contenders.items():
                results[name].append(run_once(plan, workers, split, Path(tmp) / "cache"))
                last = results[name][-1]
                print(f"  {name:10} rep {repetition}: wall {last['wall']:.1f} s, {last['shards']} shards on "
                      f"{last['processes']} processes, shard seconds {last['busy']:.1f} "
                      f"({last['busy'] / last['wall']:.2f} of the wall), peak RSS {last['rss']:.2f} GB", flush=True)
    reference = results["ray2"][0]["files"]
    print(f"\n{'':11} {'wall min':>9} {'median':>8} {'peak RSS':>9}  identical to ray2")
    for name, runs in results.items():
        walls = [r["wall"] for r in runs]
        same = all(r["files"] == reference for r in runs)
        print(f"{name:11} {min(walls):8.1f}s {statistics.median(walls):7.1f}s {max(r['rss'] for r in runs):8.2f}G  {same}")
    for other in ("ray1", "ray2-whole"):
        ratio = [o["wall"] / r["wall"] for o, r in zip(results[other], results["ray2"])]
        print(f"{other} / ray2 wall ratio: min {min(ratio):.2f}, median {statistics.median(ratio):.2f}")
    split_same = all(r["files"] == reference for name in ("ray2", "ray1") for r in results[name])
    print(f"ray2 and ray1 byte-identical: {split_same}")
    return 0 if split_same else 1


if __name__ == "__main__":
    sys.exit(main())
