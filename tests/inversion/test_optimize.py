"""Optimisation-based W+ inversion on the `tiny` generator, and its on-disk cache."""

from __future__ import annotations

import time

import pytest
import torch

from guide_pl.faces import build_identity, build_perceptual
from guide_pl.faces.identity_distance import CosineIdentityDistance
from guide_pl.generators import build_generator
from guide_pl.inversion import INVERTERS, OptimizationInverter, build_inverter, cached_invert
from guide_pl.inversion.optimize import learning_rate_factor


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """`tiny` is too small to gain from threads; on a shared 2-core machine they only oversubscribe."""
    yield


@pytest.fixture(scope="module")
def tiny():
    return build_generator("tiny")


@pytest.fixture(scope="module")
def target(tiny):
    """Two images `tiny` generated from known latents."""
    z = torch.randn(2, tiny.z_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return tiny(tiny.map(z))


def _mse(generator, ws, images):
    with torch.no_grad():
        return (generator(ws) - images).square().flatten(1).mean(dim=1)


def test_inversion_reconstructs_generated_images(tiny, target):
    start = _mse(tiny, tiny.w_avg.expand(2, tiny.num_ws, tiny.w_dim), target)
    seen = []
    inverter = build_inverter("optimize", steps=40, lr=0.1, progress=False)
    ws = inverter.invert(target, tiny, callback=lambda step, w, losses: seen.append((step, losses["pix"])))
    assert ws.shape == (2, tiny.num_ws, tiny.w_dim) and not ws.requires_grad
    end = _mse(tiny, ws, target)
    # Measured (8 seeded targets, 40 steps, lr 0.1): MSE fell 8.7–15× per image from w̄ (these two: 15, 8.7).
    assert (start / end).min().item() > 5, (start, end)
    assert [s for s, _ in seen] == list(range(40))
    assert seen[-1][1] < seen[0][1] / 5
    assert all(p.grad is None for p in tiny.parameters())  # only W+ was optimised


def test_batch_items_are_optimised_independently(tiny, target):
    inverter = OptimizationInverter(steps=8, lr=0.1, progress=False)
    both = inverter.invert(target, tiny)
    alone = inverter.invert(target[1:], tiny)
    assert torch.allclose(both[1:], alone, atol=1e-4)


def test_all_terms_and_loss_resolution(tiny, target):
    generator = build_generator("tiny", loss_resolution=16)
    identity = CosineIdentityDistance(build_identity("random_cnn"))
    inverter = OptimizationInverter(
        steps=3, perceptual=build_perceptual("pixel_l2"), identity=identity, latent_noise=0.05, progress=False
    )
    losses = []
    ws = inverter.invert(target, generator, callback=lambda step, w, values: losses.append(values))
    assert set(losses[0]) == {"pix", "per", "id", "loss"}
    assert torch.isfinite(ws).all()
    # A 64² photo is resized to the 16² loss resolution, so the result matches inverting the 32² one.
    photo64 = torch.nn.functional.interpolate(target, scale_factor=2, mode="nearest")
    assert torch.allclose(inverter.invert(photo64, generator), ws, atol=1e-5)
    # Same seed, same random draws: reproducible even with latent noise and random synthesis noise.
    noisy = OptimizationInverter(steps=3, noise_mode="random", latent_noise=0.05, seed=3, progress=False)
    assert torch.equal(noisy.invert(target, tiny), noisy.invert(target, tiny))


def test_start_points_are_the_mean_or_a_seeded_truncated_sample(tiny, target):
    mean_start = OptimizationInverter(steps=1, latent_space="w", progress=False).start_latents(tiny, 2)
    assert torch.equal(mean_start, tiny.w_avg.expand(2, tiny.w_dim))
    inverter = OptimizationInverter(steps=1, start="sample", start_psi=0.5, seed=4, progress=False)
    # By hand: z from torch.randn under seed 4, mapped, then halfway from w̄ to Map(z) (truncation ψ = 0.5).
    z = torch.randn(2, tiny.z_dim, generator=torch.Generator().manual_seed(4))
    by_hand = 0.5 * tiny.w_avg + 0.5 * tiny.mapping(z)
    assert torch.allclose(inverter.start_latents(tiny, 2), by_hand, atol=1e-6)
    again = inverter.reseeded(4)
    assert torch.equal(again.start_latents(tiny, 2), inverter.start_latents(tiny, 2))
    other = inverter.reseeded(5)
    assert other.perceptual is inverter.perceptual and other.identity is inverter.identity  # networks shared
    assert not torch.allclose(other.start_latents(tiny, 2), by_hand) and inverter.seed == 4  # the copy only
    w_space = OptimizationInverter(steps=1, start="sample", latent_space="w", seed=4, progress=False)
    assert w_space.start_latents(tiny, 2).shape == (2, tiny.w_dim)
    # One Adam step at lr 0.1 moves each coordinate by at most ~0.1 (times the warm-up factor) from the start.
    one_step = OptimizationInverter(steps=1, lr_rampup=0, start="sample", start_psi=0.5, seed=4, progress=False)
    assert (one_step.invert(target, tiny) - by_hand).abs().max().item() < 0.11
    # Only a non-default start enters the settings, so inversions cached before the option keep their key.
    assert "start" not in OptimizationInverter(progress=False).settings()
    assert inverter.settings()["start"] == "sample" and inverter.settings()["start_psi"] == 0.5
    with pytest.raises(ValueError, match="start must be one of"):
        OptimizationInverter(start="zero")
    with pytest.raises(ValueError, match="start_psi must be in"):
        OptimizationInverter(start_psi=1.5)


def test_bad_inputs_fail_clearly(tiny, target):
    inverter = OptimizationInverter(steps=1, progress=False)
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        inverter.invert(target[0], tiny)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        inverter.invert(target * 127.5 + 127.5, tiny)
    with pytest.raises(ValueError, match="every loss term is off"):
        OptimizationInverter(steps=1, lambda_pix=0, progress=False).invert(target, tiny)
    with pytest.raises(TypeError, match="unknown option"):
        INVERTERS.build("optimize", stepz=3)


def test_learning_rate_schedule():
    assert learning_rate_factor(0.0, 0.05, 0.25) == 0.0
    assert learning_rate_factor(0.5, 0.05, 0.25) == pytest.approx(1.0)
    assert learning_rate_factor(0.875, 0.05, 0.25) == pytest.approx(0.5)  # halfway down the cosine
    assert learning_rate_factor(0.3, 0.0, 0.0) == 1.0


def test_cache_hit_miss_and_atomicity(tiny, target, tmp_path):
    calls = []

    class Counting(OptimizationInverter):
        def invert(self, images, generator, callback=None):
            calls.append(images.shape[0])
            return super().invert(images, generator, callback)

    inverter = Counting(steps=10, lr=0.1, progress=False)
    t0 = time.perf_counter()
    first = cached_invert(inverter, target, tiny, tmp_path)
    t1 = time.perf_counter()
    second = cached_invert(inverter, target, tiny, tmp_path)
    t2 = time.perf_counter()
    assert calls == [2] and torch.equal(first, second)
    assert t2 - t1 < (t1 - t0) / 3, (t1 - t0, t2 - t1)
    assert len(list(tmp_path.glob("inversion-*.pt"))) == 1 and not list(tmp_path.glob(".*tmp"))

    # Other photo, other settings, other weights, other key parts: each a miss.
    cached_invert(inverter, target.flip(-1), tiny, tmp_path)
    cached_invert(Counting(steps=10, lr=0.05, progress=False), target, tiny, tmp_path)
    other = build_generator("tiny", seed=1)
    cached_invert(inverter, target, other, tmp_path)
    cached_invert(inverter, target, tiny, tmp_path, key_parts=["view=frontal"])
    assert len(calls) == 5 and len(list(tmp_path.glob("inversion-*.pt"))) == 5

    # A damaged entry is recomputed with a warning, not trusted.
    entry = next(iter(sorted(tmp_path.glob("inversion-*.pt"), key=lambda p: p.stat().st_mtime)))
    entry.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="unusable inversion cache entry"):
        again = cached_invert(inverter, target, tiny, tmp_path)
    assert len(calls) == 6 and torch.equal(again, first)


def test_weight_change_changes_fingerprint(tiny, tmp_path):
    from guide_pl.inversion.fingerprint import module_fingerprint

    generator = build_generator("tiny")
    before = module_fingerprint(generator)
    assert before == module_fingerprint(tiny)
    with torch.no_grad():
        generator.synthesis.torgbs[-1].weight[0, 0, 0, 0] += 1e-3  # one weight of the last layer
    assert module_fingerprint(generator) != before
    assert module_fingerprint(build_generator("tiny", loss_resolution=16)) != before  # plain attribute


def test_w_space_inversion_keeps_one_w_per_photo(tiny, target):
    ws = OptimizationInverter(steps=20, lr=0.1, latent_space="w", progress=False).invert(target, tiny)
    assert ws.shape == (2, tiny.num_ws, tiny.w_dim)
    assert torch.equal(ws, ws[:, :1].expand_as(ws))  # every W+ row is the same w
    # The targets come from single w's (Map(z)), so one w per photo can fit them.
    start = _mse(tiny, tiny.w_avg.expand(2, tiny.num_ws, tiny.w_dim), target)
    assert (start / _mse(tiny, ws, target)).min().item() > 3
    with pytest.raises(ValueError, match="latent_space"):
        OptimizationInverter(latent_space="z")
