"""The configuration schema: every key, its type and its default (the only place defaults live), and `validate`.

Group files (generator/, method/, scenario/) and presets only override these; GuideSettings, the loss weights and
the step draws are derived from a resolved config (guide_pl.jobs.build), never given defaults of their own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

from omegaconf import DictConfig

from ..errors import ConfigError
from ..generators.base import NOISE_MODES
from ..method.losses import REDUCTIONS
from ..method.ufo import TARGET_MODES

SCENARIOS = ("random", "latent", "photos")
DISTANCE_UNITS = ("absolute", "typical")
WANDB_MODES = ("offline", "online", "disabled")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")
PRECISIONS = ("32-true", "32", "bf16-mixed", "16-mixed", "bf16-true", "16-true", "64-true", "64")


@dataclass
class NetConfig:
    """A network chosen by registry name, with builder options (checked against the builder's signature)."""

    name: Optional[str] = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class GeneratorConfig:
    name: str = "tiny"
    options: dict[str, Any] = field(default_factory=dict)
    truncation_psi: float = 1.0
    # The official loop leaves StyleGAN noise random (fresh each pass); "const" is deterministic.
    noise_mode: str = "const"


@dataclass
class MethodConfig:
    name: str = "guide"
    # `paper` re-applies the paper's settings (guide_pl/config/method/preset/paper.yaml) over the group files.
    preset: Optional[str] = None
    target: str = "extrapolate"  # extrapolate (UFO, Eq. 3) | average (baseline) | interpolate
    d: float = 30.0
    alpha_max: float = 15.0
    # "absolute": d and alpha_max are latent distances (the paper's, tuned on EG3D W+); "typical": multiples of
    # the generator's typical ‖Map(z) − w̄‖ over the whole W+ latent (measured), so one geometry fits any net.
    distance_unit: str = "absolute"
    use_local: bool = True
    use_adjacency: bool = True
    use_global: bool = True
    num_adjacent: int = 2
    num_global: int = 2
    lambda_l2: float = 1e-2
    lambda_per: float = 1.0
    lambda_id: float = 0.1
    lambda_adj: float = 1.0
    lambda_global: float = 1.0
    reduction: str = "mean"  # mean (Eqs. 7–8) | sum (the official code)
    lr: float = 1e-4
    # null: train the whole synthesis network (the paper); N: only its stages with output resolution ≤ N.
    trainable_max_resolution: Optional[int] = None
    # Beyond the paper (0 = off): every N steps, re-invert the identity's photo into the current G_u with the
    # scenario's inverter and unlearn the latent found too (Δ = w_r − w_u, weight λ_adversarial; the newest
    # `adversarial_memory` latents are kept). Costs one inversion per refresh and one latent per step and kept.
    adversarial_every_n_steps: int = 0
    lambda_adversarial: float = 1.0
    adversarial_memory: int = 3
    # The attacker of those refreshes: no name = the scenario's inverter with these options laid over its own
    # (e.g. options.start=sample: each refresh k sets out from a different face, seeded k); a name: as given.
    adversarial_inverter: NetConfig = field(default_factory=NetConfig)


@dataclass
class LossNetsConfig:
    perceptual: NetConfig = field(default_factory=lambda: NetConfig(name="lpips_vgg"))
    identity: NetConfig = field(default_factory=lambda: NetConfig(name="arcface"))


@dataclass
class ScenarioConfig:
    name: str = "random"  # random | latent | photos
    identity_seed: int = 0
    latent_path: Optional[str] = None
    photos: Optional[str] = None  # a folder (sorted: first = x_u, rest = x_o) or one image
    inverter: NetConfig = field(default_factory=lambda: NetConfig(name="optimize"))


@dataclass
class EvaluationConfig:
    enabled: bool = True
    judge: str = "dlib"  # identity evaluator for ID, ID_others, photo recognition, re-inversion
    # A second, independent judge of the same questions (no loss or inverter of the default uses it): "mobileface"
    # (`guide-pl fetch-weights mobileface`; on in the embedded default's config) or null. Reported under
    # metrics.json's "second_judge".
    second_judge: Optional[str] = None
    # IDENTITY_NETS name of the FID feature network; auto: "inception" (pytorch-fid's FID Inception) when its
    # weights are in checkpoints/, else "dlib_ffhq" descriptors. metrics.json reports the network used.
    fid_features: Optional[str] = "auto"
    fid_samples: int = 64
    real_images: Optional[str] = None  # folder of real aligned faces for ΔFID_real (null: not computed)
    reinversion: bool = True
    # The re-inversion attacker. No name: the scenario's inverter with these options laid over its own (e.g.
    # options.latent_space=wplus for a stronger attacker with free W+ rows); a name: that inverter as given.
    reinversion_inverter: NetConfig = field(default_factory=NetConfig)
    curve_every_n_steps: int = 10  # ID / recognition curve during training (0: off)
    grid_samples: int = 4
    seed: int = 1234


@dataclass
class TrainerConfig:
    max_steps: int = 1000
    chunk_size: Optional[int] = None  # latents per generator pass; None: all on GPU, 1 on CPU
    accelerator: str = "auto"
    devices: Any = 1
    strategy: str = "auto"
    precision: str = "32-true"
    seed: int = 0
    log_every_n_steps: int = 10
    progress_bar: bool = True
    checkpoint_every_n_steps: int = 50  # an interrupted run resumes from its last checkpoint
    # CPU threads for PyTorch (null: its default). 1 makes CPU runs reproducible bit for bit (docs/results.md);
    # more threads sum some reductions in a varying order.
    cpu_threads: Optional[int] = None


@dataclass
class LoggerConfig:
    wandb: bool = False
    wandb_mode: str = "offline"  # photos are real people: nothing leaves the machine unless a user says so
    project: str = "guide-pl"
    log_photos: bool = False


@dataclass
class RunConfig:
    root: str = "experiments"
    name: Optional[str] = None


@dataclass
class Config:
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    losses: LossNetsConfig = field(default_factory=LossNetsConfig)
    scenario: ScenarioConfig = field(default_factory=ScenarioConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    run: RunConfig = field(default_factory=RunConfig)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _devices_ok(devices: Any) -> bool:
    """Lightning's forms: a positive count, "auto", -1 (all), or a list of device indices."""
    if devices in ("auto", -1):
        return True
    if isinstance(devices, int):
        return devices >= 1
    if isinstance(devices, str):
        return devices.strip().lstrip("-").isdigit() or all(p.strip().isdigit() for p in devices.split(",") if p)
    return all(isinstance(d, int) and d >= 0 for d in devices)


def validate(cfg: DictConfig) -> None:
    """Refuse values that types alone do not pin down, with one line naming the key and what it must be."""
    m, ev, tr, gen = cfg.method, cfg.evaluation, cfg.trainer, cfg.generator
    lambdas = ("lambda_l2", "lambda_per", "lambda_id", "lambda_adj", "lambda_global", "lambda_adversarial")
    checks = [
        (m.target in TARGET_MODES, f"method.target must be one of {TARGET_MODES}, got {m.target!r}"),
        (m.reduction in REDUCTIONS, f"method.reduction must be one of {REDUCTIONS}, got {m.reduction!r}"),
        (m.distance_unit in DISTANCE_UNITS, f"method.distance_unit must be one of {DISTANCE_UNITS}"),
        (gen.noise_mode in NOISE_MODES, f"generator.noise_mode must be one of {NOISE_MODES}"),
        (_finite(gen.truncation_psi) and gen.truncation_psi > 0,
         f"generator.truncation_psi must be a positive finite number, got {gen.truncation_psi}"),
        (cfg.scenario.name in SCENARIOS, f"scenario.name must be one of {SCENARIOS}, got {cfg.scenario.name!r}"),
        (_finite(m.d) and m.d > 0, f"method.d must be positive and finite, got {m.d}"),
        (_finite(m.alpha_max) and m.alpha_max >= 0, f"method.alpha_max must be ≥ 0 and finite, got {m.alpha_max}"),
        (_finite(m.lr) and m.lr > 0, f"method.lr must be positive and finite, got {m.lr}"),
        *((_finite(m[key]) and m[key] >= 0, f"method.{key} must be ≥ 0 and finite, got {m[key]}") for key in lambdas),
        (m.num_adjacent >= 0 and m.num_global >= 0, "method.num_adjacent and method.num_global must be ≥ 0"),
        (m.trainable_max_resolution is None or m.trainable_max_resolution >= 1,
         "method.trainable_max_resolution must be ≥ 1 or null"),
        (m.adversarial_every_n_steps >= 0, "method.adversarial_every_n_steps must be ≥ 0 (0: off)"),
        (m.adversarial_memory >= 1, "method.adversarial_memory must be ≥ 1"),
        (tr.max_steps >= 1, "trainer.max_steps must be ≥ 1"),
        (tr.checkpoint_every_n_steps >= 1, "trainer.checkpoint_every_n_steps must be ≥ 1"),
        (tr.log_every_n_steps >= 1, "trainer.log_every_n_steps must be ≥ 1"),
        (tr.chunk_size is None or tr.chunk_size >= 1, "trainer.chunk_size must be ≥ 1 or null"),
        (tr.cpu_threads is None or tr.cpu_threads >= 1, "trainer.cpu_threads must be ≥ 1 or null"),
        (tr.accelerator in ACCELERATORS, f"trainer.accelerator must be one of {ACCELERATORS}, got {tr.accelerator!r}"),
        (_devices_ok(tr.devices), f"trainer.devices must be a positive count, auto, -1 or device indices, got "
                                  f"{tr.devices!r}"),
        (tr.precision in PRECISIONS, f"trainer.precision must be one of {PRECISIONS}, got {tr.precision!r}"),
        (ev.fid_samples >= 2 or not ev.fid_features, "evaluation.fid_samples must be ≥ 2"),
        (ev.grid_samples >= 0, f"evaluation.grid_samples must be ≥ 0, got {ev.grid_samples}"),
        (ev.curve_every_n_steps >= 0, "evaluation.curve_every_n_steps must be ≥ 0"),
        (cfg.logger.wandb_mode in WANDB_MODES, f"logger.wandb_mode must be one of {WANDB_MODES}"),
        (bool(cfg.run.root), "run.root must name a folder"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
