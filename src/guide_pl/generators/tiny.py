"""`tiny`: a 32×32 StyleGAN2-style generator with seeded random weights, for tests and smoke runs."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import BadValueError
from .base import NOISE_MODES, FaceGenerator
from .registry import GENERATORS


class EqualLinear(nn.Module):
    """Linear layer with StyleGAN's equalised learning rate (weights scaled at run time)."""

    def __init__(self, in_features: int, out_features: int, bias_init: float = 0.0, lr_mul: float = 1.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init)))
        self.weight_gain = lr_mul / math.sqrt(in_features)
        self.lr_mul = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.weight_gain, self.bias * self.lr_mul)


class TinyMapping(nn.Module):
    """Pixel-norm then an MLP with leaky ReLU; the output w is broadcast to every W+ row."""

    def __init__(self, z_dim: int, w_dim: int, num_ws: int, num_layers: int = 4) -> None:
        super().__init__()
        self.num_ws = num_ws
        dims = [z_dim] + [w_dim] * num_layers
        self.layers = nn.ModuleList(EqualLinear(a, b, lr_mul=0.01) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = z * (z.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()
        for layer in self.layers:
            x = F.leaky_relu(layer(x), 0.2) * math.sqrt(2)
        return x.unsqueeze(1).repeat(1, self.num_ws, 1)


class ModulatedConv(nn.Module):
    """Modulated 3×3 (or 1×1) convolution with demodulation, grouped over the batch as in StyleGAN2."""

    def __init__(self, in_ch: int, out_ch: int, w_dim: int, kernel: int, demodulate: bool = True) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, in_ch, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.demodulate = demodulate
        self.padding = kernel // 2

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        batch, in_ch, height, width = x.shape
        styles = self.affine(w)  # [B, in_ch]
        weight = self.weight.unsqueeze(0) * styles[:, None, :, None, None] / math.sqrt(self.weight[0].numel())
        if self.demodulate:
            weight = weight * (weight.square().sum(dim=(2, 3, 4), keepdim=True) + 1e-8).rsqrt()
        weight = weight.reshape(-1, in_ch, *self.weight.shape[2:])
        out = F.conv2d(x.reshape(1, -1, height, width), weight, padding=self.padding, groups=batch)
        return out.reshape(batch, -1, height, width)


class StyledLayer(nn.Module):
    """Modulated conv + per-pixel noise + bias + leaky ReLU (optionally upsampling 2× first)."""

    def __init__(self, in_ch: int, out_ch: int, w_dim: int, resolution: int, upsample: bool) -> None:
        super().__init__()
        self.conv = ModulatedConv(in_ch, out_ch, w_dim, 3)
        self.upsample = upsample
        self.register_buffer("noise_const", torch.randn(1, 1, resolution, resolution))
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(out_ch))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        x = self.conv(x, w)
        if noise_mode == "const":
            x = x + self.noise_const * self.noise_strength
        elif noise_mode == "random":
            x = x + torch.randn_like(x[:, :1]) * self.noise_strength
        return F.leaky_relu(x + self.bias[None, :, None, None], 0.2) * math.sqrt(2)


class TinySynthesis(nn.Module):
    """4×4 constant → styled layers up to `resolution`, summing 1×1 toRGB skips (StyleGAN2 'skip' form).

    W+ rows: row 0 drives the 4×4 layer; at each higher resolution r_k (k = 1, 2, …) rows 2k−1 and 2k drive
    its two layers; toRGB at r_k reads row 2k+1 (row 1 for 4×4), so num_ws = 2·log2(resolution) − 2.
    """

    def __init__(self, w_dim: int, resolution: int, channels: int) -> None:
        super().__init__()
        self.num_blocks = int(math.log2(resolution)) - 2  # upsampling blocks after 4×4
        self.num_ws = 2 * int(math.log2(resolution)) - 2
        self.const = nn.Parameter(torch.randn(channels, 4, 4))
        self.layer4 = StyledLayer(channels, channels, w_dim, 4, upsample=False)
        self.torgb4 = ModulatedConv(channels, 3, w_dim, 1, demodulate=False)
        self.blocks = nn.ModuleList()
        self.torgbs = nn.ModuleList()
        for k in range(1, self.num_blocks + 1):
            res = 4 * 2**k
            self.blocks.append(
                nn.ModuleList(
                    [
                        StyledLayer(channels, channels, w_dim, res, upsample=True),
                        StyledLayer(channels, channels, w_dim, res, upsample=False),
                    ]
                )
            )
            self.torgbs.append(ModulatedConv(channels, 3, w_dim, 1, demodulate=False))

    def forward(self, ws: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        x = self.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
        x = self.layer4(x, ws[:, 0], noise_mode)
        rgb = self.torgb4(x, ws[:, 1])
        for k, ((up, same), torgb) in enumerate(zip(self.blocks, self.torgbs), start=1):
            x = up(x, ws[:, 2 * k - 1], noise_mode)
            x = same(x, ws[:, 2 * k], noise_mode)
            rgb = F.interpolate(rgb, scale_factor=2, mode="bilinear", align_corners=False) + torgb(x, ws[:, 2 * k + 1])
        return torch.tanh(rgb)

    def stages(self) -> list[tuple[int, list[nn.Parameter]]]:
        """(output resolution, parameters) from input to output: 4² (const, layer, toRGB), then each block."""
        first = [self.const, *self.layer4.parameters(), *self.torgb4.parameters()]
        blocks = [
            (4 * 2**k, [*block.parameters(), *torgb.parameters()])
            for k, (block, torgb) in enumerate(zip(self.blocks, self.torgbs), start=1)
        ]
        return [(4, first), *blocks]


class TinyGenerator(FaceGenerator):
    """Seeded random-weight StyleGAN2-style generator; its w_avg is estimated from 10,000 z at build."""

    def __init__(
        self,
        resolution: int = 32,
        z_dim: int = 64,
        w_dim: int = 64,
        channels: int = 32,
        seed: int = 0,
        loss_resolution: int | None = None,
    ) -> None:
        super().__init__(loss_resolution=loss_resolution)
        if resolution < 8 or resolution & (resolution - 1):
            raise BadValueError(f"tiny resolution must be a power of two ≥ 8, got {resolution}")
        self.z_dim, self.w_dim, self.resolution = z_dim, w_dim, resolution
        self.num_ws = 2 * int(math.log2(resolution)) - 2
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.mapping = TinyMapping(z_dim, w_dim, self.num_ws)
            self.synthesis = TinySynthesis(w_dim, resolution, channels)
            # Non-zero noise strengths so noise modes differ (trained StyleGANs have them too).
            for module in self.synthesis.modules():
                if isinstance(module, StyledLayer):
                    module.noise_strength.data.fill_(0.1)
        self.register_buffer("w_avg", torch.zeros(w_dim))
        self.w_avg.copy_(self.estimate_w_avg(num_samples=10_000, seed=seed))


@GENERATORS.register("tiny")
def build_tiny(
    resolution: int = 32,
    z_dim: int = 64,
    w_dim: int = 64,
    channels: int = 32,
    seed: int = 0,
    loss_resolution: int | None = None,
) -> TinyGenerator:
    """The `tiny` test generator (random weights fixed by `seed`)."""
    return TinyGenerator(resolution, z_dim, w_dim, channels, seed, loss_resolution)
