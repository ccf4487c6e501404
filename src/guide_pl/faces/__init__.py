"""Face tooling: identity networks, perceptual distances, alignment. Importing registers built-ins."""

from . import (
    dlib_features,  # noqa: F401  (registers perceptual "dlib_features")
    dlib_resnet,  # noqa: F401  (registers "dlib"; weights: dlib_face_recognition_resnet_model_v1.dat)
    ffhq_chip,  # noqa: F401  (registers "dlib_ffhq")
    simple,  # noqa: F401  (registers "pixel_l2" and "random_cnn")
)
from .registry import IDENTITY_NETS, PERCEPTUAL_NETS, build_identity, build_perceptual

__all__ = ["IDENTITY_NETS", "PERCEPTUAL_NETS", "build_identity", "build_perceptual"]
