"""Shared helpers for the dlib face tests: skip (or fail) when dlib or its models are missing; cached photos."""

from __future__ import annotations

import importlib.util
import os
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import torch

from . import REPO
from .weights import missing as _missing_or_skip


def require_models(*keys: str, need_dlib: bool = True) -> None:
    """Skip (fail under GUIDE_PL_REQUIRE_WEIGHTS=1) unless dlib and the given model files are available."""
    if need_dlib and importlib.util.find_spec("dlib") is None:
        _missing_or_skip("the dlib module is not installed (pip install dlib-bin)")
    from guide_pl.faces.dlib_models import dlib_model_path

    for key in keys:
        try:
            dlib_model_path(key)
        except (FileNotFoundError, ValueError) as error:
            _missing_or_skip(f"dlib model missing: {error}")


def faces_dir() -> Path:
    """Folder of identity photos: $GUIDE_PL_TEST_FACES, data/identities, or ../shared/faces."""
    candidates = [os.environ.get("GUIDE_PL_TEST_FACES"), REPO / "data" / "identities", REPO.parent / "shared" / "faces"]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir() and any(Path(candidate).glob("*/*.jpg")):
            return Path(candidate)
    pytest.skip("no identity photos (set GUIDE_PL_TEST_FACES or provide data/identities/<person>/*.jpg)")


def photos() -> list[Path]:
    """All identity photos, sorted (person = parent folder name)."""
    return sorted(faces_dir().glob("*/*.jpg"))


@cache
def _descriptions(folder: str):
    from guide_pl.faces.evaluator import DlibIdentityEvaluator

    evaluator = DlibIdentityEvaluator(upsample=0)  # the photos' faces are large; upsample 0 is 2–3× faster
    return evaluator, [(path, evaluator.describe(path)) for path in sorted(Path(folder).glob("*/*.jpg"))]


def photo_descriptions():
    """(evaluator, [(path, FaceDescription)]) for every photo, computed once per test session."""
    require_models("dlib_resnet", "dlib_landmarks5")
    return _descriptions(str(faces_dir()))


def to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """uint8 [H, W, 3] → float [1, 3, H, W] in [-1, 1]."""
    return torch.from_numpy(np.array(pixels, dtype=np.uint8)).permute(2, 0, 1)[None].float() / 127.5 - 1.0
