"""Image-folder stimuli, streamed: decoded and preprocessed batch by batch, never held whole.

A folder of ImageNet-sized images is the one kind of stimuli that does not fit in memory at the
paper's scale (2,500 images at 224 px are 1.5 GB as float32; 50,000 are 30 GB). Such a set keeps
only its file list and labels; every pass over it decodes the images again, in a torch
`DataLoader` with worker processes for whole passes and in this process for a few images
(`take`). What a pass yields is exactly what an in-memory set would hold: resized and cropped
(`preprocess imagenet`), corrupted, normalised.

Corruptions are applied image by image, each image's noise drawn from a generator seeded by the
corruption's seed and the image's position in the set (numpy `SeedSequence([seed, position])`),
so a batch's noise does not depend on how the set is batched or which worker decodes it.
The fingerprint (the manifest's stimuli hash) covers the files' bytes and names, the labels, the
preprocessing and the corruptions, computed without decoding.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import numpy as np
import torch

from abl.interpreter.errors import RunError
from abl.interpreter.plan.specs import Corruption, StimuliSpec

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class FolderImages(torch.utils.data.Dataset):
    """(image, label) by position: decode, resize/crop, corrupt, normalise."""

    def __init__(self, files: Sequence[str], labels: np.ndarray, preprocess: str,
                 corruptions: Sequence[Corruption]):
        self.files = list(files)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.preprocess = preprocess
        self.corruptions = tuple(corruptions)

    def __len__(self) -> int:
        return len(self.files)

    def image(self, position: int) -> torch.Tensor:
        from PIL import Image
        from torchvision import transforms

        steps = [transforms.Resize(256), transforms.CenterCrop(224)] if self.preprocess == "imagenet" else []
        try:
            with Image.open(self.files[position]) as image:
                pixels = transforms.Compose(steps + [transforms.ToTensor()])(image.convert("RGB"))
        except (OSError, ValueError, Image.DecompressionBombError) as error:
            raise RunError(f"cannot read image {self.files[position]}: {error}",
                           help="remove or replace the file") from None
        if self.corruptions:
            from abl.interpreter.data.corruptions import apply_corruption

            for corruption in self.corruptions:
                seed = int(np.random.SeedSequence([corruption.seed, position]).generate_state(1)[0])
                pixels = apply_corruption(pixels[None], corruption.kind, corruption.severity, seed)[0]
        if self.preprocess == "imagenet":
            mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
            std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
            pixels = pixels.sub_(mean).div_(std)
        return pixels.to(torch.float32)

    def __getitem__(self, position: int):
        return self.image(position), int(self.labels[position])


def _stack(images: list[torch.Tensor], root: str) -> torch.Tensor:
    shapes = {tuple(t.shape) for t in images}
    if len(shapes) > 1:
        raise RunError(f"images in {root} have different sizes ({len(shapes)} sizes, e.g. "
                       f"{', '.join(str(s[1:]) for s in list(shapes)[:3])})",
                       help="use `preprocess imagenet` (resize and crop to 224x224)")
    return torch.stack(images)


class LabelledSet:
    """What every stimuli set derives from its labels (in memory or streamed)."""

    labels: torch.Tensor

    @property
    def n(self) -> int:
        return int(self.labels.shape[0])

    @property
    def present_classes(self) -> tuple[int, ...]:
        return tuple(int(c) for c in torch.unique(self.labels).tolist())


@dataclass
class FolderStimuli(LabelledSet):
    """The interface of `Stimuli` (labels, class names, batches, take, shape) without the pixels."""

    spec: StimuliSpec
    dataset: FolderImages
    labels: torch.Tensor            # (N,) int64 in the model's label space
    class_names: tuple[str, ...]
    root: str = ""
    fingerprint: str = ""
    _shape: tuple[int, ...] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.fingerprint:
            digest = hashlib.sha256()
            digest.update(f"{self.dataset.preprocess}|{self.dataset.corruptions!r}".encode())
            for path in self.dataset.files:
                digest.update(os.path.basename(path).encode())
                with open(path, "rb") as handle:
                    digest.update(hashlib.sha256(handle.read()).digest())
            digest.update(self.labels.numpy().tobytes())
            self.fingerprint = digest.hexdigest()

    @property
    def shape(self) -> tuple[int, ...]:
        """One image's shape (C, H, W), from decoding the first image once."""
        if self._shape is None:
            self._shape = tuple(self.dataset.image(0).shape)
        return self._shape

    def take(self, positions) -> torch.Tensor:
        """The images at `positions`, decoded here."""
        return _stack([self.dataset.image(int(p)) for p in np.asarray(positions).reshape(-1)], self.root)

    @property
    def images(self) -> torch.Tensor:
        """Every image, decoded into one tensor: for training and for users; runs stream instead."""
        return self.take(np.arange(self.n))

    def batches(self, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(images, labels) in order, decoded by worker processes a batch at a time."""
        batch_size = max(1, int(batch_size))
        starts = range(0, self.n, batch_size)
        workers = min(2, os.cpu_count() or 1) if self.n > batch_size else 0
        done = 0
        if workers:
            loader = torch.utils.data.DataLoader(self.dataset, batch_size=batch_size, shuffle=False,
                                                 num_workers=workers, collate_fn=list)
            try:
                for items in loader:
                    yield _stack([image for image, _ in items], self.root), \
                        self.labels[done * batch_size:done * batch_size + len(items)]
                    done += 1
                return
            except Exception:       # a worker's error: decode here, where it is reported cleanly
                pass
        for start in list(starts)[done:]:
            stop = min(start + batch_size, self.n)
            yield self.take(np.arange(start, stop)), self.labels[start:stop]
