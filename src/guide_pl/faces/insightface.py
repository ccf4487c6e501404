"""insightface's buffalo_l recogniser (`w600k_r50.onnx`, ArcFace R50 on WebFace600K) as an identity embedder.

Runs the ONNX model with onnxruntime (imported lazily; optional extra `[insightface]`) on 112×112 crops aligned to
the ArcFace 5-point template. Generator images are FFHQ-aligned, so instead of running insightface's detector
the crop is one fixed affine map: the ArcFace template pushed through the FFHQ alignment recipe lands at fixed
places in the FFHQ frame (see `arcface_to_ffhq_affine`). Not differentiable (onnxruntime): an evaluation judge.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import MissingFileError
from ..weights import WEIGHTS, checkpoint_dir, locate
from .registry import IDENTITY_NETS

INSIGHTFACE_KEY = "insightface_w600k_r50"
PACK_MEMBER = Path("models") / "buffalo_l" / "w600k_r50.onnx"

# insightface's `arcface_dst`: left eye, right eye, nose tip, left and right mouth corners in a 112×112 chip
# (pixel centres at integer coordinates, as cv2.warpAffine).
ARCFACE_TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]]
)
FFHQ_RESOLUTION = 1024


def ffhq_quad(eye_left: np.ndarray, eye_right: np.ndarray, mouth_left: np.ndarray, mouth_right: np.ndarray
              ) -> np.ndarray:
    """The FFHQ alignment quad (corners: top-left, bottom-left, bottom-right, top-right) for these landmarks.

    The geometry of FFHQ's `align_face` (NVlabs/ffhq-dataset): eye and mouth centres fix an oriented square
    of half-side max(2·|eye-to-eye|, 1.8·|eye-to-mouth|) centred 0.1·eye-to-mouth below the eye centre.
    """
    eye_avg = (eye_left + eye_right) / 2
    eye_to_eye = eye_right - eye_left
    eye_to_mouth = (mouth_left + mouth_right) / 2 - eye_avg
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    x = x / np.hypot(*x) * max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.flipud(x) * [-1, 1]
    c = eye_avg + eye_to_mouth * 0.1
    return np.stack([c - x - y, c - x + y, c + x + y, c + x - y])


def arcface_to_ffhq_affine() -> np.ndarray:
    """2×3 map from ArcFace 112-chip pixel coordinates to FFHQ 1024-frame pixel coordinates.

    A face whose landmarks are exactly the ArcFace template is FFHQ-aligned by mapping its quad onto the 1024
    square; the same similarity carries the template (and every chip pixel) into the FFHQ frame. The template's
    eyes land at ≈(388.8, 483.6) and (635.2, 483.6), nose (512.0, 624.3), mouth corners (410.0, 768.0) and
    (614.0, 768.0); one chip pixel spans ≈6.99 FFHQ-1024 pixels. Checked on the 13 photos of shared/faces
    (FFHQ-aligned from dlib 68-point landmarks, landmarks found again in the aligned image): mean distance to
    these places, in chip pixels, 0.9 for the eyes, 4.7 for the nose tip, 4.1 for the mouth corners (max 9.0):
    the eyes are pinned by the recipe, nose and mouth vary with the face and pose (no per-image fit here).
    """
    t = ARCFACE_TEMPLATE_112
    quad = ffhq_quad(t[0], t[1], t[3], t[4])
    corners = np.array([[0.0, 0.0], [0.0, FFHQ_RESOLUTION], [FFHQ_RESOLUTION, FFHQ_RESOLUTION]])
    source = np.concatenate([quad[:3], np.ones((3, 1))], axis=1)
    return np.linalg.solve(source, corners).T


def crop_arcface_from_ffhq(images: torch.Tensor, size: int = 112, antialias: bool = True) -> torch.Tensor:
    """FFHQ-aligned images [B, 3, R, R] in [-1, 1] → ArcFace-aligned chips [B, 3, size, size] (bilinear).

    Outside the image is filled with −1 (black, as insightface's warpAffine borderValue=0). With `antialias` the
    image is first resized (antialiased bilinear) so one chip pixel spans about one source pixel.
    """
    if images.dim() != 4 or images.shape[1] != 3 or images.shape[2] != images.shape[3]:
        raise ValueError(f"expected square FFHQ-aligned images [B, 3, R, R]; got {tuple(images.shape)}")
    affine = arcface_to_ffhq_affine()
    chip_scale = size / 112.0
    resolution = images.shape[-1]
    step = np.hypot(*affine[:, 0]) / chip_scale * resolution / FFHQ_RESOLUTION  # source pixels per chip pixel
    if antialias and step > 1.5:
        resolution = max(int(round(images.shape[-1] / step)), size)
        images = F.interpolate(images, size=(resolution, resolution), mode="bilinear", antialias=True,
                               align_corners=False)
    # Chip pixel centre (u, v) → template coords → FFHQ-1024 coords → this image's pixel coords → [-1, 1].
    u = (torch.arange(size, dtype=torch.float64) + 0.5) / chip_scale - 0.5
    vv, uu = torch.meshgrid(u, u, indexing="ij")
    m = torch.from_numpy(affine)
    fx = m[0, 0] * uu + m[0, 1] * vv + m[0, 2]
    fy = m[1, 0] * uu + m[1, 1] * vv + m[1, 2]
    scale = resolution / FFHQ_RESOLUTION
    gx = ((fx + 0.5) * scale) * 2 / resolution - 1
    gy = ((fy + 0.5) * scale) * 2 / resolution - 1
    grid = torch.stack([gx, gy], dim=-1).to(images.dtype).expand(images.shape[0], size, size, 2)
    # Sample (x + 1) with zero padding, then shift back: padding becomes −1 (black).
    return F.grid_sample(images + 1, grid, mode="bilinear", padding_mode="zeros", align_corners=False) - 1


def find_insightface_model(path: str | os.PathLike | None = None) -> Path:
    """w600k_r50.onnx: explicit `path`, else checkpoints/insightface/…, else ~/.insightface/models/buffalo_l/."""
    if path is not None:
        return locate(INSIGHTFACE_KEY, path)
    candidates = [checkpoint_dir() / WEIGHTS[INSIGHTFACE_KEY].filename,
                  Path(os.path.expanduser("~")) / ".insightface" / PACK_MEMBER]
    for candidate in candidates:
        if candidate.is_file():
            return locate(INSIGHTFACE_KEY, candidate)
    entry = WEIGHTS[INSIGHTFACE_KEY]
    raise MissingFileError(
        f"{entry.used_by} needs w600k_r50.onnx at {candidates[0]} or {candidates[1]} (not found). "
        f"Get it from: {entry.source}"
    )


def _onnxruntime():
    try:
        import onnxruntime
    except ImportError as error:
        raise ImportError(
            "the insightface identity entry needs onnxruntime: pip install 'guide-pl[insightface]' "
            "(onnxruntime==1.30.0)"
        ) from error
    return onnxruntime


class InsightFaceEmbedder(nn.Module):
    """images [B, 3, H, W] in [-1, 1] → unit-norm 512-d embeddings [B, 512] from insightface's w600k_r50.

    `layout="ffhq"`: square FFHQ-aligned images (cropped with `crop_arcface_from_ffhq`); `"arcface112"`: chips
    already 112×112 and aligned to the ArcFace template. Inputs are RGB; the model wants (pixel − 127.5) / 127.5,
    which is the [-1, 1] image itself. No gradient flows (onnxruntime).
    """

    LAYOUTS = ("ffhq", "arcface112")

    def __init__(self, model_path: str | os.PathLike, layout: str = "ffhq", threads: int = 0) -> None:
        super().__init__()
        if layout not in self.LAYOUTS:
            raise ValueError(f"unknown layout {layout!r}; known: {', '.join(self.LAYOUTS)}")
        self.layout = layout
        ort = _onnxruntime()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(model_path), sess_options=options,
                                                providers=["CPUExecutionProvider"])
        except Exception as error:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise ValueError(f"cannot load {model_path} as an ONNX model ({error}); is the file truncated?") from error
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or list(inputs[0].shape[1:]) != [3, 112, 112]:
            raise ValueError(f"{model_path}: expected one input [N, 3, 112, 112], got "
                             f"{[(i.name, i.shape) for i in inputs]}")
        self.input_name, self.output_name = inputs[0].name, outputs[0].name

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.requires_grad and torch.is_grad_enabled():
            raise RuntimeError("the insightface embedder runs in onnxruntime and cannot pass gradients; "
                               "call it under torch.no_grad() or on detached images (use it as a judge, not a loss)")
        if self.layout == "ffhq":
            chips = crop_arcface_from_ffhq(images)
        else:
            if images.dim() != 4 or tuple(images.shape[1:]) != (3, 112, 112):
                raise ValueError(f"layout 'arcface112' expects [B, 3, 112, 112]; got {tuple(images.shape)}")
            chips = images
        batch = chips.detach().to("cpu", torch.float32).contiguous().numpy()
        (embedding,) = self.session.run([self.output_name], {self.input_name: batch})
        embedding = torch.from_numpy(np.asarray(embedding, dtype=np.float32)).to(images.device)
        return F.normalize(embedding.reshape(images.shape[0], -1), dim=1)


@IDENTITY_NETS.register("insightface")
def build_insightface(model_path: str | None = None, layout: str = "ffhq", threads: int = 0) -> InsightFaceEmbedder:
    """insightface buffalo_l recogniser (w600k_r50.onnx via onnxruntime); needs the model pack, see the module doc."""
    return InsightFaceEmbedder(find_insightface_model(model_path), layout=layout, threads=threads)
