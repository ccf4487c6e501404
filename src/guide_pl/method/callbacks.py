"""Training callbacks: step timing, the loss log, checkpoint + resume (one place), adversarial latents.

The timer, the loss log and the adversarial latents keep their state in the run's checkpoint (`state_dict`), so a
resumed run reports every step it made, not only those after the resume.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Optional

import pytorch_lightning as pl
import torch

from ..atomic import torch_save, write_text
from ..errors import BadFileError


class StepTimer(pl.Callback):
    """Records the wall time of every training step and of the fits (a resumed run adds its earlier steps)."""

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
        self.fit_seconds += time.perf_counter() - self._fit_start

    def summary(self) -> dict[str, Optional[float]]:
        """Median seconds per step (the first, warm-up step excluded when there are others; None without steps)
        and the seconds spent fitting."""
        steps = self.step_seconds[1:] if len(self.step_seconds) > 1 else self.step_seconds
        return {"seconds_per_step": statistics.median(steps) if steps else None, "seconds_fit": self.fit_seconds}

    def state_dict(self) -> dict[str, Any]:
        return {"step_seconds": list(self.step_seconds), "fit_seconds": self.fit_seconds}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step_seconds, self.fit_seconds = list(state["step_seconds"]), float(state["fit_seconds"])


class LossHistory(pl.Callback):
    """Keeps every logged loss term per step (for metrics.json) and writes them to `path` as CSV (step, then one
    `loss/<term>` column each), rewritten atomically every `every_n_steps` steps and when training ends."""

    def __init__(self, path: Optional[str | Path] = None, every_n_steps: int = 10) -> None:
        self.path, self.every_n_steps = (Path(path) if path is not None else None), every_n_steps
        self.history: list[dict[str, float]] = []

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, idx: int
    ) -> None:
        row = {k.split("/", 1)[1]: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("loss/")}
        row["step"] = int(batch["step"]) if "step" in batch else trainer.global_step
        self.history.append(row)
        if (row["step"] + 1) % self.every_n_steps == 0:
            self.write()

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.write()

    def write(self) -> None:
        """Rewrite the CSV with every row so far (nothing without a path or rows)."""
        if self.path is None or not self.history:
            return
        terms = sorted({k for row in self.history for k in row if k != "step"})
        lines = [",".join(["step", *(f"loss/{t}" for t in terms)])]
        lines += [",".join([str(int(r["step"])), *(repr(r[t]) if t in r else "" for t in terms)]) for r in self.history]
        write_text(self.path, "\n".join(lines) + "\n")

    def state_dict(self) -> dict[str, Any]:
        return {"history": [dict(row) for row in self.history]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history = [dict(row) for row in state["history"]]


class RunCheckpoint(pl.Callback):
    """Saves G_u's synthesis weights, the optimiser state, the completed step, the adversarial latents and the
    `keep` callbacks' state every `every_n_steps` steps and when training ends (atomically: an interrupted save
    leaves the previous checkpoint intact); `resume` restores all of it into a new run of the same config."""

    def __init__(self, path: str | Path, every_n_steps: int, keep: Sequence[pl.Callback] = ()) -> None:
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be ≥ 1, got {every_n_steps}")
        self.path, self.every_n_steps, self.keep = Path(path), every_n_steps, list(keep)
        self.resumed: Optional[dict] = None
        self._completed = 0

    def resume(self, pl_module: pl.LightningModule) -> int:
        """Load the checkpoint into `pl_module` and the kept callbacks; the step to continue from (0 without one)."""
        if not self.path.is_file():
            return 0
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
            pl_module.unlearned.trainable_synthesis.load_state_dict(state["synthesis_state_dict"])
            found = state.get("adversarial_latents")
            if found is not None and found.numel():
                pl_module.add_adversarial_latent(found)
            for callback, kept in zip(self.keep, state.get("callbacks", [])):
                callback.load_state_dict(kept)
        except Exception as error:  # noqa: BLE001 - any failure means the checkpoint cannot be trusted
            raise BadFileError(f"cannot resume from {self.path}: {error}") from error
        self.resumed = state
        self._completed = int(state["step"])
        return self._completed

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.resumed is not None:
            trainer.optimizers[0].load_state_dict(self.resumed["optimizer"])

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, idx: int
    ) -> None:
        self._completed = int(batch["step"]) + 1
        if self._completed % self.every_n_steps == 0:
            self.save(trainer, pl_module)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # The last step is saved too, so a run killed while it evaluates resumes with nothing left to train.
        if self._completed % self.every_n_steps != 0:
            self.save(trainer, pl_module)

    def save(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Write the checkpoint of the steps completed so far (rank 0 only)."""
        if not trainer.is_global_zero:
            return
        found = getattr(pl_module, "w_adversarial", None)
        torch_save(
            {
                "step": self._completed,
                "synthesis_state_dict": pl_module.unlearned_synthesis_state(),
                "optimizer": trainer.optimizers[0].state_dict(),
                "adversarial_latents": found.detach().cpu().clone() if found is not None else None,
                "callbacks": [callback.state_dict() for callback in self.keep],
            },
            self.path,
        )


# attack(G_u, refresh index k ≥ 1) → (the latent the attacker found, the judge's distance of its image to the
# person, or None): built by the jobs from the scenario's inverter and the judge.
Attack = Callable[[Any, int], tuple[torch.Tensor, Optional[float]]]


class AdversarialLatents(pl.Callback):
    """Every `every_n_steps` steps (not before the first), runs the re-inversion attack on the current G_u; the
    latent w_r it finds is unlearned from then on (GuideModule.add_adversarial_latent).

    Refresh k draws its randomness from seed k (k ≥ 1, so no attack made during training repeats the evaluation's
    attacker at its seed 0). Every rank runs the same seeded attack, so DDP replicas stay equal. Each refresh is
    recorded (step, latent distance from w_u, the judge's distance when there is a judge) in `found`.
    """

    def __init__(self, attack: Attack, every_n_steps: int) -> None:
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be ≥ 1, got {every_n_steps}")
        self.attack, self.every_n_steps = attack, every_n_steps
        self.found: list[dict[str, float]] = []
        self.seconds = 0.0

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, idx: int) -> None:
        step = int(batch["step"])
        if step == 0 or step % self.every_n_steps:
            return
        started = time.perf_counter()
        unlearned = pl_module.unlearned
        was_training = unlearned.training
        unlearned.eval()
        with torch.enable_grad():
            w_r, judge_distance = self.attack(unlearned, step // self.every_n_steps)
        unlearned.train(was_training)
        w_r = pl_module.source.as_wplus(w_r.to(pl_module.w_u))
        record = {"step": step, "latent_distance_to_w_u": float((w_r - pl_module.w_u).flatten(1).norm(dim=1)[0])}
        if judge_distance is not None:
            record["judge_distance"] = judge_distance
        pl_module.add_adversarial_latent(w_r)
        self.found.append(record)
        self.seconds += time.perf_counter() - started

    def state_dict(self) -> dict[str, Any]:
        return {"found": [dict(r) for r in self.found], "seconds": self.seconds}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.found, self.seconds = [dict(r) for r in state["found"]], float(state["seconds"])
