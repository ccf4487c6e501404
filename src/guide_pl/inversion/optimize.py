"""Optimisation-based projection of aligned photos into a generator's W+ (StyleGAN2-projector style, in W+)."""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..errors import BadValueError
from ..faces.identity_distance import CosineIdentityDistance
from ..faces.registry import build_identity, build_perceptual
from ..generators.base import NOISE_MODES, FaceGenerator
from .base import INVERTERS, Inverter
from .fingerprint import module_fingerprint

LATENT_SPACES = ("wplus", "w")
START_POINTS = ("mean", "sample")
StepCallback = Callable[[int, torch.Tensor, dict[str, float]], None]


def check_photos(images: torch.Tensor) -> None:
    """Raise a clear error unless `images` is a float batch [B, 3, H, W] in [-1, 1]."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected photos [B, 3, H, W], got {tuple(images.shape)}")
    if not images.is_floating_point():
        raise ValueError(f"expected float photos in [-1, 1], got dtype {images.dtype}")
    low, high = images.min().item(), images.max().item()
    if low < -1.01 or high > 1.01:
        raise ValueError(f"expected photos in [-1, 1], got values in [{low:.3g}, {high:.3g}]")


def resize_to(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize to `size`: area filter when shrinking (as generator.resize_for_loss), bilinear when growing."""
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    shrinking = images.shape[-1] >= size[-1] and images.shape[-2] >= size[-2]
    if shrinking:
        return F.interpolate(images, size=size, mode="area")
    return F.interpolate(images, size=size, mode="bilinear", align_corners=False)


def learning_rate_factor(t: float, rampup: float, rampdown: float) -> float:
    """StyleGAN2 projector schedule at progress t ∈ [0, 1): linear warm-up, cosine ramp-down to 0."""
    factor = 1.0
    if rampdown > 0:
        factor = 0.5 - 0.5 * math.cos(min(1.0, (1.0 - t) / rampdown) * math.pi)
    if rampup > 0:
        factor *= min(1.0, t / rampup)
    return factor


