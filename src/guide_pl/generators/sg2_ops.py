"""Pure-PyTorch StyleGAN2 primitives: FIR up/downsampling, bias + activation, modulated convolution.

They follow the reference (non-CUDA) code paths of NVIDIA's stylegan2-ada-pytorch numerically; the CUDA kernels
there compute the same functions, so checkpoints trained with them load here unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Optional

import torch
import torch.nn.functional as F

LRELU_ALPHA = 0.2
ACT_GAIN = {"linear": 1.0, "lrelu": math.sqrt(2.0), "relu": math.sqrt(2.0)}


def setup_filter(taps: Sequence[float] = (1, 3, 3, 1)) -> torch.Tensor:
    """2-D low-pass filter [k, k] from 1-D taps (outer product), normalised to unit DC gain."""
    f = torch.as_tensor(list(taps), dtype=torch.float32)
    if f.ndim != 1 or f.numel() == 0:
        raise ValueError(f"filter taps must be a non-empty 1-D sequence, got shape {tuple(f.shape)}")
    f = torch.outer(f, f)
    return f / f.sum()


def _padding4(padding: int | Sequence[int]) -> list[int]:
    """[x0, x1, y0, y1] from an int, [x, y] or [x0, x1, y0, y1]."""
    if isinstance(padding, int):
        return [padding] * 4
    padding = list(padding)
    if len(padding) == 2:
        return [padding[0], padding[0], padding[1], padding[1]]
    if len(padding) != 4:
        raise ValueError(f"padding must have 1, 2 or 4 entries, got {padding}")
    return padding


def upfirdn2d(
    x: torch.Tensor,
    f: Optional[torch.Tensor],
    up: int = 1,
    down: int = 1,
    padding: int | Sequence[int] = 0,
    flip_filter: bool = False,
    gain: float = 1.0,
) -> torch.Tensor:
    """Zero-insert upsample by `up`, pad (negative = crop), convolve with FIR `f`, keep every `down`-th pixel."""
    if f is None:
        f = torch.ones(1, 1, dtype=torch.float32, device=x.device)
    batch, channels, height, width = x.shape
    px0, px1, py0, py1 = _padding4(padding)
    if up > 1:
        x = x.reshape(batch, channels, height, 1, width, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(batch, channels, height * up, width * up)
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0) : x.shape[2] - max(-py1, 0), max(-px0, 0) : x.shape[3] - max(-px1, 0)]
    # The filter is applied as a true convolution (flipped) unless flip_filter asks for correlation.
    f = (f * (gain ** (f.ndim / 2))).to(x.dtype)
    if not flip_filter:
        f = f.flip(list(range(f.ndim)))
    weight = f[None, None].repeat(channels, 1, 1, 1)
    x = F.conv2d(x, weight, groups=channels)
    return x[:, :, ::down, ::down]


def upsample2d(x: torch.Tensor, f: torch.Tensor, up: int = 2) -> torch.Tensor:
    """Upsample by `up` with FIR filter `f`, padded so the output is exactly `up` times the input."""
    fw = f.shape[-1]
    pad = [(fw + up - 1) // 2, (fw - up) // 2] * 2
    return upfirdn2d(x, f, up=up, padding=pad, gain=up * up)


def bias_act(
    x: torch.Tensor,
    b: Optional[torch.Tensor] = None,
    act: str = "linear",
    gain: Optional[float] = None,
    clamp: Optional[float] = None,
) -> torch.Tensor:
    """Add bias (channel dim 1), apply `act` ('linear'|'lrelu'|'relu'), scale by gain, clamp to ±clamp."""
    if act not in ACT_GAIN:
        raise ValueError(f"unknown activation {act!r}; known: {sorted(ACT_GAIN)}")
    if b is not None:
        x = x + b.reshape([-1 if i == 1 else 1 for i in range(x.ndim)])
    if act == "lrelu":
        x = F.leaky_relu(x, LRELU_ALPHA)
    elif act == "relu":
        x = F.relu(x)
    gain = ACT_GAIN[act] if gain is None else float(gain)
    if gain != 1:
        x = x * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


def conv2d_resample(
    x: torch.Tensor,
    w: torch.Tensor,
    f: Optional[torch.Tensor] = None,
    up: int = 1,
    padding: int = 0,
    groups: int = 1,
    flip_weight: bool = True,
) -> torch.Tensor:
    """Convolution with optional FIR-filtered 2× upsampling (the generator's paths of `conv2d_resample`)."""
    out_channels, in_per_group, kh, kw = w.shape
    if up == 1:
        if not flip_weight:
            w = w.flip([2, 3])
        return F.conv2d(x, w, padding=padding, groups=groups)
    fw = f.shape[-1] if f is not None else 1
    px0 = padding + (fw + up - 1) // 2
    px1 = padding + (fw - up) // 2
    if kw == 1 and kh == 1:
        # 1×1 kernel: convolve at low resolution, then upsample.
        if not flip_weight:
            w = w.flip([2, 3])
        x = F.conv2d(x, w, groups=groups)
        return upfirdn2d(x, f, up=up, padding=[px0, px1, px0, px1], gain=up**2)
    # Transposed strided convolution, then the FIR filter with the remaining padding.
    if groups == 1:
        w = w.transpose(0, 1)
    else:
        w = w.reshape(groups, out_channels // groups, in_per_group, kh, kw).transpose(1, 2)
        w = w.reshape(groups * in_per_group, out_channels // groups, kh, kw)
    px0 -= kw - 1
    px1 -= kw - up
    pt = max(min(-px0, -px1), 0)
    if flip_weight:  # conv_transpose2d already convolves (flips); correlation needs the flip undone.
        w = w.flip([2, 3])
    x = F.conv_transpose2d(x, w, stride=up, padding=pt, groups=groups)
    return upfirdn2d(x, f, padding=[px0 + pt, px1 + pt, px0 + pt, px1 + pt], gain=up**2)


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    noise: Optional[torch.Tensor] = None,
    up: int = 1,
    padding: int = 0,
    resample_filter: Optional[torch.Tensor] = None,
    demodulate: bool = True,
    flip_weight: bool = True,
    fused_modconv: bool = True,
) -> torch.Tensor:
    """StyleGAN2 modulated convolution: scale input channels by `styles`, convolve, demodulate, add noise.

    `fused_modconv` computes per-sample weights and one grouped convolution; otherwise activations are scaled
    before and after a shared convolution. Both give the same result up to rounding.
    """
    batch = x.shape[0]
    out_channels, in_channels, kh, kw = weight.shape
    if styles.shape != (batch, in_channels):
        raise ValueError(f"styles must be [{batch}, {in_channels}], got {tuple(styles.shape)}")
    w = dcoefs = None
    if demodulate or fused_modconv:
        w = weight.unsqueeze(0) * styles.reshape(batch, 1, -1, 1, 1)
    if demodulate:
        dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()
    if not fused_modconv:
        x = x * styles.reshape(batch, -1, 1, 1)
        x = conv2d_resample(x, weight, resample_filter, up=up, padding=padding, flip_weight=flip_weight)
        if demodulate:
            x = x * dcoefs.reshape(batch, -1, 1, 1)
        if noise is not None:
            x = x + noise
        return x
    if demodulate:
        w = w * dcoefs.reshape(batch, -1, 1, 1, 1)
    x = x.reshape(1, -1, *x.shape[2:])
    w = w.reshape(-1, in_channels, kh, kw)
    x = conv2d_resample(x, w, resample_filter, up=up, padding=padding, groups=batch, flip_weight=flip_weight)
    x = x.reshape(batch, -1, *x.shape[2:])
    if noise is not None:
        x = x + noise
    return x
