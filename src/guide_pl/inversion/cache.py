"""On-disk cache of inversions keyed by generator weights, photos and inverter settings."""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..atomic import torch_save
from ..generators.base import FaceGenerator
from .base import Inverter
from .fingerprint import module_fingerprint, tensor_fingerprint


def inversion_key(
    inverter: Inverter, images: torch.Tensor, generator: FaceGenerator, key_parts: Sequence[Any] = ()
) -> dict[str, Any]:
    """The cache key's ingredients: generator name and weights, photo bytes, inverter class and settings.

    The inverter must describe itself with `settings()` → a JSON-able dict of everything that changes its
    result (OptimizationInverter does); without it a cache could return latents from other settings.
    """
    settings = getattr(inverter, "settings", None)
    if settings is None:
        raise TypeError(f"{type(inverter).__name__} has no settings() method; it cannot be cached safely")
    return {
        "generator": getattr(generator, "name", None) or type(generator).__name__,
        "generator_weights": module_fingerprint(generator),
        "images": tensor_fingerprint(images.detach().float()),
        "inverter": f"{type(inverter).__module__}.{type(inverter).__qualname__}",
        "settings": settings(),
        "extra": [str(part) for part in key_parts],
    }


def _digest(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=repr).encode()).hexdigest()


def cached_invert(
    inverter: Inverter,
    images: torch.Tensor,
    generator: FaceGenerator,
    cache_dir: str | os.PathLike,
    key_parts: Sequence[Any] = (),
) -> torch.Tensor:
    """`inverter.invert(images, generator)`, loaded from `cache_dir` when the same inversion was done before.

    Entries are `<sha256 of the key>.pt` holding the W+ latents (CPU) and the key; written atomically. An
    unreadable or mismatching entry is recomputed (with a warning) and overwritten.
    """
    key = inversion_key(inverter, images, generator, key_parts)
    path = Path(cache_dir) / f"inversion-{_digest(key)}.pt"
    expected_shape = (images.shape[0], generator.num_ws, generator.w_dim)
    if path.is_file():
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
            ws = payload["ws"]
            if payload.get("key") != json.loads(json.dumps(key, default=repr)) or tuple(ws.shape) != expected_shape:
                raise ValueError("stored key or shape does not match")
            return ws.to(generator.w_avg.device)
        except Exception as err:  # a damaged entry must not stop a run: recompute it
            warnings.warn(f"ignoring unusable inversion cache entry {path}: {err}", stacklevel=2)
    ws = inverter.invert(images, generator)
    torch_save({"ws": ws.detach().cpu(), "key": json.loads(json.dumps(key, default=repr))}, path)
    return ws


class CachedInverter(Inverter):
    """An inverter whose results are cached in `cache_dir` by generator weights, image bytes and settings."""

    def __init__(self, inner: Inverter, cache_dir: str | os.PathLike) -> None:
        self.inner, self.cache_dir = inner, Path(cache_dir)

    def invert(self, images: torch.Tensor, generator: FaceGenerator) -> torch.Tensor:
        return cached_invert(self.inner, images, generator, self.cache_dir)

    def reseeded(self, seed: int) -> Inverter:
        """The inner inverter reseeded, cached in the same folder (its settings, seed included, key the cache)."""
        return CachedInverter(self.inner.reseeded(seed), self.cache_dir)
