"""FFHQ alignment: bit-exact against NVlabs' recreate_aligned_images outputs, detection, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from guide_pl.faces.align import ImageReadError, NoFaceError, align_face, ffhq_crop, gaussian_blur, load_rgb
from helpers import FIXTURES as FIXTURE_ROOT
from helpers.dlib import faces_dir, require_models

FIXTURE = FIXTURE_ROOT / "faces_dlib" / "ffhq_align_official.pt"


def test_crop_matches_official_ffhq_alignment():
    """Same landmarks → the same pixels as the official code (see fixtures/faces_dlib/NOTES.md); no dlib needed."""
    folder = faces_dir()
    cases = torch.load(FIXTURE)
    for relative, case in cases.items():
        path = folder / relative
        if not path.is_file():
            pytest.skip(f"{path} missing")
        ours, _ = ffhq_crop(load_rgb(path), case["landmarks"].numpy(), output_size=128, transform_size=512)
        diff = np.abs(np.asarray(ours).astype(int) - case["image"].numpy().astype(int))
        assert diff.max() <= 1, f"{relative}: max pixel difference {diff.max()}"
        assert diff.mean() < 0.01, relative


def test_gaussian_blur_matches_scipy():
    ndimage = pytest.importorskip("scipy.ndimage")
    image = np.random.default_rng(0).random((37, 50, 3), dtype=np.float32) * 255
    for sigma in (0.7, 3.0, 15.0):  # the last reaches far past the image border
        expected = ndimage.gaussian_filter(image, [sigma, sigma, 0])
        np.testing.assert_allclose(gaussian_blur(image, sigma), expected, atol=1e-3)


def test_align_face_on_a_photo():
    require_models("dlib_landmarks68")
    path = faces_dir() / "obama" / "01.jpg"
    if not path.is_file():
        path = sorted(faces_dir().glob("*/*.jpg"))[0]
    face = align_face(path, size=256, transform_size=1024)
    assert face.image.size == (256, 256) and face.image.mode == "RGB"
    assert face.landmarks.shape == (68, 2) and face.num_faces == 1
    left, top, right, bottom = face.box
    inside = (face.landmarks[:, 0] > left - 20) & (face.landmarks[:, 0] < right + 20)
    assert inside.mean() > 0.9  # the landmarks belong to the detected face


def test_several_faces_warn_and_take_the_largest():
    require_models("dlib_landmarks68")
    photo = load_rgb(sorted(faces_dir().glob("*/*.jpg"))[0])
    photo.thumbnail((400, 400))
    small = photo.resize((photo.width // 2, photo.height // 2))
    canvas = Image.new("RGB", (photo.width + small.width + 20, photo.height), (128, 128, 128))
    canvas.paste(small, (0, 0))
    canvas.paste(photo, (small.width + 20, 0))
    with pytest.warns(UserWarning, match="largest"):
        face = align_face(canvas, size=64, transform_size=256)
    assert face.box[0] >= small.width  # the big face, on the right


def test_blank_image_has_no_face(tmp_path):
    require_models("dlib_landmarks68")
    path = tmp_path / "blank.png"
    Image.new("RGB", (200, 200), (120, 120, 120)).save(path)
    with pytest.raises(NoFaceError, match="blank.png"):
        align_face(path, size=64)


def test_unreadable_images_name_the_file(tmp_path):
    photo = sorted(faces_dir().glob("*/*.jpg"))[0]
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(photo.read_bytes()[:5000])
    with pytest.raises(ImageReadError, match="truncated.jpg"):
        align_face(truncated)
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"not an image at all")
    with pytest.raises(ImageReadError, match="garbage.jpg"):
        align_face(garbage)
    with pytest.raises(ImageReadError, match="missing.jpg"):
        align_face(tmp_path / "missing.jpg")


def test_exif_orientation_is_applied(tmp_path):
    """A portrait stored sideways with an EXIF orientation tag (as phones save them) is turned upright first."""
    require_models("dlib_landmarks68")
    photo = load_rgb(sorted(faces_dir().glob("obama/*.jpg"))[0])
    exif = Image.Exif()
    exif[274] = 6  # "rotate 90° clockwise to display"
    sideways = tmp_path / "sideways.jpg"
    photo.transpose(Image.Transpose.ROTATE_90).save(sideways, exif=exif, quality=95)
    assert load_rgb(sideways).size == photo.size
    upright, stored = align_face(photo, size=128), align_face(sideways, size=128)
    difference = np.abs(np.asarray(upright.image, dtype=float) - np.asarray(stored.image, dtype=float))
    assert difference.mean() < 6, difference.mean()  # the same crop, up to JPEG re-encoding


def test_very_large_photos_are_detected_on_a_reduced_copy(tmp_path, monkeypatch):
    """Detection sees at most MAX_DETECTION_SIDE pixels; the landmarks come back in the full photo's pixels."""
    require_models("dlib_landmarks68")
    import guide_pl.faces.align as align

    photo = load_rgb(sorted(faces_dir().glob("obama/*.jpg"))[0])
    large = photo.resize((photo.width * 3, photo.height * 3), Image.Resampling.BICUBIC)
    seen = []
    detect = align.detect_landmarks

    def recording(image, *args, **kwargs):
        seen.append(image.size)
        return detect(image, *args, **kwargs)

    monkeypatch.setattr(align, "detect_landmarks", recording)
    monkeypatch.setattr(align, "MAX_DETECTION_SIDE", 1200)  # above the photo's 1137, below its 3× copy
    small = align.align_face(photo, size=128)
    big = align.align_face(large, size=128)
    assert seen == [photo.size, (960, 1200)]  # the photo as it is; its 3× copy reduced
    # Landmarks found on the reduced copy land where the full photo has them (3× the small photo's).
    assert np.abs(big.landmarks / 3 - small.landmarks).max() < 3.0
    difference = np.abs(np.asarray(small.image, dtype=float) - np.asarray(big.image, dtype=float))
    assert difference.mean() < 8, difference.mean()
