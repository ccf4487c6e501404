"""Swin Transformer V2 (Liu et al. 2022) as GOAE uses it: 256² input, patch 4, embed 128, window 16 (pretrained
windows 12/12/12/6), cosine attention with a continuous (log-spaced) relative position bias, post-norm residuals,
and patch merging at the end of each stage. Written without timm; parameter names follow Microsoft's reference
implementation (the copy in GOAE), so `encoder_FFHQ.pt` loads by name. Dropout and drop-path are inference no-ops.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn


def window_partition(x: torch.Tensor, size: int) -> torch.Tensor:
    """[B, H, W, C] → [B·(H/size)·(W/size), size, size, C], windows batch-major then row-major."""
    b, h, w, c = x.shape
    x = x.view(b, h // size, size, w // size, size, c)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, size, size, c)


def window_reverse(windows: torch.Tensor, size: int, h: int, w: int) -> torch.Tensor:
    """The inverse of `window_partition`: → [B, H, W, C]."""
    b = int(windows.shape[0] / (h * w / size / size))
    x = windows.view(b, h // size, w // size, size, size, -1)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(b, h, w, -1)


def log_spaced_coordinates(window: int, pretrained: int) -> torch.Tensor:
    """[1, 2W−1, 2W−1, 2] relative offsets (dh, dw), normalised by the pretrained window, ×8, log-spaced:
    sign(t)·log2(|t| + 1)/3 (the continuous position bias' inputs)."""
    offsets = torch.arange(-(window - 1), window, dtype=torch.float32)
    table = torch.stack(torch.meshgrid([offsets, offsets], indexing="ij")).permute(1, 2, 0).contiguous().unsqueeze(0)
    table = table / ((pretrained if pretrained > 0 else window) - 1)
    table = table * 8
    return torch.sign(table) * torch.log2(torch.abs(table) + 1.0) / math.log2(8)


def relative_position_index(window: int) -> torch.Tensor:
    """[N, N] index into the (2W−1)² offset table for every pair of tokens of a W × W window (row-major)."""
    coords = torch.flatten(torch.stack(torch.meshgrid([torch.arange(window)] * 2, indexing="ij")), 1)
    relative = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0).contiguous()
    relative[:, :, 0] += window - 1
    relative[:, :, 1] += window - 1
    relative[:, :, 0] *= 2 * window - 1
    return relative.sum(-1)


def shifted_window_mask(resolution: int, window: int, shift: int) -> torch.Tensor:
    """[nW, N, N]: −100 between tokens that the cyclic shift brought from different regions, else 0."""
    regions = torch.zeros((1, resolution, resolution, 1))
    cuts = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
    label = 0
    for rows in cuts:
        for cols in cuts:
            regions[:, rows, cols, :] = label
            label += 1
    windows = window_partition(regions, window).view(-1, window * window)
    mask = windows.unsqueeze(1) - windows.unsqueeze(2)
    return mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)


