"""pSp (Richardson et al., CVPR 2021) GradualStyleEncoder: aligned photos → StyleGAN2 W+ (official key layout).

Loads `psp_ffhq_encode.pt` (keys `encoder.*` / `decoder.*` under 'state_dict', plus 'latent_avg' and 'opts');
only the encoder and latent_avg are used here. The latents are those of rosinality's StyleGAN2 FFHQ 1024²
generator, which the checkpoint's decoder holds.
"""

from __future__ import annotations

import math
import os
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import BadFileError
from ..faces.irse import backbone_from_state, input_layer, ir_body, read_checkpoint
from ..frozen import FrozenSubmodules
from ..generators.base import FaceGenerator
from ..weights import WEIGHTS, locate
from .base import INVERTERS, Inverter

PSP_WEIGHT = WEIGHTS["psp_ffhq_encode"]

# Which body units feed the feature pyramid (official forward: i == 6, 20, 23 for IR-SE50) and how many styles
# read each level (coarse: 0-2 from the 16² map, middle: 3-6 from 32², fine: the rest from 64²).
TAPS = (6, 20, 23)
COARSE, MIDDLE = 3, 7
INPUT_SIZE = 256


class EqualLinear(nn.Module):
    """rosinality's equalised linear layer: y = x (W · lr_mul/√in)ᵀ + b · lr_mul."""

    def __init__(self, in_dim: int, out_dim: int, lr_mul: float = 1.0) -> None:
        super().__init__()
        weight = torch.randn(out_dim, in_dim)
        # (Arithmetic on meta tensors imports torch's reference ops, seconds; pSp always uses lr_mul = 1.)
        self.weight = nn.Parameter(weight if lr_mul == 1 else weight / lr_mul)
        self.bias = nn.Parameter(torch.zeros(out_dim))
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


class GradualStyleBlock(nn.Module):
    """log2(spatial) strided conv3 + LeakyReLU(0.01) steps down to 1×1, then an EqualLinear → one style [B, C]."""

    def __init__(self, in_channels: int, out_channels: int, spatial: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(int(math.log2(spatial))):
            layers += [nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, 3, 2, 1), nn.LeakyReLU()]
        self.convs = nn.Sequential(*layers)
        self.linear = EqualLinear(out_channels, out_channels)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.convs(x).reshape(-1, self.out_channels))


class GradualStyleEncoder(nn.Module):
    """IR-SE50 with a feature pyramid (FPN-style lateral 1×1 convs, bilinear upsampling) → codes [B, n_styles, 512]."""

    def __init__(self, n_styles: int = 18, in_channels: int = 3) -> None:
        super().__init__()
        if n_styles <= MIDDLE:
            raise ValueError(f"pSp's GradualStyleEncoder needs more than {MIDDLE} styles, got {n_styles}")
        self.input_layer = input_layer(in_channels)
        self.body = ir_body(50, squeeze_excite=True)
        spatial = [16] * COARSE + [32] * (MIDDLE - COARSE) + [64] * (n_styles - MIDDLE)
        self.styles = nn.ModuleList(GradualStyleBlock(512, 512, s) for s in spatial)
        self.latlayer1 = nn.Conv2d(256, 512, 1)
        self.latlayer2 = nn.Conv2d(128, 512, 1)
        self.n_styles = n_styles

    @staticmethod
    def upsample_add(top: torch.Tensor, lateral: torch.Tensor) -> torch.Tensor:
        """Bilinear (align_corners=True, as official) upsampling of `top` to `lateral`'s size, plus `lateral`."""
        return F.interpolate(top, size=lateral.shape[-2:], mode="bilinear", align_corners=True) + lateral

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.input_layer(x)
        taps = []
        for i, unit in enumerate(self.body):
            x = unit(x)
            if i in TAPS:
                taps.append(x)
        c1, c2, c3 = taps  # 128 ch at 64², 256 ch at 32², 512 ch at 16² for a 256² input
        p2 = self.upsample_add(c3, self.latlayer1(c2))
        p1 = self.upsample_add(p2, self.latlayer2(c1))
        levels = [c3] * COARSE + [p2] * (MIDDLE - COARSE) + [p1] * (self.n_styles - MIDDLE)
        return torch.stack([style(level) for style, level in zip(self.styles, levels)], dim=1)


