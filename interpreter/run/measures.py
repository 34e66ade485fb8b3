"""Output measures from logits and labels (numpy arrays or torch tensors); reductions in float64.

Conventions
- accuracy: argmax == label; among tied logits argmax takes the lowest class index.
- top-k accuracy: the label is among the first k classes of a stable descending sort (ties: lower
  class index first), so top-1 accuracy equals accuracy.
- rank of the true class: 1 + the number of classes with a strictly greater logit (1 = top; a tie
  with the true class does not lower its rank).
- rank deficit (Hayne et al.): mean over images of max(0, rank_ablated - rank_baseline);
  rank change: the signed mean of rank_ablated - rank_baseline (positive = the class fell).
- selective rank deficit (Hayne et al.'s other score) of class c: the rank deficit over c's images
  minus the rank deficit over the other classes' images, under the same ablation.
"""

from __future__ import annotations

import numpy as np

from abl.interpreter.errors import RunError


def _logits(logits) -> np.ndarray:
    if hasattr(logits, "detach"):
        logits = logits.detach().cpu().numpy()
    array = np.asarray(logits)
    if array.ndim != 2:
        raise ValueError(f"logits must be (N, classes), got shape {array.shape}")
    return array


def _labels(labels, n: int, n_classes: int) -> np.ndarray:
    if hasattr(labels, "detach"):
        labels = labels.detach().cpu().numpy()
    array = np.asarray(labels).astype(np.int64).reshape(-1)
    if array.shape[0] != n:
        raise ValueError(f"{array.shape[0]} labels for {n} rows of logits")
    if n == 0:
        raise RunError("no images to measure", help="check the stimuli and the class filter")
    if array.min() < 0 or array.max() >= n_classes:
        raise RunError(f"label {int(array.max())} has no output among the model's {n_classes}",
                       help="the stimuli's classes must match the model's outputs")
    return array


def _pair(logits, labels) -> tuple[np.ndarray, np.ndarray]:
    array = _logits(logits)
    return array, _labels(labels, array.shape[0], array.shape[1])


def accuracy(logits, labels) -> float:
    array, y = _pair(logits, labels)
    return float(np.mean(np.argmax(array, axis=1) == y, dtype=np.float64))


def topk_accuracy(logits, labels, k: int) -> float:
    array, y = _pair(logits, labels)
    if k < 1:
        raise RunError(f"top-{k} accuracy needs k >= 1")
    order = np.argsort(-array.astype(np.float64), axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(order == y[:, None], axis=1), dtype=np.float64))


def per_class_accuracy(logits, labels) -> dict[int, tuple[float, int]]:
    """{class: (accuracy over its images, number of images)} for the classes present."""
    array, y = _pair(logits, labels)
    correct = np.argmax(array, axis=1) == y
    out = {}
    for cls in np.unique(y):
        mask = y == cls
        out[int(cls)] = (float(np.mean(correct[mask], dtype=np.float64)), int(mask.sum()))
    return out


def _log_softmax(array: np.ndarray) -> np.ndarray:
    x = array.astype(np.float64)
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def cross_entropy(logits, labels) -> float:
    """Mean negative log-likelihood of the true class (natural log)."""
    array, y = _pair(logits, labels)
    return float(-np.mean(_log_softmax(array)[np.arange(len(y)), y]))


def true_class_rank(logits, labels) -> np.ndarray:
    """(N,) int64: 1 + the number of classes whose logit is strictly greater than the true class's."""
    array, y = _pair(logits, labels)
    true = array[np.arange(len(y)), y][:, None]
    return (array > true).sum(axis=1).astype(np.int64) + 1


def _ranks(base_logits, ablated_logits, labels) -> tuple[np.ndarray, np.ndarray]:
    base = _logits(base_logits)
    ablated = _logits(ablated_logits)
    if base.shape != ablated.shape:
        raise ValueError(f"baseline logits {base.shape} and ablated logits {ablated.shape} differ in shape")
    return true_class_rank(base, labels), true_class_rank(ablated, labels)


def rank_deficit(base_logits, ablated_logits, labels) -> float:
    """Hayne et al.: mean over images of max(0, rank_ablated - rank_baseline)."""
    base, ablated = _ranks(base_logits, ablated_logits, labels)
    return float(np.mean(np.maximum(0, ablated - base), dtype=np.float64))


def rank_change(base_logits, ablated_logits, labels) -> float:
    """Signed mean of rank_ablated - rank_baseline (positive: the true class fell)."""
    base, ablated = _ranks(base_logits, ablated_logits, labels)
    return float(np.mean(ablated - base, dtype=np.float64))


def _class(array: np.ndarray, cls: int) -> int:
    if cls < 0 or cls >= array.shape[1]:
        raise RunError(f"class {cls} has no output among the model's {array.shape[1]}",
                       help=f"classes run from 0 to {array.shape[1] - 1}")
    if array.shape[0] == 0:
        raise RunError("no images to measure", help="check the stimuli and the class filter")
    return cls


