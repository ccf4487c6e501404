"""UnlearnDataModule: the identity's latents (random / latent file / photos) and seeded per-step draws."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Optional

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from .generators.base import FaceGenerator
from .inversion.base import Inverter

SCENARIOS = ("random", "latent", "photos")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


def step_seed(seed: int, step: int) -> int:
    """A 63-bit seed for one step's draws, independent across steps and of chunking or resuming."""
    digest = hashlib.sha256(f"guide-pl/{seed}/{step}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


class StepDraws(Dataset):
    """Item i = the random draws of training step i: z for N_a adjacency and N_g global latents, α ~ U(0, α_max)
    (Eq. 5) and a view seed. Each item is seeded by (seed, i), so every chunk size and a resumed run see the
    same draws; the global z's are drawn after, and apart from, the adjacency z's."""

    def __init__(
        self,
        num_steps: int,
        z_dim: int,
        num_adjacent: int,
        num_global: int,
        alpha_max: float,
        seed: int = 0,
        start_step: int = 0,
    ) -> None:
        if alpha_max < 0:
            raise ValueError(f"alpha_max must be ≥ 0, got {alpha_max}")
        if not 0 <= start_step <= num_steps:
            raise ValueError(f"start_step {start_step} outside [0, {num_steps}]")
        self.num_steps, self.z_dim = num_steps, z_dim
        self.num_adjacent, self.num_global = num_adjacent, num_global
        self.alpha_max, self.seed = alpha_max, seed
        # A resumed run starts at its checkpoint's step and sees exactly the draws it would have seen.
        self.start_step = start_step

    def __len__(self) -> int:
        return self.num_steps - self.start_step

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        step = self.start_step + index
        rng = torch.Generator().manual_seed(step_seed(self.seed, step))
        z_adj = torch.randn(self.num_adjacent, self.z_dim, generator=rng)
        alpha = torch.rand(self.num_adjacent, generator=rng) * self.alpha_max
        z_glob = torch.randn(self.num_global, self.z_dim, generator=rng)
        view_seed = torch.randint(0, 2**31 - 1, (), generator=rng)
        return {"z_adj": z_adj, "alpha": alpha, "z_glob": z_glob, "view_seed": view_seed, "step": torch.tensor(step)}


def list_photos(path: str | Path) -> list[Path]:
    """Image files of a folder sorted by name (the first is the source photo x_u), or a single file."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"no photo or folder of photos at {path}")
    photos = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not photos:
        raise FileNotFoundError(f"{path} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return photos


def load_latent_file(path: str | Path, generator: FaceGenerator) -> tuple[torch.Tensor, torch.Tensor]:
    """Read a `.pt` latent file: a tensor (first latent = w_u, the rest = w_others) or a dict with "w_u" and
    optional "w_others"; shapes [D], [L, D], [N, D] or [N, L, D] are accepted and checked against the generator."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"latent file {path} does not exist")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unpickling failure means an unusable file
        raise ValueError(f"cannot read latent file {path}: {error}") from error
    if isinstance(data, dict):
        if "w_u" not in data:
            raise ValueError(f"latent file {path} is a dict without a 'w_u' entry (keys: {sorted(data)})")
        w_u, w_others = data["w_u"], data.get("w_others")
    elif isinstance(data, torch.Tensor):
        w_u, w_others = data, None
    else:
        raise ValueError(f"latent file {path} holds a {type(data).__name__}, expected a tensor or dict")

    def as_batch(w: torch.Tensor) -> torch.Tensor:
        w = w.float()
        if w.ndim == 1 or (w.ndim == 2 and w.shape == (generator.num_ws, generator.w_dim)):
            w = w.unsqueeze(0)
        try:
            return generator.as_wplus(w).contiguous()
        except ValueError as error:
            raise ValueError(f"latent file {path}: {error}") from None

    w_u = as_batch(w_u)
    extra = w_u[1:]
    w_u = w_u[:1]
    others = torch.cat([extra, as_batch(w_others)]) if w_others is not None else extra
    if not torch.isfinite(w_u).all() or not torch.isfinite(others).all():
        raise ValueError(f"latent file {path} contains NaN or infinite values")
    return w_u, others


class UnlearnDataModule(pl.LightningDataModule):
    """Supplies the identity to forget (w_u, and w_others from other photos) and the per-step draws.

    Scenarios: `random` (w_u = Map(z) for a seeded z), `latent` (a `.pt` file of inverted latents), and
    `photos` (images → `aligner` → `inverter`; the first photo in name order is x_u, the rest x_o).
    """

    def __init__(
        self,
        generator: FaceGenerator,
        scenario: str = "random",
        num_steps: int = 1000,
        num_adjacent: int = 2,
        num_global: int = 2,
        alpha_max: float = 15.0,
        seed: int = 0,
        identity_seed: int = 0,
        truncation_psi: float = 1.0,
        latent_path: Optional[str] = None,
        photos: Optional[str | Sequence[str]] = None,
        inverter: Optional[Inverter] = None,
        aligner: Optional[Callable[[Path], torch.Tensor]] = None,
    ) -> None:
        super().__init__()
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; valid: {', '.join(SCENARIOS)}")
        self.generator = generator
        self.scenario = scenario
        self.num_steps, self.num_adjacent, self.num_global = num_steps, num_adjacent, num_global
        self.alpha_max, self.seed, self.identity_seed = alpha_max, seed, identity_seed
        self.truncation_psi = truncation_psi
        self.latent_path, self.photos = latent_path, photos
        self.inverter, self.aligner = inverter, aligner
        self.start_step = 0
        self.w_u: Optional[torch.Tensor] = None
        self.w_others: Optional[torch.Tensor] = None
        self.photo_paths: list[Path] = []
        self.images: Optional[torch.Tensor] = None  # aligned photos [N, 3, H, W] in [-1, 1] (photos scenario)

    def setup(self, stage: Optional[str] = None) -> None:
        """Compute w_u / w_others once (inversion of photos happens here)."""
        if self.w_u is not None:
            return
        gen = self.generator
        if self.scenario == "random":
            rng = torch.Generator().manual_seed(self.identity_seed)
            z = torch.randn(1, gen.z_dim, generator=rng).to(gen.w_avg.device)
            with torch.no_grad():
                self.w_u = gen.map(z, self.truncation_psi).cpu()
            self.w_others = self.w_u.new_zeros((0,) + tuple(self.w_u.shape[1:]))
        elif self.scenario == "latent":
            if not self.latent_path:
                raise ValueError("scenario 'latent' needs scenario.latent_path")
            self.w_u, self.w_others = load_latent_file(self.latent_path, gen)
        else:
            if not self.photos:
                raise ValueError("scenario 'photos' needs scenario.photos (a folder or a list of image files)")
            if self.inverter is None or self.aligner is None:
                raise ValueError("scenario 'photos' needs an inverter and an aligner")
            if isinstance(self.photos, (str, Path)):
                self.photo_paths = list_photos(self.photos)
            else:
                self.photo_paths = [Path(p) for p in self.photos]
            images = torch.stack([self.aligner(p) for p in self.photo_paths])
            self.images = images
            ws = self.inverter.invert(images, gen).detach().cpu()
            self.w_u, self.w_others = ws[:1], ws[1:]

    def train_dataloader(self) -> DataLoader:
        draws = StepDraws(
            self.num_steps,
            self.generator.z_dim,
            self.num_adjacent,
            self.num_global,
            self.alpha_max,
            self.seed,
            self.start_step,
        )
        # batch_size=None: each item is already one step's draws.
        return DataLoader(draws, batch_size=None, shuffle=False, num_workers=0)
