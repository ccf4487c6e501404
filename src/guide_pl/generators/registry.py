"""The generator registry: `build_generator(name, **options)`."""

from __future__ import annotations

from typing import Any

from ..registry import Registry
from .base import FaceGenerator

GENERATORS: Registry[FaceGenerator] = Registry("generator")


def build_generator(name: str, **options: Any) -> FaceGenerator:
    """Build the generator registered as `name` (e.g. "tiny", "mobilestylegan") with its options."""
    return GENERATORS.build(name, **options)
