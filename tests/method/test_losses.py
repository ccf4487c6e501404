"""LTU losses (Eqs. 4–9) against values computed by hand."""

import pytest
import torch
from torch import nn

from guide_pl.method.losses import (
    LocalLoss,
    LossWeights,
    StepLayout,
    adjacency_loss,
    adjacency_offsets,
    feature_mse,
    global_loss,
    sample_coefficients,
    step_terms,
    total_loss,
)

PAPER = dict(lambda_l2=1e-2, lambda_per=1.0, lambda_id=0.1, lambda_adj=1.0, lambda_global=1.0, lambda_adversarial=1.0,
             reduction="mean")


def weights(**changes):
    """The paper's λ's (§4.1) with `changes`."""
    return LossWeights(**{**PAPER, **changes})


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
    loss = LocalLoss(Constant([0.5, 0.25]), Constant([0.2, 1.0]), weights())
    terms = loss(feat_u, feat_t, img, img)
    # 0.01·4 + 1·0.5 + 0.1·0.2 = 0.56 ; 0.01·4 + 1·0.25 + 0.1·1.0 = 0.39
    assert torch.allclose(terms["total"], torch.tensor([0.56, 0.39]))
    assert torch.equal(terms["l2"], torch.tensor([4.0, 4.0]))


def test_local_loss_skips_missing_modules():
    feat = torch.ones(1, 3)
    img = torch.zeros(1, 3, 2, 2)
    terms = LocalLoss(None, None, weights())(feat, torch.zeros(1, 3), img, img)
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
    w = weights(lambda_adj=2.0, lambda_global=0.5)
    assert total_loss(torch.tensor(1.0), torch.tensor(2.0), torch.tensor(4.0), w).item() == 7.0


def test_sample_coefficients_reproduce_eq9():
    c = sample_coefficients(2, 2, weights())
    assert c.tolist() == [1.0, 0.5, 0.5, 0.5, 0.5]
    c = sample_coefficients(2, 3, weights(lambda_adj=2.0, reduction="sum"), use_global=False)
    assert c.tolist() == [1.0, 2.0, 2.0, 0.0, 0.0, 0.0]
    # Adversarial latents sit between the adjacent and the global ones, averaged and weighted λ_adversarial.
    c = sample_coefficients(2, 2, weights(lambda_adversarial=0.5), num_adversarial=2)
    assert c.tolist() == [1.0, 0.5, 0.5, 0.25, 0.25, 0.5, 0.5]
    c = sample_coefficients(1, 1, weights(lambda_adversarial=3.0, reduction="sum"), num_adversarial=2)
    assert c.tolist() == [1.0, 1.0, 3.0, 3.0, 1.0]
    # Σ c·term equals Eq. 9 computed from its parts.
    local, adj, glob = torch.tensor([0.7]), torch.tensor([0.2, 0.6]), torch.tensor([0.1, 0.3])
    terms = torch.cat([local, adj, glob]).double()
    expected = total_loss(local[0], adjacency_loss(adj), global_loss(glob), weights()).double()
    assert torch.allclose((sample_coefficients(2, 2, weights()) * terms).sum(), expected)


def test_bad_reduction():
    with pytest.raises(ValueError, match="reduction"):
        weights(reduction="max")


def test_step_terms_hand_computed():
    # [local, adjacent × 2, adversarial × 1, global × 2]
    layout = StepLayout(num_adjacent=2, num_adversarial=1, num_global=2)
    local = torch.tensor([0.7, 0.2, 0.6, 0.9, 0.0, 0.0])
    per_sample = {"l2": torch.tensor([3.0, 0, 0, 0, 0, 0]), "per": torch.tensor([0.4, 0, 0, 0, 0, 0]),
                  "id": torch.tensor([0.5, 0, 0, 0, 0, 0]), "local": local,
                  "global": torch.tensor([0, 0, 0, 0, 0.1, 0.3])}
    terms = step_terms(per_sample, layout, weights(lambda_adj=2.0, lambda_adversarial=0.5, lambda_global=3.0))
    assert terms["local"].item() == pytest.approx(0.7) and terms["local_l2"].item() == 3.0
    assert terms["adjacency"].item() == pytest.approx(0.4)  # mean(0.2, 0.6), Eq. 7
    assert terms["adversarial"].item() == pytest.approx(0.9)
    assert terms["global"].item() == pytest.approx(0.2)  # mean(0.1, 0.3), Eq. 8
    # Eq. 9: 0.7 + 2·0.4 + 0.5·0.9 + 3·0.2 = 2.55
    assert terms["total"].item() == pytest.approx(2.55)
    summed = step_terms(per_sample, layout, weights(reduction="sum"), use_local=False)
    assert summed["total"].item() == pytest.approx(0.8 + 0.9 + 0.4)  # no local term, sums (the official code)


@pytest.mark.parametrize("n_adj, n_adv, n_glob, changes, use_local", [
    (2, 0, 2, {}, True),
    (1, 0, 2, {}, True),
    (3, 2, 1, {"lambda_adj": 0.3, "lambda_adversarial": 2.0, "lambda_global": 0.7}, True),
    (2, 1, 3, {"reduction": "sum", "lambda_global": 4.0}, False),
    (0, 0, 0, {}, True),
])
def test_coefficients_are_the_gradient_of_eq9(n_adj, n_adv, n_glob, changes, use_local):
    """The per-sample coefficients (what the chunked backward uses) are ∂L/∂term_s of the logged Eq. 9."""
    layout, w = StepLayout(n_adj, n_adv, n_glob), weights(**changes)
    local = torch.rand(layout.size, dtype=torch.float64, requires_grad=True)
    glob = torch.rand(layout.size, dtype=torch.float64, requires_grad=True)
    zeros = torch.zeros(layout.size, dtype=torch.float64)
    total = step_terms({"l2": zeros, "per": zeros, "id": zeros, "local": local, "global": glob}, layout, w,
                       use_local)["total"]
    d_local, d_global = torch.autograd.grad(total, [local, glob], allow_unused=True)
    mask = layout.is_global()
    gradient = torch.where(mask, d_global if d_global is not None else zeros, d_local)
    coefficients = sample_coefficients(n_adj, n_glob, w, use_local, num_adversarial=n_adv)
    assert torch.allclose(gradient, coefficients, rtol=0, atol=1e-15)
