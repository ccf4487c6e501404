"""dlib identity evaluator: separates the people of the shared photos; tensors; FFHQ fallback."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from PIL import Image

from guide_pl.faces.align import NoFaceError
from guide_pl.faces.evaluator import DlibIdentityEvaluator
from helpers.dlib import photo_descriptions, require_models


def test_separates_the_people_of_the_shared_photos():
    evaluator, described = photo_descriptions()
    same, different = [], []
    for (path_a, a), (path_b, b) in itertools.combinations(described, 2):
        result = evaluator.compare_descriptions(a, b)
        assert result.distance == pytest.approx(np.linalg.norm(a.descriptor - b.descriptor))
        (same if path_a.parent == path_b.parent else different).append((result, path_a, path_b))
    assert same and different and not any(d.fell_back for _, d in described)
    for result, path_a, path_b in same:
        assert result.same_person, f"{path_a} vs {path_b}: {result.distance:.3f}"
    for result, path_a, path_b in different:
        assert not result.same_person, f"{path_a} vs {path_b}: {result.distance:.3f}"
    same_d = [r.distance for r, *_ in same]
    diff_d = [r.distance for r, *_ in different]
    print(f"\nsame person ({len(same_d)} pairs): distance {min(same_d):.3f}–{max(same_d):.3f}, "
          f"cosine {min(r.cosine for r, *_ in same):.3f}–{max(r.cosine for r, *_ in same):.3f}; "
          f"different ({len(diff_d)} pairs): distance {min(diff_d):.3f}–{max(diff_d):.3f}, "
          f"cosine {min(r.cosine for r, *_ in different):.3f}–{max(r.cosine for r, *_ in different):.3f}")


def test_tensor_input_matches_the_photo():
    evaluator, described = photo_descriptions()
    path, description = described[0]
    pixels = np.asarray(Image.open(path).convert("RGB"))
    tensor = torch.from_numpy(pixels.copy()).permute(2, 0, 1).float() / 127.5 - 1.0
    again = evaluator.describe(tensor)
    assert np.linalg.norm(again.descriptor - description.descriptor) < 1e-6


def test_falls_back_to_ffhq_landmarks_and_records_it():
    require_models("dlib_resnet", "dlib_landmarks5")
    blank = torch.zeros(3, 256, 256)
    evaluator = DlibIdentityEvaluator(upsample=0)
    result = evaluator.describe(blank)
    assert result.fell_back and result.num_faces == 0 and result.descriptor.shape == (128,)
    assert evaluator.compare(blank, blank).fell_back == (True, True)
    with pytest.raises(NoFaceError):
        DlibIdentityEvaluator(fallback_to_ffhq=False).describe(blank)
