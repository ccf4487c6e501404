"""dlib feature distance: zero on identical images, grows with noise, symmetric, differentiable."""

from __future__ import annotations

import pytest
import torch

from guide_pl.faces import build_perceptual
from helpers.dlib import require_models


@pytest.fixture(scope="module")
def distance():
    require_models("dlib_resnet", need_dlib=False)
    return build_perceptual("dlib_features")


def test_properties(distance):
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 160, 160, generator=generator) * 2 - 1
    y = torch.rand(2, 3, 160, 160, generator=generator) * 2 - 1
    assert torch.all(distance(x, x).abs() < 1e-6)
    noise = torch.randn(x.shape, generator=generator)
    values = [distance(x, (x + s * noise).clamp(-1, 1)) for s in (0.02, 0.1, 0.4)]
    assert torch.all(values[0] > 0) and torch.all(values[0] < values[1]) and torch.all(values[1] < values[2])
    assert torch.allclose(distance(x, y), distance(y, x), rtol=1e-5)
    assert distance(x, y).shape == (2,)


def test_chip_view_and_gradient():
    require_models("dlib_resnet", need_dlib=False)
    chip_distance = build_perceptual("dlib_features", view="chip")
    x = (torch.rand(1, 3, 128, 128) * 2 - 1).requires_grad_(True)
    chip_distance(x, torch.zeros_like(x)).sum().backward()
    assert x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="view"):
        build_perceptual("dlib_features", view="crop")
