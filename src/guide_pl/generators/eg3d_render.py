"""EG3D's neural renderer: rays from a camera, tri-plane features along them, the OSG decoder, and importance-
sampled volume rendering (MipNeRF-style midpoints). Numerics follow NVlabs/eg3d's volumetric_rendering.

Randomness: the stratified depth jitter and the importance samples' uniforms. With `rng=None` they come from the
global RNG, one draw per ray of every image, as the official code; with a `torch.Generator` one draw is shared by
every image of the batch, so a step renders each latent with the same jitter whatever its chunk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import BadValueError
from .stylegan2 import FullyConnectedLayer


@dataclass(frozen=True)
class RenderSettings:
    """The `rendering_kwargs` the forward pass uses (EG3D's FFHQ values as defaults)."""

    depth_resolution: int = 48
    depth_resolution_importance: int = 48
    ray_start: float = 2.25
    ray_end: float = 3.3
    box_warp: float = 1.0
    c_scale: float = 1.0
    c_gen_conditioning_zero: bool = False
    superresolution_noise_mode: str = "none"
    sr_antialias: bool = True
    decoder_lr_mul: float = 1.0

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any]) -> RenderSettings:
        """From a pickle's `rendering_kwargs`; options this renderer does not implement are refused by name."""
        if kwargs.get("clamp_mode", "softplus") != "softplus":
            raise BadValueError(f"clamp_mode {kwargs['clamp_mode']!r} (only 'softplus' is implemented)")
        for key, off in (("disparity_space_sampling", False), ("white_back", False), ("density_noise", 0)):
            if kwargs.get(key, off):
                raise BadValueError(f"rendering option {key}={kwargs[key]!r} is not implemented")
        if isinstance(kwargs.get("ray_start"), str) or isinstance(kwargs.get("ray_end"), str):
            raise BadValueError("ray_start/ray_end 'auto' (box-bounded rays) is not implemented")
        names = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in kwargs.items() if k in names}
        if "c_scale" not in kwargs:
            values["c_scale"] = 0.0  # the official mapping multiplies c by rendering_kwargs.get('c_scale', 0)
        return cls(**values)


def plane_axes() -> torch.Tensor:
    """The three planes' axes [3, 3, 3]: xy, xz and (as trained) zx."""
    return torch.tensor([[[1, 0, 0], [0, 1, 0], [0, 0, 1]],
                         [[1, 0, 0], [0, 0, 1], [0, 1, 0]],
                         [[0, 0, 1], [1, 0, 0], [0, 1, 0]]], dtype=torch.float32)  # fmt: skip


