"""Benchmark: the ablation phase of the Hayne grid, abl's engine against a plain loop and Captum.

The workload is the paper's: per class and layer, a 4x4 selectivity x magnitude grid; each cell
ablated (zeroed) and the rank deficit of the true class measured over that class's images.
Recording, unit selection and model loading are done once beforehand and not timed; what is
timed is the ablation phase, the part the three contenders do differently:

* abl       the executor's run_all_conditions + rank-deficit measurement (class-aware, batched;
            it decodes the streamed photos it needs as it goes)
* plain     one hooked forward per (class, layer, cell) over that class's images, as the seeds do
            (the photos decoded once, inside the timed phase)
* captum    captum.attr.LayerFeatureAblation, the cells as `layer_mask` groups,
            perturbations_per_eval = 16, forward_func returning the true class's rank

The contenders run interleaved in one process (abl, plain, captum, abl, plain, captum, ...).
Printed: each one's min and median time, the ratios, the process's peak RSS, and the largest
difference in rank deficits against the plain loop (0 where the computation is the same).

    python benchmarks/hayne_scale.py --workload digits  [--repeats 3]
    python benchmarks/hayne_scale.py --workload alexnet [--repeats 3] [--per-class 16]
    python benchmarks/hayne_scale.py --smoke     # seconds: 2 classes x 1 layer, checks agreement (CI)

`alexnet`: torchvision AlexNet with random weights (no download), 224 px, 8 classes of real
photographs (crops of scikit-learn's and matplotlib's sample photos), the paper's 7 layers;
`digits`: the embedded digits CNN (trained and cached on first use), 10 classes, 3 layers.
Captum is optional (`pip install -e ".[bench]"`): without it that column is skipped.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ALEXNET_LAYERS = "[conv1, conv2, conv3, conv4, conv5, fc6, fc7]"


def photo_folder(root: Path, per_class: int, seed: int = 0) -> Path:
    """8 classes of 224x224-and-larger crops of real photographs, ImageFolder layout."""
    import os

    import matplotlib
    from PIL import Image
    from sklearn.datasets import load_sample_images

    photos = list(load_sample_images().images)
    photos.append(np.asarray(Image.open(os.path.join(matplotlib.get_data_path(), "sample_data",
                                                     "grace_hopper.jpg")).convert("RGB")))
    rng = np.random.default_rng(seed)
    for index in range(8):
        photo = photos[index % len(photos)]
        height, width = photo.shape[:2]
        # each class its own region of a photo (top/bottom x left/right halves, then the whole)
        region = index // len(photos)
        top0 = 0 if region % 2 == 0 else height // 3
        left0 = 0 if region < 2 else width // 3
        folder = root / f"class{index}"
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            size = int(rng.integers(224, min(height, width) - max(top0, left0) // 2))
            top = top0 + int(rng.integers(0, max(1, height - top0 - size)))
            left = left0 + int(rng.integers(0, max(1, width - left0 - size)))
            crop = photo[top:top + size, left:left + size]
            if k % 2:
                crop = crop[:, ::-1]
            Image.fromarray(np.ascontiguousarray(crop)).save(folder / f"img{k}.jpg")
    return root


def spec_text(workload: str, folder: Path | None) -> str:
    classes = "each class c"
    if workload == "smoke":
        head = ("stimuli probe = digits split train\nstimuli eval = digits split test\n"
                "model net = train cnn on probe epochs 1\n")
        layers, classes = "[conv2]", "each class c in [3, 7]"
    elif workload == "digits":
        head = ("stimuli probe = digits split train\nstimuli eval = digits split test\n"
                "model net = train cnn on probe epochs 20\n")
        layers = "[conv1, conv2, fc1]"
    else:
        head = (f'stimuli probe = "{folder}" split train\nstimuli eval = "{folder}" split test\n'
                "model net = torchvision alexnet weights none\n")
        layers = ALEXNET_LAYERS
    return (f'experiment "benchmark"\nseed 0\n{head}'
            f"for {classes}, each layer L in {layers}:\n"
            "    units cells = grid 4x4 over selectivity, magnitude for class c in L on probe\n"
            "    measure rank deficit on eval where class == c ablating cells\n")


def prepare(workload: str, cache: Path, per_class: int):
    from abl.interpreter.api import Experiment

    folder = photo_folder(cache / "photos", per_class) if workload == "alexnet" else None
    experiment = Experiment.from_text(spec_text(workload, folder), cache_dir=cache / "abl", device="cpu")
    executor = experiment.executor
    for key, _ in experiment.plan.models:
        executor.model(key)
    executor.record_all()
    for item in experiment.plan.measures:            # resolve every cell before timing
        executor.condition(item)
    return experiment


# ---- the contenders ------------------------------------------------------------------------------

def abl_phase(experiment) -> dict:
    executor = experiment.executor
    executor.run_all_conditions()
    measured = executor.measure_all()
    return {(r.cls, r.layer, r.cell): r.value for rows in measured for r in rows}


def _cells(experiment):
    """[(class name, class index, layer alias, module path, cell, units)] as abl resolved them."""
    executor = experiment.executor
    out = []
    for item in experiment.plan.measures:
        (intervention,) = item.interventions
        (layer, units), = executor.resolve(intervention.units).items()
        path = executor.model(item.model).resolve_layer(layer)
        names = executor.stimuli(item.stimuli).class_names
        out.append((names[item.where_class], item.where_class, layer, path, item.cell, list(units)))
    return out


def _ranks(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    true = logits.gather(1, labels[:, None])
    return (logits > true).sum(1) + 1


def plain_loop(experiment, batch_size: int = 64) -> dict:
    """One hooked forward per (class, layer, cell) over that class's images."""
    executor = experiment.executor
    model = executor.model("net").module.eval()
    stimuli = executor.stimuli("eval")
    modules = dict(model.named_modules())
    all_images = stimuli.images          # decoded once (an image folder is streamed by abl)
    results, base = {}, {}
    with torch.inference_mode():
        for name, cls, layer, path, cell, units in _cells(experiment):
            mask = stimuli.labels == cls
            images, labels = all_images[mask], stimuli.labels[mask]
            if cls not in base:
                base[cls] = torch.cat([_ranks(model(images[i:i + batch_size]), labels[i:i + batch_size])
                                       for i in range(0, len(labels), batch_size)])

            def zero(module, inputs, output, units=units):
                output = output.clone()
                output[:, units] = 0
                return output

            handle = modules[path].register_forward_hook(zero)
            try:
                after = torch.cat([_ranks(model(images[i:i + batch_size]), labels[i:i + batch_size])
                                   for i in range(0, len(labels), batch_size)])
            finally:
                handle.remove()
            results[(name, layer, cell)] = float((after - base[cls]).clamp(min=0).double().mean())
    return results


