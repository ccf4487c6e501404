"""Face tooling: identity networks, perceptual distances, alignment. Importing registers built-ins."""

# Each import registers its networks by name; heavy dependencies are imported only when a network is built.
from . import (
    dlib_features,  # noqa: F401  (perceptual "dlib_features")
    dlib_resnet,  # noqa: F401  ("dlib": 150² chips → dlib's 128-d descriptors)
    ffhq_chip,  # noqa: F401  ("dlib_ffhq": FFHQ-aligned images → dlib descriptors)
    inception,  # noqa: F401  ("inception": pytorch-fid's FID Inception-v3, pool3 features)
    insightface,  # noqa: F401  ("insightface"; onnxruntime imported only when built)
    irse,  # noqa: F401  ("arcface", "curricularface")
    lpips_vgg,  # noqa: F401  ("lpips_vgg")
    mobileface,  # noqa: F401  ("mobileface": the independent judge, from an npm package's TF.js graph)
    simple,  # noqa: F401  ("pixel_l2", "random_cnn")
)
from .registry import IDENTITY_NETS, PERCEPTUAL_NETS, build_identity, build_perceptual

__all__ = ["IDENTITY_NETS", "PERCEPTUAL_NETS", "build_identity", "build_perceptual"]
