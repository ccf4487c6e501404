"""Shared fixtures: small, seeded objects built fresh per test."""

from __future__ import annotations

import os

import pytest
import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def pytest_collection_modifyitems(config, items):
    """Skip @slow tests unless GUIDE_PL_SLOW=1, and @gpu tests without CUDA, showing why."""
    run_slow = os.environ.get("GUIDE_PL_SLOW") == "1"
    for item in items:
        if "slow" in item.keywords and not run_slow:
            item.add_marker(pytest.mark.skip(reason="slow check: set GUIDE_PL_SLOW=1 to run"))
        if "gpu" in item.keywords and not torch.cuda.is_available():
            item.add_marker(pytest.mark.skip(reason="needs a CUDA device"))


@pytest.fixture
def tiny():
    """A fresh 16×16 `tiny` generator (seeded random weights)."""
    from guide_pl.generators import build_generator

    return build_generator("tiny", resolution=16, channels=16)


@pytest.fixture
def mobileface_weights():
    """checkpoints/mobileface when fetched; skip without (fail under GUIDE_PL_REQUIRE_WEIGHTS=1, as in CI)."""
    from guide_pl.faces.mobileface import MOBILEFACE_FILES, mobileface_dir
    from required_weights import fetched_weights

    return fetched_weights(mobileface_dir(), MOBILEFACE_FILES, "mobileface")
