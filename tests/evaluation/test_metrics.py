"""Metrics against hand-computed values, closed forms, scipy's sqrtm, and DDP-style state merging."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from guide_pl.evaluation.metrics import FrechetDistance, IdentitySimilarity, RecognitionRate, frechet_distance


# -- identity similarity ------------------------------------------------------------------------------------
def test_identity_similarity_hand_computed():
    metric = IdentitySimilarity()
    # Pairs with cosines 1 (parallel), 0 (orthogonal), -1 (opposite), 0.8 ((3,4)·(0,1) = 4, norms 5 and 1).
    a = torch.tensor([[1.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 4.0]])
    b = torch.tensor([[5.0, 0.0], [0.0, 3.0], [-1.0, 0.0], [0.0, 1.0]])
    metric.update(a[:2], b[:2])
    metric.update(a[2:], b[2:])
    expected = (1.0 + 0.0 - 1.0 + 0.8) / 4
    assert metric.compute().item() == pytest.approx(expected, abs=1e-12)


def test_identity_similarity_rejects_bad_shapes_and_empty():
    metric = IdentitySimilarity()
    with pytest.raises(ValueError, match=r"\[B, D\]"):
        metric.update(torch.zeros(2, 3), torch.zeros(3, 3))
    with pytest.raises(RuntimeError, match="before any update"):
        metric.compute()


# -- recognition rate ---------------------------------------------------------------------------------------
def test_recognition_rate_distances_and_decisions():
    metric = RecognitionRate(threshold=0.6)
    metric.update(torch.tensor([0.1, 0.59, 0.6, 0.9]))  # < 0.6 recognised: 2 of 4
    metric.update(torch.tensor([True, False]))  # 1 of 2
    assert metric.compute().item() == pytest.approx(3 / 6)


def test_recognition_rate_similarities():
    metric = RecognitionRate(threshold=0.3, higher_is_same=True)
    metric.update(torch.tensor([0.9, 0.31, 0.29, -0.5, 0.5]))
    assert metric.compute().item() == pytest.approx(3 / 5)


# -- Fréchet distance ---------------------------------------------------------------------------------------
def _standardised(n: int, d: int, seed: int) -> torch.Tensor:
    """n samples whose empirical mean is exactly 0 and unbiased covariance exactly I (float64)."""
    x = torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    x = x - x.mean(0)
    cov = x.T @ x / (n - 1)
    evals, evecs = torch.linalg.eigh(cov)
    return x @ (evecs * evals.rsqrt()) @ evecs.T


def test_frechet_1d_gaussians_closed_form():
    # 1-D: FD = (m1 − m2)² + (s1 − s2)²; samples shaped to have exactly these moments.
    base = _standardised(50, 1, seed=0)
    m1, s1, m2, s2 = 0.5, 2.0, -1.0, 0.5
    metric = FrechetDistance(num_features=1)
    metric.update(m1 + s1 * base, real=True)
    metric.update(m2 + s2 * _standardised(80, 1, seed=1), real=False)
    expected = (m1 - m2) ** 2 + (s1 - s2) ** 2
    assert metric.compute().item() == pytest.approx(expected, rel=1e-10)


def test_frechet_diagonal_gaussians_closed_form():
    # Diagonal covariances: FD = ‖μ1 − μ2‖² + Σ_k (σ1k − σ2k)².
    d = 4
    mu1 = torch.tensor([0.0, 1.0, 2.0, -1.0], dtype=torch.float64)
    mu2 = torch.tensor([1.0, 1.0, 0.0, 3.0], dtype=torch.float64)
    sd1 = torch.tensor([1.0, 2.0, 0.5, 3.0], dtype=torch.float64)
    sd2 = torch.tensor([2.0, 2.0, 1.5, 0.25], dtype=torch.float64)
    metric = FrechetDistance(num_features=d)
    real = mu1 + sd1 * _standardised(200, d, seed=2)
    fake = mu2 + sd2 * _standardised(300, d, seed=3)
    for chunk in real.split(64):
        metric.update(chunk, real=True)
    metric.update(fake[:10], real=False)
    metric.reset()  # drops both sets: what follows must be computed from scratch
    for chunk in real.split(64):
        metric.update(chunk, real=True)
    metric.update(fake, real=False)
    expected = ((mu1 - mu2) ** 2).sum() + ((sd1 - sd2) ** 2).sum()
    assert metric.compute().item() == pytest.approx(expected.item(), rel=1e-10)


def test_frechet_full_covariance_against_scipy():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    rng = torch.Generator().manual_seed(4)
    d = 16
    mix1 = torch.randn(d, d, generator=rng, dtype=torch.float64)
    mix2 = torch.randn(d, d, generator=rng, dtype=torch.float64) * 0.5
    real = torch.randn(500, d, generator=rng, dtype=torch.float64) @ mix1 + 1.0
    fake = torch.randn(700, d, generator=rng, dtype=torch.float64) @ mix2 - 0.5
    metric = FrechetDistance(num_features=d)
    metric.update(real.float(), real=True)
    metric.update(fake.float(), real=False)
    # Independent computation: numpy statistics and scipy's general (Schur) sqrtm of Σ1 Σ2.
    r, f = real.float().double().numpy(), fake.float().double().numpy()
    mu1, mu2 = r.mean(0), f.mean(0)
    s1, s2 = np.cov(r, rowvar=False), np.cov(f, rowvar=False)
    covmean = scipy_linalg.sqrtm(s1 @ s2)
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean.real)
    assert metric.compute().item() == pytest.approx(float(expected), rel=1e-9)


def test_frechet_identical_sets_is_zero_and_symmetric():
    x = torch.randn(100, 8, generator=torch.Generator().manual_seed(5))
    y = torch.randn(60, 8, generator=torch.Generator().manual_seed(6)) * 2
    fd = lambda a, b: frechet_distance(a.double().mean(0), a.double().T.cov(), b.double().mean(0), b.double().T.cov())  # noqa: E731
    assert abs(fd(x, x).item()) < 1e-9
    assert fd(x, y).item() == pytest.approx(fd(y, x).item(), rel=1e-9)


def test_frechet_needs_two_samples_per_set():
    metric = FrechetDistance(num_features=3)
    metric.update(torch.zeros(5, 3), real=True)
    metric.update(torch.zeros(1, 3), real=False)
    with pytest.raises(RuntimeError, match="at least 2 samples in the fake set, got 1"):
        metric.compute()


def test_frechet_rejects_bad_inputs():
    with pytest.raises(ValueError, match="num_features"):
        FrechetDistance()
    metric = FrechetDistance(num_features=3)
    with pytest.raises(ValueError, match="no feature extractor"):
        metric.update(torch.zeros(2, 3, 8, 8), real=True)
    with pytest.raises(ValueError, match=r"\[B, 3\]"):
        metric.update(torch.zeros(2, 4), real=True)


class _MeanColour(nn.Module):
    """Toy extractor: per-channel mean and std of the image → [B, 6]."""

    num_features = 6

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.cat([images.mean(dim=(2, 3)), images.std(dim=(2, 3))], dim=1)


def test_frechet_with_extractor_matches_features_path():
    rng = torch.Generator().manual_seed(7)
    real_images = torch.rand(10, 3, 8, 8, generator=rng) * 2 - 1
    fake_images = torch.rand(12, 3, 8, 8, generator=rng) * 1.5 - 1
    extractor = _MeanColour()
    by_images = FrechetDistance(extractor=extractor)
    by_images.update(real_images, real=True)
    by_images.update(fake_images, real=False)
    by_features = FrechetDistance(num_features=6)
    by_features.update(extractor(real_images), real=True)
    by_features.update(extractor(fake_images), real=False)
    assert by_images.compute().item() == pytest.approx(by_features.compute().item(), rel=1e-12)


def test_frechet_keeps_real_statistics_when_asked():
    rng = torch.Generator().manual_seed(8)
    real, fake1, fake2 = (torch.randn(30, 4, generator=rng) + k for k in range(3))
    metric = FrechetDistance(num_features=4, reset_real_features=False)
    metric.update(real, real=True)
    metric.update(fake1, real=False)
    metric.reset()
    assert int(metric.real_count) == 30 and int(metric.fake_count) == 0
    metric.update(fake2, real=False)
    fresh = FrechetDistance(num_features=4)
    fresh.update(real, real=True)
    fresh.update(fake2, real=False)
    assert metric.compute().item() == pytest.approx(fresh.compute().item(), rel=1e-12)


# -- DDP equivalence: two "ranks" merged by sum reduction == one instance on all data -------------------------
def _sum_states(a, b):
    """What DDP's sync does for dist_reduce_fx="sum": add every state of the ranks."""
    return {name: getattr(a, name) + getattr(b, name) for name in a._defaults}