def class_logit(logits, cls: int) -> float:
    """Mean over images of the logit of class `cls`."""
    array = _logits(logits)
    return float(np.mean(array[:, _class(array, cls)], dtype=np.float64))


def class_probability(logits, cls: int) -> float:
    """Mean over images of the softmax probability of class `cls`."""
    array = _logits(logits)
    return float(np.mean(np.exp(_log_softmax(array)[:, _class(array, cls)])))


# ---- per-image values, for streaming: each condition keeps these instead of its logits ------------
# A quantity is ("correct",), ("top", k), ("nll",), ("rank",), ("logit", c) or ("probability", c).
# The means of these arrays are bit-identical to the functions above on the same images.

def per_image(logits, labels, quantities) -> dict[tuple, np.ndarray]:
    """{quantity: (N,) array} for a chunk of logits; computed row by row, so chunking is exact."""
    array, y = _pair(logits, labels)
    out: dict[tuple, np.ndarray] = {}
    log_softmax = None
    for quantity in quantities:
        kind = quantity[0]
        if kind == "correct":
            out[quantity] = np.argmax(array, axis=1) == y
        elif kind == "top":
            order = np.argsort(-array.astype(np.float64), axis=1, kind="stable")[:, :quantity[1]]
            out[quantity] = np.any(order == y[:, None], axis=1)
        elif kind == "rank":
            out[quantity] = true_class_rank(array, y)
        elif kind == "logit":
            out[quantity] = array[:, _class(array, quantity[1])].copy()
        elif kind in ("nll", "probability"):
            if log_softmax is None:
                log_softmax = _log_softmax(array)
            if kind == "nll":
                out[quantity] = -log_softmax[np.arange(len(y)), y]
            else:
                out[quantity] = np.exp(log_softmax[:, _class(array, quantity[1])])
        else:
            raise ValueError(f"unknown per-image quantity {quantity!r}")
    return out


def quantities_for(metric: str, top: int | None, of_class: int | None) -> tuple[tuple, ...]:
    """The per-image quantities an output measure reads (rank deficit/change: also the baseline's rank)."""
    if metric == "accuracy":
        return (("top", top),) if top else (("correct",),)
    return {"loss": (("nll",),), "rank": (("rank",),), "rank deficit": (("rank",),),
            "selective rank deficit": (("rank",),), "rank change": (("rank",),), "logit": (("logit", of_class),),
            "probability": (("probability", of_class),)}[metric]


def from_per_image(metric: str, top: int | None, of_class: int | None, values: dict[tuple, np.ndarray],
                   base: dict[tuple, np.ndarray] | None) -> float:
    """The measure's value from per-image arrays of the same images (and of the baseline)."""
    if metric == "accuracy":
        return float(np.mean(values[("top", top) if top else ("correct",)], dtype=np.float64))
    if metric == "loss":
        return float(np.mean(values[("nll",)]))
    if metric == "rank":
        return float(np.mean(np.asarray(values[("rank",)], dtype=float)))
    if metric in ("rank deficit", "rank change"):
        change = values[("rank",)] - base[("rank",)]
        if metric == "rank deficit":
            change = np.maximum(0, change)
        return float(np.mean(change, dtype=np.float64))
    if metric == "logit":
        return float(np.mean(values[("logit", of_class)], dtype=np.float64))
    if metric == "probability":
        return float(np.mean(values[("probability", of_class)]))
    raise AssertionError(metric)


def image_values(metric: str, top: int | None, of_class: int | None, values: dict[tuple, np.ndarray],
                 base: dict[tuple, np.ndarray] | None) -> np.ndarray:
    """The per-image values (float64) whose mean is `from_per_image`'s value: what intervals
    resample and paired tests compare image by image."""
    if metric == "accuracy":
        return np.asarray(values[("top", top) if top else ("correct",)], dtype=np.float64)
    if metric in ("rank deficit", "rank change"):
        change = values[("rank",)] - base[("rank",)]
        if metric == "rank deficit":
            change = np.maximum(0, change)
        return np.asarray(change, dtype=np.float64)
    key = {"loss": ("nll",), "rank": ("rank",), "logit": ("logit", of_class),
           "probability": ("probability", of_class)}[metric]
    return np.asarray(values[key], dtype=np.float64)


def selective_rank_deficit(deficits: np.ndarray, labels: np.ndarray, cls: int) -> float:
    """Mean per-image rank deficit over class `cls`'s images minus that over the other images."""
    mine = labels == cls
    if not mine.any() or mine.all():
        raise RunError(f"the selective rank deficit of class {cls} needs images of it and of other classes",
                       help="measure it on stimuli with several classes")
    return float(np.mean(deficits[mine], dtype=np.float64) - np.mean(deficits[~mine], dtype=np.float64))