class OptimizationInverter(Inverter):
    """Adam on W+ from w̄: λ_pix·MSE + λ_per·perceptual + λ_id·identity distance, at the loss resolution.

    `perceptual`: a distance module (x, y) → [B] or a PERCEPTUAL_NETS name. `identity`: a distance module
    (x, y) → [B] (e.g. CosineIdentityDistance) or an IDENTITY_NETS name (wrapped in CosineIdentityDistance).
    Terms that are None or weighted 0 are skipped. `latent_space`: "wplus" optimises every W+ row freely; "w"
    optimises one w per photo (all rows equal: the mapping network's own space, as its samples).
    `latent_noise` > 0 adds StyleGAN2's ramped-down noise to W+ during the first `noise_ramp` of the steps
    (scaled by the per-row typical ‖w − w̄‖), drawn from a torch.Generator seeded with `seed`;
    `noise_mode="random"` synthesis noise is seeded from it too. `start="mean"` starts every photo at w̄;
    `start="sample"` at Map(z) of a z drawn from `seed`, truncated toward w̄ by `start_psi` (attackers that set
    out from different faces land in different latent regions).
    """

    def __init__(
        self,
        steps: int = 200,
        lr: float = 0.1,
        lambda_pix: float = 1.0,
        lambda_per: float = 1.0,
        lambda_id: float = 0.1,
        perceptual: nn.Module | str | None = None,
        identity: nn.Module | str | None = None,
        lr_rampup: float = 0.05,
        lr_rampdown: float = 0.25,
        latent_noise: float = 0.0,
        noise_ramp: float = 0.75,
        noise_mode: str = "const",
        latent_space: str = "wplus",
        start: str = "mean",
        start_psi: float = 0.7,
        seed: int = 0,
        progress: bool = True,
        callback: StepCallback | None = None,
    ) -> None:
        if steps < 1:
            raise BadValueError(f"steps must be ≥ 1, got {steps}")
        if noise_mode not in NOISE_MODES:
            raise BadValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        if latent_space not in LATENT_SPACES:
            raise BadValueError(f"latent_space must be one of {LATENT_SPACES}, got {latent_space!r}")
        if start not in START_POINTS:
            raise BadValueError(f"start must be one of {START_POINTS}, got {start!r}")
        if not 0.0 <= start_psi <= 1.0:
            raise BadValueError(f"start_psi must be in [0, 1], got {start_psi}")
        if isinstance(perceptual, str):
            perceptual = build_perceptual(perceptual)
        if isinstance(identity, str):
            identity = CosineIdentityDistance(build_identity(identity))
        self.perceptual = perceptual.eval().requires_grad_(False) if perceptual is not None else None
        self.identity = identity.eval().requires_grad_(False) if identity is not None else None
        self.steps, self.lr = int(steps), float(lr)
        self.lambda_pix, self.lambda_per, self.lambda_id = float(lambda_pix), float(lambda_per), float(lambda_id)
        self.lr_rampup, self.lr_rampdown = float(lr_rampup), float(lr_rampdown)
        self.latent_noise, self.noise_ramp = float(latent_noise), float(noise_ramp)
        self.noise_mode, self.seed = noise_mode, int(seed)
        self.latent_space = latent_space
        self.start, self.start_psi = start, float(start_psi)
        self.progress, self.callback = progress, callback

    def settings(self) -> dict[str, Any]:
        """Everything that changes the result (for cache keys); the loss networks by content fingerprint."""
        settings = {
            "steps": self.steps,
            "lr": self.lr,
            "lambda_pix": self.lambda_pix,
            "lambda_per": self.lambda_per if self.perceptual is not None else 0.0,
            "lambda_id": self.lambda_id if self.identity is not None else 0.0,
            "perceptual": module_fingerprint(self.perceptual) if self.perceptual is not None else None,
            "identity": module_fingerprint(self.identity) if self.identity is not None else None,
            "lr_rampup": self.lr_rampup,
            "lr_rampdown": self.lr_rampdown,
            "latent_noise": self.latent_noise,
            "noise_ramp": self.noise_ramp,
            "noise_mode": self.noise_mode,
            "latent_space": self.latent_space,
            "seed": self.seed,
        }
        if self.start != "mean":  # only when not the default, so inversions cached before this option stay valid
            settings.update(start=self.start, start_psi=self.start_psi)
        return settings

    def reseeded(self, seed: int) -> OptimizationInverter:
        """A copy (sharing the loss networks) that draws its start point and noise from `seed`."""
        copied = copy.copy(self)
        copied.seed = int(seed)
        return copied

    def start_latents(self, generator: FaceGenerator, batch: int) -> torch.Tensor:
        """The starting latents: w̄, or truncated Map(z) for z drawn from `seed`; [B, w_dim] or W+ by space."""
        device = generator.w_avg.device
        if self.start == "mean":
            ws = generator.w_avg.detach().to(device).expand(batch, generator.num_ws, generator.w_dim)
        else:
            z = torch.randn(batch, generator.z_dim, generator=torch.Generator().manual_seed(self.seed))
            with torch.no_grad():
                ws = generator.map(z.to(device), truncation_psi=self.start_psi)
        return (ws if self.latent_space == "wplus" else ws[:, 0]).clone()

    def loss_terms(self, images: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-sample loss terms [B] between generated `images` and `target`, both at the loss resolution."""
        terms = {}
        if self.lambda_pix:
            terms["pix"] = self.lambda_pix * (images - target).square().flatten(1).mean(dim=1)
        if self.perceptual is not None and self.lambda_per:
            terms["per"] = self.lambda_per * self.perceptual(images, target)
        if self.identity is not None and self.lambda_id:
            terms["id"] = self.lambda_id * self.identity(images, target)
        if not terms:
            raise BadValueError("every loss term is off (λ = 0 or no network): nothing to optimise")
        return terms

    def _rng_scope(self, device: torch.device) -> contextlib.AbstractContextManager:
        # Synthesis noise ("random") draws from the global RNG: seed it inside a fork so callers' RNG is untouched.
        if self.noise_mode != "random":
            return contextlib.nullcontext()
        devices = [device] if device.type == "cuda" else []
        stack = contextlib.ExitStack()
        stack.enter_context(torch.random.fork_rng(devices=devices))
        torch.default_generator.manual_seed(self.seed)
        if device.type == "cuda":
            with torch.cuda.device(device):
                torch.cuda.manual_seed(self.seed)
        return stack

    def invert(
        self, images: torch.Tensor, generator: FaceGenerator, callback: StepCallback | None = None
    ) -> torch.Tensor:
        """Aligned photos [B, 3, H, W] in [-1, 1] → W+ latents [B, num_ws, w_dim] (detached)."""
        check_photos(images)
        callback = callback or self.callback
        device = generator.w_avg.device
        batch = images.shape[0]
        rng = torch.Generator(device=device).manual_seed(self.seed)
        w_row_std = 0.0
        if self.latent_noise > 0:
            # StyleGAN2's w_std is the RMS ‖w − w̄‖ of one w; ours is the per-row share of the W+ distance.
            w_row_std = generator.typical_distance() / math.sqrt(generator.num_ws)

        # "w": one w [B, w_dim] per photo, broadcast to every row by generator.as_wplus.
        ws = self.start_latents(generator, batch).requires_grad_(True)
        optimizer = torch.optim.Adam([ws], lr=self.lr, betas=(0.9, 0.999))
        target = None
        bar = tqdm(range(self.steps), desc="invert", disable=not self.progress, leave=False)
        with self._rng_scope(device):
            for step in bar:
                t = step / self.steps
                for group in optimizer.param_groups:
                    group["lr"] = self.lr * learning_rate_factor(t, self.lr_rampup, self.lr_rampdown)
                latents = ws
                if self.latent_noise > 0:
                    scale = w_row_std * self.latent_noise * max(0.0, 1.0 - t / self.noise_ramp) ** 2
                    noise = torch.randn(ws.shape, generator=rng, device=device, dtype=ws.dtype)
                    latents = ws + noise * scale
                generated = generator.resize_for_loss(generator(latents, noise_mode=self.noise_mode))
                if target is None:
                    target = resize_to(images.to(device=device, dtype=generated.dtype), generated.shape[-2:])
                terms = self.loss_terms(generated, target)
                # Sum over the batch: every photo's optimisation is then the one it would get alone.
                loss = torch.stack(list(terms.values())).sum()
                optimizer.zero_grad(set_to_none=True)
                loss.backward(inputs=[ws])  # only W+ gets gradients; the generator's .grad stays untouched
                optimizer.step()
                if callback is not None or (self.progress and step % 10 == 0):
                    values = {name: term.mean().item() for name, term in terms.items()}
                    values["loss"] = loss.item() / batch
                    bar.set_postfix(values)
                    if callback is not None:
                        callback(step, generator.as_wplus(ws.detach()).clone(), values)
        return generator.as_wplus(ws.detach()).clone()


# Registered as the class itself so build_inverter("optimize", ...) checks options against __init__.
INVERTERS.register("optimize")(OptimizationInverter)
