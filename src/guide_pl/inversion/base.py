"""The `Inverter` interface: photos → W+ latents of a given generator."""

from __future__ import annotations

from typing import Any

import torch

from ..generators.base import FaceGenerator
from ..registry import Registry


class Inverter:
    """Turns aligned photos into latents of `generator` (encoder-based or optimisation-based)."""

    def invert(self, images: torch.Tensor, generator: FaceGenerator) -> torch.Tensor:
        """Aligned photos [B, 3, H, W] in [-1, 1] → W+ latents [B, generator.num_ws, generator.w_dim]."""
        raise NotImplementedError

    def reseeded(self, seed: int) -> Inverter:
        """This inverter drawing its randomness from `seed`; deterministic inverters return themselves."""
        return self


INVERTERS: Registry[Inverter] = Registry("inverter")


def build_inverter(name: str, **options: Any) -> Inverter:
    """Build the inverter registered as `name`."""
    return INVERTERS.build(name, **options)
