"""Deterministic StyleGAN2 weights for parity tests: the same numbers for the official net and ours.

Both networks use stylegan2-ada-pytorch's parameter names, so filling tensors in sorted-name order with one
seed per tensor gives both the same weights without storing them (1024² config F has ~30M numbers).
"""

from __future__ import annotations

import re

import torch

SMALL_CONFIGS = {
    # name: Generator kwargs (official signature); c_dim 0 as for FFHQ
    "skip": dict(
        z_dim=64, c_dim=0, w_dim=64, img_resolution=32, img_channels=3,
        mapping_kwargs=dict(num_layers=3),
        synthesis_kwargs=dict(channel_base=512, channel_max=32, architecture="skip"),
    ),
    "skip_clamp": dict(
        z_dim=64, c_dim=0, w_dim=64, img_resolution=32, img_channels=3,
        mapping_kwargs=dict(num_layers=2),
        synthesis_kwargs=dict(channel_base=512, channel_max=32, architecture="skip", conv_clamp=1.5, num_fp16_res=2),
    ),
    "resnet": dict(
        z_dim=64, c_dim=0, w_dim=64, img_resolution=32, img_channels=3,
        mapping_kwargs=dict(num_layers=2),
        synthesis_kwargs=dict(channel_base=512, channel_max=32, architecture="resnet"),
    ),
    "orig": dict(
        z_dim=64, c_dim=0, w_dim=64, img_resolution=32, img_channels=3,
        mapping_kwargs=dict(num_layers=2),
        synthesis_kwargs=dict(channel_base=512, channel_max=32, architecture="orig"),
    ),
}  # fmt: skip

# FFHQ 1024² config F as in stylegan2-ada-pytorch's 'stylegan2' cfg (cbase 32768, cmax 512, 8 mapping layers).
FFHQ_CONFIG_F = dict(
    z_dim=512, c_dim=0, w_dim=512, img_resolution=1024, img_channels=3,
    mapping_kwargs=dict(num_layers=8),
    synthesis_kwargs=dict(channel_base=32768, channel_max=512),
)  # fmt: skip


def _scale_offset(name: str) -> tuple[float, float]:
    """Plausible magnitudes per tensor kind (mapping weights carry the 1/lr_multiplier = 100 of the init); names
    may sit under a prefix (EG3D's `backbone.mapping.…`)."""
    if re.search(r"(^|\.)mapping\.fc\d+\.weight$", name):
        return 100.0, 0.0
    if re.search(r"(^|\.)mapping\.fc\d+\.bias$", name):
        return 10.0, 0.0
    if name == "mapping.w_avg" or name.endswith(".mapping.w_avg"):
        return 0.5, 0.0
    if name.endswith("affine.bias"):
        return 0.2, 1.0
    if name.endswith("noise_strength"):
        return 0.1, 0.0
    if name.endswith(".bias"):
        return 0.1, 0.0
    if name.endswith("dataset_label_std"):  # EG3D's camera-label std
        return 0.1, 1.0
    return 1.0, 0.0


def seeded_state(shapes: dict[str, torch.Size], base_seed: int = 0) -> dict[str, torch.Tensor]:
    """Tensor for every name except resample filters: seed base_seed + index in sorted order, scaled by kind."""
    out = {}
    names = sorted(name for name in shapes if not name.endswith("resample_filter"))
    for index, name in enumerate(names):
        generator = torch.Generator().manual_seed(base_seed + index)
        scale, offset = _scale_offset(name)
        out[name] = torch.randn(tuple(shapes[name]), generator=generator) * scale + offset
    return out


def fill_seeded(module: torch.nn.Module, base_seed: int = 0) -> None:
    """Overwrite `module`'s parameters/buffers (not resample filters) with `seeded_state` values."""
    own = module.state_dict()
    values = seeded_state({name: value.shape for name, value in own.items()}, base_seed)
    with torch.no_grad():
        for name, value in values.items():
            own[name].copy_(value)


# rosinality/stylegan2-pytorch Generator(size, style_dim, n_mlp) for the .pt conversion test (its channels are
# fixed at 512 up to 32², so the test uses 16² output to stay small).
ROSINALITY_CONFIG = dict(size=16, style_dim=64, n_mlp=3)


def _rosinality_scale_offset(name: str) -> tuple[float, float]:
    """Magnitudes for rosinality names, matching `_scale_offset` for the same roles."""
    if re.fullmatch(r"style\.\d+\.weight", name):
        return 100.0, 0.0
    if re.fullmatch(r"style\.\d+\.bias", name):
        return 10.0, 0.0
    if name == "latent_avg":
        return 0.5, 0.0
    if name.endswith("modulation.bias"):
        return 0.2, 1.0
    if name.endswith("noise.weight"):
        return 0.1, 0.0
    if name.endswith("bias"):
        return 0.1, 0.0
    return 1.0, 0.0


def seeded_rosinality_state(shapes: dict[str, tuple], base_seed: int = 0) -> dict[str, torch.Tensor]:
    """Seeded tensors for rosinality names (blur/upsample kernels excluded: they are constants)."""
    out = {}
    names = sorted(name for name in shapes if not name.endswith("kernel"))
    for index, name in enumerate(names):
        generator = torch.Generator().manual_seed(base_seed + index)
        scale, offset = _rosinality_scale_offset(name)
        out[name] = torch.randn(tuple(shapes[name]), generator=generator) * scale + offset
    return out
