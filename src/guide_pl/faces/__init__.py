"""Face tooling: identity networks, perceptual distances, alignment. Importing registers built-ins."""

from . import (
    irse,  # noqa: F401  (registers "arcface" and "curricularface")
    simple,  # noqa: F401  (registers "pixel_l2" and "random_cnn")
)
from .registry import IDENTITY_NETS, PERCEPTUAL_NETS, build_identity, build_perceptual

__all__ = ["IDENTITY_NETS", "PERCEPTUAL_NETS", "build_identity", "build_perceptual"]
