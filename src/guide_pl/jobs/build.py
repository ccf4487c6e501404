"""The composition root: a resolved config → the generator, losses, settings, identity, inverters and judges.

Every command and tool builds its objects here, so a config key is read in one place. Problems a user can fix
(an unknown judge, missing weights, a global loss without a perceptual network) fail here, before any work.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import torch
from omegaconf import DictConfig, OmegaConf

from ..errors import ConfigError, MachineError
from ..generators.base import FaceGenerator
from ..inversion.base import Inverter
from ..method.identity import Identity, latent_identity, list_photos, photo_identity, random_identity
from ..method.losses import LocalLoss, LossWeights
from ..method.settings import GuideSettings
from ..method.ufo import target_latent


def options(node: Optional[DictConfig]) -> dict:
    """A config node of builder options as a plain dict."""
    return OmegaConf.to_container(node, resolve=True) if node is not None else {}


# -- the machine ----------------------------------------------------------------------------------------------
def check_machine(cfg: DictConfig) -> None:
    """Refuse an accelerator, device count or strategy this machine cannot give, before any work."""
    from pytorch_lightning.strategies import StrategyRegistry

    trainer = cfg.trainer
    accelerator = trainer.accelerator
    gpus = torch.cuda.device_count()
    if accelerator in ("gpu", "cuda") and gpus == 0:
        raise MachineError(f"trainer.accelerator={accelerator}, but this machine has no CUDA GPU (use cpu or auto)")
    if accelerator == "mps" and not torch.backends.mps.is_available():
        raise MachineError("trainer.accelerator=mps, but MPS is not available on this machine")
    devices = trainer.devices
    uses_gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and gpus > 0)
    available = gpus if uses_gpu else (os.cpu_count() or 1)
    if isinstance(devices, str) and devices.strip().lstrip("-").isdigit():
        devices = int(devices)  # Lightning's "2": a count
    elif isinstance(devices, str) and devices != "auto":
        devices = [int(p) for p in devices.split(",") if p.strip()]  # Lightning's "0,1" or "1,": indices
    wanted = devices if isinstance(devices, int) and devices > 0 else None
    if isinstance(devices, (list, tuple)) or OmegaConf.is_list(devices):
        wanted = max(devices) + 1 if len(devices) else None
    if wanted is not None and wanted > available:
        kind = "CUDA GPUs" if uses_gpu else "CPU cores"
        raise MachineError(f"trainer.devices={devices} asks for {wanted} devices; this machine has {available} {kind}")
    strategies = ["auto", *StrategyRegistry.available_strategies()]
    if trainer.strategy not in strategies:
        raise ConfigError(f"unknown trainer.strategy {trainer.strategy!r}; valid: {', '.join(strategies)}")


# -- generator, settings, losses ------------------------------------------------------------------------------
def build_generator(cfg: DictConfig) -> FaceGenerator:
    """The configured generator (G_s), with its noise mode."""
    from ..generators import build_generator as build

    generator = build(cfg.generator.name, **options(cfg.generator.options))
    generator.noise_mode = cfg.generator.noise_mode
    return generator


def latent_scale(cfg: DictConfig, generator: FaceGenerator) -> float:
    """1 for `distance_unit: absolute`; else the generator's typical ‖Map(z) − w̄‖ (whole W+, 1000 seeded z)."""
    if cfg.method.distance_unit == "absolute":
        return 1.0
    return generator.typical_distance(num_samples=1000, seed=0)


def loss_weights(cfg: DictConfig) -> LossWeights:
    """The λ's and the reduction of the method section."""
    m = cfg.method
    return LossWeights(lambda_l2=m.lambda_l2, lambda_per=m.lambda_per, lambda_id=m.lambda_id, lambda_adj=m.lambda_adj,
                       lambda_global=m.lambda_global, lambda_adversarial=m.lambda_adversarial, reduction=m.reduction)


def guide_settings(cfg: DictConfig, scale: float) -> GuideSettings:
    """GuideSettings from the method, generator and trainer sections; d and α_max times `scale` (absolute)."""
    m = cfg.method
    return GuideSettings(
        target=m.target,
        d=m.d * scale,
        alpha_max=m.alpha_max * scale,
        num_adjacent=m.num_adjacent if m.use_adjacency else 0,
        num_global=m.num_global if m.use_global else 0,
        use_local=m.use_local,
        lr=m.lr,
        trainable_max_resolution=m.trainable_max_resolution,
        adversarial_memory=m.adversarial_memory,
        truncation_psi=cfg.generator.truncation_psi,
        chunk_size=cfg.trainer.chunk_size,
        max_steps=cfg.trainer.max_steps,
        seed=cfg.trainer.seed,
        weights=loss_weights(cfg),
    )


def build_local_loss(cfg: DictConfig, settings: GuideSettings) -> LocalLoss:
    """The local-loss module (Eq. 4) with the configured perceptual and identity networks."""
    from ..faces import build_identity, build_perceptual
    from ..faces.identity_distance import CosineIdentityDistance

    m, nets = cfg.method, cfg.losses
    needs_perceptual = m.lambda_per > 0 or settings.num_global > 0
    perceptual = identity = None
    if needs_perceptual and nets.perceptual.name:
        perceptual = build_perceptual(nets.perceptual.name, **options(nets.perceptual.options))
    if settings.num_global > 0 and perceptual is None:
        raise ConfigError("the global preservation loss (Eq. 8) needs a perceptual network: set "
                          "losses.perceptual.name, or method.use_global=false")
    if m.lambda_id > 0 and nets.identity.name:
        identity = CosineIdentityDistance(build_identity(nets.identity.name, **options(nets.identity.options)))
    return LocalLoss(perceptual, identity, settings.weights)


