"""Generators by name. Importing this package registers every built-in backend."""

from . import mobilestylegan, tiny  # noqa: F401  (register "mobilestylegan", "tiny")
from .base import NOISE_MODES, FaceGenerator
from .registry import GENERATORS, build_generator

__all__ = ["FaceGenerator", "GENERATORS", "NOISE_MODES", "build_generator"]
