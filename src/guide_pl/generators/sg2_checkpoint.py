"""StyleGAN2 checkpoints: NVIDIA `.pkl` (stylegan2-ada-pytorch, stylegan3) and rosinality `.pt` files; registers
the generator "stylegan2" (the architecture, `stylegan2.py`, imports no loader)."""

from __future__ import annotations

import argparse
import os
import re
import zipfile
from typing import Optional

import torch

from ..weights import WEIGHTS, locate
from .nvidia_pickle import (
    CheckpointError,
    PersistentObject,
    UnsupportedCheckpointError,
    load_generator,
    register_builder,
)
from .registry import GENERATORS
from .stylegan2 import StyleGAN2Generator

STYLEGAN2_FFHQ_KEY = "stylegan2-ffhq-config-f"
STYLEGAN2_FFHQ = WEIGHTS[STYLEGAN2_FFHQ_KEY]

# Generator(...) keywords in stylegan2-ada-pytorch; stylegan3's networks_stylegan2 passes synthesis options flat.
_GENERATOR_ARGS = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs", "synthesis_kwargs")
_SYNTHESIS_ARGS = {
    "channel_base", "channel_max", "num_fp16_res", "architecture", "resample_filter", "conv_clamp",
    "fp16_channels_last", "kernel_size", "use_noise", "activation",
}  # fmt: skip
_MAPPING_ARGS = {
    "num_layers", "embed_features", "layer_features", "activation", "lr_multiplier", "w_avg_beta",
}  # fmt: skip
_IGNORED_ARGS = {"fused_modconv_default"}  # speed switch only: we pick fused/unfused per mode, same numbers
_SG2_CLASSES = {
    "Generator", "MappingNetwork", "SynthesisNetwork", "SynthesisBlock", "SynthesisLayer", "ToRGBLayer",
    "FullyConnectedLayer", "Conv2dLayer",
}  # fmt: skip


