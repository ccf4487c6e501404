"""PyTorch port of dlib's face-recognition ResNet (dlib_face_recognition_resnet_model_v1.dat, 128-d descriptors).

The network definition is dlib's `anet_type` from examples/dnn_face_recognition_ex.cpp: a 7×7/2 stem, max-pool,
then residual levels of 32, 64, 128, 256, 256 channels; `ares_down` adds a 2×2 average-pooled shortcut to a
stride-2 block, and dlib's `add_prev` zero-pads the smaller operand (channels, bottom/right). Strided convs and
pools use no padding (dlib's default when stride ≠ 1). Weights are read by `dlib_format` (no dlib needed).
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .dlib_format import DlibFormatError, DlibLayer, read_network
from .dlib_models import dlib_model_path
from .registry import IDENTITY_NETS

# Residual levels bottom-up: (channels, number of `ares` blocks, whether the level starts with `ares_down`).
LEVELS = [(32, 3, False), (64, 3, True), (128, 2, True), (256, 2, True), (256, 0, True)]
CHIP_SIZE = 150


def _layout() -> list[str]:
    """Top-down layer tokens of anet_type below the loss, excluding the input-wrapping conv."""
    tokens = ["layer", "layer"]  # fc_no_bias, avg_pool_everything
    block = ["layer"] * 5  # affine, con, relu, affine, con
    for _, repeats, down in reversed(LEVELS):
        for _ in range(repeats):
            tokens += ["layer", "layer"] + block + ["tag"]  # relu, add_prev1, block, tag1
        if down:  # relu, add_prev2, avg_pool, skip1, tag2, block, tag1
            tokens += ["layer", "layer", "layer", "skip", "tag"] + block + ["tag"]
    return tokens + ["layer", "layer", "layer"]  # max_pool, relu, affine (the stem conv wraps the input)


def _zero_pad_add(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's add_prev: sum of two tensors, the smaller zero-padded at the end of channels/rows/columns."""
    if a.shape == b.shape:
        return a + b
    shape = [max(x, y) for x, y in zip(a.shape, b.shape)]

    def pad(t: torch.Tensor) -> torch.Tensor:
        return F.pad(t, (0, shape[3] - t.shape[3], 0, shape[2] - t.shape[2], 0, shape[1] - t.shape[1]))

    return pad(a) + pad(b)


def _folded_conv(con: DlibLayer, affine: DlibLayer, stride: int, padding: int) -> nn.Conv2d:
    """A Conv2d holding dlib's con followed by affine (y = γ·(W∗x + b) + β), folded into one conv."""
    weight = torch.from_numpy(con.arrays["weight"].copy())
    bias = torch.from_numpy(con.arrays["bias"].copy())
    gamma = torch.from_numpy(affine.arrays["gamma"].copy())
    beta = torch.from_numpy(affine.arrays["beta"].copy())
    conv = nn.Conv2d(weight.shape[1], weight.shape[0], weight.shape[2], stride=stride, padding=padding)
    with torch.no_grad():
        conv.weight.copy_(weight * gamma.view(-1, 1, 1, 1))
        conv.bias.copy_(bias * gamma + beta)
    return conv


class DlibBlock(nn.Module):
    """dlib's `ares` / `ares_down`: relu(add_prev(block(x), shortcut(x)))."""

    def __init__(self, conv1: nn.Conv2d, conv2: nn.Conv2d, down: bool) -> None:
        super().__init__()
        self.conv1, self.conv2, self.down = conv1, conv2, down

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(F.relu(self.conv1(x)))
        shortcut = F.avg_pool2d(x, 2, 2) if self.down else x
        return F.relu(_zero_pad_add(y, shortcut))


