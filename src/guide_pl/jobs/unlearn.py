"""The main job: build → identity → fit → save → evaluate → report, in one run folder that resumes after a kill."""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Any, Optional

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf

from .. import atomic
from ..evaluation.curve import IdentityCurve
from ..evaluation.report import evaluate, inversion_lines, summary_table
from ..method.callbacks import AdversarialLatents, LossHistory, RunCheckpoint, StepTimer
from ..method.data import UnlearnDataModule
from ..method.identity import Identity
from ..method.module import GuideModule
from . import build
from .rundir import RunFolder, open_run_folder, save_unlearned

# Intentional, and noise on the user's screen: draws are generated in-process, G_s and the loss networks stay in
# eval mode, the loss log has its own interval, and Lightning's pytree helper uses an API torch deprecated.
QUIET_WARNINGS = (".*does not have many workers.*", ".*module\\(s\\) in eval mode.*",
                  ".*smaller than the logging interval.*", ".*LeafSpec.*is deprecated.*")


def unlearn(cfg: DictConfig) -> Path:
    """Run GUIDE as configured; writes config.yaml, unlearned.pt, metrics.json (and grid.png, curve.csv, logs)."""
    started = time.perf_counter()
    build.check_machine(cfg)
    with open_run_folder(cfg) as run:
        if run.finished:
            print(f"run {run.path} has already finished; remove its metrics.json to evaluate it again")
            print(summary_table(json.loads((run.path / "metrics.json").read_text()), run.path))
        else:
            _phases(cfg, run, started)
    return run.path


def _phases(cfg: DictConfig, run: RunFolder, started: float) -> None:
    """The phases of one run inside its (locked) folder."""
    pl.seed_everything(cfg.trainer.seed, workers=True, verbose=False)
    if cfg.trainer.cpu_threads is not None:
        torch.set_num_threads(cfg.trainer.cpu_threads)
    progress = bool(cfg.trainer.progress_bar)

    # 1. The generator and the judges: a bad name or missing weights fails now, not after inversion and training.
    print(f"[1/5] generator {cfg.generator.name}")
    generator = build.build_generator(cfg)
    judge, second_judge = build.build_judges(cfg) if cfg.evaluation.enabled else (None, None)
    scale = build.latent_scale(cfg, generator)
    settings = build.guide_settings(cfg, scale)
    local_loss = build.build_local_loss(cfg, settings)

    # 2. The identity: w_u and the others' latents (photos are aligned and inverted, with a recognition check).
    print(f"[2/5] identity {build.identity_label(cfg)}"
          + (": aligning and inverting photos" if cfg.scenario.name == "photos" else ""))
    identity = build.build_identity(cfg, generator, progress)
    names = [p.name for p in identity.photo_paths]
    if judge is not None and identity.photo_list:
        print("\n".join(inversion_lines(judge, generator, identity.latents, identity.photo_list, names, second_judge)))

    # 3. Fit G_u, resuming from the folder's checkpoint when it has one.
    module = GuideModule(generator, identity.w_u, local_loss, settings)
    timer, history = StepTimer(), LossHistory(run.path / "logs" / "metrics.csv", cfg.trainer.log_every_n_steps)
    adversary = _adversary(cfg, identity, generator, judge, progress)
    checkpoint = RunCheckpoint(run.checkpoint, cfg.trainer.checkpoint_every_n_steps,
                               keep=[timer, history, *([adversary] if adversary else [])])
    start_step = checkpoint.resume(module)
    if start_step:
        print(f"      resuming {run.path} from step {start_step}")
    remaining = cfg.trainer.max_steps - start_step
    # The adversary runs before the timer's step start, so seconds_per_step stays the cost of a GUIDE step.
    callbacks: list[Any] = [*([adversary] if adversary else []), timer, history, checkpoint]
    if judge is not None and cfg.evaluation.curve_every_n_steps > 0:
        callbacks.append(IdentityCurve(run.path / "curve.csv", judge, cfg.evaluation.curve_every_n_steps,
                                       identity.w_u, identity.w_others, identity.photo_list, second_judge))
    trainer = _trainer(cfg, run.path, callbacks, remaining)
    print(f"[3/5] unlearning: {cfg.method.name}, {remaining} steps")
    if remaining > 0:
        with warnings.catch_warnings():
            for message in QUIET_WARNINGS:
                warnings.filterwarnings("ignore", message=message)
            trainer.fit(module, datamodule=UnlearnDataModule(settings, generator.z_dim, start_step))
    if not trainer.is_global_zero:
        return

    # 4. Save G_u, then evaluate it against G_s.
    save_unlearned(run.path / "unlearned.pt", cfg, module.unlearned_synthesis_state(), module.w_u.cpu(),
                   module.w_t.cpu(), identity.w_others, settings.d)
    first, last = (history.history[0], history.history[-1]) if history.history else ({}, {})
    metrics: dict[str, Any] = {
        "generator": cfg.generator.name,
        "method": cfg.method.name,
        "identity": build.identity_label(cfg),
        "steps": start_step + trainer.global_step,
        "resumed_from_step": start_step or None,
        "loss_first_step": {k: v for k, v in first.items() if k != "step"},
        "loss_last_step": {k: v for k, v in last.items() if k != "step"},
        "target_distance_to_w_avg": float((module.w_t - generator.w_avg).flatten(1).norm(dim=1)[0]),
        "latent_scale": scale,
        "d_absolute": settings.d,
        "alpha_max_absolute": settings.alpha_max,
        "seconds_inversion": identity.seconds_inversion,
        **timer.summary(),
    }
    if adversary is not None:
        metrics["adversarial_latents"], metrics["seconds_adversarial"] = adversary.found, adversary.seconds
    if judge is not None:
        print("[4/5] evaluating")
        objects = build.evaluation_objects(cfg, judge, second_judge, module.source, module.unlearned.eval(), identity,
                                     names, settings.d, progress)
        metrics.update(evaluate(objects, run.path / "grid.png"))

    # 5. Results: metrics.json last (a run is finished when it exists), then the summary.
    metrics["seconds_total"] = time.perf_counter() - started
    atomic.write_json(run.path / "metrics.json", metrics)
    _log_to_wandb(cfg, trainer, metrics, run.path)
    print("[5/5] done")
    print(summary_table(metrics, run.path))


