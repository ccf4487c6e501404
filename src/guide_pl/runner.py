"""The main job, end to end: align → invert → UFO → LTU fit → evaluate → metrics.json, grid.png."""

from __future__ import annotations

import os
import re
import time
import warnings
from pathlib import Path
from typing import Any, Optional

import torch
from omegaconf import DictConfig, OmegaConf

from . import atomic
from .config import to_yaml
from .generators.base import FaceGenerator
from .inversion.base import Inverter


def options(node: Optional[DictConfig]) -> dict:
    """A config node of builder options as a plain dict."""
    return OmegaConf.to_container(node, resolve=True) if node is not None else {}


# -- building the pieces ----------------------------------------------------------------------------------
def build_local_loss(cfg: DictConfig):
    """The local-loss module (Eq. 4) with the configured perceptual and identity networks."""
    from .faces import build_identity, build_perceptual
    from .faces.identity_distance import CosineIdentityDistance
    from .losses import LocalLoss

    m = cfg.method
    needs_perceptual = m.lambda_per > 0 or (m.use_global and m.num_global > 0)
    perceptual = identity = None
    if needs_perceptual and cfg.losses.perceptual.name:
        perceptual = build_perceptual(cfg.losses.perceptual.name, **options(cfg.losses.perceptual.options))
    if m.lambda_id > 0 and cfg.losses.identity.name:
        identity = CosineIdentityDistance(build_identity(cfg.losses.identity.name,
                                                         **options(cfg.losses.identity.options)))
    return LocalLoss(perceptual, identity, loss_weights(cfg))


def loss_weights(cfg: DictConfig):
    """LossWeights from the method section."""
    from .losses import LossWeights

    m = cfg.method
    return LossWeights(lambda_l2=m.lambda_l2, lambda_per=m.lambda_per, lambda_id=m.lambda_id, lambda_adj=m.lambda_adj,
                       lambda_global=m.lambda_global, lambda_adversarial=m.lambda_adversarial, reduction=m.reduction)


def latent_scale(cfg: DictConfig, generator: FaceGenerator) -> float:
    """1 for `distance_unit: absolute`; else the generator's typical ‖Map(z) − w̄‖ (whole W+, 1000 seeded z)."""
    if cfg.method.distance_unit == "absolute":
        return 1.0
    return generator.typical_distance(num_samples=1000, seed=0)


def guide_settings(cfg: DictConfig, scale: float = 1.0):
    """GuideSettings from the method, generator and trainer sections; d and α_max times `scale`."""
    from .module import GuideSettings

    m = cfg.method
    return GuideSettings(
        target=m.target,
        d=m.d * scale,
        alpha_max=m.alpha_max * scale,
        num_adjacent=m.num_adjacent,
        num_global=m.num_global,
        use_local=m.use_local,
        use_adjacency=m.use_adjacency,
        use_global=m.use_global,
        lr=m.lr,
        trainable_max_resolution=m.trainable_max_resolution,
        adversarial_memory=m.adversarial_memory,
        noise_mode=cfg.generator.noise_mode,
        truncation_psi=cfg.generator.truncation_psi,
        chunk_size=cfg.trainer.chunk_size,
        weights=loss_weights(cfg),
    )


class CachedInverter(Inverter):
    """An inverter whose results are cached on disk by generator weights, image bytes and settings."""

    def __init__(self, inner: Inverter, cache_dir: Path) -> None:
        self.inner, self.cache_dir = inner, cache_dir

    def invert(self, images: torch.Tensor, generator: FaceGenerator) -> torch.Tensor:
        from .inversion import cached_invert

        return cached_invert(self.inner, images, generator, self.cache_dir)

    def reseeded(self, seed: int) -> Inverter:
        """The inner inverter reseeded, cached in the same folder (its settings, seed included, key the cache)."""
        return CachedInverter(self.inner.reseeded(seed), self.cache_dir)


def build_inverter(cfg: DictConfig, progress: bool, attacker: bool = False, cached: bool = True,
                   adversary: bool = False) -> Inverter:
    """The scenario's inverter (optimisation by default); with `attacker` the re-inversion attacker
    (evaluation.reinversion_inverter over it), with `adversary` the attacker of training's adversarial refreshes
    (method.adversarial_inverter over it); wrapped in the on-disk cache unless `cached` is False."""
    from .inversion import build_inverter as build

    name, opts = cfg.scenario.inverter.name, options(cfg.scenario.inverter.options)
    if attacker or adversary:
        overlay = cfg.evaluation.reinversion_inverter if attacker else cfg.method.adversarial_inverter
        if overlay.name:
            name, opts = overlay.name, {}
        opts.update(options(overlay.options))
    if name == "optimize":
        opts.setdefault("progress", progress)
    inverter = build(name, **opts)
    if not cached:
        return inverter
    return CachedInverter(inverter, Path(cfg.run.root) / ".cache" / "inversions")


