"""Per-unit class statistics: class means, Hayne et al.'s selectivity/magnitude, Morcos et al.'s
class selectivity index. Works on numpy arrays and (differentiably) on torch tensors.

Conventions: `class_means` has shape (C, U): row c is the mean activation of each unit over the
images of class c (conv units averaged over space first). Classes without images must be dropped
by the caller before these functions are used.
"""

from __future__ import annotations

import numpy as np

SELECTIVITY_EPS = 1e-6


def other_class_means(class_means, target: int):
    """Mean over the other classes' means, per unit: mu_o in Hayne et al."""
    n_classes = class_means.shape[0]
    if n_classes < 2:
        raise ValueError("selectivity needs at least two classes")
    total = class_means.sum(0)
    return (total - class_means[target]) / (n_classes - 1)


def hayne_selectivity(class_means, target: int):
    """mu_c - mu_o: target-class mean minus the mean of the other classes' means."""
    return class_means[target] - other_class_means(class_means, target)


def rotated_magnitude(class_means, target: int):
    """(mu_c + mu_o) / sqrt(2): the magnitude axis of the authors' code (45-degree rotation)."""
    return (class_means[target] + other_class_means(class_means, target)) / np.sqrt(2.0)


def class_selectivity_index(class_means, eps: float = SELECTIVITY_EPS):
    """(mu_max - mu_-max) / (mu_max + mu_-max + eps), per unit.

    mu_max is the largest class-conditional mean, mu_-max the mean of the other classes' means.
    Accepts numpy arrays or torch tensors (differentiable, for the training regulariser).
    """
    n_classes = class_means.shape[0]
    if n_classes < 2:
        raise ValueError("the class selectivity index needs at least two classes")
    if isinstance(class_means, np.ndarray):
        mu_max = class_means.max(axis=0)
    else:
        mu_max = class_means.max(dim=0).values
    mu_rest = (class_means.sum(0) - mu_max) / (n_classes - 1)
    return (mu_max - mu_rest) / (mu_max + mu_rest + eps)
