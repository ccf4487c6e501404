"""UFO target latents (paper §3.2): where the unlearned identity's latent should be sent."""

from __future__ import annotations

import torch

TARGET_MODES = ("extrapolate", "average", "interpolate")


def target_latent(
    w_u: torch.Tensor, w_avg: torch.Tensor, mode: str = "extrapolate", d: float = 30.0
) -> torch.Tensor:
    """Target latent w_t for source latents w_u [B, D] or W+ [B, L, D]; `w_avg` [D] (or broadcastable).

    - `extrapolate` (Eq. 3): w_t = w̄ − d · (w_u − w̄) / ‖w_u − w̄‖₂, the norm taken over the whole per-sample
      latent (all W+ rows together), as the official code does; ‖w_t − w̄‖ = d.
    - `average`: w_t = w̄ (the baseline).
    - `interpolate`: the midpoint of w_u and w̄ (the ablation that moves toward the average but not past it);
      `d` is not used.
    """
    if mode not in TARGET_MODES:
        raise ValueError(f"unknown UFO target mode {mode!r}; valid: {', '.join(TARGET_MODES)}")
    if w_u.ndim not in (2, 3):
        raise ValueError(f"w_u must be [B, D] or [B, L, D], got shape {tuple(w_u.shape)}")
    w_avg = w_avg.to(device=w_u.device, dtype=w_u.dtype).expand_as(w_u)
    if mode == "average":
        return w_avg.clone()
    w_id = w_u - w_avg
    if mode == "interpolate":
        return w_avg + 0.5 * w_id
    if not d > 0:
        raise ValueError(f"extrapolation distance d must be positive, got {d}")
    norm = w_id.flatten(1).norm(p=2, dim=1)
    if not torch.all(norm > 0):
        bad = torch.nonzero(norm == 0).flatten().tolist()
        raise ValueError(
            f"w_u equals the average latent for sample(s) {bad}: the identity direction w_u − w̄ is undefined, "
            "so the extrapolated target cannot be computed (use mode='average' or another source latent)"
        )
    norm = norm.view(-1, *([1] * (w_u.ndim - 1)))
    return w_avg - d * w_id / norm
