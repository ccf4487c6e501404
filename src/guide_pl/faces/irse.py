"""IR / IR-SE ResNet face recognisers (ArcFace IR-SE50 of pSp/GUIDE, CurricularFace IR-101), official key layout.

The module names follow TreB1eN's InsightFace_Pytorch `Backbone` (as copied by pSp, GUIDE and CurricularFace), so
`model_ir_se50.pth` and `CurricularFace_Backbone.pth` load with strict=True:
`input_layer.{0,1,2}`, `body.N.shortcut_layer.{0,1}`, `body.N.res_layer.{0..5}`, `output_layer.{0,3,4}`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import BadFileError, BadValueError
from ..frozen import FrozenSubmodules
from ..weights import WEIGHTS, locate
from .registry import IDENTITY_NETS

# Residual units per stage (64, 128, 256, 512 channels) for each depth, as in `get_blocks`.
STAGE_UNITS = {50: (3, 4, 14, 3), 100: (3, 13, 30, 3), 152: (3, 8, 36, 3)}
STAGE_CHANNELS = (64, 128, 256, 512)

# The FFHQ-aligned face region the official ArcFace loss uses (pSp criteria/id_loss.py, GUIDE arcface.py):
# rows 35:223, columns 32:220 of a 256² image, average-pooled to 112².
FFHQ_CROP_ROWS = (35, 223)
FFHQ_CROP_COLS = (32, 220)

ARCFACE_WEIGHT = WEIGHTS["arcface_ir_se50"]
CURRICULARFACE_WEIGHT = WEIGHTS["curricularface_ir101"]


class SqueezeExcite(nn.Module):
    """Channel gating: global average → 1×1 conv (C→C/r) → ReLU → 1×1 conv → sigmoid → scale."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1, bias=False)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean(dim=(2, 3), keepdim=True)))))
        return x * gate