def make_aligner(size: int):
    """Photo path → FFHQ-aligned tensor [3, size, size] in [-1, 1] (dlib detection and landmarks)."""
    from .faces.align import align_face
    from .images import pil_to_tensor

    def align(path: Path) -> torch.Tensor:
        return pil_to_tensor(align_face(path, size=size).image)

    return align


def build_judge(cfg: DictConfig):
    """The identity evaluator of the metrics (dlib itself)."""
    if cfg.evaluation.judge != "dlib":
        raise ValueError(f"unknown evaluation.judge {cfg.evaluation.judge!r}; valid: dlib")
    from .faces.evaluator import DlibIdentityEvaluator

    return DlibIdentityEvaluator()


def build_second_judge(cfg: DictConfig):
    """The independent second judge (evaluation.second_judge), or None."""
    name = cfg.evaluation.second_judge
    if name is None:
        return None
    if name != "mobileface":
        raise ValueError(f"unknown evaluation.second_judge {name!r}; valid: mobileface, null")
    from .faces import build_identity
    from .faces.evaluator import EmbeddingJudge
    from .faces.mobileface import MOBILEFACE_SAME_PERSON_COSINE

    return EmbeddingJudge(name, build_identity(name), MOBILEFACE_SAME_PERSON_COSINE)


# -- naming -----------------------------------------------------------------------------------------------
def identity_label(cfg: DictConfig) -> str:
    """A short name for the identity being unlearned (run names, metrics)."""
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


