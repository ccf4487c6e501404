"""EG3D checkpoints: NVIDIA's `TriPlaneGenerator` pickles (ffhqrebalanced512-128.pkl, afhqcats512-128.pkl, and
pickles GUIDE saves) read through the restricted unpickler; registers the generator "eg3d".

Nothing from the pickle runs: the record gives the init arguments, `rendering_kwargs`, the neural rendering
resolution and the tensors, which are copied by name into guide-pl's own `EG3DGenerator`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Optional

import torch

from ..errors import BadValueError
from ..weights import locate
from .cameras import CameraRig
from .eg3d import EG3DGenerator
from .eg3d_render import RenderSettings
from .nvidia_pickle import (
    PersistentObject,
    UnsupportedCheckpointError,
    load_generator,
    register_builder,
)
from .registry import GENERATORS

EG3D_FFHQ_KEY = "eg3d-ffhqrebalanced512-128"
SUPERRESOLUTION = "training.superresolution.SuperresolutionHybrid8XDC"
# TriPlaneGenerator(...) keywords; the rest go to the backbone's SynthesisNetwork.
_GENERATOR_ARGS = {"z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "sr_num_fp16_res", "mapping_kwargs",
                   "rendering_kwargs", "sr_kwargs"}
_SYNTHESIS_ARGS = {"channel_base", "channel_max", "num_fp16_res", "conv_clamp"}
_IGNORED_ARGS = {"fused_modconv_default"}  # guide-pl's blocks are fused in eval, separate in train: 'inference_only'


def eg3d_from_record(record: PersistentObject) -> EG3DGenerator:
    """An (untrained) EG3DGenerator with the init arguments and rendering state of a TriPlaneGenerator record."""
    if record.class_name != "TriPlaneGenerator":
        raise UnsupportedCheckpointError(f"class {record.class_name!r} is not EG3D's TriPlaneGenerator")
    kwargs = record.init_kwargs
    if record.init_args:
        raise UnsupportedCheckpointError(f"unexpected positional init arguments {record.init_args!r}")
    unknown = sorted(set(kwargs) - _GENERATOR_ARGS - _SYNTHESIS_ARGS - _IGNORED_ARGS)
    if unknown:
        raise UnsupportedCheckpointError(f"unknown TriPlaneGenerator options {unknown}")
    # The forward uses the object's own rendering_kwargs (G_ema keeps a copy of G's), not the init argument.
    rendering = dict(record.state.get("rendering_kwargs") or kwargs.get("rendering_kwargs") or {})
    rendering = {k: (v.item() if hasattr(v, "item") else v) for k, v in rendering.items()}
    if rendering.get("superresolution_module", SUPERRESOLUTION) != SUPERRESOLUTION:
        raise UnsupportedCheckpointError(f"super-resolution {rendering['superresolution_module']!r}; only "
                                         f"{SUPERRESOLUTION} (the 512² pickles) is implemented")
    sr_kwargs = {k: v for k, v in (kwargs.get("sr_kwargs") or {}).items() if k not in _IGNORED_ARGS}
    try:
        RenderSettings.from_kwargs(rendering)
    except BadValueError as error:
        raise UnsupportedCheckpointError(str(error)) from None
    generator = EG3DGenerator(
        z_dim=kwargs.get("z_dim", 512), c_dim=kwargs.get("c_dim", 25), w_dim=kwargs.get("w_dim", 512),
        img_resolution=kwargs.get("img_resolution", 512), img_channels=kwargs.get("img_channels", 3),
        sr_num_fp16_res=kwargs.get("sr_num_fp16_res", 0), mapping_kwargs=dict(kwargs.get("mapping_kwargs") or {}),
        rendering_kwargs=rendering, sr_kwargs=sr_kwargs,
        neural_rendering_resolution=int(record.state.get("neural_rendering_resolution", 64)),
        **{k: v for k, v in kwargs.items() if k in _SYNTHESIS_ARGS},
    )
    if "dataset_label_std" in (record.state.get("_buffers") or {}):
        # Official training adds the dataset's camera-label std (unused by the forward); keep it so names match.
        generator.register_buffer("dataset_label_std", torch.zeros(kwargs.get("c_dim", 25)))
    return generator


register_builder("eg3d", eg3d_from_record)


def load_eg3d(path: Optional[str | os.PathLike] = None, network: str = "G_ema") -> EG3DGenerator:
    """EG3D from an official pickle (default: checkpoints/ffhqrebalanced512-128.pkl)."""
    return load_generator(locate(EG3D_FFHQ_KEY, path), network, EG3DGenerator, "EG3D")


@GENERATORS.register("eg3d")
def build_eg3d(
    checkpoint: Optional[str] = None,
    network: str = "G_ema",
    loss_resolution: Optional[int] = None,
    camera_pivot: Sequence[float] = (0.0, 0.0, 0.0),
    camera_radius: float = 2.7,
    fov_degrees: float = 18.837,
    neural_rendering_resolution: Optional[int] = None,
    evaluation_views: int = 11,
) -> EG3DGenerator:
    """EG3D from an official pickle, with GUIDE's cameras: pivot [0, 0, 0] by default (GUIDE reads a key EG3D
    lacks; EG3D's own pivot is [0, 0, 0.2] for FFHQ), radius 2.7, FOV 18.837°, and the identity metrics averaged
    over `evaluation_views` yaws in [−π/12, π/12] (GUIDE: 11)."""
    if evaluation_views < 1:
        raise BadValueError(f"evaluation_views must be ≥ 1, got {evaluation_views}")
    if len(camera_pivot) != 3:
        raise BadValueError(f"camera_pivot must be three numbers, got {list(camera_pivot)}")
    generator = load_eg3d(checkpoint, network)
    generator.cameras = CameraRig(fov_degrees=fov_degrees, radius=camera_radius,
                                  pivot=tuple(float(v) for v in camera_pivot), evaluation_views=evaluation_views)
    generator.loss_resolution = loss_resolution
    if neural_rendering_resolution is not None:
        generator.neural_rendering_resolution = neural_rendering_resolution
    return generator.eval()
