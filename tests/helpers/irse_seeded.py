"""Deterministic random weights for IR / IR-SE / pSp state dicts, regenerated identically without official code.

Key i of the sorted state dict gets torch.manual_seed(i) and a draw scaled by its role, so BatchNorm statistics stay
positive and activations stay finite through 50-100 residual units. The parity fixtures were made with these
weights loaded into the official modules (see fixtures/irse/NOTES.md).
"""

from __future__ import annotations

import math

import torch

INPUT_SEEDS = {"faces112": 2024, "ffhq1024": 2025, "psp256": 2026, "psp128": 2027, "latent_avg": 10_000}


def seeded_value(key: str, like: torch.Tensor, index: int, keys: set[str]) -> torch.Tensor:
    """The value for state-dict entry `key` (shape/dtype of `like`), drawn after torch.manual_seed(index)."""
    if not like.is_floating_point():  # num_batches_tracked: unused in eval mode
        return torch.zeros(like.shape, dtype=like.dtype)
    torch.manual_seed(index)
    prefix, name = key.rsplit(".", 1)
    shape = like.shape
    is_norm = f"{prefix}.running_mean" in keys
    if name == "running_var":
        return 0.5 + torch.rand(shape)
    if name == "running_mean":
        return 0.1 * torch.randn(shape)
    if is_norm and name == "weight":
        # The last BatchNorm of a residual branch is damped so 100 units do not blow activations up.
        gain = 0.2 if prefix.endswith("res_layer.4") else 1.0
        return gain * (1.0 + 0.1 * torch.randn(shape))
    if name == "bias":
        return 0.1 * torch.randn(shape)
    if like.ndim == 1:  # PReLU slopes
        return 0.25 + 0.05 * torch.randn(shape)
    if like.ndim == 2 and prefix.endswith("linear"):  # EqualLinear scales by 1/sqrt(in) itself
        return torch.randn(shape)
    fan_in = math.prod(shape[1:])
    return torch.randn(shape) / math.sqrt(fan_in)


def seeded_state_dict(reference: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Seeded weights for every entry of `reference` (an official or our state dict; only names/shapes used)."""
    keys = set(reference)
    return {key: seeded_value(key, reference[key], i, keys) for i, key in enumerate(sorted(reference))}


def seeded_inputs(name: str, shape: tuple[int, ...]) -> torch.Tensor:
    """Uniform [-1, 1) test images drawn after torch.manual_seed(INPUT_SEEDS[name])."""
    torch.manual_seed(INPUT_SEEDS[name])
    return torch.rand(shape) * 2 - 1


def seeded_latent_avg(n_styles: int = 18) -> torch.Tensor:
    """A stand-in pSp latent_avg [n_styles, 512]."""
    torch.manual_seed(INPUT_SEEDS["latent_avg"])
    return 0.5 * torch.randn(n_styles, 512)