def _adversary(cfg: DictConfig, identity: Identity, generator: Any, judge: Any,
               progress: bool) -> Optional[AdversarialLatents]:
    """The adversarial-latents callback (an extension, off by default): the re-inversion attack made during
    training, on x_u (or G_s(w_u) without photos), judged when there is a judge."""
    if cfg.method.adversarial_every_n_steps <= 0:
        return None
    from ..evaluation.measures import reinvert, render

    image = identity.photo_list[0] if identity.photo_list else render(generator, identity.w_u[:1])[0]
    inverter = build.build_inverter(cfg, progress, role="adversary", cached=False)

    def attack(unlearned: Any, refresh: int) -> tuple[torch.Tensor, Optional[float]]:
        invert = inverter.reseeded(refresh).invert
        if judge is None:
            return invert(image.unsqueeze(0), unlearned), None
        w_r, _, comparison = reinvert(judge, image, unlearned, invert)
        return w_r, comparison.distance

    return AdversarialLatents(attack, cfg.method.adversarial_every_n_steps)


def _trainer(cfg: DictConfig, run_dir: Path, callbacks: list[Any], remaining: int) -> pl.Trainer:
    """Lightning's Trainer for the remaining steps (the loss log is our own; wandb only when asked)."""
    loggers: list[Any] = []
    if cfg.logger.wandb:
        from pytorch_lightning.loggers import WandbLogger

        loggers.append(WandbLogger(project=cfg.logger.project, save_dir=str(run_dir), mode=cfg.logger.wandb_mode,
                                   config=OmegaConf.to_container(cfg, resolve=True)))
    return pl.Trainer(
        max_steps=max(remaining, 1), max_epochs=1, accelerator=cfg.trainer.accelerator, devices=cfg.trainer.devices,
        strategy=cfg.trainer.strategy, precision=cfg.trainer.precision, logger=loggers or False,
        callbacks=callbacks, enable_checkpointing=False, enable_progress_bar=bool(cfg.trainer.progress_bar),
        enable_model_summary=False, log_every_n_steps=cfg.trainer.log_every_n_steps, default_root_dir=str(run_dir),
    )


def _log_to_wandb(cfg: DictConfig, trainer: pl.Trainer, metrics: dict[str, Any], run_dir: Path) -> None:
    """Numbers go to wandb when it is on; the grid (real photos) only with logger.log_photos=true."""
    from pytorch_lightning.loggers import WandbLogger

    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            numbers = {f"eval/{k}": v for k, v in metrics.items() if isinstance(v, (int, float)) and v is not None}
            logger.experiment.summary.update(numbers)
            if cfg.logger.log_photos and (run_dir / "grid.png").is_file():
                logger.log_image("eval/grid", [str(run_dir / "grid.png")])