class DlibResNet(nn.Module):
    """dlib's face-recognition ResNet: RGB chips [B, 3, 150, 150] in [-1, 1] → 128-d descriptors [B, 128]."""

    def __init__(self, weights: str | os.PathLike | None = None) -> None:
        super().__init__()
        path = dlib_model_path("dlib_resnet", weights)
        header, layers = read_network(path, _layout())
        if header["loss"] != "loss_metric_2" or header["input"] != "input_rgb_image_sized":
            raise DlibFormatError(f"{path}: not dlib's face-recognition ResNet ({header['loss']}, {header['input']})")
        kinds = [layer.kind for layer in layers]
        cursor = iter(layers)

        def take(kind: str) -> DlibLayer:
            layer = next(cursor)
            if layer.kind != kind:
                raise DlibFormatError(f"{path}: expected {kind}, found {layer.kind} (layers: {kinds})")
            return layer

        stem_con = take("con")
        if (stem_con.fields["nr"], stem_con.fields["stride_y"]) != (7, 2):
            raise DlibFormatError(f"{path}: unexpected stem conv {stem_con.fields}")
        self.stem = _folded_conv(stem_con, take("affine"), stride=2, padding=0)
        take("relu"), take("max_pool")
        blocks = []
        for channels, repeats, down in LEVELS:
            level = []
            for is_down in [True] * down + [False] * repeats:
                con1 = take("con")
                conv1 = _folded_conv(con1, take("affine"), stride=2 if is_down else 1, padding=0 if is_down else 1)
                take("relu")
                conv2 = _folded_conv(take("con"), take("affine"), stride=1, padding=1)
                if is_down:
                    take("avg_pool")
                take("add_prev"), take("relu")
                if conv2.out_channels != channels:
                    raise DlibFormatError(f"{path}: level of {channels} channels has a {conv2.out_channels} conv")
                level.append(DlibBlock(conv1, conv2, is_down))
            blocks.append(nn.Sequential(*level))
        self.levels = nn.ModuleList(blocks)
        take("avg_pool")
        fc = take("fc")
        self.fc = nn.Linear(fc.fields["num_inputs"], fc.fields["num_outputs"], bias=False)
        with torch.no_grad():
            self.fc.weight.copy_(torch.from_numpy(fc.arrays["weight"].T.copy()))
        mean = np.array(header["input_mean"], dtype=np.float32)
        self.register_buffer("pixel_mean", torch.from_numpy(mean).view(1, 3, 1, 1), persistent=False)
        self.input_size = header["input_size"]
        self.requires_grad_(False)
        self.eval()
        # channels_last convolutions are ~1.3–1.5× faster on this CPU (oneDNN); outputs are unchanged.
        self.to(memory_format=torch.channels_last)

    def normalise(self, chips: torch.Tensor) -> torch.Tensor:
        """[-1, 1] RGB → dlib's input: (pixel − mean) / 256 with pixel = (x + 1)·127.5."""
        if chips.ndim != 4 or chips.shape[1] != 3:
            raise ValueError(f"dlib ResNet expects RGB chips [B, 3, 150, 150], got {tuple(chips.shape)}")
        return ((chips + 1.0) * 127.5 - self.pixel_mean) / 256.0

    def stages(self, chips: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps after the stem and after each residual level (6 maps, 35² … 2²)."""
        x = self.normalise(chips).contiguous(memory_format=torch.channels_last)
        x = F.max_pool2d(F.relu(self.stem(x)), 3, 2)
        outputs = [x]
        for level in self.levels:
            x = level(x)
            outputs.append(x)
        return outputs

    def forward(self, chips: torch.Tensor) -> torch.Tensor:
        if tuple(chips.shape[-2:]) != tuple(self.input_size):
            raise ValueError(f"dlib ResNet expects {self.input_size[0]}×{self.input_size[1]} chips, "
                             f"got {tuple(chips.shape)}")
        return self.fc(self.stages(chips)[-1].mean(dim=(2, 3)))


@IDENTITY_NETS.register("dlib")
def build_dlib_resnet(weights: str | None = None) -> DlibResNet:
    """dlib's face-recognition ResNet: 150² chips in [-1, 1] (dlib.get_face_chip geometry) → [B, 128]."""
    return DlibResNet(weights)
