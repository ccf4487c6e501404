"""Content fingerprints (sha256) of modules and tensors, for cache keys."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import torch
from torch import nn

_SIMPLE = (bool, int, float, str, type(None))


def tensor_bytes(tensor: torch.Tensor) -> bytes:
    """Raw bytes of a tensor's values (any dtype, any device), in row-major order."""
    flat = tensor.detach().cpu().contiguous().reshape(-1)
    return flat.view(torch.uint8).numpy().tobytes()


def update_with_tensor(digest: Any, tensor: torch.Tensor) -> None:
    """Feed dtype, shape and values of `tensor` into a hashlib digest."""
    digest.update(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
    digest.update(tensor_bytes(tensor))


def tensor_fingerprint(tensor: torch.Tensor) -> str:
    """sha256 hex digest of a tensor's dtype, shape and values."""
    digest = hashlib.sha256()
    update_with_tensor(digest, tensor)
    return digest.hexdigest()


def _simple_attributes(module: nn.Module) -> dict[str, Any]:
    # Plain settings (sizes, flags, names) change a module's output without being in its state_dict.
    out = {}
    for key, value in sorted(vars(module).items()):
        if key.startswith("_") or key == "training":
            continue
        if isinstance(value, _SIMPLE) or (isinstance(value, tuple) and all(isinstance(v, _SIMPLE) for v in value)):
            out[key] = value
    return out


def module_fingerprint(module: nn.Module) -> str:
    """sha256 over every submodule's class and plain attributes and every state_dict tensor.

    All weights are hashed, not a sample: GUIDE may fine-tune any subset of the synthesis network, and a
    cache keyed on a few tensors would then return latents of the wrong generator. sha256 runs at several
    hundred MB/s, small next to any inversion.
    """
    digest = hashlib.sha256()
    structure = [
        (name, f"{type(sub).__module__}.{type(sub).__qualname__}", _simple_attributes(sub))
        for name, sub in module.named_modules()
    ]
    digest.update(json.dumps(structure, sort_keys=True, default=repr).encode())
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        update_with_tensor(digest, tensor)
    return digest.hexdigest()
