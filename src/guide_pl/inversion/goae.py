"""GOAE (Yuan et al. 2023), the encoder GUIDE inverts photos with into EG3D's W+: a Swin-V2 backbone, a base
latent from its last stage, and three cross-attention heads (coarse, mid, fine) that query a top-down feature
pyramid for the residuals of W+ rows 1–3, 4–6 and 7–13. Parameter names follow the official `GOAEncoder`, so
`encoder_FFHQ.pt` (a flat state dict) loads strictly; `stage_list` only gates training and is inactive here.

As GUIDE uses it: aligned photos resized to 256² and scaled to [−1, 1]; w_u = the encoder's output + w̄ over the
14 rows. Run in eval mode (GUIDE left the encoder in train mode, so its own w_u carried dropout noise).
"""

from __future__ import annotations

import os
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import BadFileError, ConfigError
from ..frozen import AlwaysEval
from ..generators.base import FaceGenerator
from ..images import pil_to_tensor, tensor_to_pil
from ..weights import locate
from .base import INVERTERS, Inverter
from .swin import SwinTransformerV2

GOAE_KEY = "goae-encoder-ffhq"
INPUT_SIZE = 256
ROWS = {"coarse": 3, "mid": 3, "fine": 7}  # W+ rows 1–3, 4–6, 7–13; row 0 is the base latent alone


def mlp(features: int, out: int) -> nn.Sequential:
    """Linear(in, in) → LeakyReLU(0.01) → Linear(in, out) (GOAE's `get_mlp_layer` with mlp_layer=2)."""
    return nn.Sequential(nn.Linear(features, features), nn.LeakyReLU(), nn.Linear(features, out))