def stylegan2_from_record(record: PersistentObject) -> StyleGAN2Generator:
    """Build an (untrained) StyleGAN2Generator with the init arguments of an official `Generator` record."""
    if record.class_name != "Generator":
        raise UnsupportedCheckpointError(f"class {record.class_name!r} is not a StyleGAN2 Generator")
    foreign = sorted({cls for _, cls in record.class_tree()} - _SG2_CLASSES)
    if foreign:
        raise UnsupportedCheckpointError(f"layers {foreign} are not StyleGAN2's (StyleGAN3, EG3D or another net?)")
    blocks = [name for name in record.children.get("synthesis").children] if "synthesis" in record.children else []
    if not blocks or not all(re.fullmatch(r"b\d+", name) for name in blocks):
        raise UnsupportedCheckpointError(f"synthesis submodules {blocks} are not StyleGAN2 blocks b4, b8, …")
    if record.init_args:
        raise UnsupportedCheckpointError(f"unexpected positional init arguments {record.init_args!r}")
    kwargs = record.init_kwargs
    unknown = sorted(set(kwargs) - set(_GENERATOR_ARGS) - _SYNTHESIS_ARGS - {"mapping_kwargs"} - _IGNORED_ARGS)
    if unknown:
        raise UnsupportedCheckpointError(f"unknown Generator options {unknown}")
    synthesis = dict(kwargs.get("synthesis_kwargs") or {})
    synthesis.update({key: value for key, value in kwargs.items() if key in _SYNTHESIS_ARGS})
    mapping = dict(kwargs.get("mapping_kwargs") or {})
    for name, options, known in (("synthesis", synthesis, _SYNTHESIS_ARGS), ("mapping", mapping, _MAPPING_ARGS)):
        bad = sorted(set(options) - known - _IGNORED_ARGS)
        if bad:
            raise UnsupportedCheckpointError(f"unknown {name} options {bad}")
    for key in _IGNORED_ARGS:
        synthesis.pop(key, None)
    if "resample_filter" in synthesis:
        synthesis["resample_filter"] = list(synthesis["resample_filter"])
    missing = [key for key in ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels") if key not in kwargs]
    if missing:
        raise UnsupportedCheckpointError(f"Generator init arguments {missing} are missing")
    return StyleGAN2Generator(
        z_dim=kwargs["z_dim"], c_dim=kwargs["c_dim"], w_dim=kwargs["w_dim"],
        img_resolution=kwargs["img_resolution"], img_channels=kwargs["img_channels"],
        mapping_kwargs=mapping, synthesis_kwargs=synthesis,
    )  # fmt: skip


register_builder("stylegan2", stylegan2_from_record)


# -- rosinality/stylegan2-pytorch ------------------------------------------------------------------------------
def rosinality_to_official(state: dict[str, torch.Tensor], latent_avg: Optional[torch.Tensor]) -> tuple[dict, dict]:
    """Rename a rosinality `g_ema` state dict to stylegan2-ada-pytorch names; returns (tensors, init kwargs)."""
    n_mlp = len({m.group(1) for key in state if (m := re.fullmatch(r"style\.(\d+)\.weight", key))})
    n_rgbs = len({m.group(1) for key in state if (m := re.fullmatch(r"to_rgbs\.(\d+)\.conv\.weight", key))})
    if n_mlp == 0 or "input.input" not in state or "conv1.conv.weight" not in state:
        raise UnsupportedCheckpointError("not a rosinality StyleGAN2 generator state dict (no style.*/input/conv1)")
    resolution = 2 ** (n_rgbs + 2)
    w_dim = state["style.1.weight"].shape[0]
    z_dim = state["style.1.weight"].shape[1]
    out: dict[str, torch.Tensor] = {}
    for i in range(n_mlp):
        out[f"mapping.fc{i}.weight"] = state[f"style.{i + 1}.weight"]
        out[f"mapping.fc{i}.bias"] = state[f"style.{i + 1}.bias"]

    def styled(src: str, dst: str, noise_key: str) -> None:
        out[f"{dst}.weight"] = state[f"{src}.conv.weight"].squeeze(0)
        out[f"{dst}.affine.weight"] = state[f"{src}.conv.modulation.weight"]
        out[f"{dst}.affine.bias"] = state[f"{src}.conv.modulation.bias"]
        out[f"{dst}.noise_strength"] = state[f"{src}.noise.weight"].reshape(())
        out[f"{dst}.bias"] = state[f"{src}.activate.bias"]
        out[f"{dst}.noise_const"] = state[noise_key].reshape(state[noise_key].shape[-2:])

    def torgb(src: str, dst: str) -> None:
        out[f"{dst}.weight"] = state[f"{src}.conv.weight"].squeeze(0)
        out[f"{dst}.affine.weight"] = state[f"{src}.conv.modulation.weight"]
        out[f"{dst}.affine.bias"] = state[f"{src}.conv.modulation.bias"]
        out[f"{dst}.bias"] = state[f"{src}.bias"].reshape(-1)

    out["synthesis.b4.const"] = state["input.input"].squeeze(0)
    styled("conv1", "synthesis.b4.conv1", "noises.noise_0")
    torgb("to_rgb1", "synthesis.b4.torgb")
    for i in range(n_rgbs):
        res = 2 ** (i + 3)
        # Both codebases store the upsampling conv's kernel flipped relative to TensorFlow: no flip here.
        styled(f"convs.{2 * i}", f"synthesis.b{res}.conv0", f"noises.noise_{2 * i + 1}")
        styled(f"convs.{2 * i + 1}", f"synthesis.b{res}.conv1", f"noises.noise_{2 * i + 2}")
        torgb(f"to_rgbs.{i}", f"synthesis.b{res}.torgb")
    if latent_avg is not None:
        out["mapping.w_avg"] = latent_avg.reshape(-1)
    channels = {res: out[f"synthesis.b{res}.conv1.weight"].shape[0] for res in [2**k for k in range(2, n_rgbs + 3)]}
    channel_max = max(channels.values())
    # rosinality's channel_multiplier m gives min(16·m·1024 / res, 512) = min(channel_base / res, 512).
    channel_base = channels[resolution] * resolution
    kwargs = dict(
        z_dim=z_dim, c_dim=0, w_dim=w_dim, img_resolution=resolution, img_channels=3,
        mapping_kwargs=dict(num_layers=n_mlp),
        synthesis_kwargs=dict(channel_base=channel_base, channel_max=channel_max),
    )  # fmt: skip
    return out, kwargs


def load_rosinality(path: str | os.PathLike, network: str = "g_ema") -> StyleGAN2Generator:
    """Load a rosinality/stylegan2-pytorch checkpoint (`{"g_ema": state_dict, "latent_avg": …}`), weights-only."""
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):  # training checkpoints keep their args
            ckpt = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path} did not load as a weights-only torch checkpoint: {exc}") from exc
    if not isinstance(ckpt, dict) or network not in ckpt:
        keys = sorted(map(str, ckpt)) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise UnsupportedCheckpointError(f"{path}: no {network!r} generator state dict in this checkpoint ({keys})")
    try:
        tensors, kwargs = rosinality_to_official(ckpt[network], ckpt.get("latent_avg"))
    except KeyError as exc:
        raise UnsupportedCheckpointError(f"{path}: rosinality state dict lacks {exc}") from exc
    except UnsupportedCheckpointError as exc:
        raise UnsupportedCheckpointError(f"{path}: {exc}") from exc
    generator = StyleGAN2Generator(**kwargs)
    own = generator.state_dict()
    for name, value in own.items():  # resample filters are constants of the architecture
        if name.endswith("resample_filter"):
            tensors[name] = value
    estimate = "mapping.w_avg" not in tensors  # training checkpoints carry no latent_avg
    if estimate:
        tensors["mapping.w_avg"] = torch.zeros_like(own["mapping.w_avg"])
    missing = sorted(set(own) - set(tensors))
    if missing:
        raise UnsupportedCheckpointError(f"{path}: rosinality checkpoint lacks {missing[:5]}")
    for name, value in tensors.items():
        if tuple(value.shape) != tuple(own[name].shape):
            expected = tuple(own[name].shape)
            raise UnsupportedCheckpointError(f"{path}: {name} has shape {tuple(value.shape)}, expected {expected}")
    generator.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=True)
    if estimate:
        generator.mapping.w_avg.copy_(generator.estimate_w_avg())
    return generator.eval()


