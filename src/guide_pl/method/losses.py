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

from ..errors import BadValueError

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
    """The λ's of Eqs. 4 and 9 and how the N_a / N_g terms are reduced (values come from the config's method
    section; the schema holds their defaults, the paper's)."""

    lambda_l2: float
    lambda_per: float
    lambda_id: float
    lambda_adj: float
    lambda_global: float
    # Weight of the adversarial term (beyond the paper; only used when adversarial latents exist).
    lambda_adversarial: float
    # "mean" follows Eqs. 7–8 (average over i); "sum" reproduces the official code, which adds them up.
    reduction: str

    def __post_init__(self) -> None:
        if self.reduction not in REDUCTIONS:
            raise BadValueError(f"reduction must be one of {REDUCTIONS}, got {self.reduction!r}")


@dataclass(frozen=True)
class StepLayout:
    """Where each kind of latent sits in one step's batch: [local, adjacent × N_a, adversarial × N_r, global × N_g]
    (N_r adversarial latents are an extension, see GuideModule; with N_r = 0 this is the paper's step)."""

    num_adjacent: int
    num_adversarial: int
    num_global: int

    @property
    def size(self) -> int:
        """Latents in the step."""
        return 1 + self.num_adjacent + self.num_adversarial + self.num_global

    @property
    def first_global(self) -> int:
        """Index of the first global latent (every row from here on is a global one)."""
        return 1 + self.num_adjacent + self.num_adversarial

    def is_global(self) -> torch.Tensor:
        """Boolean mask [size]: True for the global-preservation latents (LPIPS only, Eq. 8)."""
        mask = torch.zeros(self.size, dtype=torch.bool)
        mask[self.first_global :] = True
        return mask


class LocalLoss(nn.Module):
    """Eq. 4 per sample: λ_L2·MSE(F_u, F_t) + λ_per·P(x̂_u, x̂_t) + λ_id·(1 − cos(ID(x̂_u), ID(x̂_t)))."""

    def __init__(
        self,
        perceptual: Optional[nn.Module],
        identity: Optional[nn.Module],
        weights: LossWeights,
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
    local: torch.Tensor,
    adjacency: torch.Tensor,
    global_: torch.Tensor,
    weights: LossWeights,
    adversarial: torch.Tensor | float = 0.0,
    use_local: bool = True,
) -> torch.Tensor:
    """Eq. 9: L = L_local + λ_adj·L_adj + λ_global·L_global (+ λ_adversarial·L_adversarial, the extension; 0
    without adversarial latents). The value every log reports; `sample_coefficients` is its derivative."""
    total = (local if use_local else 0.0) + weights.lambda_adj * adjacency
    total = total + weights.lambda_adversarial * adversarial
    return total + weights.lambda_global * global_


def step_terms(per_sample: dict[str, torch.Tensor], layout: StepLayout, weights: LossWeights,
               use_local: bool = True) -> dict[str, torch.Tensor]:
    """One step's logged terms from its per-sample values ("l2", "per", "id", "local" [size], "global" [size]):
    the local loss of w_u and its parts, Eq. 7 (adjacency), the adversarial term, Eq. 8 (global), Eq. 9 (total)."""
    reduction = weights.reduction
    zero = per_sample["local"].new_zeros(())
    adjacent = slice(1, 1 + layout.num_adjacent)
    adversarial = slice(1 + layout.num_adjacent, layout.first_global)
    terms = {
        "local": per_sample["local"][0],
        "local_l2": per_sample["l2"][0],
        "local_per": per_sample["per"][0],
        "local_id": per_sample["id"][0],
        "adjacency": adjacency_loss(per_sample["local"][adjacent], reduction) if layout.num_adjacent else zero,
        # Eqs. 5–7 with the attackers' Δ instead of random ones: reduced like the adjacency term.
        "adversarial": adjacency_loss(per_sample["local"][adversarial], reduction) if layout.num_adversarial
        else zero,
        "global": global_loss(per_sample["global"][layout.first_global :], reduction) if layout.num_global else zero,
    }
    terms["total"] = total_loss(terms["local"], terms["adjacency"], terms["global"], weights, terms["adversarial"],
                                use_local)
    return terms


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

    These are ∂L/∂term_s of `total_loss` over `step_terms` (tested), so L = Σ_s c_s · term_s and the step's
    latents can be processed (and back-propagated) in chunks.
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