def ufo_targets(cfg: DictConfig, latents: torch.Tensor, source: FaceGenerator, d: float) -> torch.Tensor:
    """The UFO target of each latent (Eq. 3, or the ablation's), with the run's absolute d."""
    return target_latent(latents, source.w_avg.cpu(), cfg.method.target, d)


# -- identity, inverters, judges ------------------------------------------------------------------------------
def build_inverter(cfg: DictConfig, progress: bool, role: str = "scenario", cached: bool = True) -> Inverter:
    """The scenario's inverter (optimisation by default); role "attacker" lays evaluation.reinversion_inverter
    over it (the re-inversion attack), "adversary" method.adversarial_inverter (training's attacks); wrapped in
    the on-disk cache under run.root unless `cached` is False."""
    from ..inversion import CachedInverter
    from ..inversion import build_inverter as build

    name, opts = cfg.scenario.inverter.name, options(cfg.scenario.inverter.options)
    if role != "scenario":
        overlay = {"attacker": cfg.evaluation.reinversion_inverter, "adversary": cfg.method.adversarial_inverter}[role]
        if overlay.name:
            name, opts = overlay.name, {}
        opts.update(options(overlay.options))
    if name == "optimize":
        opts.setdefault("progress", progress)
    inverter = build(name, **opts)
    return CachedInverter(inverter, Path(cfg.run.root) / ".cache" / "inversions") if cached else inverter


def make_aligner(size: int):
    """Photo path → FFHQ-aligned tensor [3, size, size] in [-1, 1] (dlib detection and landmarks)."""
    from ..faces.align import align_face
    from ..images import pil_to_tensor

    def align(path: Path) -> torch.Tensor:
        return pil_to_tensor(align_face(path, size=size).image)

    return align


def identity_label(cfg: DictConfig) -> str:
    """A short name for the identity being unlearned (run names, metrics)."""
    s = cfg.scenario
    if s.name == "random":
        return f"random:{s.identity_seed}"
    if s.name == "latent":
        return Path(s.latent_path or "latent").stem
    return Path(s.photos or "photos").name


def build_identity(cfg: DictConfig, generator: FaceGenerator, progress: bool) -> Identity:
    """w_u, the others' latents and the photos of the configured scenario (photos are aligned and inverted)."""
    s = cfg.scenario
    if s.name == "random":
        return random_identity(generator, s.identity_seed, cfg.generator.truncation_psi)
    if s.name == "latent":
        if not s.latent_path:
            raise ConfigError("scenario 'latent' needs scenario.latent_path")
        return latent_identity(s.latent_path, generator)
    if not s.photos:
        raise ConfigError("scenario 'photos' needs scenario.photos (a folder or an image), or use id=NAME")
    paths = list_photos(s.photos)
    return photo_identity(paths, generator, make_aligner(generator.resolution), build_inverter(cfg, progress))


def build_judges(cfg: DictConfig) -> tuple[Any, Optional[Any]]:
    """The judge of the metrics (evaluation.judge) and the independent second judge, or None."""
    from ..errors import UnknownNameError
    from ..evaluation.judges import JUDGES, build_judge

    judges = []
    for key in ("judge", "second_judge"):
        name = cfg.evaluation[key]
        if name is None:
            judges.append(None)
            continue
        try:
            judges.append(build_judge(name))
        except UnknownNameError:
            valid = ", ".join(JUDGES.names() + (["null"] if key == "second_judge" else []))
            raise ConfigError(f"unknown evaluation.{key} {name!r}; valid: {valid}") from None
    if judges[0] is None:
        raise ConfigError("evaluation.judge must name a judge (evaluation.enabled=false turns evaluation off)")
    return judges[0], judges[1]


# -- evaluation ------------------------------------------------------------------------------------------------
def evaluation_objects(cfg: DictConfig, judge: Any, second_judge: Any, source: Any, unlearned: Any,
                       identity: Identity, names: list[str], d: float, progress: bool) -> Any:
    """What `evaluate` needs for this config: the attacker, the FID features and real images, the UFO targets."""
    from ..evaluation.report import EvaluationObjects
    from ..faces.inception import resolve_fid_features
    from ..images import load_image_tensor

    ev = cfg.evaluation
    latents = identity.latents
    real = ([load_image_tensor(p, size=source.resolution) for p in list_photos(ev.real_images)]
            if ev.real_images else [])
    attacker = build_inverter(cfg, progress, role="attacker") if ev.reinversion and identity.photo_list else None
    return EvaluationObjects(
        judge=judge, second_judge=second_judge, source=source, unlearned=unlearned, latents=latents,
        targets=ufo_targets(cfg, latents, source, d), photos=identity.photo_list, photo_names=names,
        attacker=attacker, fid_features=resolve_fid_features(ev.fid_features), fid_samples=ev.fid_samples,
        real_images=real, grid_samples=ev.grid_samples, seed=ev.seed, truncation_psi=cfg.generator.truncation_psi,
        progress=progress,
    )
