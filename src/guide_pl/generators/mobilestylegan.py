"""MobileStyleGAN (Belousov 2021, arXiv 2104.04767) trained on FFHQ 1024², from the `random-face` OpenVINO IR.

The network: a StyleGAN2 mapping MLP, and a synthesis network that starts from a learned 4×4 constant, runs one
modulated 3×3 conv, then seven blocks that each upsample 2× with an inverse Haar wavelet transform (IDWT) of
modulated features (¼ of the channels are the low band, ¾ the three high bands) followed by two modulated
depthwise-separable convs; the last block's `to_img` predicts 4 wavelet bands × RGB at 512², and a final IDWT
gives the 1024² image. The IR froze the exporter's choices, which we keep: demodulation uses a fixed per-layer
vector (so it is folded into the pointwise weights), noise maps are constants already multiplied by their
strengths, LeakyReLU(0.2) has no gain in the synthesis network.

Weights load from the IR with numpy (see `openvino_ir.py`); OpenVINO is not needed at run time.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..atomic import torch_save
from ..fetch_weights import MOBILESTYLEGAN_KEYS, mobilestylegan_dir
from ..weights import locate, sha256_of
from .base import NOISE_MODES, FaceGenerator
from .openvino_ir import IRGraph
from .registry import GENERATORS

W_DIM = 512
CHANNELS = (512, 512, 512, 512, 512, 256, 128, 64)  # 4×4 conv1, then the output width of blocks 0..6
NUM_BLOCKS = len(CHANNELS) - 1
NUM_WS = 1 + 3 * NUM_BLOCKS + 1  # conv1, (up, conv1, conv2) per block, to_img
RESOLUTION = 4 * 2 ** (NUM_BLOCKS + 1)  # 1024
FETCH_HINT = "run `guide-pl fetch-weights mobilestylegan`"


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
# Loading from the IR
# ---------------------------------------------------------------------------------------------------------
def _t(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


def _after(graph: IRGraph, layer_id: int, kind: str):
    return graph.only_consumer(layer_id, kind)


def _input_of_type(graph: IRGraph, layer_id: int, kind: str):
    """The one input of `layer_id` produced by a layer of type `kind`."""
    found = [graph.producer(layer_id, p) for p in range(len(graph.layers[layer_id].inputs))]
    found = [layer for layer in found if layer.type == kind]
    if len(found) != 1:
        raise ValueError(f"{graph.xml_path}: expected one {kind} input to {graph.layers[layer_id].name!r}")
    return found[0]


def mapping_state_from_ir(graph: IRGraph) -> dict[str, torch.Tensor]:
    """State dict of `MobileMapping` from the mapping IR (8 MatMul + bias Add, in graph order)."""
    state = {}
    matmuls = graph.of_type("MatMul")
    if len(matmuls) != 8:
        raise ValueError(f"{graph.xml_path}: expected 8 MatMul layers in the mapping network, found {len(matmuls)}")
    for i, mm in enumerate(matmuls):
        weight = graph.const_input(mm.id, 1)
        add = _after(graph, mm.id, "Add")
        reshape = next(graph.producer(add.id, p) for p in (0, 1) if graph.producer(add.id, p).id != mm.id)
        bias = graph.const_input(reshape.id, 0)
        if weight is None or bias is None or mm.data.get("transpose_b") != "true":
            raise ValueError(f"{graph.xml_path}: unexpected structure around {mm.name}")
        state[f"layers.{i}.weight"] = _t(weight)
        state[f"layers.{i}.bias"] = _t(bias.reshape(-1))
    return state


def _modulation_scale(graph: IRGraph, weight_name: str) -> float:
    """The constant the IR multiplies a modulation by (1.0 when there is none: the IDWT input modulation)."""
    add = _after(graph, _after(graph, graph.const_id(weight_name), "MatMul").id, "Add")
    reshape = _after(graph, add.id, "Reshape")
    for layer in graph.consumers(reshape.id):
        if layer.type == "Multiply":
            for port in (0, 1):
                value = graph.const_input(layer.id, port)
                if value is not None:
                    return float(value.reshape(-1)[0])
    return 1.0


def synthesis_state_from_ir(graph: IRGraph, model: MobileSynthesis) -> dict[str, torch.Tensor]:
    """State dict of `MobileSynthesis` from the synthesis IR: named constants by name, the folded pointwise
    weights and baked noise maps by position (bias Add ← noise Add ← conv)."""
    state: dict[str, torch.Tensor] = {"input.input": _t(graph.named("m.input.input"))}
    modulated = {"conv1.conv": model.conv1.conv, "layers.6.to_img.conv": model.layers[-1].to_img.conv}
    for k, block in enumerate(model.layers):
        modulated[f"layers.{k}.up"] = block.up
        modulated[f"layers.{k}.conv1.conv"] = block.conv1.conv
        modulated[f"layers.{k}.conv2.conv"] = block.conv2.conv
    for prefix, module in modulated.items():
        name = f"m.{prefix}.modulation.weight"
        state[f"{prefix}.modulation.weight"] = _t(graph.named(name))
        state[f"{prefix}.modulation.bias"] = _t(graph.named(f"m.{prefix}.modulation.bias").reshape(-1))
        scale = _modulation_scale(graph, name)
        if abs(scale - module.scale) > 1e-6 * max(1.0, abs(scale)):
            raise ValueError(f"{graph.xml_path}: {prefix} modulation scale {scale}, architecture says {module.scale}")

    styled = ["conv1"] + [f"layers.{k}.conv{j}" for k in range(NUM_BLOCKS) for j in (1, 2)]
    for prefix in styled:
        bias_add = _after(graph, graph.const_id(f"m.{prefix}.bias"), "Add")
        noise_add = _input_of_type(graph, bias_add.id, "Add")
        conv = _input_of_type(graph, noise_add.id, "Convolution")
        noise = graph.value(_input_of_type(graph, noise_add.id, "Const").id)
        state[f"{prefix}.bias"] = _t(graph.named(f"m.{prefix}.bias"))
        state[f"{prefix}.conv.weight"] = _t(graph.const_input(conv.id, 1))
        state[f"{prefix}.noise_const"] = _t(noise)
        state[f"{prefix}.noise_strength"] = torch.tensor(float(noise.std()))
        if prefix != "conv1":
            dw_name = f"m.{prefix}.conv.weight_dw"
            source = graph.producer(conv.id, 0)
            if source.type != "GroupConvolution" or graph.producer(source.id, 1).id != graph.const_id(dw_name):
                raise ValueError(f"{graph.xml_path}: {prefix}: pointwise conv does not follow {dw_name}")
            state[f"{prefix}.conv.weight_dw"] = _t(graph.named(dw_name).squeeze(1))
    state["layers.6.to_img.conv.weight"] = _t(graph.named("m.layers.6.to_img.conv.weight"))
    state["layers.6.to_img.bias"] = _t(graph.named("m.layers.6.to_img.bias"))

    # Wavelet taps: (g0, g1) of the first column synthesis (low band, then LH band), shared by every IDWT.
    deconvs = graph.of_type("GroupConvolutionBackpropData")
    g0 = graph.const_input(deconvs[0].id, 1)[0].reshape(-1)
    g1 = graph.const_input(deconvs[1].id, 1)[0].reshape(-1)
    taps = _t(np.stack([g0, g1]))
    for d in deconvs:
        flat = np.abs(graph.const_input(d.id, 1)).reshape(-1)
        if not np.allclose(flat, abs(g0[0]), atol=1e-6):
            raise ValueError(f"{graph.xml_path}: {d.name} is not a Haar synthesis filter")
    for name in [n for n, _ in model.named_buffers() if n.endswith("taps")]:
        state[name] = taps
    return state


def load_from_ir(mapping: MobileMapping, synthesis: MobileSynthesis, mapping_xml: Path, synthesis_xml: Path) -> None:
    """Fill `mapping` and `synthesis` from the IR files (strict: every parameter and buffer is set)."""
    mapping.load_state_dict(mapping_state_from_ir(IRGraph(mapping_xml)), strict=True)
    synthesis.load_state_dict(synthesis_state_from_ir(IRGraph(synthesis_xml), synthesis), strict=True)


# ---------------------------------------------------------------------------------------------------------
# The generator
# ---------------------------------------------------------------------------------------------------------
class MobileStyleGAN(FaceGenerator):
    """FFHQ MobileStyleGAN (1024², W+ of 23 × 512) loaded from the `random-face` IR in `checkpoint_dir`.

    `synthesis_parameters()` returns every synthesis weight (constant input, modulation affines, depthwise and
    pointwise/dense conv weights, biases, to_img): 93 tensors, 7.3M floats. Frozen buffers: the 15 baked noise
    maps (0.7M floats) and their strengths, Haar taps, channel orders. The mapping network (2.1M) is frozen.
    `w_avg` is the mean of Map(z) over `w_avg_samples` seeded z, cached in `checkpoint_dir/w_avg.pt`.
    Typical ‖Map(z) − w_avg‖₂ (1000 z): 9.83 for one w, 47.2 (= √23 · 9.83) over the whole W+.
    """

    def __init__(
        self,
        checkpoint_dir: str | os.PathLike | None = None,
        loss_resolution: int | None = None,
        w_avg_samples: int = 10_000,
        verify: bool = True,
    ) -> None:
        super().__init__(loss_resolution=loss_resolution)
        self.z_dim = self.w_dim = W_DIM
        self.num_ws = NUM_WS
        self.resolution = RESOLUTION
        folder = Path(checkpoint_dir) if checkpoint_dir is not None else mobilestylegan_dir()
        paths = {}
        for key, filename in MOBILESTYLEGAN_KEYS.items():
            try:
                paths[filename] = locate(key, folder / filename, verify=verify)
            except FileNotFoundError as error:
                message = f"MobileStyleGAN weights missing: {error}. To get them, {FETCH_HINT}."
                raise FileNotFoundError(message) from None
        self.mapping = MobileMapping()
        self.synthesis = MobileSynthesis()
        load_from_ir(
            self.mapping, self.synthesis, paths["MappingNetwork.xml"], paths["SynthesisNetwork.xml"]
        )
        self.requires_grad_(False)
        self.synthesis.requires_grad_(True)
        self.register_buffer("w_avg", torch.zeros(W_DIM))
        self.w_avg.copy_(self._cached_w_avg(folder, sha256_of(paths["MappingNetwork.bin"]), w_avg_samples))

    def _cached_w_avg(self, folder: Path, mapping_sha: str, num_samples: int, seed: int = 0) -> torch.Tensor:
        path = folder / "w_avg.pt"
        meta = {"mapping_sha256": mapping_sha, "num_samples": num_samples, "seed": seed}
        if path.is_file():
            try:
                cached = torch.load(path, map_location="cpu", weights_only=True)
                if {k: cached.get(k) for k in meta} == meta and cached["w_avg"].shape == (W_DIM,):
                    return cached["w_avg"]
            except Exception:  # noqa: BLE001 — a broken cache is recomputed, never trusted
                pass
        w_avg = self.estimate_w_avg(num_samples=num_samples, seed=seed)
        try:
            torch_save({**meta, "w_avg": w_avg}, path)
        except OSError:
            pass  # read-only checkpoint folder: keep the value in memory
        return w_avg


@GENERATORS.register("mobilestylegan")
def build_mobilestylegan(
    checkpoint_dir: str | None = None,
    loss_resolution: int | None = 256,
    w_avg_samples: int = 10_000,
    verify: bool = True,
) -> MobileStyleGAN:
    """FFHQ MobileStyleGAN from checkpoints/mobilestylegan (get it with `guide-pl fetch-weights mobilestylegan`)."""
    return MobileStyleGAN(checkpoint_dir, loss_resolution, w_avg_samples, verify)
