"""Registries of identity networks and perceptual distances, chosen by name in configs."""

from __future__ import annotations

from typing import Any

from torch import nn

from ..registry import Registry

IDENTITY_NETS: Registry[nn.Module] = Registry("identity network")
PERCEPTUAL_NETS: Registry[nn.Module] = Registry("perceptual network")


def build_identity(name: str, **options: Any) -> nn.Module:
    """Identity embedder: images [B, 3, H, W] in [-1, 1] → embeddings [B, D]."""
    return IDENTITY_NETS.build(name, **options)


def build_perceptual(name: str, **options: Any) -> nn.Module:
    """Perceptual distance: (x, y) images [B, 3, H, W] in [-1, 1] → per-sample distances [B]."""
    return PERCEPTUAL_NETS.build(name, **options)