class WindowAttention(nn.Module):
    """Cosine self-attention inside a window, scaled by exp(min(logit_scale, ln 100)), plus 16·sigmoid of the
    position bias an MLP gives for the log-spaced offsets; q and v have biases, k none."""

    def __init__(self, dim: int, window: int, num_heads: int, pretrained_window: int) -> None:
        super().__init__()
        self.window, self.num_heads = window, num_heads
        self.logit_scale = nn.Parameter(torch.log(10 * torch.ones((num_heads, 1, 1))))
        self.cpb_mlp = nn.Sequential(nn.Linear(2, 512, bias=True), nn.ReLU(inplace=True),
                                     nn.Linear(512, num_heads, bias=False))
        self.register_buffer("relative_coords_table", log_spaced_coordinates(window, pretrained_window))
        self.register_buffer("relative_position_index", relative_position_index(window))
        self.qkv = nn.Linear(dim, dim * 3, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim))
        self.v_bias = nn.Parameter(torch.zeros(dim))
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        b, n, c = x.shape
        bias = torch.cat((self.q_bias, torch.zeros_like(self.v_bias), self.v_bias))
        qkv = F.linear(x, self.qkv.weight, bias).reshape(b, n, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1)
        attn = attn * torch.clamp(self.logit_scale, max=torch.log(torch.tensor(1.0 / 0.01))).exp()
        table = self.cpb_mlp(self.relative_coords_table).view(-1, self.num_heads)
        bias_nn = table[self.relative_position_index.view(-1)].view(n, n, -1).permute(2, 0, 1).contiguous()
        attn = attn + (16 * torch.sigmoid(bias_nn)).unsqueeze(0)
        if mask is not None:
            windows = mask.shape[0]
            attn = attn.view(b // windows, windows, self.num_heads, n, n) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, self.num_heads, n, n)
        attn = torch.softmax(attn, dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    """fc1 (C → 4C) → exact GELU → fc2."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class SwinBlock(nn.Module):
    """(Shifted) window attention and an MLP, each added after its LayerNorm (V2's residual post-norm). A window
    as large as the map is clipped to it, unshifted."""

    def __init__(self, dim: int, resolution: int, num_heads: int, window: int, shift: int, pretrained_window: int,
                 mlp_ratio: float = 4.0) -> None:
        super().__init__()
        if resolution <= window:
            window, shift = resolution, 0
        self.resolution, self.window, self.shift = resolution, window, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window, num_heads, pretrained_window)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.register_buffer("attn_mask", shifted_window_mask(resolution, window, shift) if shift > 0 else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, length, c = x.shape
        side, window, shift = self.resolution, self.window, self.shift
        h = x.view(b, side, side, c)
        if shift > 0:
            h = torch.roll(h, shifts=(-shift, -shift), dims=(1, 2))
        windows = window_partition(h, window).view(-1, window * window, c)
        h = window_reverse(self.attn(windows, mask=self.attn_mask).view(-1, window, window, c), window, side, side)
        if shift > 0:
            h = torch.roll(h, shifts=(shift, shift), dims=(1, 2))
        x = x + self.norm1(h.view(b, side * side, c))
        return x + self.norm2(self.mlp(x))


class PatchMerging(nn.Module):
    """2 × 2 neighbours → one token: the (even, even), (odd, even), (even, odd), (odd, odd) quadrants
    concatenated, a linear reduction 4C → 2C, then LayerNorm (V2 order)."""

    def __init__(self, resolution: int, dim: int) -> None:
        super().__init__()
        self.resolution = resolution
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(2 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, c = x.shape
        x = x.view(b, self.resolution, self.resolution, c)
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        return self.norm(self.reduction(x.view(b, -1, 4 * c)))


class SwinStage(nn.Module):
    """`depth` blocks (odd ones shifted by half a window), then patch merging unless it is the last stage."""

    def __init__(self, dim: int, resolution: int, depth: int, num_heads: int, window: int, pretrained_window: int,
                 merge: bool) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            SwinBlock(dim, resolution, num_heads, window, 0 if i % 2 == 0 else window // 2, pretrained_window)
            for i in range(depth)
        )
        self.downsample = PatchMerging(resolution, dim) if merge else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.downsample(x) if self.downsample is not None else x


class PatchEmbed(nn.Module):
    """4 × 4 patches → tokens (conv stride 4), LayerNorm."""

    def __init__(self, patch: int = 4, channels: int = 3, dim: int = 128) -> None:
        super().__init__()
        self.proj = nn.Conv2d(channels, dim, kernel_size=patch, stride=patch)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x).flatten(2).transpose(1, 2))


class SwinTransformerV2(nn.Module):
    """The backbone; `forward` returns GOAE's five taps: the final normed tokens and stage 2's output (both as
    [B, C, L]), and the inputs of stages 2, 1 and 0 ([B, L, C])."""

    def __init__(self, img_size: int = 256, patch: int = 4, dim: int = 128, depths: Sequence[int] = (2, 2, 18, 2),
                 num_heads: Sequence[int] = (4, 8, 16, 32), window: int = 16,
                 pretrained_windows: Sequence[int] = (12, 12, 12, 6)) -> None:
        super().__init__()
        self.img_size = img_size
        self.patch_embed = PatchEmbed(patch, 3, dim)
        side = img_size // patch
        self.layers = nn.ModuleList(
            SwinStage(dim * 2**i, side // 2**i, depths[i], num_heads[i], window, pretrained_windows[i],
                      merge=i < len(depths) - 1)
            for i in range(len(depths))
        )
        self.norm = nn.LayerNorm(dim * 2 ** (len(depths) - 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if tuple(x.shape[-2:]) != (self.img_size, self.img_size):
            raise ValueError(f"the Swin encoder takes {self.img_size}² images, got {tuple(x.shape[-2:])}")
        x = self.patch_embed(x)
        taps = []
        for layer in self.layers:
            taps.append(x)
            x = layer(x)
        fine, mid, coarse, query = taps
        return self.norm(x).transpose(1, 2), query.transpose(1, 2), coarse, mid, fine
