"""The generator interface every backend implements (tiny, MobileStyleGAN, StyleGAN2, EG3D)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import BadValueError

NOISE_MODES = ("const", "random", "none")


class FaceGenerator(nn.Module):
    """A pretrained face generator split into a frozen mapping and a trainable synthesis part.

    Subclasses set `z_dim`, `w_dim`, `num_ws`, `resolution`, own the submodules `mapping` (z [B, z_dim] →
    ws [B, num_ws, w_dim]) and `synthesis` (ws → image [B, 3, H, W] in [-1, 1]), and register the buffer
    `w_avg` [w_dim]. GUIDE trains only `synthesis_parameters()`.

    Generators whose loss features are not the image (EG3D tri-planes) override `features` and `render`; for
    StyleGAN-type generators (GUIDE-SG2) the features are the image itself and `render` only resizes. The network
    GUIDE fine-tunes is `trainable_synthesis` (`synthesis` here; EG3D's tri-plane backbone synthesis). Generators
    with cameras also override `sample_view` (a training view per step) and `evaluation_views`.

    `noise_mode` (the per-layer StyleGAN noise: "const", "random" or "none") is a property of the generator,
    set once from `generator.noise_mode`; every pass uses it unless a caller asks for another.
    """

    z_dim: int
    w_dim: int
    num_ws: int
    resolution: int
    mapping: nn.Module
    synthesis: nn.Module
    w_avg: torch.Tensor

    _noise_mode: str = "const"

    def __init__(self, loss_resolution: Optional[int] = None) -> None:
        super().__init__()
        self.loss_resolution = loss_resolution

    @property
    def noise_mode(self) -> str:
        """The StyleGAN noise of every pass: "const" (deterministic), "random" (fresh per pass) or "none"."""
        return self._noise_mode

    @noise_mode.setter
    def noise_mode(self, mode: str) -> None:
        if mode not in NOISE_MODES:
            raise BadValueError(f"noise_mode must be one of {NOISE_MODES}, got {mode!r}")
        self._noise_mode = mode

    # -- latents -------------------------------------------------------------------------------------
    def map(self, z: torch.Tensor, truncation_psi: float = 1.0) -> torch.Tensor:
        """z [B, z_dim] → W+ latents [B, num_ws, w_dim], truncated toward `w_avg` when psi < 1."""
        ws = self.mapping(z)
        if truncation_psi != 1.0:
            ws = self.w_avg.lerp(ws, truncation_psi)
        return ws

    def as_wplus(self, ws: torch.Tensor) -> torch.Tensor:
        """Accept w [B, w_dim] or W+ [B, num_ws, w_dim] and return W+."""
        if ws.ndim == 2:
            return ws.unsqueeze(1).expand(-1, self.num_ws, -1)
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(
                f"expected latents [B, {self.w_dim}] or [B, {self.num_ws}, {self.w_dim}], got {tuple(ws.shape)}"
            )
        return ws

    # -- images ---------------------------------------------------------------------------------------
    def features(self, ws: torch.Tensor, noise_mode: Optional[str] = None) -> torch.Tensor:
        """Features the L2 term of the local loss compares (Eq. 4's F): the image for StyleGAN-type nets."""
        return self.synthesis(self.as_wplus(ws), noise_mode=noise_mode or self.noise_mode)

    def render(self, features: torch.Tensor, ws: torch.Tensor, view: Optional[Any] = None) -> torch.Tensor:
        """Image for the perceptual/identity terms from `features` (computed once from `ws`), at the loss
        resolution, seen from `view`."""
        return self.resize_for_loss(features)

    def sample_view(self, generator: torch.Generator) -> Optional[Any]:
        """Draw a training view (camera) for one step; None for generators without cameras."""
        return None

    def evaluation_views(self) -> list[Any]:
        """The views the identity metrics average over (one, None, for generators without cameras)."""
        return [None]

    def view_label(self, view: Optional[Any]) -> Optional[float]:
        """A number naming an evaluation view in metrics.json (EG3D: the yaw); None without cameras."""
        return None

    def resize_for_loss(self, images: torch.Tensor) -> torch.Tensor:
        """Downsample images to `loss_resolution` (area filter) when one is set."""
        size = self.loss_resolution
        if size is None or images.shape[-1] == size:
            return images
        return F.interpolate(images, size=(size, size), mode="area")

    def forward(self, ws: torch.Tensor, noise_mode: Optional[str] = None, view: Optional[Any] = None) -> torch.Tensor:
        """Full-resolution images for latents `ws` (with the generator's noise mode unless `noise_mode` is given;
        `view` is ignored by generators without cameras)."""
        return self.synthesis(self.as_wplus(ws), noise_mode=noise_mode or self.noise_mode)

    # -- training --------------------------------------------------------------------------------------
    @property
    def trainable_synthesis(self) -> nn.Module:
        """The network GUIDE fine-tunes (its state is unlearned.pt's `synthesis_state_dict`)."""
        return self.synthesis

    def synthesis_stages(self) -> list[tuple[int, list[nn.Parameter]]]:
        """The synthesis parameters as (output resolution, parameters) stages from input to output: the
        synthesis network's own `stages()` when it has one, else one stage at the full resolution."""
        network = self.trainable_synthesis
        stages = getattr(network, "stages", None)
        if stages is None:
            return [(self.resolution, list(network.parameters()))]
        return stages()

    def synthesis_parameters(self, max_resolution: Optional[int] = None) -> Iterator[nn.Parameter]:
        """The parameters GUIDE fine-tunes: all of the synthesis network, or only its stages whose output
        resolution is ≤ `max_resolution` (the cheaper input-side layers); everything else stays frozen."""
        if max_resolution is None:
            return self.trainable_synthesis.parameters()
        stages = self.synthesis_stages()
        chosen = [params for resolution, params in stages if resolution <= max_resolution]
        if not chosen:
            available = sorted({resolution for resolution, _ in stages})
            raise ValueError(
                f"no synthesis stage of {type(self).__name__} has output resolution ≤ {max_resolution}; "
                f"its stages: {available}"
            )
        return (param for params in chosen for param in params)

    @torch.no_grad()
    def estimate_w_avg(self, num_samples: int = 10_000, seed: int = 0, batch_size: int = 1000) -> torch.Tensor:
        """Mean of mapping(z) over `num_samples` seeded z (first W+ row), as StyleGAN's tracked w_avg."""
        rng = torch.Generator().manual_seed(seed)
        total = torch.zeros(self.w_dim, dtype=torch.float64)
        done = 0
        device = self.w_avg.device
        while done < num_samples:
            n = min(batch_size, num_samples - done)
            z = torch.randn(n, self.z_dim, generator=rng).to(device)
            total += self.mapping(z)[:, 0].double().sum(0).cpu()
            done += n
        return (total / num_samples).float()

    @torch.no_grad()
    def typical_distance(self, num_samples: int = 1000, seed: int = 0) -> float:
        """Mean ‖Map(z) − w̄‖₂ over the whole W+ latent: the scale of this generator's latent space."""
        rng = torch.Generator().manual_seed(seed)
        z = torch.randn(num_samples, self.z_dim, generator=rng).to(self.w_avg.device)
        ws = self.map(z)
        return (ws - self.w_avg).flatten(1).norm(dim=1).mean().item()
