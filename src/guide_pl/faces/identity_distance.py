"""The identity term of the local loss: 1 − cos between embeddings of two images (Eq. 4)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..frozen import FrozenSubmodules


class CosineIdentityDistance(FrozenSubmodules):
    """(x, y) generator images in [-1, 1] → per-sample 1 − cos(E(crop(x)), E(crop(y))), shape [B].

    `crop` maps generator images to the embedder's input (e.g. an FFHQ-aligned 1024² image → a 112² or 150²
    face chip); it must be differentiable so the loss reaches the generator.
    """

    frozen_submodules = ("embedder",)

    def __init__(self, embedder: nn.Module, crop: Optional[Callable[[torch.Tensor], torch.Tensor]] = None) -> None:
        super().__init__()
        self.embedder = embedder.eval().requires_grad_(False)
        self.crop = crop

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Embeddings [B, D] of generator images."""
        if self.crop is not None:
            images = self.crop(images)
        return self.embedder(images)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return 1.0 - F.cosine_similarity(self.embed(x), self.embed(y), dim=1)
