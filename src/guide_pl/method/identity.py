"""The identity to forget, for each scenario: w_u, the latents of the person's other photos, and the photos.

- random: w_u = Map(z) for a seeded z (no photos, no others);
- latent: a `.pt` file of latents inverted beforehand (the first is w_u, the rest are the others);
- photos: a folder (sorted by name: the first is x_u, the rest x_o) or one image, aligned and inverted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch

from ..errors import BadFileError, MissingFileError
from ..generators.base import FaceGenerator
from ..inversion.base import Inverter

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


@dataclass
class Identity:
    """The person to forget: w_u [1, L, D], w_others [N, L, D] and, for photos, the aligned photos [1 + N, 3, H, W]
    in [-1, 1] with their paths (x_u first)."""

    w_u: torch.Tensor
    w_others: torch.Tensor
    photo_paths: list[Path] = field(default_factory=list)
    photos: Optional[torch.Tensor] = None
    seconds_inversion: float = 0.0

    @property
    def latents(self) -> torch.Tensor:
        """[w_u, *w_others] (what the evaluation judges)."""
        return torch.cat([self.w_u, self.w_others])

    @property
    def photo_list(self) -> list[torch.Tensor]:
        """The aligned photos as a list (empty without photos)."""
        return list(self.photos) if self.photos is not None else []


def list_photos(path: str | Path) -> list[Path]:
    """Image files of a folder sorted by name (the first is the source photo x_u), or a single file."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise MissingFileError(f"no photo or folder of photos at {path}")
    photos = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not photos:
        raise MissingFileError(f"{path} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return photos


@torch.no_grad()
def random_identity(generator: FaceGenerator, seed: int, truncation_psi: float) -> Identity:
    """w_u = Map(z) for z drawn from `seed` (the paper's Random scenario)."""
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(1, generator.z_dim, generator=rng).to(generator.w_avg.device)
    w_u = generator.map(z, truncation_psi).cpu()
    return Identity(w_u, w_u.new_zeros((0,) + tuple(w_u.shape[1:])))


def load_latent_file(path: str | Path, generator: FaceGenerator) -> tuple[torch.Tensor, torch.Tensor]:
    """Read a `.pt` latent file: a tensor (first latent = w_u, the rest = w_others) or a dict with "w_u" and
    optional "w_others"; shapes [D], [L, D], [N, D] or [N, L, D] are accepted and checked against the generator."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"latent file {path} does not exist")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unpickling failure means an unusable file
        raise BadFileError(f"cannot read latent file {path}: {error}") from error
    if isinstance(data, dict):
        if "w_u" not in data:
            raise BadFileError(f"latent file {path} is a dict without a 'w_u' entry (keys: {sorted(data)})")
        w_u, w_others = data["w_u"], data.get("w_others")
    elif isinstance(data, torch.Tensor):
        w_u, w_others = data, None
    else:
        raise BadFileError(f"latent file {path} holds a {type(data).__name__}, expected a tensor or dict")

    def as_batch(w: torch.Tensor) -> torch.Tensor:
        w = w.float()
        if w.ndim == 1 or (w.ndim == 2 and w.shape == (generator.num_ws, generator.w_dim)):
            w = w.unsqueeze(0)
        try:
            return generator.as_wplus(w).contiguous()
        except ValueError as error:
            raise BadFileError(f"latent file {path}: {error}") from None

    w_u = as_batch(w_u)
    extra = w_u[1:]
    w_u = w_u[:1]
    others = torch.cat([extra, as_batch(w_others)]) if w_others is not None else extra
    if not torch.isfinite(w_u).all() or not torch.isfinite(others).all():
        raise BadFileError(f"latent file {path} contains NaN or infinite values")
    return w_u, others


def latent_identity(path: str | Path, generator: FaceGenerator) -> Identity:
    """The identity of a latent file (see `load_latent_file`)."""
    w_u, w_others = load_latent_file(path, generator)
    return Identity(w_u, w_others)


def photo_identity(paths: Sequence[Path], generator: FaceGenerator, align: Callable[[Path], torch.Tensor],
                   inverter: Inverter) -> Identity:
    """Align each photo (x_u first) and invert them all into `generator`: w_u from x_u, the others from x_o."""
    started = time.perf_counter()
    photos = torch.stack([align(p) for p in paths])
    ws = inverter.invert(photos, generator).detach().cpu()
    return Identity(ws[:1], ws[1:], list(paths), photos, time.perf_counter() - started)
