"""EG3D cameras: look-at poses on a sphere, normalised intrinsics from a field of view, and the 25-d camera vector
c = [cam2world (16, row-major), intrinsics (9)] that both conditions EG3D's mapping and places its renderer.

GUIDE's cameras (unlearn.py): FOV 18.837° (diagonal), radius 2.7, the pivot read from `avg_cam_pivot`, a key EG3D
pickles do not have, so [0, 0, 0] (EG3D's own `avg_camera_pivot` is [0, 0, 0.2]); the mapping is conditioned on
the frontal pose (yaw = pitch = π/2); each training step sees yaw ~ U(−π/12, π/12) around π/2 at pitch π/2 − 0.2;
the evaluation averages 11 yaws in [−π/12, π/12] at that pitch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

import torch


def fov_to_intrinsics(fov_degrees: float) -> torch.Tensor:
    """Normalised intrinsics [3, 3] for a *diagonal* field of view (the image is 1 × 1; EG3D's formula, with its
    3.14159 and 1.414)."""
    focal = float(1 / (math.tan(fov_degrees * 3.14159 / 360) * 1.414))
    return torch.tensor([[focal, 0, 0.5], [0, focal, 0.5], [0, 0, 1]], dtype=torch.float32)


def _normalise(vectors: torch.Tensor) -> torch.Tensor:
    return vectors / torch.norm(vectors, dim=-1, keepdim=True)


def cam2world_from_forward(forward: torch.Tensor, origin: torch.Tensor) -> torch.Tensor:
    """[B, 4, 4] camera-to-world matrices looking along `forward` [B, 3] from `origin` [B, 3] (world y up; the
    camera's columns are right, up, forward: OpenCV axes, +y down the image)."""
    forward = _normalise(forward)
    up = torch.tensor([0, 1, 0], dtype=torch.float, device=origin.device).expand_as(forward)
    right = -_normalise(torch.cross(up, forward, dim=-1))
    up = _normalise(torch.cross(forward, right, dim=-1))
    rotation = torch.eye(4, device=origin.device).unsqueeze(0).repeat(forward.shape[0], 1, 1)
    rotation[:, :3, :3] = torch.stack((right, up, forward), dim=-1)
    translation = torch.eye(4, device=origin.device).unsqueeze(0).repeat(forward.shape[0], 1, 1)
    translation[:, :3, 3] = origin
    return translation @ rotation


def look_at(horizontal: torch.Tensor, vertical: torch.Tensor, pivot: Sequence[float], radius: float) -> torch.Tensor:
    """[B, 4, 4] poses on the sphere of `radius` around the world origin, looking at `pivot`: `horizontal` and
    `vertical` [B] are the yaw (π/2 = frontal) and pitch (π/2 = level) of EG3D's LookAtPoseSampler."""
    theta = horizontal.float().view(-1, 1)
    v = torch.clamp(vertical.float().view(-1, 1), 1e-5, math.pi - 1e-5) / math.pi
    phi = torch.arccos(1 - 2 * v)  # the sampler's polar angle: arccos(1 − 2v/π), not v itself
    origin = torch.zeros((theta.shape[0], 3))
    origin[:, 0:1] = radius * torch.sin(phi) * torch.cos(math.pi - theta)
    origin[:, 2:3] = radius * torch.sin(phi) * torch.sin(math.pi - theta)
    origin[:, 1:2] = radius * torch.cos(phi)
    forward = _normalise(torch.tensor(pivot, dtype=torch.float32).view(1, 3) - origin)
    return cam2world_from_forward(forward, origin)


def camera_vector(cam2world: torch.Tensor, intrinsics: torch.Tensor) -> torch.Tensor:
    """c [B, 25] = cam2world [B, 4, 4] flattened row-major, then the intrinsics [3, 3] flattened."""
    return torch.cat([cam2world.reshape(-1, 16), intrinsics.reshape(1, 9).expand(cam2world.shape[0], 9)], dim=1)


@dataclass(frozen=True, eq=False)
class View:
    """One camera of a pass: c [1, 25], its yaw relative to the frontal pose, and the seed of the renderer's ray
    jitter (None: the global RNG, as the official code; a seed: the same jitter for every latent of the pass)."""

    c: torch.Tensor
    yaw: float
    seed: Optional[int] = None

    def rng(self) -> Optional[torch.Generator]:
        """A fresh generator seeded with the view's seed (the renderer's jitter), or None for the global RNG."""
        return torch.Generator().manual_seed(self.seed) if self.seed is not None else None


@dataclass(frozen=True)
class CameraRig:
    """The cameras of one EG3D generator (GUIDE's by default; `pivot` [0, 0, 0.2] gives EG3D's own)."""

    fov_degrees: float = 18.837
    radius: float = 2.7
    pivot: tuple[float, float, float] = (0.0, 0.0, 0.0)
    pitch_offset: float = -0.2  # training and evaluation views look from π/2 − 0.2
    yaw_range: float = math.pi / 12  # training yaw ~ U(−range, range); evaluation views span ±range
    evaluation_views: int = 11

    def view(self, yaw: float, pitch_offset: Optional[float] = None, seed: Optional[int] = None) -> View:
        """The view at `yaw` (0 = frontal) and π/2 + `pitch_offset` (default the rig's)."""
        pitch = math.pi / 2 + (self.pitch_offset if pitch_offset is None else pitch_offset)
        pose = look_at(torch.tensor([math.pi / 2 + yaw]), torch.tensor([pitch]), self.pivot, self.radius)
        return View(camera_vector(pose, fov_to_intrinsics(self.fov_degrees)), float(yaw), seed)

    def conditioning(self) -> torch.Tensor:
        """c [1, 25] of the frontal pose (yaw = pitch = π/2) that conditions the mapping network (GUIDE)."""
        return self.view(0.0, pitch_offset=0.0).c

    def sample(self, rng: torch.Generator) -> View:
        """A training view: yaw ~ U(−yaw_range, yaw_range), and a seed for the renderer, both from `rng`."""
        yaw = (2 * torch.rand((), generator=rng).item() - 1) * self.yaw_range
        return self.view(yaw, seed=int(torch.randint(0, 2**31 - 1, (), generator=rng)))

    def evaluation(self) -> list[View]:
        """The evaluation views: `evaluation_views` yaws evenly spaced in [−yaw_range, yaw_range], seed 0."""
        count = self.evaluation_views
        yaws = [-self.yaw_range + 2 * self.yaw_range * i / (count - 1) for i in range(count)] if count > 1 else [0.0]
        return [self.view(yaw, seed=0) for yaw in yaws]

    def frontal(self) -> View:
        """The view of single-image outputs (FID_pre, grids, photo recognition): yaw 0, seed 0."""
        return self.view(0.0, seed=0)
