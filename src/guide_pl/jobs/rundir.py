"""Run folders: naming, one live process per folder (a lock), one config per folder, resume lookup, unlearned.pt
(saved and read back as data only), and a finished run loaded for new questions (attack, evaluate).

experiments/<run>/ holds config.yaml, checkpoints/last.pt, logs/metrics.csv, curve.csv, unlearned.pt, grid.png and
metrics.json (written last: a run is finished when it exists).
"""

from __future__ import annotations

import copy
import fcntl
import hashlib
import os
import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Optional

import torch
from omegaconf import DictConfig, OmegaConf

from .. import atomic
from ..config import load_saved_config, to_yaml
from ..errors import BadFileError, ConfigError, MissingFileError, RunFolderError
from ..generators.base import FaceGenerator
from .build import build_generator, identity_label, make_aligner

LOCK_FILE = ".lock"
# Keys that do not change what a run computes: a rerun that differs only in them resumes the same run.
PRESENTATION_KEYS = ("run", "trainer.progress_bar")


def run_config_text(cfg: DictConfig) -> str:
    """The resolved config without the presentation keys: two commands with the same text are the same run."""
    container = OmegaConf.to_container(cfg, resolve=True)
    for key in PRESENTATION_KEYS:
        *parents, leaf = key.split(".")
        node = container
        for parent in parents:
            node = node[parent]
        node.pop(leaf, None)
    return OmegaConf.to_yaml(OmegaConf.create(container))


@dataclass
class RunFolder:
    """An open run folder, locked by this process until `close()`."""

    path: Path
    lock: IO[str]
    created: bool  # made by this process (removed again if the run fails before saving anything)

    @property
    def checkpoint(self) -> Path:
        return self.path / "checkpoints" / "last.pt"

    @property
    def finished(self) -> bool:
        """True when the run wrote its metrics (its last file)."""
        return (self.path / "metrics.json").is_file()

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> None:
        self.close(failed=kind is not None)

    def close(self, failed: bool = False) -> None:
        """Release the lock; after a failure that left nothing worth keeping, remove a folder this process made."""
        keep = (self.checkpoint.is_file() or (self.path / "unlearned.pt").is_file()
                or (self.path / "metrics.json").is_file())
        if failed and self.created and not keep:
            shutil.rmtree(self.path, ignore_errors=True)
        # The lock file stays: unlinking it could let two later processes lock two different files.
        fcntl.flock(self.lock, fcntl.LOCK_UN)
        self.lock.close()


