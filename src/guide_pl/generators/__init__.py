"""Generators by name. Importing this package registers every built-in backend."""

# Each import registers its backend by name.
from . import (
    mobilestylegan,  # noqa: F401  ("mobilestylegan": the embedded default, FFHQ 1024²)
    sg2_checkpoint,  # noqa: F401  (StyleGAN2 pickle builder and checkpoint entry)
    stylegan2,  # noqa: F401  ("stylegan2")
    tiny,  # noqa: F401  ("tiny")
)
from .base import NOISE_MODES, FaceGenerator
from .nvidia_pickle import load_nvidia_pickle
from .registry import GENERATORS, build_generator

__all__ = ["FaceGenerator", "GENERATORS", "NOISE_MODES", "build_generator", "load_nvidia_pickle"]