class CrossAttention(nn.Module):
    """Queries attend to a key/value memory (4 heads), residual, a LayerNorm without parameters, then a ReLU
    feed-forward residual (no norm after it). `norm1` exists in the official module but is never used."""

    def __init__(self, d_model: int = 512, nhead: int = 4, dim_feedforward: int = 1024) -> None:
        super().__init__()
        self.multihead_attn = nn.MultiheadAttention(d_model, nhead, dropout=0.1, batch_first=True)
        self.linear1, self.linear2 = nn.Linear(d_model, dim_feedforward), nn.Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model, elementwise_affine=False)
        self.norm2 = nn.LayerNorm(d_model, elementwise_affine=False)

    def forward(self, queries: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        attended = self.multihead_attn(queries, memory, memory)[0]
        x = self.norm2(queries + attended)
        return x + self.linear2(F.relu(self.linear1(x)))


class GOAEncoder(AlwaysEval):
    """Aligned photos [B, 3, 256, 256] in [−1, 1] → (W+ offsets, base offsets), each [B, 14, 512]. Always in
    eval mode (its dropout and drop-path are training tools)."""

    def __init__(self, depths: tuple[int, ...] = (2, 2, 18, 2), num_ws: int = 14) -> None:
        super().__init__()
        self.num_ws = num_ws
        self.swin_model = SwinTransformerV2(depths=depths)
        self.mapper_base_spatial = mlp(64, 1)
        self.mapper_base_channel = mlp(1024, 512)
        self.maxpool_base = nn.AdaptiveMaxPool1d(1)
        self.maxpool_query = nn.AdaptiveMaxPool1d(1)
        for level, rows in ROWS.items():
            setattr(self, f"mapper_query_spatial_{level}", mlp(64, rows))
            setattr(self, f"mapper_query_channel_{level}", mlp(1024, 512))
        self.mapper_coarse_channel = nn.Sequential(nn.Linear(512, 512), nn.LeakyReLU())
        self.mapper_mid_channel = nn.Sequential(nn.Linear(256, 512), nn.LeakyReLU())
        self.mapper_fine_channel = nn.Sequential(nn.Linear(128, 256), nn.LeakyReLU(), nn.Linear(256, 512),
                                                 nn.LeakyReLU())
        self.mapper_coarse_to_mid_spatial = nn.Sequential(nn.Linear(256, 512), nn.LeakyReLU(), nn.Linear(512, 1024),
                                                          nn.LeakyReLU())
        self.mapper_mid_to_fine_spatial = nn.Sequential(nn.Linear(1024, 2048), nn.LeakyReLU(),
                                                        nn.Linear(2048, 4096), nn.LeakyReLU())
        for level in ROWS:
            setattr(self, f"cross_att_{level}", CrossAttention(512, 4, 1024))
        self.eval()  # modules are built in training mode; this one never leaves eval

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        base, query, coarse, mid, fine = self.swin_model(images)
        b = images.shape[0]
        # The base latent, shared by all 14 rows: a spatial and a max-pooled summary of the last stage.
        pooled = self.maxpool_base(base).transpose(1, 2)
        ws_base = self.mapper_base_channel(self.mapper_base_spatial(base).transpose(1, 2) + pooled)
        ws_base = ws_base.repeat(1, self.num_ws, 1)
        # Queries per level from stage 2, and a top-down key/value pyramid from stages 1, 0 and the patch tokens.
        pooled = self.maxpool_query(query).transpose(1, 2)
        queries = {level: getattr(self, f"mapper_query_channel_{level}")(
            getattr(self, f"mapper_query_spatial_{level}")(query).transpose(1, 2) + pooled) for level in ROWS}
        memory = {"coarse": self.mapper_coarse_channel(coarse)}
        memory["mid"] = self.mapper_mid_channel(mid) + self.mapper_coarse_to_mid_spatial(
            memory["coarse"].transpose(1, 2)).transpose(1, 2)
        memory["fine"] = self.mapper_fine_channel(fine) + self.mapper_mid_to_fine_spatial(
            memory["mid"].transpose(1, 2)).transpose(1, 2)
        residuals = [getattr(self, f"cross_att_{level}")(queries[level], memory[level]) for level in ROWS]
        ws = ws_base + torch.cat([ws_base.new_zeros(b, 1, ws_base.shape[-1]), *residuals], dim=1)
        return ws, ws_base


def load_goae(path: Optional[str | os.PathLike] = None) -> GOAEncoder:
    """GOAEncoder with the weights of `encoder_FFHQ.pt` (default checkpoints/), matched key for key."""
    file = locate(GOAE_KEY, path)
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - torch raises many types for corrupt or truncated files
        raise BadFileError(f"cannot read {file} as a PyTorch checkpoint ({error}); truncated or corrupt?") from error
    if isinstance(state, dict) and all(k.startswith("module.") for k in state):
        state = {k.removeprefix("module."): v for k, v in state.items()}
    encoder = GOAEncoder()
    if not isinstance(state, dict):
        raise BadFileError(f"{file} holds a {type(state).__name__}, not GOAE's state dict")
    own = encoder.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing or unexpected:
        raise BadFileError(f"{file} is not GOAE's encoder_FFHQ.pt: missing keys {missing[:5]}"
                           f"{'…' if len(missing) > 5 else ''}, unexpected keys {unexpected[:5]}"
                           f"{'…' if len(unexpected) > 5 else ''}")
    wrong = [k for k in own if tuple(state[k].shape) != tuple(own[k].shape)]
    if wrong:
        raise BadFileError(f"{file}: {wrong[0]} has shape {tuple(state[wrong[0]].shape)}, the encoder expects "
                           f"{tuple(own[wrong[0]].shape)}")
    encoder.load_state_dict(state, strict=True)
    return encoder.eval().requires_grad_(False)


def goae_input(images: torch.Tensor) -> torch.Tensor:
    """Aligned photos [B, 3, H, W] in [−1, 1] → the encoder's 256² input, as GUIDE makes it: the 8-bit image
    resized by Pillow's default (bicubic) filter, then scaled to [−1, 1]."""
    if tuple(images.shape[-2:]) == (INPUT_SIZE, INPUT_SIZE):
        return images
    resized = [pil_to_tensor(tensor_to_pil(image.cpu()).resize((INPUT_SIZE, INPUT_SIZE))) for image in images]
    return torch.stack(resized).to(images.device)


class GOAEInverter(Inverter):
    """GUIDE's inversion for EG3D: w_u = GOAE(photo) + w̄ on all 14 rows (the generator's mapping w̄)."""

    def __init__(self, checkpoint: Optional[str] = None, encoder: Optional[GOAEncoder] = None) -> None:
        self.checkpoint = checkpoint
        self.encoder = encoder if encoder is not None else load_goae(checkpoint)

    @torch.no_grad()
    def invert(self, images: torch.Tensor, generator: FaceGenerator) -> torch.Tensor:
        if (generator.num_ws, generator.w_dim) != (self.encoder.num_ws, 512):
            raise ConfigError(f"the 'goae' inverter makes EG3D's W+ ({self.encoder.num_ws} × 512); this generator "
                              f"takes {generator.num_ws} × {generator.w_dim} (use generator=eg3d)")
        device = generator.w_avg.device
        offsets, _ = self.encoder.to(device)(goae_input(images.to(device).float()))
        return offsets + generator.w_avg.view(1, 1, -1)

    def settings(self) -> dict:
        """What changes the result (for the inversion cache): the encoder's weights by content."""
        from .fingerprint import module_fingerprint

        return {"encoder": module_fingerprint(self.encoder)}


@INVERTERS.register("goae")
def build_goae(checkpoint: Optional[str] = None) -> GOAEInverter:
    """GOAE with `encoder_FFHQ.pt` (default: checkpoints/encoder_FFHQ.pt)."""
    return GOAEInverter(checkpoint)
