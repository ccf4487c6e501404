"""Differentiable crop from FFHQ-aligned generator images to dlib's 150² face chip, and the dlib identity loss.

The chip geometry is fixed for FFHQ-aligned faces (`ffhq_geometry.ffhq_chip_affine`). Like dlib's
extract_image_chip, the image is first halved (2×2 average) while the chip's face box stays above 150 pixels,
then sampled bilinearly; dlib's pyramid also shifts its samples by (−(2^L − 1)/2, +(2^L − 1)/2) source pixels
after L halvings (measured against dlib.extract_image_chip on coordinate images), which is reproduced.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .dlib_resnet import CHIP_SIZE, DlibResNet
from .ffhq_geometry import ffhq_chip_affine
from .identity_distance import CosineIdentityDistance
from .registry import IDENTITY_NETS


def dlib_pyramid_levels(face_width: float, chip_size: int = CHIP_SIZE) -> int:
    """How many 2× reductions dlib applies before sampling a chip whose face box is `face_width` pixels wide."""
    levels = 0
    while face_width / 2 ** (levels + 1) > chip_size:
        levels += 1
    return levels


class FFHQToDlibChip(nn.Module):
    """FFHQ-aligned images [B, 3, S, S] (any S, values kept) → dlib chips [B, 3, 150, 150], differentiably."""

    def __init__(self, size: int = CHIP_SIZE, padding: float = 0.25) -> None:
        super().__init__()
        self.size = size
        affine = torch.tensor(ffhq_chip_affine(size, padding), dtype=torch.float64)  # chip px → normalised
        rows, cols = torch.meshgrid(torch.arange(size, dtype=torch.float64),
                                    torch.arange(size, dtype=torch.float64), indexing="ij")
        points = torch.stack([cols, rows, torch.ones_like(cols)], dim=-1) @ affine.T  # [size, size, 2] in [0, 1]
        self.register_buffer("points", points.float(), persistent=False)
        # Width of the chip's face box as a fraction of the image side (dlib's rect = size × scale).
        self.box_fraction = float(size * torch.linalg.vector_norm(affine[:, 0]))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] != 3 or images.shape[2] != images.shape[3]:
            raise ValueError(f"expected square FFHQ-aligned images [B, 3, S, S], got {tuple(images.shape)}")
        side = images.shape[-1]
        levels = dlib_pyramid_levels(self.box_fraction * side, self.size)
        for _ in range(levels):
            images = F.avg_pool2d(images, 2)
        shift = (2**levels - 1) / 2.0 / side  # dlib's pyramid offset, in normalised units
        offset = torch.tensor([-shift, shift], dtype=self.points.dtype, device=images.device)
        # Normalised position u ↔ grid coordinate 2u − 1 (align_corners=False) at every pyramid level.
        grid = (2.0 * (self.points + offset) - 1.0).to(images.dtype)
        grid = grid.unsqueeze(0).expand(images.shape[0], -1, -1, -1)
        return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


class DlibFFHQEmbedder(nn.Module):
    """dlib descriptors of FFHQ-aligned images: [B, 3, S, S] in [-1, 1] → [B, 128] (chip crop + ResNet port)."""

    num_features = 128

    def __init__(self, weights: str | None = None) -> None:
        super().__init__()
        self.crop = FFHQToDlibChip()
        self.net = DlibResNet(weights)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(self.crop(images))


@IDENTITY_NETS.register("dlib_ffhq")
def build_dlib_ffhq(weights: str | None = None) -> DlibFFHQEmbedder:
    """dlib's face ResNet on FFHQ-aligned images of any size (fixed crop to dlib's chip) → [B, 128]."""
    return DlibFFHQEmbedder(weights)


def build_dlib_identity_distance(weights: str | None = None) -> CosineIdentityDistance:
    """Identity term of the local loss on FFHQ-aligned images: 1 − cos of dlib descriptors, per sample [B]."""
    return CosineIdentityDistance(DlibResNet(weights), FFHQToDlibChip())

