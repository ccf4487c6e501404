"""The random draws of each training step, seeded by (seed, step) and built from the run's settings."""

from __future__ import annotations

import hashlib

import torch
from torch.utils.data import Dataset

from ..errors import BadValueError
from .settings import GuideSettings


def step_seed(seed: int, step: int) -> int:
    """A 63-bit seed for one step's draws, independent across steps and of chunking or resuming."""
    digest = hashlib.sha256(f"guide-pl/{seed}/{step}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


class StepDraws(Dataset):
    """Item i = the random draws of training step start_step + i: z for the N_a adjacency and N_g global latents,
    α ~ U(0, α_max) (Eq. 5) and a view seed. Each item is seeded by (settings.seed, step), so every chunk size and
    a resumed run see the same draws; the global z's are drawn after, and apart from, the adjacency z's."""

    def __init__(self, settings: GuideSettings, z_dim: int, start_step: int = 0) -> None:
        if not 0 <= start_step <= settings.max_steps:
            raise BadValueError(f"start_step {start_step} outside [0, {settings.max_steps}]")
        self.settings, self.z_dim = settings, z_dim
        # A resumed run starts at its checkpoint's step and sees exactly the draws it would have seen.
        self.start_step = start_step

    def __len__(self) -> int:
        return self.settings.max_steps - self.start_step

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        settings = self.settings
        step = self.start_step + index
        rng = torch.Generator().manual_seed(step_seed(settings.seed, step))
        z_adj = torch.randn(settings.num_adjacent, self.z_dim, generator=rng)
        alpha = torch.rand(settings.num_adjacent, generator=rng) * settings.alpha_max
        z_glob = torch.randn(settings.num_global, self.z_dim, generator=rng)
        view_seed = torch.randint(0, 2**31 - 1, (), generator=rng)
        return {"z_adj": z_adj, "alpha": alpha, "z_glob": z_glob, "view_seed": view_seed, "step": torch.tensor(step)}
