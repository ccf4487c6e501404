"""Generators by name. Importing this package registers every built-in backend."""

from .base import NOISE_MODES, FaceGenerator
from .registry import GENERATORS, build_generator
from . import mobilestylegan, tiny  # noqa: F401  (register "mobilestylegan", "tiny")

__all__ = ["FaceGenerator", "GENERATORS", "NOISE_MODES", "build_generator"]
