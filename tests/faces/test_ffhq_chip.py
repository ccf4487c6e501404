"""FFHQ → dlib chip: geometry equals dlib's, the crop samples where dlib samples, and the identity loss path."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from guide_pl.faces import build_identity
from guide_pl.faces.align import align_face
from guide_pl.faces.ffhq_chip import FFHQToDlibChip, build_dlib_identity_distance
from guide_pl.faces.ffhq_geometry import FFHQ_LANDMARKS5, dlib_chip_details, ffhq_chip_affine
from helpers.dlib import photo_descriptions, photos, require_models, to_tensor


def _detection(points: np.ndarray, side: int):
    import dlib

    parts = [dlib.point(int(round(x)), int(round(y))) for x, y in points]
    return dlib.full_object_detection(dlib.rectangle(0, 0, side - 1, side - 1), parts)


def test_chip_details_equal_dlibs():
    require_models()
    import dlib

    rng = np.random.default_rng(0)
    for _ in range(3):
        det = _detection(FFHQ_LANDMARKS5 * 1024 - 0.5 + rng.normal(0, 6, (5, 2)), 1024)
        points = np.array([[p.x, p.y] for p in det.parts()], dtype=float)
        expected = dlib.get_face_chip_details(det, 150, 0.25)
        centre, width, angle, _ = dlib_chip_details(points)
        rect = expected.rect
        assert angle == pytest.approx(expected.angle, abs=1e-9)
        assert width == pytest.approx(rect.right() - rect.left() + 1, abs=1e-6)
        assert centre[0] == pytest.approx((rect.left() + rect.right()) / 2, abs=1e-6)
        assert centre[1] == pytest.approx((rect.top() + rect.bottom()) / 2, abs=1e-6)


@pytest.mark.parametrize("side", [256, 512, 1024])
def test_crop_samples_where_dlib_samples(side):
    """On coordinate images (x and y ramps) the crop returns dlib.extract_image_chip's sample positions."""
    require_models()
    import dlib

    det = _detection(FFHQ_LANDMARKS5 * side - 0.5, side)
    details = dlib.get_face_chip_details(det, 150, 0.25)
    ramp = np.tile(np.arange(side, dtype=np.float32), (side, 1))
    expected_x = np.asarray(dlib.extract_image_chip(np.ascontiguousarray(ramp), details))
    expected_y = np.asarray(dlib.extract_image_chip(np.ascontiguousarray(ramp.T), details))
    image = torch.from_numpy(np.stack([ramp, ramp.T, ramp]))[None]
    chip = FFHQToDlibChip()(image)[0].numpy()
    inner = (slice(5, -5), slice(5, -5))
    # dlib rounds the landmarks to integers; the fixed crop does not: allow that half pixel.
    assert np.abs(chip[0][inner] - expected_x[inner]).max() < 0.8
    assert np.abs(chip[1][inner] - expected_y[inner]).max() < 0.8


def test_chip_transform_numbers():
    affine = ffhq_chip_affine()
    scale = np.hypot(*affine[:, 0])
    centre = affine[:, :2] @ [74.5, 74.5] + affine[:, 2]
    print(f"\nchip px → FFHQ (normalised): {affine.round(6).tolist()}; chip side = {150 * scale:.4f} of the image, "
          f"rotation {np.degrees(np.arctan2(affine[1, 0], affine[0, 0])):.3f}°, centre {centre.round(4).tolist()}")
    assert 0.6 < 150 * scale < 0.8 and abs(centre[0] - 0.5) < 0.02


def test_crop_descriptor_close_to_dlibs_own():
    """dlib_ffhq on an FFHQ-aligned photo ≈ dlib's descriptor of the original photo (detected landmarks)."""
    require_models("dlib_resnet", "dlib_landmarks5", "dlib_landmarks68")
    _, described = photo_descriptions()
    reference = dict(described)
    embedder = build_identity("dlib_ffhq")
    chosen = photos()[::4]  # a spread of people, kept small for speed
    distances = []
    for path in chosen:
        aligned = align_face(path, size=256, transform_size=1024)
        with torch.no_grad():
            ours = embedder(to_tensor(np.asarray(aligned.image)))[0].double().numpy()
        distances.append(float(np.linalg.norm(ours - reference[path].descriptor)))
    print(f"\ndlib_ffhq(FFHQ-aligned 256²) vs dlib(photo): L2 {np.round(distances, 4).tolist()}")
    assert max(distances) < 0.3  # dlib's same-person threshold is 0.6; same-photo jitter is ~0.1


def test_identity_distance_is_differentiable():
    require_models("dlib_resnet", need_dlib=False)
    distance = build_dlib_identity_distance()
    x = (torch.rand(2, 3, 96, 96) * 2 - 1).requires_grad_(True)
    y = torch.rand(2, 3, 96, 96) * 2 - 1
    d = distance(x, y)
    assert d.shape == (2,) and torch.all(d > 0)
    d.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert torch.allclose(distance(y, y), torch.zeros(2), atol=1e-6)


@pytest.mark.slow
def test_measured_landmarks_reproduce():
    if os.environ.get("GUIDE_PL_SLOW") != "1":
        pytest.skip("slow: set GUIDE_PL_SLOW=1")
    require_models("dlib_landmarks5", "dlib_landmarks68")
    from guide_pl.faces.ffhq_geometry import measure_ffhq_landmarks5

    measured = measure_ffhq_landmarks5(photos()).mean(axis=0)
    np.testing.assert_allclose(measured, FFHQ_LANDMARKS5, atol=2e-3)
