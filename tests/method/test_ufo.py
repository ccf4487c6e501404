"""UFO target geometry (Eq. 3) and its ablation modes."""

import pytest
import torch

from guide_pl.method.ufo import target_latent


def test_extrapolate_hand_computed_2d():
    # w_u − w̄ = (3, 4), ‖·‖ = 5 → w_t = w̄ − 30·(0.6, 0.8) = (1 − 18, 1 − 24).
    w_avg = torch.tensor([1.0, 1.0])
    w_u = torch.tensor([[4.0, 5.0]])
    assert torch.allclose(target_latent(w_u, w_avg, "extrapolate", d=30.0), torch.tensor([[-17.0, -23.0]]))


@pytest.mark.parametrize("shape", [(3, 8), (3, 4, 8)])
def test_extrapolate_distance_and_direction(shape):
    gen = torch.Generator().manual_seed(0)
    w_avg = torch.randn(shape[-1], generator=gen)
    w_u = torch.randn(shape, generator=gen) * 3
    w_t = target_latent(w_u, w_avg, "extrapolate", d=30.0)
    offset_t = (w_t - w_avg).flatten(1)
    offset_u = (w_u - w_avg).flatten(1)
    # Distance to w̄ is d for every sample (norm over the whole per-sample latent) ...
    assert torch.allclose(offset_t.norm(dim=1), torch.full((shape[0],), 30.0), atol=1e-4)
    # ... and the direction is exactly opposite to the identity direction.
    cos = torch.nn.functional.cosine_similarity(offset_t, offset_u, dim=1)
    assert torch.allclose(cos, torch.full((shape[0],), -1.0), atol=1e-6)


def test_wplus_norm_is_taken_over_all_rows_together():
    # Two rows (1, 0) and (0, 0): the whole-latent norm is 1, a per-row norm would divide row 2 by zero.
    w_u = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])
    w_t = target_latent(w_u, torch.zeros(2), "extrapolate", d=2.0)
    assert torch.equal(w_t, torch.tensor([[[-2.0, 0.0], [0.0, 0.0]]]))


def test_average_and_interpolate():
    w_avg = torch.tensor([1.0, -1.0])
    w_u = torch.tensor([[3.0, 3.0]])
    assert torch.equal(target_latent(w_u, w_avg, "average"), torch.tensor([[1.0, -1.0]]))
    assert torch.equal(target_latent(w_u, w_avg, "interpolate"), torch.tensor([[2.0, 1.0]]))


def test_degenerate_source_is_a_clear_error():
    w_avg = torch.tensor([0.5, 0.5])
    with pytest.raises(ValueError, match="equals the average latent"):
        target_latent(w_avg.clone().unsqueeze(0), w_avg)


def test_bad_mode_and_distance():
    w = torch.ones(1, 2)
    with pytest.raises(ValueError, match="unknown UFO target mode"):
        target_latent(w, torch.zeros(2), "nearest")
    with pytest.raises(ValueError, match="positive"):
        target_latent(w, torch.zeros(2), "extrapolate", d=0.0)
