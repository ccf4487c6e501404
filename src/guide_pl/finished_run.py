"""A finished run read back from its folder: config (with overrides), G_s, G_u and the identity's photos.

`guide-pl attack` and `guide-pl evaluate` ask new questions of the same unlearned weights, so they share this.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig

from .config import ConfigError, load_saved_config
from .generators.base import FaceGenerator


@dataclass
class FinishedRun:
    """What a run folder holds, loaded: its config, G_s, G_u, the saved latents and the aligned photos."""

    folder: Path
    cfg: DictConfig
    source: FaceGenerator
    unlearned: FaceGenerator
    saved: dict
    photos: list[torch.Tensor]
    photo_names: list[str]

    def first_image(self) -> torch.Tensor:
        """x_u aligned, or G_s(w_u) when the run had no photos [3, H, W]."""
        from .runner import render_first

        return self.photos[0] if self.photos else render_first(self.source, self.saved["w_u"], self.cfg)


def load_unlearned(path: Path, generator: FaceGenerator, expected_name: str) -> tuple[FaceGenerator, dict]:
    """G_u (a copy of `generator` with the synthesis weights of a run's unlearned.pt) and the file's contents;
    clear errors if unusable."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: the run has not finished (no unlearned generator yet)")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=False)
        if saved.get("generator") != expected_name:
            raise ValueError(f"it holds generator {saved.get('generator')!r}, the run's config says {expected_name!r}")
        unlearned = copy.deepcopy(generator)
        unlearned.synthesis.load_state_dict(saved["synthesis_state_dict"])
    except Exception as error:  # noqa: BLE001 - any failure means the file cannot be trusted
        raise ValueError(f"cannot load the unlearned generator from {path}: {error}") from error
    return unlearned.eval().requires_grad_(False), saved


def check_overrides(overrides: Sequence[str], prefixes: Sequence[str], keys: Sequence[str] = (),
                    what: str = "") -> None:
    """Every override must set a key under one of `prefixes` or one of `keys` exactly; else a ConfigError."""
    for item in overrides:
        key = item.split("=", 1)[0]
        if not any(key.startswith(prefix + ".") for prefix in prefixes) and key not in keys:
            allowed = " or ".join([f"keys under {p}" for p in prefixes] + list(keys))
            raise ConfigError(f"{what} overrides must be {allowed}, got {item!r}")


def overrides_label(overrides: Sequence[str], prefix: str) -> str:
    """A file name for a set of overrides: `default`, or `prefix-` and a short hash of them."""
    if not overrides:
        return "default"
    return f"{prefix}-" + hashlib.sha256("\n".join(sorted(overrides)).encode()).hexdigest()[:10]


def load_finished_run(run_dir: str | Path, overrides: Sequence[str] = (),
                      source_photo_only: bool = False) -> FinishedRun:
    """Load `run_dir` with `overrides` laid over its saved config; its photos are aligned when the run had them
    (only x_u with `source_photo_only`)."""
    from .data import list_photos
    from .generators import build_generator
    from .runner import make_aligner, options

    run_dir = Path(run_dir)
    config_file = run_dir / "config.yaml"
    if not config_file.is_file():
        raise FileNotFoundError(f"{config_file} does not exist: {run_dir} is not a guide-pl run folder")
    cfg = load_saved_config(config_file, overrides)
    generator = build_generator(cfg.generator.name, **options(cfg.generator.options)).eval()
    unlearned, saved = load_unlearned(run_dir / "unlearned.pt", generator, cfg.generator.name)
    images, names = [], []
    if cfg.scenario.name == "photos":
        align = make_aligner(generator.resolution)
        paths = list_photos(cfg.scenario.photos)
        if source_photo_only:
            paths = paths[:1]  # the sorted first photo is x_u (data.list_photos)
        images, names = [align(p) for p in paths], [p.name for p in paths]
    return FinishedRun(run_dir, cfg, generator, unlearned, saved, images, names)
