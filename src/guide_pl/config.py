"""OmegaConf schema, loading with config groups, strict validation and `key=value` overrides."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Optional

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, ValidationError

CONFIG_DIR_ENV = "GUIDE_PL_CONFIG_DIR"
GROUPS = ("generator", "method", "scenario")


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
    # `paper` re-applies the paper's settings (configs/method/preset/paper.yaml) over the group files.
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
    # CPU threads for PyTorch (null: its default). 1 makes CPU runs reproducible bit for bit (README, "Random
    # draws"); more threads sum some reductions in a varying order.
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


class ConfigError(ValueError):
    """A config problem a user can fix: unknown key, bad value, missing group file."""


def config_dir() -> Path:
    """Folder of YAML configs: $GUIDE_PL_CONFIG_DIR, ./configs, or the repository's configs/."""
    if os.environ.get(CONFIG_DIR_ENV):
        return Path(os.environ[CONFIG_DIR_ENV])
    local = Path.cwd() / "configs"
    if (local / "default.yaml").is_file():
        return local
    return Path(__file__).resolve().parents[2] / "configs"


def _schema_keys(schema: Any, dotted: str) -> list[str]:
    """Valid keys at `dotted` (e.g. "method") of the dataclass schema."""
    node = schema
    for part in [p for p in dotted.split(".") if p]:
        types = {f.name: f for f in fields(node)}
        if part not in types:
            return []
        node = types[part].default_factory() if callable(types[part].default_factory) else types[part].default
        if not is_dataclass(node):
            return []
    return [f.name for f in fields(node)] if is_dataclass(node) else []


def _explain(error: Exception) -> ConfigError:
    """Turn an OmegaConf error into one that names the bad key and lists the valid ones."""
    key = getattr(error, "full_key", None) or ""
    parent = key.rsplit(".", 1)[0] if "." in key else ""
    valid = _schema_keys(Config(), parent)
    where = f"'{parent}'" if parent else "the top level"
    if isinstance(error, (ConfigAttributeError, ConfigKeyError)):
        return ConfigError(f"unknown config key '{key}'; valid keys in {where}: {', '.join(valid)}")
    return ConfigError(f"bad value for '{key}': {error.msg if hasattr(error, 'msg') else error}")


def _merge(base: DictConfig, *others: Any) -> DictConfig:
    try:
        return OmegaConf.merge(base, *others)
    except (ConfigAttributeError, ConfigKeyError, ValidationError) as error:
        raise _explain(error) from None


def _parse_dotlist(dotted: list[str]) -> DictConfig:
    try:
        return OmegaConf.from_dotlist(dotted)
    except Exception as error:  # noqa: BLE001 - grammar errors from the dotlist parser
        raise ConfigError(f"cannot parse overrides {dotted}: {error}") from None


def _load_yaml(path: Path) -> DictConfig:
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    return OmegaConf.load(path)


def available(group: str, directory: Optional[Path] = None) -> list[str]:
    """Names of the YAML files in config group `group`."""
    folder = (directory or config_dir()) / group
    return sorted(p.stem for p in folder.glob("*.yaml"))


def identities_dir() -> Path:
    """Folder of shipped identities: $GUIDE_PL_IDENTITIES, ./data/identities, or the repository's."""
    if os.environ.get("GUIDE_PL_IDENTITIES"):
        return Path(os.environ["GUIDE_PL_IDENTITIES"])
    local = Path.cwd() / "data" / "identities"
    return local if local.is_dir() else Path(__file__).resolve().parents[2] / "data" / "identities"


def shipped_identities(folder: Optional[Path] = None) -> list[str]:
    """Names of the identities (sub-folders) in `folder`, by default the shipped ones in data/identities/."""
    folder = folder or identities_dir()
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def identity_overrides(value: str) -> list[str]:
    """`id=VALUE` → scenario overrides: `random:<seed>`, a shipped identity name, or a folder/file of photos."""
    if value.startswith("random:"):
        seed = value.split(":", 1)[1]
        if not seed.lstrip("-").isdigit():
            raise ConfigError(f"id={value}: expected random:<integer seed>")
        return ["scenario=random", f"scenario.identity_seed={seed}"]
    shipped = identities_dir() / value
    path = shipped if shipped.is_dir() else Path(value)
    if not path.exists():
        raise ConfigError(
            f"id={value} is neither random:<seed>, a shipped identity ({', '.join(shipped_identities())}), "
            "nor an existing folder or image"
        )
    return ["scenario=photos", f"scenario.photos={path}"]


