"""Feature visualisation raises the unit's activation and leaves the model untouched."""

import numpy as np
import torch
from torch import nn

from abl.interpreter.run.featurevis import visualize_unit


def test_visualisation_raises_activation_and_leaves_model_untouched(no_hooks_left):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(8, 6, 3),
                          nn.ReLU(), nn.Flatten(), nn.Linear(6 * 14 * 14, 4))
    model.train()
    model[0].weight.requires_grad_(False)
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    result = visualize_unit(model, "2", 4, (3, 16, 16), steps=40, lr=0.05, seed=3)
    assert result.image.shape == (3, 16, 16) and result.image.dtype == np.float32
    assert result.image.min() >= 0 and result.image.max() <= 1
    assert result.activation > result.start_activation
    with torch.no_grad():   # better than any of 64 random images in [0, 1]
        model.eval()
        random = model[2](model[1](model[0](torch.rand(64, 3, 16, 16, generator=torch.Generator().manual_seed(0)))))
        model.train()
    assert result.activation > float(random[:, 4].mean((1, 2)).max())
    again = visualize_unit(model, "2", 4, (3, 16, 16), steps=40, lr=0.05, seed=3)
    np.testing.assert_array_equal(result.image, again.image)
    assert all(torch.equal(v, saved[k]) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    assert [p.requires_grad for p in model.parameters()] == [False, True, True, True, True, True]
    assert all(m.training for m in model.modules())
    no_hooks_left(model)
    # a linear unit, no jitter
    out = visualize_unit(model, "5", 1, (3, 16, 16), steps=30, jitter=0, seed=0)
    assert out.activation > out.start_activation
