"""Fixed geometry of FFHQ-aligned faces: where dlib's 5 landmarks fall, and dlib's 150² chip of such a face.

Positions are normalised to the image side with pixel centres at (i + 0.5) / size, so they hold at any
resolution. `FFHQ_LANDMARKS5` was measured (see `measure_ffhq_landmarks5`): the photos of shared/faces were
aligned with `guide_pl.faces.align` (FFHQ's recipe, 512² from a 2048² transform), dlib's frontal detector
(upsample 1) and 5-point predictor ran on the aligned images, and the normalised points were averaged.
The chip transform is dlib's own `get_face_chip_details(size=150, padding=0.25)` + `get_mapping_to_chip`,
re-implemented below in numpy and checked against dlib in the tests.

Resulting chip (150², padding 0.25) → FFHQ image, in normalised units: u = A·(c, r, 1) with
A = [[0.004615, −0.000086, 0.163607], [0.000086, 0.004615, 0.254673]]: the chip spans 0.692 of the image
side, is rotated by 1.07°, and its centre lies at (0.501, 0.605). On a 1024² image dlib would sample it
after two 2× pyramid reductions (one at 512², none at ≤ 300²).
"""

from __future__ import annotations

import numpy as np

# dlib's 5-point order: right eye outer corner, right eye inner, left eye outer, left eye inner, nose base
# (image-left/right: points 0-1 lie on the image's right side).
# Mean over the 13 photos of shared/faces (per-coordinate std 0.002–0.018).
FFHQ_LANDMARKS5 = np.array([
    [0.67030, 0.47694],
    [0.57024, 0.47739],
    [0.33166, 0.47529],
    [0.42796, 0.47664],
    [0.49061, 0.66459],
])

# dlib's 5-point chip template (dlib/image_transforms/interpolation.h, get_face_chip_details).
DLIB_TEMPLATE5 = np.array([
    [0.8595674595992, 0.2134981538014],
    [0.6460604764104, 0.2289674387677],
    [0.1205750620789, 0.2137274526848],
    [0.3340850613712, 0.2290642403242],
    [0.4901123135679, 0.6277975316475],
])


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least-squares similarity (Umeyama, as dlib's find_similarity_transform) as a 2×3 matrix source → target."""
    source, target = np.asarray(source, float), np.asarray(target, float)
    mean_s, mean_t = source.mean(0), target.mean(0)
    ds, dt = source - mean_s, target - mean_t
    variance = (ds**2).sum(1).mean()
    covariance = dt.T @ ds / len(source)
    u, d, vt = np.linalg.svd(covariance)
    sign = np.eye(2)
    if np.linalg.det(covariance) < 0:
        sign[1, 1] = -1
    rotation = u @ sign @ vt
    scale = np.trace(np.diag(d) @ sign) / variance
    matrix = scale * rotation
    return np.concatenate([matrix, (mean_t - matrix @ mean_s)[:, None]], axis=1)


def affine_from_points(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 2×3 affine mapping three (or more, least squares) source points onto target points."""
    source = np.concatenate([np.asarray(source, float), np.ones((len(source), 1))], axis=1)
    solution, *_ = np.linalg.lstsq(source, np.asarray(target, float), rcond=None)
    return solution.T


def dlib_chip_details(landmarks5: np.ndarray, size: int = 150, padding: float = 0.25):
    """dlib's get_face_chip_details for 5 points (pixels): (rect centre, rect width, angle, chip → image affine)."""
    template = (padding + DLIB_TEMPLATE5) / (2 * padding + 1) * size
    tform = similarity_transform(template, landmarks5)
    p = tform[:, :2] @ np.array([1.0, 0.0])
    angle = float(np.arctan2(p[1], p[0]))
    scale = float(np.hypot(*p))
    centre = tform[:, :2] @ np.array([size / 2.0, size / 2.0]) + tform[:, 2]
    width = size * scale
    half = (width - 1.0) / 2.0  # dlib's centered_drect spans centre ± (width − 1) / 2, like integer rects
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    corners = np.array([[-half, -half], [half, -half], [half, half]]) @ rot.T + centre  # tl, tr, br rotated
    chip = np.array([[0.0, 0.0], [size - 1.0, 0.0], [size - 1.0, size - 1.0]])
    return centre, width, angle, affine_from_points(chip, corners)


def ffhq_chip_affine(size: int = 150, padding: float = 0.25, reference: int = 1024) -> np.ndarray:
    """2×3 affine from chip pixel (c, r) to normalised FFHQ coordinates u = (x + 0.5) / side.

    The chip is computed by dlib's rule on the mean landmarks placed on a `reference`² image (FFHQ's 1024).
    """
    landmarks = FFHQ_LANDMARKS5 * reference - 0.5
    _, _, _, chip_to_pixels = dlib_chip_details(landmarks, size, padding)
    return np.concatenate([chip_to_pixels[:, :2], (chip_to_pixels[:, 2] + 0.5)[:, None]], axis=1) / reference


def measure_ffhq_landmarks5(paths, size: int = 512, transform_size: int = 2048) -> np.ndarray:
    """Normalised dlib 5-point landmarks [N, 5, 2] of the given photos after FFHQ alignment (needs dlib)."""
    from .align import _detector, _predictor, align_face

    points = []
    for path in paths:
        aligned = np.asarray(align_face(path, size=size, transform_size=transform_size).image)
        faces = list(_detector()(aligned, 1))
        if not faces:
            raise RuntimeError(f"dlib finds no face in the FFHQ-aligned {path}")
        face = max(faces, key=lambda r: r.width() * r.height())
        shape = _predictor("dlib_landmarks5")(aligned, face)
        points.append([[(p.x + 0.5) / size, (p.y + 0.5) / size] for p in shape.parts()])
    return np.array(points)