# -- dispatch --------------------------------------------------------------------------------------------------
def load_stylegan2(path: Optional[str | os.PathLike] = None, network: str = "G_ema") -> StyleGAN2Generator:
    """Load a StyleGAN2 generator from `path` (default: checkpoints/stylegan2-ffhq-config-f.pkl).

    NVIDIA pickles (`network` "G_ema" or "G") and rosinality `.pt` files ("g_ema"/"g") are told apart by content.
    """
    resolved = locate(STYLEGAN2_FFHQ_KEY, path)
    if zipfile.is_zipfile(resolved):  # torch.save archive → rosinality
        return load_rosinality(resolved, network={"G_ema": "g_ema", "G": "g"}.get(network, network))
    return load_generator(resolved, network, StyleGAN2Generator, "StyleGAN2")


@GENERATORS.register("stylegan2")
def build_stylegan2(
    checkpoint: Optional[str] = None,
    loss_resolution: Optional[int] = None,
    network: str = "G_ema",
) -> StyleGAN2Generator:
    """StyleGAN2 from an official stylegan2-ada-pytorch `.pkl` or a rosinality `.pt` (default: FFHQ config F)."""
    generator = load_stylegan2(checkpoint, network=network)
    generator.loss_resolution = loss_resolution
    return generator.eval()
