"""Every checkpoint guide-pl knows: file name, sha256 (where published or pinned), and where a user gets it.

Weights are never downloaded from a model hub at run time. Users place files under `checkpoints/` (or point a
config at them); the embedded default (MobileStyleGAN from the `random-face` wheel) is fetched from PyPI by
`guide-pl fetch-weights mobilestylegan`.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

CHECKPOINT_DIR_ENV = "GUIDE_PL_CHECKPOINTS"


@dataclass(frozen=True)
class WeightFile:
    """One checkpoint file: its name under checkpoints/, sha256 (None if unpublished) and where to get it."""

    key: str
    filename: str
    sha256: Optional[str]
    source: str
    used_by: str


WEIGHTS: dict[str, WeightFile] = {}


def register_weight(entry: WeightFile) -> WeightFile:
    """Add `entry` to the catalogue (keys are unique)."""
    if entry.key in WEIGHTS:
        raise ValueError(f"weight {entry.key!r} is already registered")
    WEIGHTS[entry.key] = entry
    return entry


def checkpoint_dir() -> Path:
    """The checkpoints folder: $GUIDE_PL_CHECKPOINTS, else ./checkpoints."""
    return Path(os.environ.get(CHECKPOINT_DIR_ENV, "checkpoints"))


def sha256_of(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def locate(key: str, path: Optional[str | os.PathLike] = None, verify: bool = True) -> Path:
    """Path of weight `key` (explicit `path`, else checkpoints/<filename>); a clear error if absent or corrupt."""
    if key not in WEIGHTS:
        raise KeyError(f"unknown weight {key!r}; known: {', '.join(sorted(WEIGHTS))}")
    entry = WEIGHTS[key]
    resolved = Path(path) if path is not None else checkpoint_dir() / entry.filename
    if not resolved.is_file():
        raise FileNotFoundError(
            f"{entry.used_by} needs {entry.filename} at {resolved} (not found). Get it from: {entry.source}"
        )
    if verify and entry.sha256 is not None:
        actual = sha256_of(resolved)
        if actual != entry.sha256:
            raise ValueError(
                f"{resolved} has sha256 {actual}, expected {entry.sha256} for {entry.filename}: "
                "the file is corrupt, truncated or a different checkpoint"
            )
    return resolved
