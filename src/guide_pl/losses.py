"""GUIDE's latent target unlearning (LTU) losses, Eqs. 4–9, on tensors and plug-in modules.

Every function returns *per-sample* values so that a step's latents can be passed through the generators in
chunks of any size and still give the same total (the losses are sums of per-sample terms). The feature,
perceptual and identity terms are modules: `perceptual(x, y) → [B]`, `identity(x, y) → [B]` (1 − cos).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

REDUCTIONS = ("mean", "sum")


def feature_mse(feat_u: torch.Tensor, feat_t: torch.Tensor) -> torch.Tensor:
    """Per-sample mean squared error over all non-batch dimensions (F.mse_loss of one sample)."""
    return (feat_u - feat_t).square().flatten(1).mean(dim=1)


def adjacency_offsets(
    w_u: torch.Tensor, w_random: torch.Tensor, alpha: torch.Tensor, eps: float = 0.0
) -> torch.Tensor:
    """Eqs. 5–6: Δ_i = α_i (w_r,i − w_u) / ‖w_r,i − w_u‖₂, the norm over the whole per-sample latent.

    `w_u` [1, ...] (the source latent), `w_random` [N, ...] (Map(z_i)), `alpha` [N] (α_i ~ U(0, α_max)).
    The same Δ_i shifts the source latent (through G_u) and the target latent (through G_s).
    """
    direction = w_random - w_u
    norm = direction.flatten(1).norm(p=2, dim=1)
    if not torch.all(norm > eps):
        raise ValueError("an adjacency sample equals the source latent: its direction is undefined")
    shape = (-1,) + (1,) * (direction.ndim - 1)
    return alpha.to(direction).view(shape) * direction / norm.view(shape)


@dataclass(frozen=True)
class LossWeights:
    """The λ's of Eqs. 4 and 9 (paper defaults) and how the N_a / N_g terms are reduced."""

    lambda_l2: float = 1e-2
    lambda_per: float = 1.0
    lambda_id: float = 0.1
    lambda_adj: float = 1.0
    lambda_global: float = 1.0
    # Weight of the adversarial term (beyond the paper; only used when adversarial latents exist).
    lambda_adversarial: float = 1.0
    # "mean" follows Eqs. 7–8 (average over i); "sum" reproduces the official code, which adds them up.
    reduction: str = "mean"

    def __post_init__(self) -> None:
        if self.reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {self.reduction!r}")


class LocalLoss(nn.Module):
    """Eq. 4 per sample: λ_L2·MSE(F_u, F_t) + λ_per·P(x̂_u, x̂_t) + λ_id·(1 − cos(ID(x̂_u), ID(x̂_t)))."""

    def __init__(
        self,
        perceptual: Optional[nn.Module],
        identity: Optional[nn.Module],
        weights: LossWeights = LossWeights(),
    ) -> None:
        super().__init__()
        self.perceptual = perceptual
        self.identity = identity
        self.weights = weights

    def forward(
        self, feat_u: torch.Tensor, feat_t: torch.Tensor, img_u: torch.Tensor, img_t: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Per-sample terms {"l2", "per", "id", "total"}, each [B]; a term whose λ is 0 or module is None is 0."""
        w = self.weights
        zeros = feat_u.new_zeros(feat_u.shape[0])
        l2 = feature_mse(feat_u, feat_t) if w.lambda_l2 else zeros
        per = self.perceptual(img_u, img_t) if (self.perceptual is not None and w.lambda_per) else zeros
        ident = self.identity(img_u, img_t) if (self.identity is not None and w.lambda_id) else zeros
        total = w.lambda_l2 * l2 + w.lambda_per * per + w.lambda_id * ident
        return {"l2": l2, "per": per, "id": ident, "total": total}


def adjacency_loss(local_totals: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Eq. 7: the local loss of the N_a shifted pairs, averaged (or summed, as the official code does)."""
    return local_totals.mean() if reduction == "mean" else local_totals.sum()


def global_loss(perceptual_distances: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Eq. 8: perceptual distance between G_u(w_r) and G_s(w_r) over N_g fresh samples, averaged."""
    return perceptual_distances.mean() if reduction == "mean" else perceptual_distances.sum()


def total_loss(
    local: torch.Tensor, adjacency: torch.Tensor, global_: torch.Tensor, weights: LossWeights = LossWeights()
) -> torch.Tensor:
    """Eq. 9: L = L_local + λ_adj·L_adj + λ_global·L_global."""
    return local + weights.lambda_adj * adjacency + weights.lambda_global * global_


def sample_coefficients(
    num_adjacent: int,
    num_global: int,
    weights: LossWeights,
    use_local: bool = True,
    use_adjacency: bool = True,
    use_global: bool = True,
    num_adversarial: int = 0,
) -> torch.Tensor:
    """Coefficient of each sample's term in Eq. 9, in step order [local, adjacent × N_a, adversarial × N_r,
    global × N_g] (N_r adversarial latents: an extension, see GuideModule; 0 gives Eq. 9 exactly).

    With these, L = Σ_s c_s · term_s, so the step's latents can be processed (and back-propagated) in chunks.
    """
    mean = weights.reduction == "mean"
    per_adj = 1.0 / num_adjacent if (mean and num_adjacent) else 1.0
    per_adv = 1.0 / num_adversarial if (mean and num_adversarial) else 1.0
    per_glob = 1.0 / num_global if (mean and num_global) else 1.0
    coeffs = [1.0 if use_local else 0.0]
    coeffs += [weights.lambda_adj * per_adj if use_adjacency else 0.0] * num_adjacent
    coeffs += [weights.lambda_adversarial * per_adv] * num_adversarial
    coeffs += [weights.lambda_global * per_glob if use_global else 0.0] * num_global
    return torch.tensor(coeffs, dtype=torch.float64)
