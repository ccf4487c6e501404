"""Face tooling: identity networks, perceptual distances, alignment. Importing registers built-ins."""

from .registry import IDENTITY_NETS, PERCEPTUAL_NETS, build_identity, build_perceptual
from . import simple  # noqa: F401  (registers "pixel_l2" and "random_cnn")
from . import lpips_vgg  # noqa: F401  (registers "lpips_vgg")
from . import insightface  # noqa: F401  (registers "insightface"; onnxruntime imported only when built)

__all__ = ["IDENTITY_NETS", "PERCEPTUAL_NETS", "build_identity", "build_perceptual"]