def rays(cam2world: torch.Tensor, intrinsics: torch.Tensor, resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Ray origins and unit directions [N, R², 3] through the pixel centres of an R × R image (row-major)."""
    n, device = cam2world.shape[0], cam2world.device
    index = torch.arange(resolution, dtype=torch.float32, device=device)
    rows, cols = torch.meshgrid(index, index, indexing="ij")
    u = (cols * (1.0 / resolution) + 0.5 / resolution).reshape(1, -1).expand(n, -1)
    v = (rows * (1.0 / resolution) + 0.5 / resolution).reshape(1, -1).expand(n, -1)
    fx, fy, cx, cy, skew = (intrinsics[:, i, j].unsqueeze(-1) for i, j in ((0, 0), (1, 1), (0, 2), (1, 2), (0, 1)))
    ones = torch.ones_like(u)
    x = (u - cx + cy * skew / fy - skew * v / fy) / fx * ones
    y = (v - cy) / fy * ones
    points = torch.stack((x, y, ones, torch.ones_like(ones)), dim=-1)  # camera space, homogeneous
    world = torch.bmm(cam2world, points.permute(0, 2, 1)).permute(0, 2, 1)[:, :, :3]
    origin = cam2world[:, :3, 3]
    directions = F.normalize(world - origin[:, None, :], dim=2)
    return origin.unsqueeze(1).repeat(1, directions.shape[1], 1), directions


def sample_planes(planes: torch.Tensor, points: torch.Tensor, box_warp: float) -> torch.Tensor:
    """Bilinear tri-plane features [N, 3, M, C] at `points` [N, M, 3] (`planes` [N, 3, C, H, W]; zero outside)."""
    n, count, channels, height, width = planes.shape
    axes = plane_axes().to(points.device)
    scaled = (2 / box_warp) * points
    expanded = scaled.unsqueeze(1).expand(-1, count, -1, -1).reshape(n * count, -1, 3)
    inverse = torch.linalg.inv(axes).unsqueeze(0).expand(n, -1, -1, -1).reshape(n * count, 3, 3)
    grid = torch.bmm(expanded, inverse)[..., :2].unsqueeze(1)
    features = F.grid_sample(planes.view(n * count, channels, height, width), grid.float(), mode="bilinear",
                             padding_mode="zeros", align_corners=False)
    return features.permute(0, 3, 2, 1).reshape(n, count, -1, channels)


class OSGDecoder(nn.Module):
    """Mean of the three planes' features → FC(32→64) → softplus → FC(64→1+32): raw density σ and colour features
    squashed to (−0.001, 1.001) (MipNeRF's sigmoid clamping)."""

    def __init__(self, n_features: int = 32, output_features: int = 32, lr_multiplier: float = 1.0) -> None:
        super().__init__()
        self.hidden_dim = 64
        self.net = nn.Sequential(
            FullyConnectedLayer(n_features, self.hidden_dim, lr_multiplier=lr_multiplier),
            nn.Softplus(),
            FullyConnectedLayer(self.hidden_dim, 1 + output_features, lr_multiplier=lr_multiplier),
        )

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = features.mean(1)
        n, m, c = x.shape
        x = self.net(x.view(n * m, c)).view(n, m, -1)
        return torch.sigmoid(x[..., 1:]) * (1 + 2 * 0.001) - 0.001, x[..., 0:1]


def _uniform(shape: tuple[int, ...], rng: Optional[torch.Generator], device: torch.device) -> torch.Tensor:
    """U[0, 1) of `shape` from the global RNG (rng None); with a generator, one draw shared along dim 0."""
    if rng is None:
        return torch.rand(shape, device=device)
    return torch.rand((1, *shape[1:]), generator=rng).to(device).expand(shape)


def stratified_depths(n: int, m: int, settings: RenderSettings, rng: Optional[torch.Generator],
                      device: torch.device) -> torch.Tensor:
    """[N, M, S, 1] depths: S evenly spaced from ray_start to ray_end, each jittered by U[0, spacing)."""
    count = settings.depth_resolution
    depths = torch.linspace(settings.ray_start, settings.ray_end, count, device=device).reshape(1, 1, count, 1)
    depths = depths.repeat(n, m, 1, 1)
    spacing = (settings.ray_end - settings.ray_start) / (count - 1)
    return depths + _uniform(tuple(depths.shape), rng, device) * spacing


def march(colors: torch.Tensor, densities: torch.Tensor, depths: torch.Tensor
          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Composite along each ray (dim −2) at interval midpoints: colour in [−1, 1] [N, M, C], depth [N, M, 1]
    (clamped to the sampled range) and the weights [N, M, S − 1, 1]."""
    deltas = depths[:, :, 1:] - depths[:, :, :-1]
    colors_mid = (colors[:, :, :-1] + colors[:, :, 1:]) / 2
    densities_mid = F.softplus((densities[:, :, :-1] + densities[:, :, 1:]) / 2 - 1)  # σ bias −1, as trained
    depths_mid = (depths[:, :, :-1] + depths[:, :, 1:]) / 2
    alpha = 1 - torch.exp(-(densities_mid * deltas))
    transmittance = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :, :1]), 1 - alpha + 1e-10], -2), -2)
    weights = alpha * transmittance[:, :, :-1]
    rgb = torch.sum(weights * colors_mid, -2)
    depth = torch.sum(weights * depths_mid, -2) / weights.sum(2)
    depth = torch.clamp(torch.nan_to_num(depth, float("inf")), torch.min(depths), torch.max(depths))
    return rgb * 2 - 1, depth, weights


@torch.no_grad()
def importance_depths(depths: torch.Tensor, weights: torch.Tensor, count: int,
                      rng: Optional[torch.Generator]) -> torch.Tensor:
    """[N, M, count, 1] depths drawn from the coarse weights (max-pool, then average-pool smoothed, + 0.01) by
    inverse-CDF sampling between the coarse midpoints (NeRF's sample_pdf, as EG3D calls it)."""
    n, m, samples, _ = depths.shape
    z = depths.reshape(n * m, samples)
    w = F.max_pool1d(weights.reshape(n * m, -1).unsqueeze(1).float(), 2, 1, padding=1)
    w = F.avg_pool1d(w, 2, 1).squeeze() + 0.01
    bins = 0.5 * (z[:, :-1] + z[:, 1:])
    w = w[:, 1:-1] + 1e-5
    pdf = w / torch.sum(w, -1, keepdim=True)
    cdf = torch.cat([torch.zeros_like(pdf[:, :1]), torch.cumsum(pdf, -1)], -1)
    if rng is None:
        u = torch.rand(n * m, count, device=depths.device)
    else:
        u = torch.rand((1, m, count), generator=rng).to(depths.device).expand(n, m, count).reshape(n * m, count)
    u = u.contiguous()
    index = torch.searchsorted(cdf, u, right=True)
    bounds = torch.stack([torch.clamp_min(index - 1, 0), torch.clamp_max(index, w.shape[1])], -1).view(n * m, -1)
    cdf_pair = torch.gather(cdf, 1, bounds).view(n * m, count, 2)
    bin_pair = torch.gather(bins, 1, bounds).view(n * m, count, 2)
    denominator = cdf_pair[..., 1] - cdf_pair[..., 0]
    denominator[denominator < 1e-5] = 1
    drawn = bin_pair[..., 0] + (u - cdf_pair[..., 0]) / denominator * (bin_pair[..., 1] - bin_pair[..., 0])
    return drawn.reshape(n, m, count, 1)


def render_planes(planes: torch.Tensor, decoder: OSGDecoder, origins: torch.Tensor, directions: torch.Tensor,
                  settings: RenderSettings, rng: Optional[torch.Generator] = None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Volume-render tri-planes [N, 3, C, H, W] along rays [N, M, 3]: features [N, M, C] and depth [N, M, 1]."""
    n, m, _ = origins.shape

    def evaluate(depths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        samples = depths.shape[2]
        points = (origins.unsqueeze(-2) + depths * directions.unsqueeze(-2)).reshape(n, -1, 3)
        colors, densities = decoder(sample_planes(planes, points, settings.box_warp))
        return colors.reshape(n, m, samples, colors.shape[-1]), densities.reshape(n, m, samples, 1)

    depths = stratified_depths(n, m, settings, rng, origins.device)
    colors, densities = evaluate(depths)
    if settings.depth_resolution_importance > 0:
        _, _, weights = march(colors, densities, depths)
        fine = importance_depths(depths, weights, settings.depth_resolution_importance, rng)
        fine_colors, fine_densities = evaluate(fine)
        depths = torch.cat([depths, fine], dim=-2)
        _, order = torch.sort(depths, dim=-2)
        depths = torch.gather(depths, -2, order)
        colors = torch.gather(torch.cat([colors, fine_colors], -2), -2, order.expand(-1, -1, -1, colors.shape[-1]))
        densities = torch.gather(torch.cat([densities, fine_densities], -2), -2, order)
    features, depth, _ = march(colors, densities, depths)
    return features, depth
