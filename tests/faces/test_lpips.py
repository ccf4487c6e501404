"""LPIPS-VGG against the official lpips 0.1.4 (fixture made by running it; see tests/fixtures/lpips/NOTES.md)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
import torch

from guide_pl.faces import build_perceptual
from guide_pl.faces.lpips_vgg import (
    LPIPSVGG,
    find_lpips_linear,
    find_vgg16,
    torch_hub_checkpoints,
    vgg16_feature_shapes,
)
from guide_pl.weights import WEIGHTS
from helpers import FIXTURES as FIXTURE_ROOT

FIXTURE = FIXTURE_ROOT / "lpips" / "lpips_vgg_official.pt"
TOL = 1e-5


def seeded_vgg16_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """The fixture's VGG16 weights: keys sorted, one generator; He-scaled normal weights, small normal biases."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    shapes = vgg16_feature_shapes()
    for key in sorted(shapes):
        shape = shapes[key]
        std = math.sqrt(2.0 / (shape[1] * 9)) if key.endswith(".weight") else 0.05
        state[key] = torch.randn(shape, generator=generator) * std
    return state


@pytest.fixture(scope="module")
def fixture() -> dict:
    return torch.load(FIXTURE, map_location="cpu", weights_only=False)


@pytest.fixture(scope="module")
def seeded_model(fixture: dict) -> LPIPSVGG:
    state = seeded_vgg16_state(0)
    # Guard: the same seed must give the same weights as when the fixture was made (torch RNG drift).
    for key, probe in fixture["vgg_probe"].items():
        assert torch.equal(state[key].flatten()[:8], probe), f"seeded VGG weights differ from the fixture at {key}"
    # torchvision state dicts also hold classifier.*; the loader ignores them.
    state["classifier.0.weight"] = torch.zeros(4, 4)
    model = LPIPSVGG()
    with torch.no_grad():
        model.load_vgg16(state)
    return model


def real_linear_path() -> Path:
    try:
        return find_lpips_linear()
    except FileNotFoundError as error:
        if os.environ.get("GUIDE_PL_REQUIRE_WEIGHTS") == "1":
            raise
        pytest.skip(f"LPIPS linear weights missing ({error}); run `guide-pl fetch-weights lpips`")


@pytest.mark.parametrize("case", ["sq", "odd"])
def test_matches_official_with_random_linear(fixture: dict, seeded_model: LPIPSVGG, case: str) -> None:
    with torch.no_grad():
        seeded_model.load_linear(fixture["random_lins"])
    inputs, expected = fixture["inputs"][case], fixture["outputs"][f"random_lin/{case}"]
    with torch.no_grad():
        layers = seeded_model.layer_distances(inputs["x"], inputs["y"])
        dist = seeded_model(inputs["x"], inputs["y"])
    assert dist.shape == (inputs["x"].shape[0],)
    assert (layers - expected["layers"]).abs().max() < TOL
    assert (dist - expected["dist"]).abs().max() < TOL


@pytest.mark.parametrize("case", ["sq", "odd"])
def test_matches_official_with_real_linear(fixture: dict, seeded_model: LPIPSVGG, case: str) -> None:
    path = real_linear_path()
    state = torch.load(path, map_location="cpu", weights_only=True)
    with torch.no_grad():
        seeded_model.load_linear(state, str(path))
    inputs, expected = fixture["inputs"][case], fixture["outputs"][f"real_lin/{case}"]
    x = inputs["x"].clone().requires_grad_(True)
    dist = seeded_model(x, inputs["y"])
    assert (dist.detach() - expected["dist"]).abs().max() < TOL
    if "grad_x" in expected:
        dist.sum().backward()
        # Gradients are ~1e-5 per pixel; compare relative to their scale.
        scale = expected["grad_x"].abs().max()
        assert (x.grad - expected["grad_x"]).abs().max() < 1e-4 * scale


def test_identical_images_give_zero(seeded_model: LPIPSVGG) -> None:
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert seeded_model(x, x).abs().max() == 0


def test_bad_inputs_and_state_dicts(seeded_model: LPIPSVGG) -> None:
    with pytest.raises(ValueError, match="same shape"):
        seeded_model(torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 32, 16))
    with pytest.raises(ValueError, match="16×16"):
        seeded_model(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match="not a torchvision VGG16"):
        LPIPSVGG().load_vgg16({"features.0.weight": torch.zeros(64, 3, 3, 3)})
    with pytest.raises(ValueError, match="lin0.model.1.weight"):
        LPIPSVGG().load_linear({})


def test_weight_files_registered_and_missing_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUIDE_PL_CHECKPOINTS", str(tmp_path / "ckpt"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert torch_hub_checkpoints() == tmp_path / "torch" / "hub" / "checkpoints"
    assert WEIGHTS["vgg16_imagenet"].sha256.startswith("397923af")
    with pytest.raises(FileNotFoundError, match="vgg16-397923af.pth"):
        find_vgg16()
    with pytest.raises(FileNotFoundError, match="vgg16-397923af.pth"):
        build_perceptual("lpips_vgg")
    # A file at the hub path is found there, then rejected for its sha256 (it is not the real VGG16).
    hub = torch_hub_checkpoints()
    hub.mkdir(parents=True)
    (hub / "vgg16-397923af.pth").write_bytes(b"truncated")
    with pytest.raises(ValueError, match="sha256"):
        find_vgg16()
    assert find_vgg16(verify=False) == hub / "vgg16-397923af.pth"
