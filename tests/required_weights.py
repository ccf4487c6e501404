"""Weights that `make install` fetches: tests that need them skip without them, and fail in CI."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import pytest


def fetched_weights(folder: Path, names: Iterable[str], fetch_name: str) -> Path:
    """`folder` when every file in `names` is there; else skip (fail under GUIDE_PL_REQUIRE_WEIGHTS=1, as in CI)."""
    if not all((folder / name).is_file() for name in names):
        if os.environ.get("GUIDE_PL_REQUIRE_WEIGHTS") == "1":
            pytest.fail(f"weights missing in {folder} (GUIDE_PL_REQUIRE_WEIGHTS=1)")
        pytest.skip(f"run guide-pl fetch-weights {fetch_name}")
    return folder
