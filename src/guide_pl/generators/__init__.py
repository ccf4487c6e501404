"""Generators by name. Importing this package registers every built-in backend."""

# Each loader module registers its backend by name (architecture files register nothing and import no loader).
from . import (
    eg3d_checkpoint,  # noqa: F401  ("eg3d": EG3D from NVIDIA's TriPlaneGenerator pickles)
    mobilestylegan_ir,  # noqa: F401  ("mobilestylegan": the embedded default, FFHQ 1024², from the OpenVINO IR)
    sg2_checkpoint,  # noqa: F401  ("stylegan2": NVIDIA pickles and rosinality checkpoints)
    tiny,  # noqa: F401  ("tiny")
)
from .base import NOISE_MODES, FaceGenerator
from .nvidia_pickle import load_nvidia_pickle
from .registry import GENERATORS, build_generator

__all__ = ["FaceGenerator", "GENERATORS", "NOISE_MODES", "build_generator", "load_nvidia_pickle"]
