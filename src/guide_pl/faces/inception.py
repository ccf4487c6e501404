"""The FID Inception-v3 of pytorch-fid (TensorFlow's `inception-2015-12-05` graph ported), written without torchvision.

Same computation as pytorch-fid's `InceptionV3(output_blocks=[3])` (mseitzer/pytorch-fid 0.3.0) with its weight file
`pt_inception-2015-12-05-6726825d.pth`: bilinear resize to 299² (align_corners=False, no antialiasing), torchvision's
Inception-v3 trunk with the FID patches — average pools in the A, C and first E blocks leave padded zeros out
(`count_include_pad=False`, as TensorFlow), the last E block pools by max — and the 2048-d global average (pool3).
Module names follow torchvision's `Inception3(num_classes=1008, aux_logits=False)`, so the file loads with strict=True.

pytorch-fid takes images in [0, 1] and maps them to [-1, 1] after resizing; guide-pl images are in [-1, 1] already,
so they go in unchanged (bilinear weights sum to one: resizing commutes with the affine map up to float rounding).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import BadFileError, BadValueError
from ..frozen import AlwaysEval
from ..weights import WEIGHTS, locate, sha256_of
from .irse import backbone_from_state, read_checkpoint
from .registry import IDENTITY_NETS

FID_WEIGHTS_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth"
)
# torch.hub's naming convention: the file name carries the first 8 hex digits of the file's sha256.
SHA256_PREFIX = "6726825d"
INPUT_SIZE = 299
NUM_FEATURES = 2048
# What `evaluation.fid_features: auto` falls back to when the Inception weights are absent.
AUTO_FALLBACK = "dlib_ffhq"

INCEPTION_WEIGHT = WEIGHTS["fid_inception"]


class ConvBNReLU(nn.Module):
    """Bias-free conv → BatchNorm (eps 1e-3, TensorFlow's) → ReLU; torchvision's `BasicConv2d` keys `conv`, `bn`."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int = 1, padding: int | tuple[int, int] = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def tf_avg_pool3(x: torch.Tensor) -> torch.Tensor:
    """3×3 stride-1 average pool that, like TensorFlow's, averages only the pixels inside the image."""
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class MixedA(nn.Module):
    """35×35 block (Mixed_5b/c/d): 1×1 | 1×1→5×5 | 1×1→3×3→3×3 | avg pool→1×1 (pool_features)."""

    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = ConvBNReLU(in_channels, 64, 1)
        self.branch5x5_1 = ConvBNReLU(in_channels, 48, 1)
        self.branch5x5_2 = ConvBNReLU(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = ConvBNReLU(in_channels, 64, 1)
        self.branch3x3dbl_2 = ConvBNReLU(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBNReLU(96, 96, 3, padding=1)
        self.branch_pool = ConvBNReLU(in_channels, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([
            self.branch1x1(x),
            self.branch5x5_2(self.branch5x5_1(x)),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            self.branch_pool(tf_avg_pool3(x)),
        ], dim=1)


class MixedB(nn.Module):
    """Reduction 35→17 (Mixed_6a): 3×3/2 | 1×1→3×3→3×3/2 | max pool 3×3/2."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = ConvBNReLU(in_channels, 384, 3, stride=2)
        self.branch3x3dbl_1 = ConvBNReLU(in_channels, 64, 1)
        self.branch3x3dbl_2 = ConvBNReLU(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBNReLU(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([
            self.branch3x3(x),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            F.max_pool2d(x, kernel_size=3, stride=2),
        ], dim=1)


class MixedC(nn.Module):
    """17×17 block (Mixed_6b–e) with factorised 7×7 convs of `channels_7x7` channels."""

    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = ConvBNReLU(in_channels, 192, 1)
        self.branch7x7_1 = ConvBNReLU(in_channels, c7, 1)
        self.branch7x7_2 = ConvBNReLU(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = ConvBNReLU(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = ConvBNReLU(in_channels, c7, 1)
        self.branch7x7dbl_2 = ConvBNReLU(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = ConvBNReLU(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = ConvBNReLU(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = ConvBNReLU(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = ConvBNReLU(in_channels, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        double = x
        for layer in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4,
                      self.branch7x7dbl_5):
            double = layer(double)
        return torch.cat([
            self.branch1x1(x),
            self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x))),
            double,
            self.branch_pool(tf_avg_pool3(x)),
        ], dim=1)


class MixedD(nn.Module):
    """Reduction 17→8 (Mixed_7a): 1×1→3×3/2 | 1×1→1×7→7×1→3×3/2 | max pool 3×3/2."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = ConvBNReLU(in_channels, 192, 1)
        self.branch3x3_2 = ConvBNReLU(192, 320, 3, stride=2)
        self.branch7x7x3_1 = ConvBNReLU(in_channels, 192, 1)
        self.branch7x7x3_2 = ConvBNReLU(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = ConvBNReLU(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = ConvBNReLU(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seven = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([
            self.branch3x3_2(self.branch3x3_1(x)),
            seven,
            F.max_pool2d(x, kernel_size=3, stride=2),
        ], dim=1)


class MixedE(nn.Module):
    """8×8 block (Mixed_7b/c) with split 1×3 / 3×1 convs; `pool` is "avg" (7b) or "max" (7c, the TF graph's quirk)."""

    def __init__(self, in_channels: int, pool: str) -> None:
        super().__init__()
        if pool not in ("avg", "max"):
            raise BadValueError(f"pool must be 'avg' or 'max', got {pool!r}")
        self.pool = pool
        self.branch1x1 = ConvBNReLU(in_channels, 320, 1)
        self.branch3x3_1 = ConvBNReLU(in_channels, 384, 1)
        self.branch3x3_2a = ConvBNReLU(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = ConvBNReLU(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = ConvBNReLU(in_channels, 448, 1)
        self.branch3x3dbl_2 = ConvBNReLU(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = ConvBNReLU(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = ConvBNReLU(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = ConvBNReLU(in_channels, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        single = self.branch3x3_1(x)
        double = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        # Mixed_7c of the TF graph max-pools here (an error in that graph, kept because FID statistics depend on it).
        pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1) if self.pool == "max" else tf_avg_pool3(x)
        return torch.cat([
            self.branch1x1(x),
            self.branch3x3_2a(single), self.branch3x3_2b(single),
            self.branch3x3dbl_3a(double), self.branch3x3dbl_3b(double),
            self.branch_pool(pooled),
        ], dim=1)


class FIDInceptionV3(AlwaysEval):
    """FID Inception-v3: images [B, 3, H, W] in [-1, 1] (any size, resized to 299²) → pool3 features [B, 2048].

    Build with `from_checkpoint()` for the real weights; the bare constructor leaves random weights (tests).
    Parameters are frozen and the module stays in eval mode (BatchNorm uses its stored statistics).
    """

    num_features = NUM_FEATURES

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = ConvBNReLU(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = ConvBNReLU(32, 32, 3)
        self.Conv2d_2b_3x3 = ConvBNReLU(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = ConvBNReLU(64, 80, 1)
        self.Conv2d_4a_3x3 = ConvBNReLU(80, 192, 3)
        self.Mixed_5b = MixedA(192, pool_features=32)
        self.Mixed_5c = MixedA(256, pool_features=64)
        self.Mixed_5d = MixedA(288, pool_features=64)
        self.Mixed_6a = MixedB(288)
        self.Mixed_6b = MixedC(768, channels_7x7=128)
        self.Mixed_6c = MixedC(768, channels_7x7=160)
        self.Mixed_6d = MixedC(768, channels_7x7=160)
        self.Mixed_6e = MixedC(768, channels_7x7=192)
        self.Mixed_7a = MixedD(768)
        self.Mixed_7b = MixedE(1280, pool="avg")
        self.Mixed_7c = MixedE(2048, pool="max")
        # The 1008-class logits layer is unused by FID; it is kept so the official file loads with strict=True.
        self.fc = nn.Linear(NUM_FEATURES, 1008)
        self.requires_grad_(False)
        self.eval()

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike | None = None, verify: bool = True) -> FIDInceptionV3:
        """The real network from `path` (default checkpoints/pt_inception-2015-12-05-6726825d.pth)."""
        file = locate(INCEPTION_WEIGHT.key, path)
        if verify:
            verify_prefix(file)
        what = "FID Inception (pytorch-fid)"
        return backbone_from_state(cls, read_checkpoint(file, what), file, what)

    def resize(self, images: torch.Tensor) -> torch.Tensor:
        """pytorch-fid's `resize_input`: bilinear to 299² with align_corners=False (a no-op at 299²)."""
        if images.shape[-2:] == (INPUT_SIZE, INPUT_SIZE):
            return images  # bilinear resampling to the same size returns the input exactly
        return F.interpolate(images, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"FID Inception expects images [B, 3, H, W] in [-1, 1], got {tuple(images.shape)}")
        x = self.resize(images)
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b, self.Mixed_6c,
                      self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = block(x)
        return x.mean(dim=(2, 3))  # pool3: the global average pool pytorch-fid returns as block 3


def verify_prefix(path: str | os.PathLike) -> None:
    """Check that the file's sha256 starts with the digits pytorch-fid's file name publishes; clear error if not."""
    digest = sha256_of(path)
    if not digest.startswith(SHA256_PREFIX):
        raise BadFileError(
            f"{path} has sha256 {digest}, but pytorch-fid's {INCEPTION_WEIGHT.filename} starts with {SHA256_PREFIX}: "
            f"the file is corrupt, truncated or a different checkpoint. Get it from {FID_WEIGHTS_URL}"
        )


def inception_weights_present() -> bool:
    """Whether checkpoints/pt_inception-2015-12-05-6726825d.pth exists (contents are checked when it is built)."""
    try:
        locate(INCEPTION_WEIGHT.key, verify=False)
    except FileNotFoundError:
        return False
    return True


def resolve_fid_features(name: str | None) -> str | None:
    """`evaluation.fid_features` as used: "auto" → "inception" if its weights are in checkpoints/, else "dlib_ffhq"."""
    if name != "auto":
        return name
    return "inception" if inception_weights_present() else AUTO_FALLBACK


@IDENTITY_NETS.register("inception")
def build_inception(path: str | None = None, verify: bool = True) -> FIDInceptionV3:
    """pytorch-fid's FID Inception-v3 (pool3, 2048-d) from `pt_inception-2015-12-05-6726825d.pth` in checkpoints/."""
    return FIDInceptionV3.from_checkpoint(Path(path) if path is not None else None, verify)


__all__ = [
    "FIDInceptionV3", "ConvBNReLU", "MixedA", "MixedB", "MixedC", "MixedD", "MixedE", "INCEPTION_WEIGHT",
    "FID_WEIGHTS_URL", "build_inception", "resolve_fid_features", "inception_weights_present", "verify_prefix",
]
