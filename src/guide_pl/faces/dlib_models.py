"""dlib's model files (from the PyPI package face_recognition_models==0.3.0, catalogued in weights/): lookup.

Lookup order: an explicit path, then checkpoints/<file>, then the installed `face_recognition_models` package,
found without importing it (its __init__ imports pkg_resources, which recent setuptools no longer ships).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from ..errors import UnknownNameError
from ..weights import WEIGHTS, checkpoint_dir, locate

DLIB_KEYS = ("dlib_resnet", "dlib_landmarks68", "dlib_landmarks5")

_VERIFIED: dict[str, Path] = {}


def package_models_dir() -> Path | None:
    """The `models/` folder of an installed face_recognition_models package, or None (nothing is imported)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "models"
        if candidate.is_dir():
            return candidate
    return None


def dlib_model_path(key: str, path: str | os.PathLike | None = None) -> Path:
    """Path of dlib model `key` (explicit path → checkpoints/ → face_recognition_models), sha256-checked once."""
    if key not in DLIB_KEYS:
        raise UnknownNameError(f"unknown dlib model {key!r}; known: {', '.join(DLIB_KEYS)}")
    if path is None:
        filename = WEIGHTS[key].filename
        in_checkpoints = checkpoint_dir() / filename
        packaged = package_models_dir()
        if not in_checkpoints.is_file() and packaged is not None and (packaged / filename).is_file():
            path = packaged / filename
    cache_key = f"{key}:{path}"
    if cache_key not in _VERIFIED:
        _VERIFIED[cache_key] = locate(key, path)
    return _VERIFIED[cache_key]


def dlib_available() -> bool:
    """True when the `dlib` module can be imported (it is only needed by the detector/evaluator, not the port)."""
    return importlib.util.find_spec("dlib") is not None
