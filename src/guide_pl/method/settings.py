"""GuideSettings: what one GUIDE run needs beyond its networks, derived from a resolved config (jobs.build)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..errors import BadValueError
from .losses import LossWeights


@dataclass(frozen=True)
class GuideSettings:
    """UFO target, per-step sampling, optimiser and batching of one run. No defaults: `jobs.build.guide_settings`
    derives them from the config, whose schema holds the only defaults."""

    target: str  # UFO mode: extrapolate (Eq. 3) | average (baseline) | interpolate
    d: float  # extrapolation distance, absolute (already scaled when the config states it in typical units)
    alpha_max: float  # α_i ~ U(0, α_max) of Eq. 5, absolute
    num_adjacent: int  # adjacency samples per step (0 when the adjacency loss is off)
    num_global: int  # global-preservation samples per step (0 when the global loss is off)
    use_local: bool
    lr: float
    # None trains the whole synthesis network (the paper); an int trains only the stages whose output
    # resolution is ≤ it (cheaper backward on CPU).
    trainable_max_resolution: Optional[int]
    # Adversarial latents (beyond the paper): how many of the latents the re-inversion attack found in G_u
    # are kept (the newest), each unlearned like an adjacency sample whose Δ the attacker chose.
    adversarial_memory: int
    truncation_psi: float  # of Map(z) for the adjacency and global latents
    # Latents per generator pass; None follows the device (all at once on GPU, one at a time on CPU, where
    # batch-1 passes measured faster for a small EG3D: 7.5 s against 12.2 s per step).
    chunk_size: Optional[int]
    max_steps: int
    seed: int  # of the per-step draws (draws.step_seed)
    weights: LossWeights

    def __post_init__(self) -> None:
        if self.chunk_size is not None and self.chunk_size < 1:
            raise BadValueError(f"chunk_size must be ≥ 1 or None, got {self.chunk_size}")
        if self.num_adjacent < 0 or self.num_global < 0:
            raise BadValueError("num_adjacent and num_global must be ≥ 0")
        if self.alpha_max < 0:
            raise BadValueError(f"alpha_max must be ≥ 0, got {self.alpha_max}")
        if self.adversarial_memory < 1:
            raise BadValueError(f"adversarial_memory must be ≥ 1, got {self.adversarial_memory}")
