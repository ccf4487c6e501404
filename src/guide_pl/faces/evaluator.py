"""Identity evaluation with dlib itself (not the PyTorch port): detection, 5-point landmarks, 128-d descriptors.

Generator outputs are FFHQ-aligned; when dlib's detector misses such a face, the evaluator falls back to the
fixed positions of dlib's 5 landmarks on FFHQ-aligned faces (measured, `ffhq_geometry`) and records that it did.
dlib calls two faces the same person when the Euclidean distance of their descriptors is below 0.6.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass
from functools import cache

import numpy as np
import torch

from ..images import to_uint8_pixels
from .align import ImageSource, NoFaceError, describe, load_rgb
from .dlib_models import dlib_model_path
from .ffhq_geometry import FFHQ_LANDMARKS5

DLIB_SAME_PERSON_THRESHOLD = 0.6
EvalImage = ImageSource | torch.Tensor


@dataclass
class FaceDescription:
    """dlib's view of one face: descriptor [128], 5 landmarks [5, 2] (pixels), its 150² chip, how it was found."""

    descriptor: np.ndarray
    landmarks: np.ndarray
    chip: np.ndarray
    num_faces: int
    fell_back: bool


@dataclass
class IdentityComparison:
    """Cosine similarity and Euclidean distance of two dlib descriptors, and dlib's same-person decision."""

    cosine: float
    distance: float
    same_person: bool
    fell_back: tuple[bool, bool]


def to_uint8_image(image: EvalImage) -> tuple[np.ndarray, str]:
    """RGB uint8 [H, W, 3] from a path, PIL image, uint8 array or tensor [3, H, W] / [1, 3, H, W] in [-1, 1]."""
    if isinstance(image, torch.Tensor):
        tensor = image.detach()
        if tensor.ndim == 4 and tensor.shape[0] == 1:
            tensor = tensor[0]
        if tensor.ndim != 3 or tensor.shape[0] != 3:
            raise ValueError(f"expected one image tensor [3, H, W] in [-1, 1], got {tuple(image.shape)}")
        pixels = to_uint8_pixels(tensor.cpu())
        return np.ascontiguousarray(pixels.permute(1, 2, 0).numpy()), "<tensor image>"
    return np.asarray(load_rgb(image)), describe(image)


@cache
def _dlib_models():
    import dlib

    return (dlib.get_frontal_face_detector(),
            dlib.shape_predictor(str(dlib_model_path("dlib_landmarks5"))),
            dlib.face_recognition_model_v1(str(dlib_model_path("dlib_resnet"))))


class DlibIdentityEvaluator:
    """Compares faces with dlib: `describe(image)` → FaceDescription, `compare(a, b)` → IdentityComparison."""

    name = "dlib"

    def __init__(self, threshold: float = DLIB_SAME_PERSON_THRESHOLD, upsample: int = 1,
                 fallback_to_ffhq: bool = True) -> None:
        self.threshold = threshold
        self.upsample = upsample
        self.fallback_to_ffhq = fallback_to_ffhq

    def describe(self, image: EvalImage) -> FaceDescription:
        """Detect the largest face (or fall back to FFHQ landmark positions) and compute dlib's descriptor."""
        import dlib

        detector, predictor, recogniser = _dlib_models()
        pixels, name = to_uint8_image(image)
        faces = list(detector(pixels, self.upsample))
        fell_back = not faces
        if faces:
            face = max(faces, key=lambda r: r.width() * r.height())
            if len(faces) > 1:
                warnings.warn(f"{len(faces)} faces found in {name}; using the largest", stacklevel=2)
            shape = predictor(pixels, face)
        elif self.fallback_to_ffhq:
            height, width = pixels.shape[:2]
            # Normalised positions (pixel centres at (i + 0.5) / size) → this image's pixel coordinates.
            points = [dlib.point(int(round(u * width - 0.5)), int(round(v * height - 0.5))) for u, v in FFHQ_LANDMARKS5]
            shape = dlib.full_object_detection(dlib.rectangle(0, 0, width - 1, height - 1), points)
        else:
            raise NoFaceError(f"no face found in {name} (dlib frontal detector, upsample={self.upsample})")
        chip = dlib.get_face_chip(pixels, shape, size=150, padding=0.25)
        descriptor = np.array(recogniser.compute_face_descriptor(chip), dtype=np.float64)
        landmarks = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)
        return FaceDescription(descriptor, landmarks, np.asarray(chip), len(faces), fell_back)

    def compare_descriptions(self, a: FaceDescription, b: FaceDescription) -> IdentityComparison:
        """Cosine, distance and same-person decision of two already described faces."""
        distance = float(np.linalg.norm(a.descriptor - b.descriptor))
        cosine = float(a.descriptor @ b.descriptor / (np.linalg.norm(a.descriptor) * np.linalg.norm(b.descriptor)))
        return IdentityComparison(cosine, distance, distance < self.threshold, (a.fell_back, b.fell_back))

    def compare(self, a: EvalImage, b: EvalImage) -> IdentityComparison:
        """Compare the faces of two images (photos or generator outputs)."""
        return self.compare_descriptions(self.describe(a), self.describe(b))


@dataclass
class EmbeddingDescription:
    """A face network's l2-normalised embedding of one FFHQ-aligned image (no detection: the crop is fixed)."""

    descriptor: np.ndarray
    fell_back: bool = False


class EmbeddingJudge:
    """A second judge from any identity network: cosine of embeddings, same person when cosine ≥ `cosine_threshold`.

    Speaks the DlibIdentityEvaluator protocol, with distance = 1 − cosine (so `threshold` = 1 − cosine_threshold).
    Images must be FFHQ-aligned tensors [3, H, W] in [-1, 1] (photos go through the pipeline's aligner first).
    """

    def __init__(self, name: str, network: torch.nn.Module, cosine_threshold: float) -> None:
        self.name = name
        self.network = network.eval().requires_grad_(False)
        self.cosine_threshold = cosine_threshold
        self.threshold = 1.0 - cosine_threshold

    @torch.no_grad()
    def describe(self, image: torch.Tensor) -> EmbeddingDescription:
        """The network's embedding of one aligned image tensor."""
        if not isinstance(image, torch.Tensor) or image.ndim != 3 or image.shape[0] != 3:
            raise ValueError(f"the {self.name} judge takes one aligned image tensor [3, H, W], got "
                             f"{type(image).__name__} {tuple(getattr(image, 'shape', ()))}")
        device = next(itertools.chain(self.network.parameters(), self.network.buffers()), image).device
        embedding = self.network(image.unsqueeze(0).to(device).float())[0]
        return EmbeddingDescription(torch.nn.functional.normalize(embedding, dim=0).double().cpu().numpy())

    def compare_descriptions(self, a: EmbeddingDescription, b: EmbeddingDescription) -> IdentityComparison:
        """Cosine, 1 − cosine and the same-person decision."""
        cosine = float(a.descriptor @ b.descriptor)
        return IdentityComparison(cosine, 1.0 - cosine, cosine >= self.cosine_threshold, (False, False))

    def compare(self, a: torch.Tensor, b: torch.Tensor) -> IdentityComparison:
        """Compare two aligned image tensors."""
        return self.compare_descriptions(self.describe(a), self.describe(b))
