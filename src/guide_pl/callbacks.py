"""Lightning callbacks: step timing (more evaluation callbacks plug in here)."""

from __future__ import annotations

import statistics
import time
from typing import Any

import pytorch_lightning as pl


class StepTimer(pl.Callback):
    """Records the wall time of every training step and the whole fit."""

    def __init__(self) -> None:
        self.step_seconds: list[float] = []
        self.fit_seconds = 0.0
        self._step_start = 0.0
        self._fit_start = 0.0

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._fit_start = time.perf_counter()

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, idx: int) -> None:
        self._step_start = time.perf_counter()

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, idx: int
    ) -> None:
        self.step_seconds.append(time.perf_counter() - self._step_start)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.fit_seconds = time.perf_counter() - self._fit_start

    def summary(self) -> dict[str, float]:
        """Median seconds per step (the first, warm-up step excluded when there are others) and the fit time."""
        steps = self.step_seconds[1:] if len(self.step_seconds) > 1 else self.step_seconds
        return {
            "seconds_per_step": statistics.median(steps) if steps else float("nan"),
            "seconds_fit": self.fit_seconds,
        }


class LossHistory(pl.Callback):
    """Keeps every logged loss term per step (for metrics.json and curves)."""

    def __init__(self) -> None:
        self.history: list[dict[str, float]] = []

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, idx: int
    ) -> None:
        row = {k.split("/", 1)[1]: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("loss/")}
        row["step"] = trainer.global_step
        self.history.append(row)