class PSPInverter(FrozenSubmodules, Inverter):
    """pSp encoder as an Inverter: photos [B, 3, H, W] in [-1, 1] → W+ [B, n_styles, 512] (codes + latent_avg)."""

    frozen_submodules = ("encoder",)  # its BatchNorm statistics stay frozen

    def __init__(self, encoder: GradualStyleEncoder, latent_avg: torch.Tensor | None) -> None:
        super().__init__()
        self.encoder = encoder.eval().requires_grad_(False)
        # None when the checkpoint was trained without start_from_latent_avg (the codes are then W+ directly).
        self.register_buffer("latent_avg", latent_avg)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """Resize to 256² as pSp's transform (PIL bilinear Resize((256, 256)); antialiased bilinear here)."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"pSp expects images [B, 3, H, W] in [-1, 1], got {tuple(images.shape)}")
        if images.shape[-2:] == (INPUT_SIZE, INPUT_SIZE):
            return images
        size = (INPUT_SIZE, INPUT_SIZE)
        return F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=True)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Photos → W+ [B, n_styles, 512] of the checkpoint's StyleGAN2 (pSp forward with start_from_latent_avg)."""
        codes = self.encoder(self.preprocess(images))
        if self.latent_avg is not None:
            codes = codes + self.latent_avg  # [n_styles, 512] or [512]: broadcasts as the official repeat
        return codes

    def invert(self, images: torch.Tensor, generator: FaceGenerator) -> torch.Tensor:
        """Photos → W+ latents of `generator`, which must be the StyleGAN2 the checkpoint was trained for."""
        n_styles = self.encoder.n_styles
        if generator.num_ws != n_styles or generator.w_dim != 512:
            raise ValueError(
                f"the pSp checkpoint encodes {n_styles} × 512 W+ latents (StyleGAN2 at "
                f"{2 ** (n_styles // 2 + 1)}²) but the generator takes {generator.num_ws} × {generator.w_dim}; "
                "use the StyleGAN2 generator pSp was trained with (FFHQ 1024²: 18 styles)"
            )
        return self.encode(images.to(self.encoder.input_layer[0].weight.device))


def _option(opts: dict, name: str, default: Any) -> Any:
    return opts.get(name, default) if isinstance(opts, dict) else default


def load_psp(path: str | os.PathLike) -> PSPInverter:
    """Read an official pSp checkpoint file into a PSPInverter."""
    return psp_from_checkpoint(read_checkpoint(path, "pSp"), path)


def psp_from_checkpoint(ckpt: Any, path: str | os.PathLike) -> PSPInverter:
    """PSPInverter from a loaded pSp checkpoint dict ('state_dict', 'latent_avg', 'opts'); `path` names it in errors."""
    what = "pSp"
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise BadFileError(
            f"{path} is not a pSp checkpoint: expected a dict with 'state_dict', 'latent_avg' and 'opts'"
        )
    opts = ckpt.get("opts", {})
    encoder_type = _option(opts, "encoder_type", "GradualStyleEncoder")
    if encoder_type != "GradualStyleEncoder":
        raise BadFileError(f"{path}: encoder_type {encoder_type!r} is not supported (only GradualStyleEncoder)")
    if _option(opts, "learn_in_w", False):
        raise BadFileError(f"{path}: learn_in_w checkpoints (one w) are not supported (only W+ GradualStyleEncoder)")
    # As pSp: n_styles = 2·log2(output_size) − 2, with output_size 1024 when the options predate it.
    output_size = int(_option(opts, "output_size", 1024))
    n_styles = int(math.log2(output_size)) * 2 - 2
    in_channels = int(_option(opts, "input_nc", 3))
    if in_channels != 3:
        raise BadFileError(f"{path}: input_nc={in_channels}; only RGB-input pSp models invert photos")
    state = {k[len("encoder.") :]: v for k, v in ckpt["state_dict"].items() if k.startswith("encoder.")}
    if not state:
        raise BadFileError(f"{path}: 'state_dict' holds no 'encoder.*' keys")
    label = f"{what} GradualStyleEncoder ({n_styles} styles)"
    encoder = backbone_from_state(lambda: GradualStyleEncoder(n_styles, in_channels), state, path, label)
    latent_avg = None
    # Trained checkpoints always record the flag; without it, use latent_avg when the file has one.
    if _option(opts, "start_from_latent_avg", "latent_avg" in ckpt):
        latent_avg = ckpt.get("latent_avg")
        if not isinstance(latent_avg, torch.Tensor):
            raise BadFileError(f"{path}: start_from_latent_avg is set but the checkpoint has no 'latent_avg' tensor")
        latent_avg = latent_avg.float()
        if latent_avg.shape not in ((512,), (1, 512), (n_styles, 512)):
            raise BadFileError(
                f"{path}: latent_avg has shape {tuple(latent_avg.shape)}, expected [512] or [{n_styles}, 512]"
            )
    return PSPInverter(encoder, latent_avg)


@INVERTERS.register("psp")
def build_psp(path: str | None = None) -> PSPInverter:
    """pSp encoder from `psp_ffhq_encode.pt` (checkpoints/ or `path`)."""
    return load_psp(locate(PSP_WEIGHT.key, path))
