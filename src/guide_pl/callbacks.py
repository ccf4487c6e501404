"""Lightning callbacks: step timing (more evaluation callbacks plug in here)."""

from __future__ import annotations

import csv
import statistics
import time
from pathlib import Path
from typing import Any, Optional

import pytorch_lightning as pl
import torch

from .atomic import torch_save, write_text
from .inversion.base import Inverter


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
        row["step"] = int(batch["step"]) if "step" in batch else trainer.global_step
        self.history.append(row)


class StepCheckpoint(pl.Callback):
    """Saves G_u's synthesis weights, the optimiser state and the completed step every `every_n_steps` steps
    (atomically: an interrupted save leaves the previous checkpoint intact), and restores them on resume."""

    def __init__(self, path: str | Path, every_n_steps: int = 50, resume_from: Optional[dict] = None) -> None:
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be ≥ 1, got {every_n_steps}")
        self.path = Path(path)
        self.every_n_steps = every_n_steps
        self.resume_from = resume_from

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.resume_from is not None:
            trainer.optimizers[0].load_state_dict(self.resume_from["optimizer"])

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, idx: int
    ) -> None:
        completed = int(batch["step"]) + 1
        if completed % self.every_n_steps == 0 and trainer.is_global_zero:
            torch_save(
                {
                    "step": completed,
                    "synthesis_state_dict": pl_module.unlearned_synthesis_state(),
                    "optimizer": trainer.optimizers[0].state_dict(),
                    "adversarial_latents": adversarial_latents(pl_module),
                },
                self.path,
            )


def adversarial_latents(pl_module: pl.LightningModule) -> Optional[torch.Tensor]:
    """The module's kept adversarial latents on the CPU (None for modules without them)."""
    found = getattr(pl_module, "w_adversarial", None)
    return found.detach().cpu().clone() if found is not None else None


