"""Class selectivity index and the training regulariser against hand-made tables with known answers."""

import numpy as np
import pytest
import torch

from abl.interpreter.selectivity import (class_selectivity_index, hayne_selectivity,
                                         other_class_means, rotated_magnitude)
from abl.interpreter.models.training import REGULARIZER_EPS, batch_selectivity

# 3 classes x 4 units of class-conditional mean activations
TABLE = np.array([[4.0, 1.0, 0.0, 2.0],
                  [0.0, 1.0, 0.0, 2.0],
                  [0.0, 1.0, 0.0, 0.5]])


def test_selectivity_index_known_answers():
    si = class_selectivity_index(TABLE)
    # unit 0: max 4, rest (0+0)/2 = 0 -> (4-0)/(4+0) = 1; unit 1: flat -> 0; unit 2: dead -> 0
    # unit 3: max 2, rest (2+0.5)/2 = 1.25 -> 0.75/3.25
    assert np.allclose(si, [1.0, 0.0, 0.0, 0.75 / 3.25], atol=1e-6)
    assert np.all((si >= 0) & (si <= 1))


def test_selectivity_index_torch_matches_numpy_and_is_differentiable():
    table = torch.tensor(TABLE, requires_grad=True)
    si = class_selectivity_index(table)
    assert np.allclose(si.detach().numpy(), class_selectivity_index(TABLE))
    si.mean().backward()
    assert table.grad is not None and torch.isfinite(table.grad).all()


def test_hayne_axes_known_answers():
    assert np.allclose(other_class_means(TABLE, 0), [0.0, 1.0, 0.0, 1.25])
    assert np.allclose(hayne_selectivity(TABLE, 0), [4.0, 0.0, 0.0, 0.75])
    assert np.allclose(rotated_magnitude(TABLE, 0), np.array([4.0, 2.0, 0.0, 3.25]) / np.sqrt(2))


def test_batch_regulariser_term_is_the_mean_index_of_batch_class_means():
    # a batch of 6 samples, 2 units: class 0 fires unit 0, class 1 fires unit 1 a little
    activations = torch.tensor([[2.0, 0.0], [4.0, 0.0], [3.0, 0.0],
                                [0.0, 1.0], [0.0, 1.0], [1.0, 1.0]])
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    class_means = torch.stack([activations[labels == k].mean(0) for k in (0, 1)])
    expected = class_selectivity_index(class_means, eps=REGULARIZER_EPS).mean()
    got = batch_selectivity(activations, labels)
    assert torch.allclose(got, expected)
    # by hand: unit 0 means (3, 1/3): (3-1/3)/(3+1/3); unit 1 means (0, 1): 1
    eps = REGULARIZER_EPS
    assert got.item() == pytest.approx(((3 - 1 / 3) / (3 + 1 / 3 + eps) + 1 / (1 + eps)) / 2, rel=1e-6)