class Subsample(nn.Module):
    """Identity shortcut with stride: keeps every `stride`-th pixel (the official MaxPool2d(1, stride))."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, :: self.stride, :: self.stride] if self.stride > 1 else x


class IRUnit(nn.Module):
    """Improved residual unit: BN → conv3 → PReLU → conv3 (strided) → BN [→ SE], plus a (projected) shortcut."""

    def __init__(self, in_channels: int, channels: int, stride: int, squeeze_excite: bool) -> None:
        super().__init__()
        if in_channels == channels:
            self.shortcut_layer: nn.Module = Subsample(stride)
        else:
            self.shortcut_layer = nn.Sequential(
                nn.Conv2d(in_channels, channels, 1, stride, bias=False), nn.BatchNorm2d(channels)
            )
        layers = [
            nn.BatchNorm2d(in_channels),
            nn.Conv2d(in_channels, channels, 3, 1, 1, bias=False),
            nn.PReLU(channels),
            nn.Conv2d(channels, channels, 3, stride, 1, bias=False),
            nn.BatchNorm2d(channels),
        ]
        if squeeze_excite:
            layers.append(SqueezeExcite(channels, 16))
        self.res_layer = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res_layer(x) + self.shortcut_layer(x)


def input_layer(in_channels: int = 3) -> nn.Sequential:
    """The stem: conv3 (no bias) → BN → PReLU, 64 channels at input resolution."""
    return nn.Sequential(nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.PReLU(64))


def ir_body(depth: int, squeeze_excite: bool) -> nn.Sequential:
    """The residual units of IR(-SE)-`depth`; the first unit of every stage halves the resolution."""
    if depth not in STAGE_UNITS:
        raise ValueError(f"IR depth must be one of {sorted(STAGE_UNITS)}, got {depth}")
    units = []
    in_channels = 64
    for channels, count in zip(STAGE_CHANNELS, STAGE_UNITS[depth]):
        for i in range(count):
            units.append(IRUnit(in_channels, channels, 2 if i == 0 else 1, squeeze_excite))
            in_channels = channels
    return nn.Sequential(*units)


class IRBackbone(nn.Module):
    """IR / IR-SE ResNet for 112×112 faces in [-1, 1] → 512-d embedding (l2-normalised by default)."""

    def __init__(self, depth: int = 50, squeeze_excite: bool = True, affine_embedding: bool = True) -> None:
        super().__init__()
        self.input_layer = input_layer(3)
        self.body = ir_body(depth, squeeze_excite)
        # Index 1 is Dropout and 2 Flatten in the official Sequential: placeholders keep the key indices (3, 4).
        self.output_layer = nn.Sequential(
            nn.BatchNorm2d(512),
            nn.Dropout(0.4),
            nn.Flatten(),
            nn.Linear(512 * 7 * 7, 512),
            nn.BatchNorm1d(512, affine=affine_embedding),
        )

    def forward(self, faces: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        if faces.ndim != 4 or faces.shape[1:] != (3, 112, 112):
            raise ValueError(f"IRBackbone expects faces [B, 3, 112, 112], got {tuple(faces.shape)}")
        x = self.output_layer(self.body(self.input_layer(faces)))
        # The official l2_norm divides by the norm without an epsilon; keep it exact.
        return x / x.norm(dim=1, keepdim=True) if normalize else x


def ir_se50() -> IRBackbone:
    """ArcFace IR-SE50 as pSp's / GUIDE's IDLoss builds it (`Backbone(112, 50, mode='ir_se')`, affine BN1d)."""
    return IRBackbone(50, squeeze_excite=True, affine_embedding=True)


def ir101() -> IRBackbone:
    """CurricularFace IR-101 (`IR_101(112)`: mode 'ir', BN1d without affine parameters)."""
    return IRBackbone(100, squeeze_excite=False, affine_embedding=False)


def read_checkpoint(path: str | os.PathLike, what: str) -> Any:
    """torch.load (weights only) with a clear error naming the file when it is corrupt, truncated or not PyTorch."""
    try:
        return torch.load(Path(path), map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types (RuntimeError, UnpicklingError, EOFError, ...)
        raise BadFileError(
            f"{path} could not be read as the {what} checkpoint ({type(error).__name__}: {error}); "
            "the file is corrupt, truncated or not a PyTorch checkpoint"
        ) from error


def load_strict(module: nn.Module, state: Any, path: str | os.PathLike, what: str) -> nn.Module:
    """Load `state` into `module` (strict; tensors assigned, so `module` may live on the meta device).

    Mismatched keys or shapes raise BadFileError (a ValueError) naming the file and the keys; floating tensors
    become float32.
    """
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BadFileError(f"{path} is not a {what} state dict (expected a dict of tensors)")
    # DataParallel/DistributedDataParallel checkpoints prefix every key with "module.".
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    # Checkpoints older than torch 0.4.1 have no BatchNorm counters; load_state_dict fills them in.
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
            if keys:
                parts.append(f"{len(keys)} {label} (e.g. {', '.join(keys[:4])})")
        raise BadFileError(f"{path} does not match the {what} architecture: " + "; ".join(parts))
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    module.load_state_dict(state, strict=True, assign=True)
    leftover = [name for name, t in [*module.named_parameters(), *module.named_buffers()] if t.is_meta]
    if leftover:
        raise BadFileError(f"{path}: {what} tensors left unloaded: {', '.join(leftover[:4])}")
    return module


def backbone_from_state(factory: Callable[[], nn.Module], state: Any, path: str | os.PathLike, what: str) -> Any:
    """Build `factory()` without initialising it (meta device) and fill it from `state`, frozen in eval mode."""
    with torch.device("meta"):
        model = factory()
    return load_strict(model, state, path, what).eval().requires_grad_(False)


def load_backbone(factory: Callable[[], IRBackbone], path: str | os.PathLike, what: str) -> IRBackbone:
    """An IR backbone from an official state-dict file (`model_ir_se50.pth`, `CurricularFace_Backbone.pth`)."""
    return backbone_from_state(factory, read_checkpoint(path, what), path, what)


class FaceEmbedder(FrozenSubmodules):
    """Generator images [B, 3, H, W] in [-1, 1] → l2-normalised embeddings [B, 512], with the official crop.

    crop="ffhq" (FFHQ-aligned images, any size): bilinear resize to 256² (GUIDE arcface.py), rows 35:223 and
    columns 32:220, adaptive average pooling to 112² (pSp criteria/id_loss.py). crop="none": the input is
    already a 112² face chip aligned to the ArcFace 5-point template (what GUIDE's MTCNN step produces for
    CurricularFace evaluation); other sizes are resized to 112² (bilinear, antialiased).
    """

    frozen_submodules = ("backbone",)  # BatchNorm statistics and dropout stay frozen

    def __init__(self, backbone: IRBackbone, crop: str = "ffhq") -> None:
        super().__init__()
        if crop not in ("ffhq", "none"):
            raise BadValueError(f"crop must be 'ffhq' or 'none', got {crop!r}")
        self.backbone = backbone.eval().requires_grad_(False)
        self.crop = crop

    def faces(self, images: torch.Tensor) -> torch.Tensor:
        """The 112×112 face chips the backbone sees."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images [B, 3, H, W], got {tuple(images.shape)}")
        if self.crop == "ffhq":
            x = F.interpolate(images, size=(256, 256), mode="bilinear", align_corners=False)
            x = x[:, :, FFHQ_CROP_ROWS[0] : FFHQ_CROP_ROWS[1], FFHQ_CROP_COLS[0] : FFHQ_CROP_COLS[1]]
            return F.adaptive_avg_pool2d(x, (112, 112))
        if images.shape[-2:] != (112, 112):
            return F.interpolate(images, size=(112, 112), mode="bilinear", align_corners=False, antialias=True)
        return images

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.backbone(self.faces(images))


@IDENTITY_NETS.register("arcface")
def build_arcface(path: str | None = None, crop: str = "ffhq") -> FaceEmbedder:
    """ArcFace IR-SE50 (`model_ir_se50.pth`), the loss network of pSp and GUIDE."""
    file = locate(ARCFACE_WEIGHT.key, path)
    return FaceEmbedder(load_backbone(ir_se50, file, "ArcFace IR-SE50"), crop)


@IDENTITY_NETS.register("curricularface")
def build_curricularface(path: str | None = None, crop: str = "ffhq") -> FaceEmbedder:
    """CurricularFace IR-101 (`CurricularFace_Backbone.pth`), GUIDE's evaluation network."""
    file = locate(CURRICULARFACE_WEIGHT.key, path)
    return FaceEmbedder(load_backbone(ir101, file, "CurricularFace IR-101"), crop)
