"""dlib's model files (from the PyPI package face_recognition_models==0.3.0): catalogue entries and lookup.

Lookup order: an explicit path, then checkpoints/<file>, then the installed `face_recognition_models` package,
found without importing it (its __init__ imports pkg_resources, which recent setuptools no longer ships).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from ..weights import WEIGHTS, WeightFile, checkpoint_dir, locate, register_weight

_SOURCE = (
    "PyPI face_recognition_models==0.3.0 (pip install face_recognition_models==0.3.0, or unpack its sdist): "
    "face_recognition_models/models/{name}; originally http://dlib.net/files/{name}.bz2"
)

DLIB_FILES = {
    "dlib_resnet": ("dlib_face_recognition_resnet_model_v1.dat",
                    "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
                    "dlib face-recognition ResNet (guide_pl.faces.dlib_resnet, evaluator)"),
    "dlib_landmarks68": ("shape_predictor_68_face_landmarks.dat",
                         "fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f",
                         "FFHQ alignment (guide_pl.faces.align)"),
    "dlib_landmarks5": ("shape_predictor_5_face_landmarks.dat",
                        "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
                        "dlib face chips (guide_pl.faces.evaluator)"),
}

for _key, (_name, _sha, _used_by) in DLIB_FILES.items():
    if _key not in WEIGHTS:
        register_weight(WeightFile(_key, _name, _sha, _SOURCE.format(name=_name), _used_by))

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
    if key not in DLIB_FILES:
        raise KeyError(f"unknown dlib model {key!r}; known: {', '.join(sorted(DLIB_FILES))}")
    if path is None:
        filename = DLIB_FILES[key][0]
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
