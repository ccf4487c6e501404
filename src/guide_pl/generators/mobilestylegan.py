"""MobileStyleGAN (Belousov 2021, arXiv 2104.04767) trained on FFHQ 1024², from the `random-face` OpenVINO IR.

The network: a StyleGAN2 mapping MLP, and a synthesis network that starts from a learned 4×4 constant, runs one
modulated 3×3 conv, then seven blocks that each upsample 2× with an inverse Haar wavelet transform (IDWT) of
modulated features (¼ of the channels are the low band, ¾ the three high bands) followed by two modulated
depthwise-separable convs; the last block's `to_img` predicts 4 wavelet bands × RGB at 512², and a final IDWT
gives the 1024² image. The IR froze the exporter's choices, which we keep: demodulation uses a fixed per-layer
vector (so it is folded into the pointwise weights), noise maps are constants already multiplied by their
strengths, LeakyReLU(0.2) has no gain in the synthesis network.

This file is the architecture only; `mobilestylegan_ir.py` loads the weights from the IR with numpy (OpenVINO is
not needed at run time).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .base import NOISE_MODES, FaceGenerator

W_DIM = 512
CHANNELS = (512, 512, 512, 512, 512, 256, 128, 64)  # 4×4 conv1, then the output width of blocks 0..6
NUM_BLOCKS = len(CHANNELS) - 1
NUM_WS = 1 + 3 * NUM_BLOCKS + 1  # conv1, (up, conv1, conv2) per block, to_img
RESOLUTION = 4 * 2 ** (NUM_BLOCKS + 1)  # 1024


# ---------------------------------------------------------------------------------------------------------
# Mapping
# ---------------------------------------------------------------------------------------------------------
class MobileMapping(nn.Module):
    """Pixel norm, then 8 linear layers with LeakyReLU(0.2)·√2 (equalised-lr scales are folded into the IR's
    weights). `forward` returns W+ (the one w repeated `num_ws` times); `w` returns the single w."""

    def __init__(self, num_ws: int = NUM_WS, w_dim: int = W_DIM, num_layers: int = 8) -> None:
        super().__init__()
        self.num_ws = num_ws
        self.layers = nn.ModuleList(nn.Linear(w_dim, w_dim) for _ in range(num_layers))

    def w(self, z: torch.Tensor) -> torch.Tensor:
        """z [B, 512] → w [B, 512]."""
        x = z * (z.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()
        for layer in self.layers:
            x = F.leaky_relu(layer(x), 0.2) * math.sqrt(2)
        return x

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.w(z).unsqueeze(1).repeat(1, self.num_ws, 1)


# ---------------------------------------------------------------------------------------------------------
# Synthesis building blocks. Activations are channels_last: 1×1 convs become one batched matmul over
# [B, H·W, C] with the per-sample style folded into the (small) weight instead of scaling the (large)
# activation, and no layout copies are needed between layers.
# ---------------------------------------------------------------------------------------------------------
def _nhwc(x: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] (channels_last) → [B, H, W, C] view (copies only if x is not channels_last)."""
    return x.permute(0, 2, 3, 1)


def _nchw(x: torch.Tensor) -> torch.Tensor:
    """[B, H, W, C] → [B, C, H, W] view that is channels_last in memory."""
    return x.permute(0, 3, 1, 2)


class Modulation(nn.Module):
    """Style affine: w [B, 512] → per-input-channel scales [B, C] (bias initialised to 1 by the authors)."""

    def __init__(self, channels: int, scale: float = 1.0, w_dim: int = W_DIM) -> None:
        super().__init__()
        self.modulation = nn.Linear(w_dim, channels)
        self.scale = scale

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return self.modulation(w) * self.scale


def band_minor_order(channels4: int) -> torch.Tensor:
    """Channel order that groups the 4 wavelet bands of each channel: [LL_c, LH_c, HL_c, HH_c for c ...].

    The IR's layers emit [LL of all C | (LH, HL, HH) per channel]; layers feeding an IDWT read their weight
    rows in this order instead (the stored parameters keep the IR's order), so the IDWT needs no gather copy.
    """
    c = channels4 // 4
    order = [[ch] + [c + 3 * ch + k for k in range(3)] for ch in range(c)]
    return torch.tensor(order).flatten()


