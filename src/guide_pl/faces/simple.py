"""Weight-free stand-ins for tests and smoke runs: a pixel distance and a seeded random-CNN embedder.

Neither is a face model: `random_cnn` only exercises the identity-loss path on generators like `tiny`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .registry import IDENTITY_NETS, PERCEPTUAL_NETS


class PixelL2(nn.Module):
    """Per-sample mean squared pixel difference, optionally after resizing to `size`."""

    def __init__(self, size: int | None = None) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.size is not None:
            x = F.interpolate(x, size=(self.size, self.size), mode="area")
            y = F.interpolate(y, size=(self.size, self.size), mode="area")
        return (x - y).square().flatten(1).mean(dim=1)


class RandomCNNEmbedder(nn.Module):
    """Three strided convolutions with seeded random weights and global pooling → [B, dim]."""

    def __init__(self, dim: int = 32, seed: int = 0) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net = nn.Sequential(
                nn.Conv2d(3, 16, 3, stride=2, padding=1),
                nn.LeakyReLU(0.2),
                nn.Conv2d(16, 32, 3, stride=2, padding=1),
                nn.LeakyReLU(0.2),
                nn.Conv2d(32, dim, 3, stride=2, padding=1),
            )
        self.requires_grad_(False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images).mean(dim=(2, 3))


@PERCEPTUAL_NETS.register("pixel_l2")
def build_pixel_l2(size: int | None = None) -> PixelL2:
    """Mean squared pixel distance (no weights; a stand-in for LPIPS in tests and smoke runs)."""
    return PixelL2(size)


@IDENTITY_NETS.register("random_cnn")
def build_random_cnn(dim: int = 32, seed: int = 0) -> RandomCNNEmbedder:
    """Seeded random-weight CNN embedder (exercises the identity term; not a face recogniser)."""
    return RandomCNNEmbedder(dim, seed)