# -- the job ------------------------------------------------------------------------------------------------
def unlearn(cfg: DictConfig) -> Path:
    """Run GUIDE as configured; writes config.yaml, metrics.json, unlearned.pt (and grid.png, curve.csv)."""
    import pytorch_lightning as pl
    from pytorch_lightning.loggers import CSVLogger

    from .callbacks import (
        AdversarialLatents,
        IdentityCurve,
        LossHistory,
        StepCheckpoint,
        StepTimer,
        load_step_checkpoint,
    )
    from .data import UnlearnDataModule
    from .generators import build_generator
    from .module import GuideModule

    started = time.perf_counter()
    run_dir = run_dir_for(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic.write_text(run_dir / "config.yaml", to_yaml(cfg))
    pl.seed_everything(cfg.trainer.seed, workers=True, verbose=False)
    if cfg.trainer.cpu_threads is not None:
        torch.set_num_threads(cfg.trainer.cpu_threads)
    progress = bool(cfg.trainer.progress_bar)

    print(f"[1/5] generator {cfg.generator.name}")
    generator = build_generator(cfg.generator.name, **options(cfg.generator.options))
    photos_scenario = cfg.scenario.name == "photos"
    scale = latent_scale(cfg, generator)
    settings = guide_settings(cfg, scale)
    data = UnlearnDataModule(
        generator,
        scenario=cfg.scenario.name,
        num_steps=cfg.trainer.max_steps,
        num_adjacent=cfg.method.num_adjacent,
        num_global=cfg.method.num_global,
        alpha_max=settings.alpha_max,
        seed=cfg.trainer.seed,
        identity_seed=cfg.scenario.identity_seed,
        truncation_psi=cfg.generator.truncation_psi,
        latent_path=cfg.scenario.latent_path,
        photos=cfg.scenario.photos,
        inverter=build_inverter(cfg, progress) if photos_scenario else None,
        aligner=make_aligner(generator.resolution) if photos_scenario else None,
    )
    print(f"[2/5] identity {identity_label(cfg)}" + (": aligning and inverting photos" if photos_scenario else ""))
    # Judges are built first: a bad name or missing weights fails now, not after inversion and training.
    judge = build_judge(cfg) if cfg.evaluation.enabled else None
    second_judge = build_second_judge(cfg) if cfg.evaluation.enabled else None
    inversion_started = time.perf_counter()
    data.setup("fit")
    seconds_inversion = time.perf_counter() - inversion_started
    photos = list(data.images) if data.images is not None else []
    if judge is not None and photos:
        report_inversion(judge, generator, data, cfg.generator.noise_mode, second_judge)

    module = GuideModule(generator, data.w_u, build_local_loss(cfg), settings)
    checkpoint_path = run_dir / "checkpoints" / "last.pt"
    resume_state = None
    if checkpoint_path.is_file():
        resume_state = load_step_checkpoint(checkpoint_path, module)
        data.start_step = min(int(resume_state["step"]), cfg.trainer.max_steps)
        print(f"      resuming {run_dir} from step {data.start_step}")
        keep_earlier_log(run_dir / "logs" / "metrics.csv", data.start_step)
    remaining = cfg.trainer.max_steps - data.start_step

    loggers: list[Any] = [CSVLogger(str(run_dir), name="", version="logs")]
    if cfg.logger.wandb:
        from pytorch_lightning.loggers import WandbLogger

        loggers.append(WandbLogger(project=cfg.logger.project, save_dir=str(run_dir), mode=cfg.logger.wandb_mode,
                                   config=OmegaConf.to_container(cfg, resolve=True)))
    timer, history = StepTimer(), LossHistory()
    adversary = None
    if cfg.method.adversarial_every_n_steps > 0:
        # Runs before the timer's step start, so seconds_per_step stays the cost of a GUIDE step.
        image = data.images[0] if data.images is not None else render_first(generator, data.w_u, cfg)
        adversary = AdversarialLatents(image, build_inverter(cfg, progress, cached=False, adversary=True),
                                       cfg.method.adversarial_every_n_steps, judge, cfg.generator.noise_mode)
    callbacks: list[Any] = [*([adversary] if adversary else []), timer, history,
                            StepCheckpoint(checkpoint_path, cfg.trainer.checkpoint_every_n_steps, resume_state)]
    if judge is not None and cfg.evaluation.curve_every_n_steps > 0:
        callbacks.append(IdentityCurve(run_dir / "curve.csv", judge, cfg.evaluation.curve_every_n_steps,
                                       data.w_u, data.w_others, photos, cfg.generator.noise_mode, second_judge))
    trainer = pl.Trainer(
        max_steps=max(remaining, 1),
        max_epochs=1,
        accelerator=cfg.trainer.accelerator,
        devices=cfg.trainer.devices,
        strategy=cfg.trainer.strategy,
        precision=cfg.trainer.precision,
        logger=loggers,
        callbacks=callbacks,
        enable_checkpointing=False,
        enable_progress_bar=progress,
        enable_model_summary=False,
        log_every_n_steps=cfg.trainer.log_every_n_steps,
        default_root_dir=str(run_dir),
    )
    print(f"[3/5] unlearning: {cfg.method.name}, {remaining} steps")
    with warnings.catch_warnings():
        # Intentional: draws are generated in-process, and G_s and the loss networks stay in eval mode.
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*module\\(s\\) in eval mode.*")
        warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")
        if remaining > 0:
            trainer.fit(module, datamodule=data)
    if not trainer.is_global_zero:
        return run_dir

    atomic.torch_save(
        {
            "generator": cfg.generator.name,
            "generator_options": options(cfg.generator.options),
            "synthesis_state_dict": module.unlearned_synthesis_state(),
            "w_u": module.w_u.cpu(),
            "w_t": module.w_t.cpu(),
            "w_others": data.w_others,
            "config": OmegaConf.to_container(cfg, resolve=True),
        },
        run_dir / "unlearned.pt",
    )
    first, last = (history.history[0], history.history[-1]) if history.history else ({}, {})
    metrics: dict[str, Any] = {
        "generator": cfg.generator.name,
        "method": cfg.method.name,
        "identity": identity_label(cfg),
        "steps": data.start_step + trainer.global_step,
        "resumed_from_step": resume_state["step"] if resume_state else None,
        "loss_first_step": {k: v for k, v in first.items() if k != "step"},
        "loss_last_step": {k: v for k, v in last.items() if k != "step"},
        "target_distance_to_w_avg": float((module.w_t - generator.w_avg).flatten(1).norm(dim=1)[0]),
        "latent_scale": scale,
        "d_absolute": settings.d,
        "alpha_max_absolute": settings.alpha_max,
        "seconds_inversion": seconds_inversion,
        **timer.summary(),
    }
    if adversary is not None:
        metrics["adversarial_latents"] = adversary.found
        metrics["seconds_adversarial"] = adversary.seconds
    if judge is not None:
        print("[4/5] evaluating")
        metrics.update(evaluate(cfg, judge, second_judge, module.source, module.unlearned.eval(),
                                torch.cat([data.w_u, data.w_others]), settings.d, photos,
                                [p.name for p in data.photo_paths], run_dir / "grid.png", progress))
    metrics["seconds_total"] = time.perf_counter() - started
    atomic.write_json(run_dir / "metrics.json", metrics)
    log_to_wandb(cfg, trainer, metrics, run_dir)
    print("[5/5] done")
    print(summary_table(metrics, run_dir))
    return run_dir


def keep_earlier_log(path: Path, step: int) -> None:
    """Move the loss log of the steps before a resume aside (Lightning's CSV logger would delete it)."""
    if path.is_file():
        os.replace(path, path.with_name(f"{path.stem}-before-step-{step}{path.suffix}"))


def render_first(generator: FaceGenerator, ws: torch.Tensor, cfg: DictConfig) -> torch.Tensor:
    """G_s of the first latent [3, H, W] (the identity's image when there is no photo)."""
    from .evaluation import render

    return render(generator, ws[:1], cfg.generator.noise_mode)[0]


@torch.no_grad()
def report_inversion(judge: Any, generator: FaceGenerator, data: Any, noise_mode: str,
                     second_judge: Any = None) -> None:
    """Say whether the judge recognises each photo's person in G_s(w): if not, unlearning it means little."""
    from .evaluation import render

    def verdict(same_person: bool) -> str:
        return "recognised" if same_person else "NOT recognised"

    latents = torch.cat([data.w_u, data.w_others])
    images = render(generator, latents, noise_mode)
    for path, photo, image in zip(data.photo_paths, data.images, images):
        comparison = judge.compare(photo, image)
        line = (f"      inversion of {path.name}: dlib distance {comparison.distance:.3f} → "
                f"{verdict(comparison.same_person)} in G_s(w)")
        if second_judge is not None:
            second = second_judge.compare(photo, image)
            line += f"; {second_judge.name} cosine {second.cosine:.3f} → {verdict(second.same_person)}"
        print(line)
        if not comparison.same_person:
            warnings.warn(
                f"the inversion of {path} does not capture the person (dlib distance {comparison.distance:.3f} "
                f"≥ {judge.threshold}); unlearning this latent says little about the person in the photo",
                stacklevel=2,
            )


def evaluate(cfg: DictConfig, judge: Any, second: Any, source: FaceGenerator, unlearned: FaceGenerator,
             latents: torch.Tensor, d: float, photos: list, names: list[str], grid_path: Path,
             progress: bool) -> dict[str, Any]:
    """The paper's metrics and ours for G_s → G_u on `latents` = [w_u, *w_others] (UFO distance `d` for the
    grid's targets), plus the grid at `grid_path`."""
    from .evaluation import delta_fid_real, fid_pre, identity_report, reinvert, render
    from .faces import build_identity
    from .faces.inception import resolve_fid_features
    from .images import load_image_tensor, save_grid
    from .ufo import target_latent

    ev, noise = cfg.evaluation, cfg.generator.noise_mode
    # G_s and G_u on [w_u, *w_others], rendered once for the identity metrics and the grid.
    before, after = render(source, latents, noise), render(unlearned, latents, noise)
    report = identity_report(judge, before, after, photos, names)
    out: dict[str, Any] = {
        "id": report.id,
        "id_others": report.id_others,
        "photo_recognised_before": report.photo_recognised_before,
        "photo_recognised_after": report.photo_recognised_after,
        "photos": [vars(p) for p in report.photos],
        "reinversion_recognised": None,
        "reinversion_distance": None,
        "fid_pre": None,
        "delta_fid_real": None,
        "fid_features": resolve_fid_features(ev.fid_features),  # "auto" → the network actually used
        "fid_samples": ev.fid_samples,
    }
    if second is not None:
        report2 = identity_report(second, before, after, photos, names)
        out["second_judge"] = {"name": second.name, "cosine_threshold": second.cosine_threshold, "id": report2.id,
                               "id_others": report2.id_others,
                               "photo_recognised_before": report2.photo_recognised_before,
                               "photo_recognised_after": report2.photo_recognised_after,
                               "photo_cosines_after": [1.0 - p.distance_after for p in report2.photos],
                               "reinversion_recognised": None, "reinversion_cosine": None}
    reinverted = None
    if ev.reinversion and photos:
        inverter = build_inverter(cfg, progress, attacker=True)
        _, reinverted, comparison = reinvert(judge, photos[0], unlearned, inverter.invert, noise)
        out["reinversion_recognised"], out["reinversion_distance"] = comparison.same_person, comparison.distance
        if second is not None:
            comparison2 = second.compare(photos[0], reinverted)
            out["second_judge"]["reinversion_recognised"] = comparison2.same_person
            out["second_judge"]["reinversion_cosine"] = comparison2.cosine
    if out["fid_features"]:
        features = build_identity(out["fid_features"]).to(source.w_avg.device)
        out["fid_pre"] = fid_pre(source, unlearned, features, ev.fid_samples, ev.seed,
                                 noise_mode=noise, truncation_psi=cfg.generator.truncation_psi, progress=progress)
        if ev.real_images:
            from .data import list_photos

            real = [load_image_tensor(p, size=source.resolution) for p in list_photos(ev.real_images)]
            out["delta_fid_real"] = delta_fid_real(source, unlearned, features, real, ev.fid_samples, ev.seed,
                                                   noise_mode=noise, truncation_psi=cfg.generator.truncation_psi)

    # grid.png: photo | G_s(w) | target G_s(w_t) | G_u(w) per latent, then random samples before / after.
    targets = target_latent(latents, source.w_avg.cpu(), cfg.method.target, d)
    target = render(source, targets, noise)
    rows = [[photos[i] if i < len(photos) else None, before[i], target[i], after[i]] for i in range(len(latents))]
    if reinverted is not None:
        rows[0].append(reinverted)
    rng = torch.Generator().manual_seed(ev.seed)
    z = torch.randn(ev.grid_samples, source.z_dim, generator=rng).to(source.w_avg.device)
    samples = source.map(z, cfg.generator.truncation_psi)
    rows.append(list(render(source, samples, noise)))
    rows.append(list(render(unlearned, samples, noise)))
    labels = ["photo", "G_s(w)", "target G_s(w_t)", "G_u(w)"] + (["G_u(re-inverted)"] if reinverted is not None
                                                                   else [])
    save_grid(rows, grid_path, cell_size=192, labels=labels)
    return out


def log_to_wandb(cfg: DictConfig, trainer: Any, metrics: dict[str, Any], run_dir: Path) -> None:
    """Numbers go to wandb when it is on; the grid (real photos) only with logger.log_photos=true."""
    from pytorch_lightning.loggers import WandbLogger

    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            numbers = {f"eval/{k}": v for k, v in metrics.items() if isinstance(v, (int, float)) and v is not None}
            logger.experiment.summary.update(numbers)
            if cfg.logger.log_photos and (run_dir / "grid.png").is_file():
                logger.log_image("eval/grid", [str(run_dir / "grid.png")])


def second_judge_rows(second: dict[str, Any] | None) -> list[tuple[str, Any]]:
    """Summary rows of the second judge (none when it is off)."""
    if not second:
        return []
    name = second["name"]
    return [(f"{name}: ID / ID_others (↓)", f"{second['id']:.4g} / " + (
                f"{second['id_others']:.4g}" if second["id_others"] is not None else "—")),
            (f"{name}: photo recognised after (↓)", second["photo_recognised_after"]),
            (f"{name}: re-inversion recognised (↓)", second["reinversion_recognised"])]


def summary_table(metrics: dict[str, Any], run_dir: Path) -> str:
    """One screen: what was unlearned, how well, what it cost."""

    def fmt(value: Any) -> str:
        if value is None:
            return "—"
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, float):
            return f"{value:.4g}"
        return str(value)

    rows = [
        ("identity", metrics.get("identity")),
        ("generator / method", f"{metrics.get('generator')} / {metrics.get('method')}"),
        ("steps", metrics.get("steps")),
        ("ID (↓, cos G_s vs G_u at w_u)", metrics.get("id")),
        ("ID_others (↓)", metrics.get("id_others")),
        ("photo recognised before", metrics.get("photo_recognised_before")),
        ("photo recognised after (↓)", metrics.get("photo_recognised_after")),
        ("re-inversion recognised (↓)", metrics.get("reinversion_recognised")),
        *second_judge_rows(metrics.get("second_judge")),
        (f"FID_pre ({metrics.get('fid_features')}, n={metrics.get('fid_samples')}) (↓)", metrics.get("fid_pre")),
        ("ΔFID_real (↓)", metrics.get("delta_fid_real")),
        ("seconds per step", metrics.get("seconds_per_step")),
        ("seconds total", metrics.get("seconds_total")),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [f"  {k:<{width}}  {fmt(v)}" for k, v in rows]
    return "\n".join([f"run folder: {run_dir}", *lines])