def load_config(overrides: Sequence[str] = (), directory: Optional[Path] = None) -> DictConfig:
    """Schema ← configs/default.yaml ← chosen group files ← `key=value` overrides, all strictly checked.

    `group=name` (generator, method, scenario) loads configs/<group>/<name>.yaml, a fragment of the whole
    config (a generator file may also set the loss networks that fit it). Other overrides are dotted keys.
    """
    directory = directory or config_dir()
    cfg = OmegaConf.structured(Config)
    default = _load_yaml(directory / "default.yaml")
    # default.yaml's `defaults:` names the group files used when the command line chooses none.
    chosen = OmegaConf.to_container(default.pop("defaults", None) or OmegaConf.create({}))
    unknown_groups = sorted(set(chosen) - set(GROUPS))
    if unknown_groups:
        raise ConfigError(f"unknown config group(s) {unknown_groups} in default.yaml; valid: {', '.join(GROUPS)}")
    groups = {group: chosen.get(group) for group in GROUPS}
    dotted = []
    expanded: list[str] = []
    for item in overrides:
        if item.startswith("id="):
            expanded.extend(identity_overrides(item[3:]))
        else:
            expanded.append(item)
    for item in expanded:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key=value")
        key, value = item.split("=", 1)
        if key in GROUPS:
            groups[key] = value
        else:
            dotted.append(f"{key}={value}")
    cfg = _merge(cfg, default)
    for group in GROUPS:
        name = groups[group]
        if name is None:
            continue
        path = directory / group / f"{name}.yaml"
        if not path.is_file():
            raise ConfigError(f"no {group} config {name!r}; available: {', '.join(available(group, directory))}")
        cfg = _merge(cfg, _load_yaml(path))
    cli = _parse_dotlist(dotted)
    cfg = _merge(cfg, cli)
    if cfg.method.preset:
        # The preset sits above the group files; explicit command-line keys still win.
        path = directory / "method" / "preset" / f"{cfg.method.preset}.yaml"
        if not path.is_file():
            names = ", ".join(available("method/preset", directory))
            raise ConfigError(f"no method preset {cfg.method.preset!r}; available: {names}")
        cfg = _merge(cfg, _load_yaml(path), cli)
    validate(cfg)
    return cfg


def validate(cfg: DictConfig) -> None:
    """Check values that types alone do not pin down."""
    from .generators.base import NOISE_MODES
    from .losses import REDUCTIONS
    from .ufo import TARGET_MODES

    checks = [
        (cfg.method.target in TARGET_MODES, f"method.target must be one of {TARGET_MODES}"),
        (cfg.method.reduction in REDUCTIONS, f"method.reduction must be one of {REDUCTIONS}"),
        (cfg.method.distance_unit in ("absolute", "typical"), "method.distance_unit must be absolute or typical"),
        (cfg.generator.noise_mode in NOISE_MODES, f"generator.noise_mode must be one of {NOISE_MODES}"),
        (cfg.scenario.name in ("random", "latent", "photos"), "scenario.name must be random, latent or photos"),
        (cfg.method.d > 0, "method.d must be positive"),
        (cfg.method.alpha_max >= 0, "method.alpha_max must be ≥ 0"),
        (cfg.method.lr > 0, "method.lr must be positive"),
        (cfg.method.num_adjacent >= 0 and cfg.method.num_global >= 0, "num_adjacent/num_global must be ≥ 0"),
        (cfg.method.adversarial_every_n_steps >= 0, "method.adversarial_every_n_steps must be ≥ 0 (0: off)"),
        (cfg.method.adversarial_memory >= 1, "method.adversarial_memory must be ≥ 1"),
        (cfg.method.lambda_adversarial >= 0, "method.lambda_adversarial must be ≥ 0"),
        (cfg.trainer.max_steps >= 1, "trainer.max_steps must be ≥ 1"),
        (cfg.trainer.checkpoint_every_n_steps >= 1, "trainer.checkpoint_every_n_steps must be ≥ 1"),
        (cfg.evaluation.fid_samples >= 2 or not cfg.evaluation.fid_features, "evaluation.fid_samples must be ≥ 2"),
        (cfg.evaluation.curve_every_n_steps >= 0, "evaluation.curve_every_n_steps must be ≥ 0"),
        (cfg.trainer.chunk_size is None or cfg.trainer.chunk_size >= 1, "trainer.chunk_size must be ≥ 1 or null"),
        (cfg.trainer.cpu_threads is None or cfg.trainer.cpu_threads >= 1, "trainer.cpu_threads must be ≥ 1 or null"),
        (cfg.logger.wandb_mode in ("offline", "online", "disabled"), "logger.wandb_mode: offline|online|disabled"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)


def to_yaml(cfg: DictConfig) -> str:
    """The resolved config as YAML (written into every run folder)."""
    return OmegaConf.to_yaml(cfg, resolve=True)


def load_saved_config(path: str | Path, overrides: Sequence[str] = ()) -> DictConfig:
    """A run's saved config.yaml over the schema, with dotted `key=value` overrides, strictly checked."""
    path = Path(path)
    cfg = _merge(OmegaConf.structured(Config), _load_yaml(path))
    bad = [item for item in overrides if "=" not in item]
    if bad:
        raise ConfigError(f"override {bad[0]!r} is not of the form key=value")
    cfg = _merge(cfg, _parse_dotlist(list(overrides)))
    validate(cfg)
    return cfg
