"""Deterministic weights for GOAE parity tests: the same numbers for the official GOAEncoder and guide-pl's (their
state-dict names are the same). The official init zeroes every Swin block's norms (turning the blocks into
identities) and many biases, which would leave attention untested, so every parameter is drawn anew."""

from __future__ import annotations

import math

import torch

INPUT_SEED = 2027


def _value(name: str, shape: torch.Size, generator: torch.Generator) -> torch.Tensor:
    draw = torch.randn(tuple(shape), generator=generator)
    if name.endswith("logit_scale"):
        return math.log(10) + 1.5 * draw  # some above ln 100, so the clamp is exercised
    if len(shape) >= 2:  # weights of linear and conv layers: unit-variance outputs
        return draw / math.sqrt(math.prod(shape[1:]))
    if "norm" in name and name.endswith(".weight"):
        return 1 + 0.1 * draw
    return 0.1 * draw  # biases, q/v biases, in_proj biases, LayerNorm biases


def fill_seeded(module: torch.nn.Module, base_seed: int = 0) -> None:
    """Overwrite every parameter of `module` (buffers stay as built): seed base_seed + index in sorted order."""
    parameters = dict(module.named_parameters())
    with torch.no_grad():
        for index, name in enumerate(sorted(parameters)):
            generator = torch.Generator().manual_seed(base_seed + index)
            parameters[name].copy_(_value(name, parameters[name].shape, generator))


def seeded_input(batch: int = 2) -> torch.Tensor:
    """[batch, 3, 256, 256] in [−1, 1], smooth enough to look like an image at the patch scale."""
    coarse = torch.rand(batch, 3, 32, 32, generator=torch.Generator().manual_seed(INPUT_SEED)) * 2 - 1
    fine = torch.rand(batch, 3, 256, 256, generator=torch.Generator().manual_seed(INPUT_SEED + 1)) * 0.2 - 0.1
    return (torch.nn.functional.interpolate(coarse, size=(256, 256), mode="bilinear", align_corners=False)
            + fine).clamp(-1, 1)