def load_step_checkpoint(path: str | Path, pl_module: pl.LightningModule) -> dict:
    """Load a StepCheckpoint into `pl_module` (G_u's synthesis) and return it (step, optimizer state)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        pl_module.unlearned.synthesis.load_state_dict(state["synthesis_state_dict"])
        found = state.get("adversarial_latents")
        if found is not None and found.numel():
            pl_module.add_adversarial_latent(found)
    except Exception as error:  # noqa: BLE001 - any failure means the checkpoint cannot be trusted
        raise ValueError(f"cannot resume from {path}: {error}") from error
    return state


class IdentityCurve(pl.Callback):
    """Every `every_n_steps` steps (and before the first), judges G_u on w_u and w_others: cosine to G_s (ID,
    ID_others) and, with photos, the judge's distance to each photo and whether it still recognises the person;
    with a `second_judge`, the same from it (columns second_*, photo cosine instead of distance).
    Rows go to a CSV rewritten atomically, so the curve of an interrupted run is readable."""

    COLUMNS = ("step", "id", "id_others", "photo_distance", "photo_recognised")
    SECOND_COLUMNS = ("second_id", "second_id_others", "second_photo_cosine", "second_photo_recognised")

    def __init__(self, path: str | Path, judge: Any, every_n_steps: int, w_u: torch.Tensor, w_others: torch.Tensor,
                 photos: list, noise_mode: str = "const", second_judge: Any = None) -> None:
        self.path, self.judge, self.every_n_steps = Path(path), judge, every_n_steps
        self.second_judge = second_judge
        self.columns = self.COLUMNS + (self.SECOND_COLUMNS if second_judge is not None else ())
        self.latents = torch.cat([w_u, w_others]) if w_others is not None and w_others.numel() else w_u
        self.photos, self.noise_mode = photos, noise_mode
        self.rows: list[dict[str, float]] = []
        self._references: dict[int, tuple[list, list]] = {}  # per judge: G_s descriptions, photo descriptions

    def judged(self, judge: Any, source_images: Optional[torch.Tensor], images: torch.Tensor) -> dict[str, float]:
        """ID, ID_others and (with photos) x_u's distance and cosine and the fraction recognised, by `judge`
        (`source_images`, G_s of the latents, are needed the first time only)."""
        if id(judge) not in self._references:
            self._references[id(judge)] = ([judge.describe(img) for img in source_images],
                                           [judge.describe(p) for p in self.photos])
        source, photos = self._references[id(judge)]
        descriptions = [judge.describe(img) for img in images]
        cosines = [judge.compare_descriptions(s, d).cosine for s, d in zip(source, descriptions)]
        row = {"id": cosines[0], "id_others": sum(cosines[1:]) / len(cosines[1:]) if len(cosines) > 1 else float("nan")}
        if photos:
            comparisons = [judge.compare_descriptions(p, d) for p, d in zip(photos, descriptions)]
            row["photo_distance"], row["photo_cosine"] = comparisons[0].distance, comparisons[0].cosine
            row["photo_recognised"] = sum(c.same_person for c in comparisons) / len(comparisons)
        return row

    @torch.no_grad()
    def record(self, step: int, pl_module: pl.LightningModule) -> None:
        """Judge G_u now and append one row."""
        from .evaluation import render

        judges = [self.judge] + ([self.second_judge] if self.second_judge is not None else [])
        source_images = None
        if any(id(judge) not in self._references for judge in judges):
            source_images = render(pl_module.source, self.latents, self.noise_mode)
        was_training = pl_module.unlearned.training
        images = render(pl_module.unlearned.eval(), self.latents, self.noise_mode)
        pl_module.unlearned.train(was_training)
        row: dict[str, float] = {"step": step, **self.judged(self.judge, source_images, images)}
        if self.second_judge is not None:
            row.update({f"second_{k}": v for k, v in self.judged(self.second_judge, source_images, images).items()})
        self.rows.append(row)
        lines = [",".join(self.columns)]
        lines += [",".join(f"{r[c]:.6g}" if c in r else "" for c in self.columns) for r in self.rows]
        write_text(self.path, "\n".join(lines) + "\n")

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.is_global_zero:
            first = trainer.datamodule.start_step if trainer.datamodule is not None else 0
            if first == 0:
                self.record(0, pl_module)
            else:
                self.rows = self.earlier_rows(first)

    def earlier_rows(self, first: int) -> list[dict[str, float]]:
        """Rows of the steps up to `first` from the CSV of the interrupted run, so a resumed curve keeps them."""
        if not self.path.is_file():
            return []
        with open(self.path, newline="") as handle:
            rows = [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(handle)]
        return [row for row in rows if row.get("step", first + 1) <= first]

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, idx: int
    ) -> None:
        completed = int(batch["step"]) + 1
        if completed % self.every_n_steps == 0 and trainer.is_global_zero:
            self.record(completed, pl_module)


class AdversarialLatents(pl.Callback):
    """Every `every_n_steps` steps (not before the first), runs the re-inversion attack on the current G_u:
    `invert(image [1, 3, H, W], G_u)` → w_r, which the module unlearns from then on (add_adversarial_latent).

    `image` is the identity's aligned photo (or G_s(w_u) without photos); with a `judge`, each found latent is
    recorded with the judge's distance between the image and G_u(w_r) before it is unlearned. `invert` is a
    callable, or an `Inverter` whose k-th refresh draws from seed k (k ≥ 1, so no attack made during training
    repeats the evaluation's attacker at its seed 0). Every rank runs the same seeded inversion, so DDP
    replicas stay equal.
    """

    def __init__(self, image: torch.Tensor, invert: Any, every_n_steps: int, judge: Any = None,
                 noise_mode: str = "const") -> None:
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be ≥ 1, got {every_n_steps}")
        self.image, self.invert, self.every_n_steps = image, invert, every_n_steps
        self.judge, self.noise_mode = judge, noise_mode
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
        invert = self.invert
        if isinstance(invert, Inverter):
            invert = invert.reseeded(step // self.every_n_steps).invert
        with torch.enable_grad():
            if self.judge is not None:
                from .evaluation import reinvert

                w_r, _, comparison = reinvert(self.judge, self.image, unlearned, invert, self.noise_mode)
            else:
                w_r = invert(self.image.unsqueeze(0), unlearned)
        record = {"step": step, "latent_distance_to_w_u": float((pl_module.source.as_wplus(w_r.to(pl_module.w_u))
                                                                  - pl_module.w_u).flatten(1).norm(dim=1)[0])}
        if self.judge is not None:
            record["judge_distance"] = comparison.distance
        unlearned.train(was_training)
        pl_module.add_adversarial_latent(w_r)
        self.found.append(record)
        self.seconds += time.perf_counter() - started
