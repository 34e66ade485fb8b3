"""The Hayne experiment at the paper's scale: AlexNet, 50 classes, the 7 layers, 4x4 grids
(50 x 7 x 16 = 5,600 ablation conditions and as many probes), run as a user runs it:

    abl run examples/hayne_grid.abl --set model=alexnet --set data=FOLDER \\
        --set "layers=[conv1, conv2, conv3, conv4, conv5, fc6, fc7]" --no-figures

FOLDER holds 50 classes of photo-derived images (crops of scikit-learn's and matplotlib's sample
photographs; AlexNet has random weights, nothing is downloaded), `--per-class N` each. The paper
used 50 images per class; on a 2-core machine that run is long, so the default is 10 per class
and the full run's time is projected linearly in the number of images (every phase, recording,
conditions and probes, is linear in it). Prints the wall time, the peak RSS of the `abl` process
and the projection.

    python benchmarks/paper_scale.py [--per-class 10] [--classes 50] [--smoke]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
LAYERS = "[conv1, conv2, conv3, conv4, conv5, fc6, fc7]"


def photo_classes(root: Path, classes: int, per_class: int, seed: int = 0) -> Path:
    """`classes` folders of 256x256 crops, each class its own window of one of three photos."""
    import matplotlib
    from PIL import Image
    from sklearn.datasets import load_sample_images

    photos = list(load_sample_images().images)
    photos.append(np.asarray(Image.open(Path(matplotlib.get_data_path()) / "sample_data" /
                                        "grace_hopper.jpg").convert("RGB")))
    rng = np.random.default_rng(seed)
    for index in range(classes):
        photo = photos[index % len(photos)]
        height, width = photo.shape[:2]
        # the class's window: a fixed 300x300 region; its images: jittered 256x256 crops in it
        top0 = int(rng.integers(0, height - 300))
        left0 = int(rng.integers(0, width - 300))
        folder = root / f"class{index:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            top, left = top0 + int(rng.integers(0, 44)), left0 + int(rng.integers(0, 44))
            crop = photo[top:top + 256, left:left + 256]
            if k % 2:
                crop = crop[:, ::-1]
            Image.fromarray(np.ascontiguousarray(crop)).save(folder / f"img{k:02d}.jpg", quality=90)
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=10)
    parser.add_argument("--classes", type=int, default=50)
    parser.add_argument("--memory-budget", default=None, help="passed to abl run")
    parser.add_argument("--smoke", action="store_true", help="2 classes x 2 images: the pipeline runs (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.classes, args.per_class = 2, 2
    with tempfile.TemporaryDirectory() as tmp:
        folder = photo_classes(Path(tmp) / "photos", args.classes, args.per_class)
        command = [sys.executable, "-m", "abl.interpreter.cli", "run", str(ROOT / "examples" / "hayne_grid.abl"),
                   "--set", "model=alexnet", "--set", f"data={folder}", "--set", f"layers={LAYERS}",
                   "--out", str(Path(tmp) / "run"), "--no-figures", "--cache-dir", str(Path(tmp) / "cache")]
        if args.memory_budget:
            command += ["--memory-budget", args.memory_budget]
        env = dict(os.environ, NO_COLOR="1", TORCH_HOME=str(Path(tmp) / "torch"))
        start = time.perf_counter()
        result = subprocess.run(["/usr/bin/time", "-f", "%M", *command], capture_output=True, text=True, env=env)
        wall = time.perf_counter() - start
        if result.returncode not in (0, 1):
            sys.exit(f"abl run failed ({result.returncode}):\n{result.stderr[-3000:]}")
        peak_gb = int(result.stderr.strip().splitlines()[-1]) / 1024 ** 2
        rows = sum(1 for _ in open(Path(tmp) / "run" / "results.csv")) - 1
    images = args.classes * args.per_class
    print(f"{args.classes} classes x {args.per_class} images ({images} images), 7 layers, 4x4 grids: "
          f"{rows} result rows")
    print(f"wall time {wall:.1f} s, peak RSS {peak_gb:.2f} GB")
    if args.per_class != 50:
        print(f"projected for 50 images per class (linear in images): {wall * 50 / args.per_class / 60:.1f} min")


if __name__ == "__main__":
    main()
