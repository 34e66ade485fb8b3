"""What a stimuli set and a model are, as plain data (no torch): the planner builds these and the
loaders (stimuli.py, models.py) turn them into tensors and modules."""

from __future__ import annotations

from dataclasses import dataclass, field

from abl.spec.source import Span


@dataclass(frozen=True)
class Corruption:
    """One corruption step: `noise SIGMA [seed N]` or `blur SIGMA [seed N]`, applied in the order
    written. Its own seed (default: the spec's seed) drives the noise; it never touches the split."""

    kind: str                       # "noise" | "blur"
    severity: float
    seed: int = 0

    def text(self) -> str:
        return f"{self.kind} {self.severity:g} seed {self.seed}"


@dataclass(frozen=True)
class StimuliSpec:
    name: str
    source: str                     # "digits" | "mnist" | "fashion_mnist" | "cifar10" | "imagefolder"
    path: str | None = None
    split: str | None = None        # "train" | "test" | None (all images)
    test_fraction: float = 0.3      # stratified, deterministic from seed
    classes: tuple[int | str, ...] | None = None
    per_class: int | None = None
    preprocess: str = "auto"        # "auto" | "none" | "imagenet"
    corruptions: tuple[Corruption, ...] = ()    # applied in order, after resizing, before normalising
    seed: int = 0                   # the split's and the subsample's seed (not the corruptions')
    # the statement that declared it, for run-time errors; not part of the set's identity
    span: Span | None = field(default=None, compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    kind: str                        # "train" | "torchvision" | "timm" | "file" | "factory"
    arch: str | None = None
    widths: tuple[int, ...] = ()
    train_on: str | None = None      # stimuli key
    epochs: int = 10
    lr: float = 1e-3
    batch_size: int = 64
    regularize: float = 0.0
    regularize_layers: tuple[str, ...] = ()
    weights: str = "auto"
    path: str | None = None
    seed: int = 0
    span: Span | None = field(default=None, compare=False, hash=False, repr=False)
    factory: str | None = None       # `file "w.pt" arch python "m:f"`: what builds the network
    kwargs: tuple[tuple[str, object], ...] = ()   # `python "m:f" with k=v, ...`
    folder: str | None = field(default=None, compare=False, hash=False, repr=False)   # the spec's folder
