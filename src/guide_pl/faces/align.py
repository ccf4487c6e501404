"""FFHQ-style face alignment: dlib detection + 68 landmarks, then NVlabs' `recreate_aligned_images` crop.

The crop follows ffhq-dataset/download_ffhq.py step by step (oriented quad from eye and mouth landmarks, shrink,
crop, reflect-pad with blur and median fade, quad transform to `transform_size`, Lanczos resize), written with
Pillow, numpy and torch (the Gaussian blur is separable FFT convolution in numpy, matching scipy.ndimage's
`gaussian_filter` with mode 'reflect' and truncate 4.0), so scipy is not needed.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import BadFileError
from .dlib_models import dlib_model_path

ImageSource = str | os.PathLike | Image.Image | np.ndarray
# Photos whose longer side exceeds this are searched for faces on a reduced copy (landmarks are mapped back to the
# full photo, which the crop still uses): dlib's detector upsamples 2×, and an 8000² photo took 60 s and 8.5 GB.
MAX_DETECTION_SIDE = 2048


class FaceAlignError(BadFileError):
    """Base class of alignment failures; the message names the image."""


class ImageReadError(FaceAlignError):
    """The image file is missing, unreadable, corrupt or truncated."""


class NoFaceError(FaceAlignError):
    """dlib's detector found no face in the image."""


@dataclass
class AlignedFace:
    """An FFHQ-aligned face: the image, the 68 landmarks and face box in the source image, and the crop quad."""

    image: Image.Image
    landmarks: np.ndarray  # [68, 2] (x, y) in source-image pixels
    box: tuple[int, int, int, int]  # detector rectangle (left, top, right, bottom)
    quad: np.ndarray  # [4, 2] corners of the crop in source-image pixels (top-left, bottom-left, …)
    num_faces: int


def describe(source: ImageSource) -> str:
    """A short name for error messages."""
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return f"<{type(source).__name__} image>"


def load_rgb(source: ImageSource) -> Image.Image:
    """An RGB PIL image from a path, PIL image or uint8 array [H, W, 3], turned upright by its EXIF orientation
    tag (as phones save portraits); clear errors naming the file."""
    if isinstance(source, Image.Image):
        return source.convert("RGB")
    if isinstance(source, np.ndarray):
        if source.ndim != 3 or source.shape[2] != 3 or source.dtype != np.uint8:
            raise ImageReadError(f"expected a uint8 array [H, W, 3], got {source.dtype} {source.shape}")
        return Image.fromarray(source, "RGB")
    name = os.fspath(source)
    if not os.path.isfile(name):
        raise ImageReadError(f"image {name} does not exist")
    try:
        with Image.open(name) as image:
            image.load()  # decode now, so truncated or corrupt files fail here
            return ImageOps.exif_transpose(image).convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ImageReadError(f"cannot read image {name}: {error} (corrupt or truncated file?)") from error


@cache
def _detector():
    import dlib

    return dlib.get_frontal_face_detector()


@cache
def _predictor(key: str):
    import dlib

    return dlib.shape_predictor(str(dlib_model_path(key)))


def detect_landmarks(image: Image.Image, name: str = "<image>", upsample: int = 1, points: int = 68):
    """(landmarks [points, 2], box, number of faces) of the largest face dlib's frontal detector finds."""
    pixels = np.asarray(image.convert("RGB"))
    faces = list(_detector()(pixels, upsample))
    if not faces:
        raise NoFaceError(f"no face found in {name} (dlib frontal detector, upsample={upsample})")
    face = max(faces, key=lambda r: r.width() * r.height())
    if len(faces) > 1:
        warnings.warn(f"{len(faces)} faces found in {name}; using the largest", stacklevel=2)
    shape = _predictor("dlib_landmarks68" if points == 68 else "dlib_landmarks5")(pixels, face)
    landmarks = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)
    return landmarks, (face.left(), face.top(), face.right(), face.bottom()), len(faces)


def ffhq_quad(landmarks: np.ndarray) -> tuple[np.ndarray, float]:
    """FFHQ's oriented crop quad [4, 2] and its size from 68 dlib landmarks (download_ffhq.py, rotate_level)."""
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (68, 2):
        raise ValueError(f"FFHQ alignment needs 68 landmarks [68, 2], got {lm.shape}")
    eye_left = lm[36:42].mean(axis=0)
    eye_right = lm[42:48].mean(axis=0)
    eye_avg = (eye_left + eye_right) * 0.5
    eye_to_eye = eye_right - eye_left
    mouth_avg = (lm[48] + lm[54]) * 0.5
    eye_to_mouth = mouth_avg - eye_avg
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    x /= np.hypot(*x)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.flipud(x) * [-1, 1]
    c0 = eye_avg + eye_to_mouth * 0.1
    quad = np.stack([c0 - x - y, c0 - x + y, c0 + x + y, c0 + x - y])
    return quad, float(np.hypot(*x) * 2)


def _fast_fft_length(n: int) -> int:
    """Smallest 2·3·5-smooth integer ≥ n (pocketfft is slow on lengths with large prime factors)."""
    best = 1 << max(n - 1, 1).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            value = p35
            while value < n:
                value *= 2
            best = min(best, value)
            p35 *= 3
        p5 *= 5
    return best


