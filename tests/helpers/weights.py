"""Weights that `make install` fetches, and dlib: tests that need them skip without them, and fail in CI."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import pytest

REQUIRE_ENV = "GUIDE_PL_REQUIRE_WEIGHTS"


def missing(reason: str) -> None:
    """Skip with `reason`, or fail under GUIDE_PL_REQUIRE_WEIGHTS=1 (CI, where `make install` fetched them)."""
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
    pytest.skip(reason)


def fetched_weights(folder: Path, names: Iterable[str], fetch_name: str) -> Path:
    """`folder` when every file in `names` is there; else skip (fail in CI): `guide-pl fetch-weights NAME`."""
    if not all((folder / name).is_file() for name in names):
        missing(f"weights missing in {folder}: run guide-pl fetch-weights {fetch_name}")
    return folder