class ModulatedConv(Modulation):
    """Modulated conv: x·s → (depthwise 3×3) → pointwise 1×1, or a dense k×k conv when `depthwise` is False.

    `weight` is the pointwise (or dense) weight with the authors' fixed demodulation folded in (the IR keeps
    it unnamed). The style scales input channels, so for the separable form it is applied to the pointwise
    weight per sample (the depthwise conv commutes with a per-channel scale).
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, depthwise: bool) -> None:
        super().__init__(in_ch, scale=1.0 / math.sqrt(in_ch * kernel**2))
        self.depthwise = depthwise
        self.kernel = kernel
        if depthwise:
            self.weight_dw = nn.Parameter(torch.zeros(in_ch, 1, kernel, kernel))
            self.weight = nn.Parameter(torch.zeros(out_ch, in_ch, 1, 1))
        else:
            self.weight = nn.Parameter(torch.zeros(out_ch, in_ch, kernel, kernel))
        self.register_buffer("out_order", None, persistent=False)  # set when an IDWT reads the output

    def ordered(self, tensor: torch.Tensor, dim: int = 0) -> torch.Tensor:
        """`tensor` with its output-channel axis `dim` in `out_order` (unchanged when none is set)."""
        return tensor if self.out_order is None else tensor.index_select(dim, self.out_order)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """x [B, C_in, H, W] channels_last, w [B, 512] → a fresh tensor (not a view, so that callers may update
        it in place without autograd's CopySlices): NCHW [B, C_out, H, W] for the dense conv, else the
        channels_last data as [B, H·W, C_out]."""
        styles = super().forward(w)  # [B, C_in]
        if not self.depthwise and self.kernel > 1:
            # Only the 4×4 first layer: scale the (tiny) activation.
            x = (x * styles[:, :, None, None]).contiguous()
            return F.conv2d(x, self.ordered(self.weight), padding=self.kernel // 2)
        if self.depthwise:
            x = F.conv2d(x, self.weight_dw, padding=self.kernel // 2, groups=x.shape[1])
        batch, _, height, width = x.shape
        weight = self.ordered(self.weight)[:, :, 0, 0].t().unsqueeze(0) * styles.unsqueeze(2)  # [B, C_in, C_out]
        return torch.bmm(_nhwc(x).reshape(batch, height * width, -1), weight)


class StyledConv(nn.Module):
    """Modulated conv, + noise (a baked constant map, or fresh noise of the same strength), + bias, LReLU(0.2)."""

    def __init__(self, in_ch: int, out_ch: int, resolution: int, depthwise: bool) -> None:
        super().__init__()
        self.conv = ModulatedConv(in_ch, out_ch, 3, depthwise)
        self.bias = nn.Parameter(torch.zeros(1, out_ch, 1, 1))
        # The IR stores noise·strength; `noise_strength` (its std) scales fresh noise for noise_mode="random".
        self.register_buffer("noise_const", torch.zeros(1, 1, resolution, resolution))
        self.register_buffer("noise_strength", torch.zeros(()))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str) -> torch.Tensor:
        batch, _, height, width = x.shape
        out = self.conv(x, w)
        dense = out.ndim == 4  # NCHW from the dense 4×4 conv; else [B, H·W, C] channels_last data
        bias = self.conv.ordered(self.bias, dim=1)
        bias = bias if dense else bias.view(1, 1, -1)
        # In place on the fresh conv output (never on a view: autograd would add CopySlices, which costs
        # more than the whole forward pass); none of these backward passes needs the input they overwrite.
        if noise_mode == "const":
            out.add_(self.noise_const if dense else self.noise_const.view(1, height * width, 1))
        elif noise_mode == "random":
            noise = torch.randn(batch, 1, height, width, device=out.device, dtype=out.dtype) * self.noise_strength
            out.add_(noise if dense else noise.view(batch, height * width, 1))
        out.add_(bias)
        out = F.leaky_relu_(out, 0.2)
        if dense:
            return out.contiguous(memory_format=torch.channels_last)
        return _nchw(out.view(batch, height, width, -1))


class HaarIDWT(nn.Module):
    """One-level inverse Haar transform: low band [B, C, H, W] + high bands [B, C, 3, H, W] → [B, C, 2H, 2W].

    Bands are (LL, LH, HL, HH) as in pytorch_wavelets' `SFB2D`: columns are synthesised with (g0, g1) from
    (LL, LH) and (HL, HH), then rows with (g0, g1). `taps` [2, 2] holds g0 and g1 (read from the IR).
    """

    def __init__(self) -> None:
        super().__init__()
        s = 1.0 / math.sqrt(2.0)
        self.register_buffer("taps", torch.tensor([[s, s], [s, -s]]))

    def kernel(self) -> torch.Tensor:
        """[4 bands, 4 sub-pixels (a, b)]: band k contributes g_col[k][a]·g_row[k][b] to pixel (2i+a, 2j+b)."""
        g0, g1 = self.taps[0], self.taps[1]
        col = torch.stack([g0, g1, g0, g1])  # LL, LH, HL, HH
        row = torch.stack([g0, g0, g1, g1])
        return (col[:, :, None] * row[:, None, :]).reshape(4, 4)

    def forward(self, x: torch.Tensor, scales: torch.Tensor | None = None) -> torch.Tensor:
        """x [B, 4C, H, W] channels_last with channels in `band_minor_order` (LL, LH, HL, HH of each channel);
        optional `scales` [B, 4C] (same order) multiply x first. Returns channels_last [B, C, 2H, 2W]."""
        batch, channels4, height, width = x.shape
        c = channels4 // 4
        bands = _nhwc(x).view(batch, height, width, c, 4)
        if scales is not None:
            bands = bands * scales.view(batch, 1, 1, c, 4)
        pix = torch.matmul(bands, self.kernel())  # [B, H, W, C, 4=(a,b)]
        out = pix.view(batch, height, width, c, 2, 2).permute(0, 1, 4, 2, 5, 3)  # [B, H, a, W, b, C]
        return _nchw(out.reshape(batch, 2 * height, 2 * width, c))


class UpBlock(nn.Module):
    """A synthesis block: modulated IDWT upsampling, two modulated separable convs, and (last block) `to_img`."""

    def __init__(self, in_ch: int, out_ch: int, resolution: int, with_to_img: bool) -> None:
        super().__init__()
        self.up = Modulation(in_ch)
        self.idwt = HaarIDWT()
        self.conv1 = StyledConv(in_ch // 4, out_ch, resolution, depthwise=True)
        self.conv2 = StyledConv(out_ch, out_ch, resolution, depthwise=True)
        self.to_img = ToImage(out_ch) if with_to_img else None
        self.register_buffer("up_order", band_minor_order(in_ch), persistent=False)

    def forward(self, x: torch.Tensor, w_up: torch.Tensor, w1: torch.Tensor, w2: torch.Tensor, noise_mode: str):
        x = self.idwt(x, self.up(w_up).index_select(1, self.up_order))
        x = self.conv1(x, w1, noise_mode)
        return self.conv2(x, w2, noise_mode)


class ToImage(nn.Module):
    """Modulated 1×1 conv without demodulation to 12 channels: 4 wavelet bands × RGB."""

    def __init__(self, in_ch: int) -> None:
        super().__init__()
        self.conv = ModulatedConv(in_ch, 12, 1, depthwise=False)
        self.bias = nn.Parameter(torch.zeros(1, 12, 1, 1))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = x.shape
        out = self.conv(x, w).add_(self.conv.ordered(self.bias, dim=1).view(1, 1, -1))
        return _nchw(out.view(batch, height, width, -1))


class ConstantInput(nn.Module):
    """The learned 4×4 input, repeated over the batch."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.input = nn.Parameter(torch.zeros(1, channels, 4, 4))

    def forward(self, batch: int) -> torch.Tensor:
        return self.input.expand(batch, -1, -1, -1).contiguous(memory_format=torch.channels_last)


class MobileSynthesis(nn.Module):
    """MobileStyleGAN synthesis: ws [B, 23, 512] (or w [B, 512]) → RGB [B, 3, 1024, 1024], about [-1, 1].

    One W+ row per modulated layer, in forward order (23 rows, every row used):
      row 0: `conv1` (4×4); block k = 0..6 (output 8·2^k): row 1+3k: `layers.k.up` (IDWT input modulation),
      row 2+3k: `layers.k.conv1`, row 3+3k: `layers.k.conv2`; row 22: `layers.6.to_img`.
    The authors' code (`MobileSynthesisNetwork.wsize()` = 23) indexes differently: it shares one row between
    `up` and `conv1`, gives rows to the intermediate `to_img` heads that the IR does not contain, and never
    reads its last row; `wplus_from_authors_layout` converts such latents. The output is not clamped (as in
    the IR).
    """

    num_ws = NUM_WS

    def __init__(self) -> None:
        super().__init__()
        self.input = ConstantInput(CHANNELS[0])
        self.conv1 = StyledConv(CHANNELS[0], CHANNELS[0], 4, depthwise=False)
        self.layers = nn.ModuleList(
            UpBlock(CHANNELS[k], CHANNELS[k + 1], 8 * 2**k, with_to_img=k == NUM_BLOCKS - 1) for k in range(NUM_BLOCKS)
        )
        self.idwt = HaarIDWT()
        # Every layer that feeds an IDWT emits its channels band-minor (see `band_minor_order`).
        feeders = [self.conv1.conv] + [block.conv2.conv for block in self.layers[:-1]] + [self.layers[-1].to_img.conv]
        for conv in feeders:
            conv.out_order = band_minor_order(conv.weight.shape[0])

    def forward(self, ws: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        if ws.ndim == 2:
            ws = ws.unsqueeze(1).expand(-1, NUM_WS, -1)
        if ws.ndim != 3 or ws.shape[1:] != (NUM_WS, W_DIM):
            raise ValueError(f"expected w [B, {W_DIM}] or W+ [B, {NUM_WS}, {W_DIM}], got {tuple(ws.shape)}")
        x = self.conv1(self.input(ws.shape[0]), ws[:, 0], noise_mode)
        for k, block in enumerate(self.layers):
            x = block(x, ws[:, 1 + 3 * k], ws[:, 2 + 3 * k], ws[:, 3 + 3 * k], noise_mode)
        freq = self.layers[-1].to_img(x, ws[:, NUM_WS - 1])  # [B, 12, 512, 512]: LL RGB, then (LH,HL,HH) per RGB
        return self.idwt(freq).contiguous()

    def stages(self) -> list[tuple[int, list[nn.Parameter]]]:
        """(output resolution, parameters) from input to output: 4² (input, conv1), then each UpBlock."""
        first = [*self.input.parameters(), *self.conv1.parameters()]
        return [(4, first)] + [(8 * 2**k, list(block.parameters())) for k, block in enumerate(self.layers)]


def wplus_from_authors_layout(ws_authors: torch.Tensor) -> torch.Tensor:
    """Convert W+ [B, 23, 512] indexed as in the authors' MobileSynthesisNetwork to this module's layout."""
    if ws_authors.ndim != 3 or ws_authors.shape[1] != NUM_WS:
        raise ValueError(f"expected [B, {NUM_WS}, {W_DIM}], got {tuple(ws_authors.shape)}")
    rows = [0]
    for k in range(NUM_BLOCKS):
        rows += [3 * k + 1, 3 * k + 1, 3 * k + 2]  # up and conv1 share a row there
    rows.append(3 * (NUM_BLOCKS - 1) + 3)  # the last block's to_img
    return ws_authors[:, rows]


# ---------------------------------------------------------------------------------------------------------
# The generator
# ---------------------------------------------------------------------------------------------------------
class MobileStyleGAN(FaceGenerator):
    """FFHQ MobileStyleGAN (1024², W+ of 23 × 512): the architecture, with zero weights until a loader fills it
    (`load_mobilestylegan` reads the `random-face` IR; `build_generator("mobilestylegan")` calls it).

    `synthesis_parameters()` returns every synthesis weight (constant input, modulation affines, depthwise and
    pointwise/dense conv weights, biases, to_img): 93 tensors, 7.3M floats. Frozen buffers: the 15 baked noise
    maps (0.7M floats) and their strengths, Haar taps, channel orders. The mapping network (2.1M) is frozen.
    Typical ‖Map(z) − w_avg‖₂ (1000 z): 9.83 for one w, 47.2 (= √23 · 9.83) over the whole W+.
    """

    def __init__(self, loss_resolution: int | None = None) -> None:
        super().__init__(loss_resolution=loss_resolution)
        self.z_dim = self.w_dim = W_DIM
        self.num_ws = NUM_WS
        self.resolution = RESOLUTION
        self.mapping = MobileMapping()
        self.synthesis = MobileSynthesis()
        self.requires_grad_(False)
        self.synthesis.requires_grad_(True)
        self.register_buffer("w_avg", torch.zeros(W_DIM))
