"""An offline deep-feature perceptual distance on the stages of dlib's face ResNet (LPIPS-style, no trained heads).

Like LPIPS, each stage's features are unit-normalised over channels, differences squared and summed over
channels, then averaged over space; the 6 stages (stem and the 5 residual levels, 35² … 2²) are summed with
equal weights, since no linear layers were trained for this network.

Input preprocessing (`view`): "resize" (default) area-resizes the whole image to 150² — the global and
preservation losses should see hair, background and face alike; "chip" takes dlib's face chip of an
FFHQ-aligned image (the region the network was trained on) for a face-only distance.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .dlib_resnet import CHIP_SIZE, DlibResNet
from .ffhq_chip import FFHQToDlibChip
from .registry import PERCEPTUAL_NETS

VIEWS = ("resize", "chip")


def unit_normalise(features: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Divide each spatial position's channel vector by its L2 norm (LPIPS' normalize_tensor)."""
    return features / (features.square().sum(dim=1, keepdim=True).sqrt() + eps)


class DlibFeatureDistance(nn.Module):
    """(x, y) images [B, 3, H, W] in [-1, 1] → per-sample distance [B] on dlib ResNet stage features."""

    def __init__(self, weights: str | None = None, view: str = "resize") -> None:
        super().__init__()
        if view not in VIEWS:
            raise ValueError(f"unknown view {view!r}; choose one of {VIEWS}")
        self.view = view
        self.net = DlibResNet(weights)
        self.crop = FFHQToDlibChip() if view == "chip" else None

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """Images → the 150² network input of the chosen view."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images [B, 3, H, W], got {tuple(images.shape)}")
        if self.crop is not None:
            return self.crop(images)
        if images.shape[-2:] == (CHIP_SIZE, CHIP_SIZE):
            return images
        if images.shape[-1] > CHIP_SIZE and images.shape[-2] > CHIP_SIZE:
            return F.interpolate(images, size=(CHIP_SIZE, CHIP_SIZE), mode="area")
        return F.interpolate(images, size=(CHIP_SIZE, CHIP_SIZE), mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if x.shape != y.shape:
            raise ValueError(f"images must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
        features = self.net.stages(self.prepare(torch.cat([x, y], dim=0)))
        total = x.new_zeros(x.shape[0])
        for stage in features:
            fx, fy = unit_normalise(stage).chunk(2, dim=0)
            total = total + (fx - fy).square().sum(dim=1).mean(dim=(1, 2))
        return total


@PERCEPTUAL_NETS.register("dlib_features")
def build_dlib_features(weights: str | None = None, view: str = "resize") -> DlibFeatureDistance:
    """LPIPS-style distance on dlib ResNet features (no trained heads); view "resize" (whole image) or "chip"."""
    return DlibFeatureDistance(weights, view)