def captum_phase(experiment) -> dict:
    """LayerFeatureAblation with the 16 cells of a (class, layer) as layer_mask groups."""
    from captum.attr import LayerFeatureAblation

    executor = experiment.executor
    model = executor.model("net").module.eval()
    stimuli = executor.stimuli("eval")
    modules = dict(model.named_modules())
    groups: dict = {}
    for name, cls, layer, path, cell, units in _cells(experiment):
        groups.setdefault((name, cls, layer, path), []).append((cell, units))

    def rank(x, labels):
        return _ranks(model(x), labels).double()

    all_images = stimuli.images          # decoded once (an image folder is streamed by abl)

    results = {}
    for (name, cls, layer, path), cells in groups.items():
        mask_images = stimuli.labels == cls
        images, labels = all_images[mask_images], stimuli.labels[mask_images]
        with torch.no_grad():
            probe = {}
            handle = modules[path].register_forward_hook(lambda m, i, o: probe.update(shape=o.shape))
            model(images[:1])
            handle.remove()
        shape = probe["shape"]
        layer_mask = torch.zeros((1, shape[1]) + (1,) * (len(shape) - 2), dtype=torch.long)
        for group, (cell, units) in enumerate(cells):
            layer_mask[0, units] = group
        ablation = LayerFeatureAblation(rank, modules[path])
        with torch.no_grad():
            attributions = ablation.attribute(images, additional_forward_args=(labels,),
                                              layer_mask=layer_mask, perturbations_per_eval=len(cells))
        flat = attributions.reshape(attributions.shape[0], attributions.shape[1], -1)[:, :, 0]
        for cell, units in cells:
            # attribution = rank before - rank after, so the deficit is max(0, -attribution)
            deficit = (-flat[:, units[0]]).clamp(min=0).mean()
            results[(name, layer, cell)] = float(deficit)
    return results


# ---- the run ---------------------------------------------------------------------------------------

def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=("digits", "alexnet"), default="digits")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--per-class", type=int, default=16, help="alexnet: photos per class")
    parser.add_argument("--smoke", action="store_true", help="a seconds-long run that checks agreement (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.workload, args.repeats = "smoke", 1
    try:
        import captum  # noqa: F401
        contenders = {"abl": abl_phase, "plain": plain_loop, "captum": captum_phase}
    except ImportError:
        print("captum is not installed (pip install -e '.[bench]'): skipping that contender")
        contenders = {"abl": abl_phase, "plain": plain_loop}
    with tempfile.TemporaryDirectory() as tmp:
        experiment = prepare(args.workload, Path(tmp), args.per_class)
        n_cells = len(experiment.plan.measures)
        print(f"== {args.workload}: {n_cells} ablation conditions, "
              f"{experiment.executor.stimuli('eval').n} eval images, prepared at {peak_rss_gb():.2f} GB RSS")
        times = {name: [] for name in contenders}
        values = {}
        for _ in range(args.repeats):
            for name, run in contenders.items():
                start = time.perf_counter()
                values[name] = run(experiment)
                times[name].append(time.perf_counter() - start)
    reference = values["plain"]
    print(f"{'contender':<8} {'min s':>8} {'median s':>9} {'plain/this (median)':>20} {'max |deficit diff| vs plain':>28}")
    for name in contenders:
        diff = max(abs(values[name][key] - reference[key]) for key in reference)
        if name == "abl" and diff != 0:
            raise SystemExit(f"abl's rank deficits differ from the plain loop's by {diff}")
        print(f"{name:<8} {min(times[name]):8.3f} {statistics.median(times[name]):9.3f} "
              f"{statistics.median(times['plain']) / statistics.median(times[name]):20.2f} {diff:28.3g}")
    print(f"peak RSS of the whole process: {peak_rss_gb():.2f} GB")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
