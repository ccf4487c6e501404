"""LTU losses (Eqs. 4–9) against values computed by hand."""

import pytest
import torch
from torch import nn

from guide_pl.losses import (
    LocalLoss,
    LossWeights,
    adjacency_loss,
    adjacency_offsets,
    feature_mse,
    global_loss,
    sample_coefficients,
    total_loss,
)


class Constant(nn.Module):
    """A stand-in network returning fixed per-sample values."""

    def __init__(self, values):
        super().__init__()
        self.values = torch.tensor(values)

    def forward(self, x, y):
        return self.values[: x.shape[0]]


def test_feature_mse_per_sample():
    a = torch.tensor([[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0]])
    b = torch.tensor([[1.0, 0.0, 3.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    # Sample 0: (0 + 4 + 0 + 16) / 4 = 5; sample 1: 1.
    assert torch.equal(feature_mse(a, b), torch.tensor([5.0, 1.0]))


def test_local_loss_hand_computed():
    feat_u = torch.zeros(2, 1, 2, 2)
    feat_t = torch.full((2, 1, 2, 2), 2.0)  # MSE = 4 for both samples
    img = torch.zeros(2, 3, 4, 4)
    loss = LocalLoss(Constant([0.5, 0.25]), Constant([0.2, 1.0]), LossWeights())
    terms = loss(feat_u, feat_t, img, img)
    # 0.01·4 + 1·0.5 + 0.1·0.2 = 0.56 ; 0.01·4 + 1·0.25 + 0.1·1.0 = 0.39
    assert torch.allclose(terms["total"], torch.tensor([0.56, 0.39]))
    assert torch.equal(terms["l2"], torch.tensor([4.0, 4.0]))


def test_local_loss_skips_missing_modules():
    feat = torch.ones(1, 3)
    img = torch.zeros(1, 3, 2, 2)
    terms = LocalLoss(None, None)(feat, torch.zeros(1, 3), img, img)
    assert torch.allclose(terms["total"], torch.tensor([0.01]))
    assert terms["per"].item() == 0 and terms["id"].item() == 0


def test_adjacency_offsets_hand_computed():
    w_u = torch.tensor([[0.0, 0.0]])
    w_r = torch.tensor([[3.0, 4.0], [0.0, -2.0]])
    alpha = torch.tensor([10.0, 1.5])
    # Δ_0 = 10·(3, 4)/5 = (6, 8); Δ_1 = 1.5·(0, −1) = (0, −1.5)
    assert torch.allclose(adjacency_offsets(w_u, w_r, alpha), torch.tensor([[6.0, 8.0], [0.0, -1.5]]))


def test_adjacency_offsets_norm_over_whole_wplus_latent():
    w_u = torch.zeros(1, 2, 2)
    w_r = torch.tensor([[[3.0, 0.0], [0.0, 4.0]]])
    delta = adjacency_offsets(w_u, w_r, torch.tensor([5.0]))
    assert torch.allclose(delta, w_r)  # ‖w_r − w_u‖ = 5 over both rows
    assert torch.allclose(delta.flatten(1).norm(dim=1), torch.tensor([5.0]))


def test_adjacency_offsets_degenerate():
    with pytest.raises(ValueError, match="equals the source latent"):
        adjacency_offsets(torch.ones(1, 2), torch.ones(1, 2), torch.tensor([1.0]))


def test_reductions_and_total():
    assert adjacency_loss(torch.tensor([1.0, 3.0])).item() == 2.0
    assert adjacency_loss(torch.tensor([1.0, 3.0]), "sum").item() == 4.0
    assert global_loss(torch.tensor([0.2, 0.4])).item() == pytest.approx(0.3)
    w = LossWeights(lambda_adj=2.0, lambda_global=0.5)
    assert total_loss(torch.tensor(1.0), torch.tensor(2.0), torch.tensor(4.0), w).item() == 7.0


def test_sample_coefficients_reproduce_eq9():
    c = sample_coefficients(2, 2, LossWeights())
    assert c.tolist() == [1.0, 0.5, 0.5, 0.5, 0.5]
    c = sample_coefficients(2, 3, LossWeights(lambda_adj=2.0, reduction="sum"), use_global=False)
    assert c.tolist() == [1.0, 2.0, 2.0, 0.0, 0.0, 0.0]
    # Adversarial latents sit between the adjacent and the global ones, averaged and weighted λ_adversarial.
    c = sample_coefficients(2, 2, LossWeights(lambda_adversarial=0.5), num_adversarial=2)
    assert c.tolist() == [1.0, 0.5, 0.5, 0.25, 0.25, 0.5, 0.5]
    c = sample_coefficients(1, 1, LossWeights(lambda_adversarial=3.0, reduction="sum"), num_adversarial=2)
    assert c.tolist() == [1.0, 1.0, 3.0, 3.0, 1.0]
    # Σ c·term equals Eq. 9 computed from its parts.
    local, adj, glob = torch.tensor([0.7]), torch.tensor([0.2, 0.6]), torch.tensor([0.1, 0.3])
    terms = torch.cat([local, adj, glob]).double()
    expected = total_loss(local[0], adjacency_loss(adj), global_loss(glob)).double()
    assert torch.allclose((sample_coefficients(2, 2, LossWeights()) * terms).sum(), expected)


def test_bad_reduction():
    with pytest.raises(ValueError, match="reduction"):
        LossWeights(reduction="max")