def _try_lock(folder: Path) -> Optional[IO[str]]:
    """An exclusive lock on folder/.lock, or None when another process holds it."""
    handle = open(folder / LOCK_FILE, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def _make_root(root: Path) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RunFolderError(f"cannot create run.root={root}: {error.strerror or error}") from None
    if not os.access(root, os.W_OK | os.X_OK):
        raise RunFolderError(f"run.root={root} is not writable")


def _find_resumable(root: Path, wanted: str) -> Optional[RunFolder]:
    """An unfinished run folder of the same config that no process holds, newest first (locked for us)."""
    candidates = sorted(root.glob("*/checkpoints/last.pt"), key=lambda p: p.stat().st_mtime, reverse=True)
    for checkpoint in candidates:
        folder = checkpoint.parent.parent
        config_file = folder / "config.yaml"
        if (folder / "metrics.json").exists() or not config_file.is_file():
            continue
        if _saved_text(config_file) != wanted:
            continue
        lock = _try_lock(folder)
        if lock is not None:
            return RunFolder(folder, lock, created=False)
    return None


def _saved_text(config_file: Path) -> Optional[str]:
    """`run_config_text` of a run's config.yaml; None when it no longer loads (another config, by definition)."""
    try:
        return run_config_text(load_saved_config(config_file))
    except ConfigError:
        return None


def _new_folder(root: Path, name: str) -> RunFolder:
    """root/name, or root/name-2, -3, … when taken: created and locked by this process."""
    for attempt in range(1, 1000):
        folder = root / (name if attempt == 1 else f"{name}-{attempt}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        except OSError as error:
            raise RunFolderError(f"cannot create run folder {folder}: {error.strerror or error}") from None
        lock = _try_lock(folder)
        if lock is not None:
            return RunFolder(folder, lock, created=True)
    raise RunFolderError(f"no free run folder name for {name} under {root}")


def open_run_folder(cfg: DictConfig) -> RunFolder:
    """The run folder of `cfg`, locked: run.name if set (resumed when it holds this config unfinished), else an
    unfinished run of the same config (resumed), else a new time-generator-method-identity folder. config.yaml
    is written; a folder of another config, or one another process holds, is an error."""
    root = Path(cfg.run.root)
    _make_root(root)
    wanted = run_config_text(cfg)
    if not cfg.run.name:
        run = _find_resumable(root, wanted)
        if run is None:
            label = re.sub(r"[^A-Za-z0-9_.-]+", "-", identity_label(cfg))
            run = _new_folder(root, f"{time.strftime('%Y%m%d-%H%M%S')}-{cfg.generator.name}-{cfg.method.name}-{label}")
    else:
        folder = root / cfg.run.name
        created = not folder.exists()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise RunFolderError(f"cannot create run folder {folder}: {error.strerror or error}") from None
        lock = _try_lock(folder)
        if lock is None:
            raise RunFolderError(f"run folder {folder} is in use by another guide-pl process; wait for it, or choose "
                                 "another run.name")
        run = RunFolder(folder, lock, created)
        config_file = folder / "config.yaml"
        if config_file.is_file() and _saved_text(config_file) != wanted:
            run.close()
            raise RunFolderError(f"run folder {folder} holds a run of another configuration (see its config.yaml); "
                                 "choose another run.name or remove the folder")
    atomic.write_text(run.path / "config.yaml", to_yaml(cfg))
    return run


# -- unlearned.pt ---------------------------------------------------------------------------------------------
def save_unlearned(path: Path, cfg: DictConfig, synthesis_state: dict, w_u: torch.Tensor, w_t: torch.Tensor,
                   w_others: torch.Tensor, d_absolute: float) -> None:
    """unlearned.pt: G_u's synthesis weights, w_u, w_t, w_others, the resolved config and the absolute d — tensors
    and plain containers only, so it loads with `weights_only=True`."""
    from .build import options

    atomic.torch_save(
        {
            "generator": cfg.generator.name,
            "generator_options": options(cfg.generator.options),
            "synthesis_state_dict": synthesis_state,
            "w_u": w_u,
            "w_t": w_t,
            "w_others": w_others,
            "d_absolute": d_absolute,
            "config": OmegaConf.to_container(cfg, resolve=True),
        },
        path,
    )


def load_unlearned(path: Path, generator: FaceGenerator, expected_name: str) -> tuple[FaceGenerator, dict]:
    """G_u (a copy of `generator` with the synthesis weights of a run's unlearned.pt) and the file's contents.

    Read as data only (tensors and plain containers): a tampered file cannot run code, it is refused."""
    if not path.is_file():
        raise MissingFileError(f"{path} does not exist: the run has not finished (no unlearned generator yet)")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(saved, dict):
            raise ValueError(f"it holds a {type(saved).__name__}, not a dict")
        if saved.get("generator") != expected_name:
            raise ValueError(f"it holds generator {saved.get('generator')!r}, the run's config says {expected_name!r}")
        unlearned = copy.deepcopy(generator)
        unlearned.trainable_synthesis.load_state_dict(saved["synthesis_state_dict"])
    except Exception as error:  # noqa: BLE001 - any failure means the file cannot be trusted
        raise BadFileError(f"cannot load the unlearned generator from {path}: {error}") from error
    return unlearned.eval().requires_grad_(False), saved


# -- finished runs --------------------------------------------------------------------------------------------
@dataclass
class FinishedRun:
    """What a run folder holds, loaded: its config, G_s, G_u, the saved latents and metrics, the aligned photos."""

    folder: Path
    cfg: DictConfig
    source: FaceGenerator
    unlearned: FaceGenerator
    saved: dict
    metrics: dict
    photos: list[torch.Tensor]
    photo_names: list[str]

    def first_image(self) -> torch.Tensor:
        """x_u aligned, or G_s(w_u) when the run had no photos [3, H, W]."""
        from ..evaluation.measures import render

        return self.photos[0] if self.photos else render(self.source, self.saved["w_u"][:1])[0]

    @property
    def d_absolute(self) -> float:
        """The run's absolute UFO distance, as it recorded it (never recomputed)."""
        d = self.saved.get("d_absolute", self.metrics.get("d_absolute"))
        if d is None:
            raise BadFileError(f"{self.folder} records no d_absolute (neither unlearned.pt nor metrics.json)")
        return float(d)


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
    import json

    from ..method.identity import list_photos

    run_dir = Path(run_dir)
    config_file = run_dir / "config.yaml"
    if not config_file.is_file():
        raise MissingFileError(f"{config_file} does not exist: {run_dir} is not a guide-pl run folder")
    cfg = load_saved_config(config_file, overrides)
    generator = build_generator(cfg).eval()
    unlearned, saved = load_unlearned(run_dir / "unlearned.pt", generator, cfg.generator.name)
    metrics_file = run_dir / "metrics.json"
    metrics: dict[str, Any] = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    images, names = [], []
    if cfg.scenario.name == "photos":
        align = make_aligner(generator.resolution)
        paths = list_photos(cfg.scenario.photos)
        if source_photo_only:
            paths = paths[:1]  # the sorted first photo is x_u (method.identity.list_photos)
        images, names = [align(p) for p in paths], [p.name for p in paths]
    return FinishedRun(run_dir, cfg, generator, unlearned, saved, metrics, images, names)