def gaussian_blur(image: np.ndarray, sigma: float, truncate: float = 4.0) -> np.ndarray:
    """Blur rows and columns of float32 [H, W, C] like scipy.ndimage.gaussian_filter(img, [σ, σ, 0]) ('reflect')."""
    radius = int(truncate * float(sigma) + 0.5)
    taps = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * taps**2 / float(sigma) ** 2)
    kernel /= kernel.sum()
    out = np.asarray(image, dtype=np.float64)
    for axis in (0, 1):
        # scipy's 'reflect' repeats the edge sample (numpy 'symmetric'); np.pad handles pads longer than the axis.
        widths = [(0, 0)] * out.ndim
        widths[axis] = (radius, radius)
        padded = np.pad(out, widths, mode="symmetric")
        # Linear convolution through the FFT (the kernels reach hundreds of taps; direct convolution is slow).
        length = _fast_fft_length(padded.shape[axis] + 2 * radius)
        spectrum = np.fft.rfft(padded, n=length, axis=axis)
        shape = [1] * out.ndim
        shape[axis] = -1
        spectrum *= np.fft.rfft(kernel, n=length).reshape(shape)
        full = np.fft.irfft(spectrum, n=length, axis=axis)
        out = np.take(full, np.arange(2 * radius, 2 * radius + out.shape[axis]), axis=axis)
    return out.astype(np.float32)


def ffhq_crop(image: Image.Image, landmarks: np.ndarray, output_size: int = 1024, transform_size: int = 4096,
              enable_padding: bool = True) -> tuple[Image.Image, np.ndarray]:
    """NVlabs' recreate_aligned_images on one image: (aligned RGB image, crop quad in source pixels)."""
    quad, qsize = ffhq_quad(landmarks)
    source_quad = quad.copy()
    img = image.convert("RGB")

    # Shrink.
    shrink = int(np.floor(qsize / output_size * 0.5))
    if shrink > 1:
        rsize = (int(np.rint(float(img.size[0]) / shrink)), int(np.rint(float(img.size[1]) / shrink)))
        img = img.resize(rsize, Image.Resampling.LANCZOS)
        quad /= shrink
        qsize /= shrink

    # Crop.
    border = max(int(np.rint(qsize * 0.1)), 3)
    crop = (int(np.floor(min(quad[:, 0]))), int(np.floor(min(quad[:, 1]))),
            int(np.ceil(max(quad[:, 0]))), int(np.ceil(max(quad[:, 1]))))
    crop = (max(crop[0] - border, 0), max(crop[1] - border, 0),
            min(crop[2] + border, img.size[0]), min(crop[3] + border, img.size[1]))
    if crop[2] - crop[0] < img.size[0] or crop[3] - crop[1] < img.size[1]:
        img = img.crop(crop)
        quad -= crop[0:2]

    # Pad: reflect, blur towards the edges, fade to the median colour.
    pad = (int(np.floor(min(quad[:, 0]))), int(np.floor(min(quad[:, 1]))),
           int(np.ceil(max(quad[:, 0]))), int(np.ceil(max(quad[:, 1]))))
    pad = (max(-pad[0] + border, 0), max(-pad[1] + border, 0),
           max(pad[2] - img.size[0] + border, 0), max(pad[3] - img.size[1] + border, 0))
    if enable_padding and max(pad) > border - 4:
        pad = np.maximum(pad, int(np.rint(qsize * 0.3)))
        arr = np.pad(np.float32(img), ((pad[1], pad[3]), (pad[0], pad[2]), (0, 0)), "reflect")
        h, w, _ = arr.shape
        y, x, _ = np.ogrid[:h, :w, :1]
        mask = np.maximum(1.0 - np.minimum(np.float32(x) / pad[0], np.float32(w - 1 - x) / pad[2]),
                          1.0 - np.minimum(np.float32(y) / pad[1], np.float32(h - 1 - y) / pad[3]))
        blur = qsize * 0.02
        arr += (gaussian_blur(arr, blur) - arr) * np.clip(mask * 3.0 + 1.0, 0.0, 1.0)
        arr += (np.median(arr, axis=(0, 1)) - arr) * np.clip(mask, 0.0, 1.0)
        img = Image.fromarray(np.uint8(np.clip(np.rint(arr), 0, 255)), "RGB")
        quad += pad[:2]

    # Transform.
    img = img.transform((transform_size, transform_size), Image.Transform.QUAD, tuple((quad + 0.5).flatten()),
                        Image.Resampling.BILINEAR)
    if output_size < transform_size:
        img = img.resize((output_size, output_size), Image.Resampling.LANCZOS)
    return img, source_quad


def detect_reduced(image: Image.Image, name: str, upsample: int = 1, max_side: int | None = None):
    """`detect_landmarks` on a copy reduced to `max_side` (default MAX_DETECTION_SIDE) when the photo is larger;
    landmarks and box in the full photo's pixels."""
    scale = (max_side or MAX_DETECTION_SIDE) / max(image.size)
    if scale >= 1:
        return detect_landmarks(image, name, upsample=upsample)
    reduced = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                           Image.Resampling.BILINEAR, reducing_gap=3.0)
    landmarks, box, count = detect_landmarks(reduced, name, upsample=upsample)
    full = (landmarks + 0.5) / scale - 0.5  # pixel centres map to pixel centres
    return full, tuple(int(round(v / scale)) for v in box), count


def align_face(source: ImageSource, size: int = 1024, transform_size: int = 4096, upsample: int = 1) -> AlignedFace:
    """Detect the largest face in `source` and crop it FFHQ-style to `size`² (NoFaceError/ImageReadError name it)."""
    name = describe(source)
    image = load_rgb(source)
    landmarks, box, count = detect_reduced(image, name, upsample=upsample)
    aligned, quad = ffhq_crop(image, landmarks, output_size=size, transform_size=max(transform_size, size))
    return AlignedFace(aligned, landmarks, box, quad, count)
