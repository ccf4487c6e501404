"""UnlearnDataModule: one step's random draws per batch (the identity's latents come from method.identity)."""

from __future__ import annotations

import pytorch_lightning as pl
from torch.utils.data import DataLoader

from .draws import StepDraws
from .settings import GuideSettings


class UnlearnDataModule(pl.LightningDataModule):
    """Serves `StepDraws` from `start_step` on (a resumed run continues with the draws it would have seen)."""

    def __init__(self, settings: GuideSettings, z_dim: int, start_step: int = 0) -> None:
        super().__init__()
        self.settings, self.z_dim, self.start_step = settings, z_dim, start_step

    def train_dataloader(self) -> DataLoader:
        # batch_size=None: each item is already one step's draws.
        draws = StepDraws(self.settings, self.z_dim, self.start_step)
        return DataLoader(draws, batch_size=None, shuffle=False, num_workers=0)
