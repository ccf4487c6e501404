"""StyleGAN2 parity with the official code: outputs of stylegan2-ada-pytorch and rosinality/stylegan2-pytorch
on deterministic weights (tests/fixtures/stylegan2/NOTES.md says how the fixtures were made)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch

from guide_pl.generators import build_generator
from guide_pl.generators.stylegan2 import StyleGAN2Generator
from helpers import FIXTURES as FIXTURE_ROOT
from helpers.stylegan2_weights import fill_seeded, seeded_rosinality_state

FIXTURES = FIXTURE_ROOT / "stylegan2"
SMALL = torch.load(FIXTURES / "small_official.pt", weights_only=True)
IMAGE_TOL, W_TOL = 1e-3, 1e-4


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape
    return (a - b).abs().max().item()


@pytest.mark.parametrize("name", sorted(SMALL))
def test_small_configs_match_official(name: str) -> None:
    fixture = SMALL[name]
    generator = StyleGAN2Generator(**fixture["kwargs"]).eval()
    assert sorted(generator.state_dict()) == fixture["state_keys"]  # same names as the official module tree
    fill_seeded(generator, fixture["base_seed"])
    with torch.no_grad():
        ws = generator.mapping(fixture["z"])
        assert _max_diff(ws, fixture["ws"]) < W_TOL
        assert _max_diff(generator.map(fixture["z"], truncation_psi=0.7), fixture["ws_trunc07"]) < W_TOL
        assert _max_diff(generator.synthesis(ws, noise_mode="const"), fixture["img_const"]) < IMAGE_TOL
        assert _max_diff(generator.synthesis(ws, noise_mode="none"), fixture["img_none"]) < IMAGE_TOL
        unfused = generator.synthesis(ws, noise_mode="const", fused_modconv=False)
        assert _max_diff(unfused, fixture["img_const"]) < IMAGE_TOL
        # 'random' draws noise in the same order as the official code, so one seed gives the same image.
        torch.manual_seed(123)
        assert _max_diff(generator.synthesis(ws, noise_mode="random"), fixture["img_random_seed123"]) < IMAGE_TOL
    assert _max_diff(generator(fixture["ws"]), fixture["img_const"]) < IMAGE_TOL  # FaceGenerator.forward


def test_gradients_flow_through_unfused_training_path() -> None:
    fixture = SMALL["skip"]
    generator = StyleGAN2Generator(**fixture["kwargs"]).train()
    fill_seeded(generator, fixture["base_seed"])
    w_avg = generator.w_avg.clone()
    ws = generator.mapping(fixture["z"])
    image = generator.synthesis(ws.detach(), noise_mode="const")  # training mode: unfused modulation
    assert _max_diff(image.detach(), fixture["img_const"]) < IMAGE_TOL
    image.square().mean().backward()
    grads = [p.grad for p in generator.synthesis_parameters()]
    assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)
    stages = generator.synthesis_stages()  # one stage per block, 4² up to the output resolution
    assert [res for res, _ in stages] == generator.synthesis.block_resolutions
    staged = [id(p) for _, ps in stages for p in ps]
    assert sorted(staged) == sorted(id(p) for p in generator.synthesis.parameters())
    assert torch.equal(generator.w_avg, w_avg)  # w̄ stays the checkpoint's, even in train mode


def test_rosinality_checkpoint_matches_rosinality_code(tmp_path: Path) -> None:
    fixture = torch.load(FIXTURES / "rosinality_official.pt", weights_only=True)
    state = seeded_rosinality_state(fixture["shapes"], fixture["base_seed"])
    latent_avg = state.pop("latent_avg")
    # A training checkpoint as rosinality's train.py writes it (argparse args included), loaded weights-only.
    path = tmp_path / "550000.pt"
    torch.save({"g_ema": state, "latent_avg": latent_avg, "args": argparse.Namespace(size=16)}, path)
    generator = build_generator("stylegan2", checkpoint=str(path))
    assert torch.equal(generator.w_avg, latent_avg)
    with torch.no_grad():
        ws = generator.mapping(fixture["z"])
        assert _max_diff(ws[:, 0], fixture["w"]) < W_TOL
        assert _max_diff(generator.synthesis(ws, noise_mode="const"), fixture["img_const"]) < IMAGE_TOL
        assert _max_diff(generator.synthesis(generator.map(fixture["z"], 0.7)), fixture["img_trunc07"]) < IMAGE_TOL
    # Without latent_avg, w̄ is estimated from the mapping network (10,000 seeded z).
    torch.save({"g_ema": state}, path)
    estimated = build_generator("stylegan2", checkpoint=str(path)).w_avg
    assert estimated.abs().sum() > 0 and torch.isfinite(estimated).all()


def _ffhq_config_f_check() -> None:
    fixture = torch.load(FIXTURES / "ffhq_config_f_official.pt", weights_only=True)
    generator = StyleGAN2Generator(**fixture["kwargs"]).eval()
    assert generator.num_ws == fixture["num_ws"] == 18
    assert sorted(generator.state_dict()) == fixture["state_keys"]
    fill_seeded(generator, fixture["base_seed"])
    with torch.no_grad():
        ws = generator.mapping(fixture["z"])
        assert _max_diff(ws, fixture["ws"]) < W_TOL
        image = generator.synthesis(ws, noise_mode="const")
    assert image.shape == (1, 3, 1024, 1024)
    assert _max_diff(image[:, :, ::8, ::8], fixture["img_stride8"]) < IMAGE_TOL
    assert _max_diff(torch.nn.functional.avg_pool2d(image, 16), fixture["img_pool16"]) < IMAGE_TOL
    stats = fixture["stats"]
    assert _max_diff(image.amax(dim=(0, 2, 3)), stats["amax"]) < IMAGE_TOL
    assert _max_diff(image.amin(dim=(0, 2, 3)), stats["amin"]) < IMAGE_TOL
    assert _max_diff(image.std(dim=(0, 2, 3)), stats["std"]) < IMAGE_TOL


def test_ffhq_config_f_1024_matches_official() -> None:
    # The real FFHQ configuration (1024², 18 W+ rows); ≈17 s on 2 cores, run in CI as the issue asks.
    _ffhq_config_f_check()
