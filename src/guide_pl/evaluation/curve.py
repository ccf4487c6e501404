"""The identity curve during training: how the judges see G_u every few steps (curve.csv)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Optional

import pytorch_lightning as pl
import torch

from ..atomic import write_text
from .measures import render


class IdentityCurve(pl.Callback):
    """Every `every_n_steps` steps (and before the first), judges G_u on w_u and w_others: cosine to G_s (ID,
    ID_others) and, with photos, the judge's distance to each photo and whether it still recognises the person;
    with a `second_judge`, the same from it (columns second_*, photo cosine instead of distance).
    Rows go to a CSV rewritten atomically, so the curve of an interrupted run is readable."""

    COLUMNS = ("step", "id", "id_others", "photo_distance", "photo_recognised")
    SECOND_COLUMNS = ("second_id", "second_id_others", "second_photo_cosine", "second_photo_recognised")

    def __init__(self, path: str | Path, judge: Any, every_n_steps: int, w_u: torch.Tensor, w_others: torch.Tensor,
                 photos: list, second_judge: Any = None) -> None:
        self.path, self.judge, self.every_n_steps = Path(path), judge, every_n_steps
        self.second_judge = second_judge
        self.columns = self.COLUMNS + (self.SECOND_COLUMNS if second_judge is not None else ())
        self.latents = torch.cat([w_u, w_others]) if w_others is not None and w_others.numel() else w_u
        self.photos = photos
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
        judges = [self.judge] + ([self.second_judge] if self.second_judge is not None else [])
        source_images = None
        if any(id(judge) not in self._references for judge in judges):
            source_images = render(pl_module.source, self.latents)
        was_training = pl_module.unlearned.training
        images = render(pl_module.unlearned.eval(), self.latents)
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