@pytest.mark.parametrize("merge", ["merge_state", "sum_states"])
def test_ddp_equivalence(merge):
    rng = torch.Generator().manual_seed(9)
    emb_a, emb_b = torch.randn(11, 5, generator=rng), torch.randn(11, 5, generator=rng)
    dists = torch.rand(11, generator=rng)
    real, fake = torch.randn(13, 4, generator=rng), torch.randn(9, 4, generator=rng) * 3

    def feed(metrics, ia, ir, ifake):
        metrics[0].update(emb_a[ia], emb_b[ia])
        metrics[1].update(dists[ia])
        metrics[2].update(real[ir], real=True)
        metrics[2].update(fake[ifake], real=False)

    def fresh():
        return [IdentitySimilarity(), RecognitionRate(0.5), FrechetDistance(num_features=4)]

    whole = fresh()
    feed(whole, slice(None), slice(None), slice(None))
    rank0, rank1 = fresh(), fresh()
    feed(rank0, slice(0, 4), slice(0, 7), slice(0, 2))
    feed(rank1, slice(4, None), slice(7, None), slice(2, None))
    for m0, m1, mw in zip(rank0, rank1, whole):
        if merge == "merge_state":
            m0.merge_state(m1)
        else:
            for name, value in _sum_states(m0, m1).items():
                setattr(m0, name, value)
        for name in mw._defaults:
            assert torch.allclose(getattr(m0, name), getattr(mw, name), rtol=1e-12, atol=1e-12), name
        assert m0.compute().item() == pytest.approx(mw.compute().item(), rel=1e-10)
    assert not math.isnan(whole[2].compute().item())


def test_states_keep_float64_through_module_dtype_casts():
    # Lightning's "bf16-true" precision calls module.to(torch.bfloat16) on everything the LightningModule holds.
    metric = FrechetDistance(extractor=_MeanColour())
    similarity = IdentitySimilarity()
    for m in (metric, similarity):
        m.to(torch.bfloat16)
        m.half()
    assert metric.real_outer.dtype == torch.float64 and metric.real_count.dtype == torch.long
    assert similarity.cosine_sum.dtype == torch.float64
    x = torch.randn(20, 6, dtype=torch.float64)
    metric.update(x, real=True)
    metric.update(x + 1e-3, real=False)  # a distance of 6e-6: lost entirely in bf16 sums
    assert metric.compute().item() == pytest.approx(6 * 1e-6, rel=1e-6)
