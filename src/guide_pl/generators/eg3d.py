"""EG3D (Chan et al. 2022), the paper's main generator: a StyleGAN2 backbone that makes three 32-channel feature
planes (256², from 14 W+ rows), an OSG decoder and volume renderer that turn them into a 32-channel feature image
at the neural rendering resolution (128²), and a super-resolution network (two StyleGAN2 blocks, 128² → 512²).

Module names and numerics are NVlabs/eg3d's TriPlaneGenerator (so official weights load by name), with its API:
`mapping(z, c, truncation_psi=…)`, `get_planes(ws)` (GUIDE's addition), `synthesis(ws, c, noise_mode=…)` → {"image",
"image_raw", "image_depth"}. Behind the FaceGenerator interface the loss features are the tri-planes (Eq. 4's L2
term), computed once per latent and rendered from the step's camera; only `backbone.synthesis` trains (GUIDE).
This file is the architecture only: `eg3d_checkpoint.py` loads NVIDIA pickles into it.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import nn

from .base import FaceGenerator
from .cameras import CameraRig, View
from .eg3d_render import OSGDecoder, RenderSettings, rays, render_planes
from .stylegan2 import MappingNetwork, SynthesisBlock, SynthesisNetwork

PLANE_CHANNELS = 32
PLANE_RESOLUTION = 256


class TriPlaneBackbone(nn.Module):
    """EG3D's backbone (the official StyleGAN2 `Generator`): `mapping` (z, c → 14 × w) and `synthesis` (W+ → the
    three planes as one [B, 96, 256, 256] image)."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, mapping_kwargs: Optional[dict] = None,
                 **synthesis_kwargs: Any) -> None:
        super().__init__()
        self.synthesis = SynthesisNetwork(w_dim, PLANE_RESOLUTION, 3 * PLANE_CHANNELS, **synthesis_kwargs)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim, c_dim, w_dim, self.num_ws, **(mapping_kwargs or {}))


class SuperResolution8XDC(nn.Module):
    """SuperresolutionHybrid8XDC: the 32-channel 128² feature image (its first 3 channels the skip image) through
    two StyleGAN2 'skip' blocks (256 then 128 channels, 2× up each) to RGB 512², styled by the last w."""

    input_resolution = 128

    def __init__(self, channels: int = PLANE_CHANNELS, img_resolution: int = 512, sr_num_fp16_res: int = 0,
                 sr_antialias: bool = True, **block_kwargs: Any) -> None:
        super().__init__()
        if img_resolution != 512:
            raise ValueError(f"SuperresolutionHybrid8XDC makes 512² images, not {img_resolution}²")
        clamp = 256 if sr_num_fp16_res > 0 else None  # the official blocks clamp whenever they were built for fp16
        self.sr_antialias = sr_antialias
        self.block0 = SynthesisBlock(channels, 256, w_dim=512, resolution=256, img_channels=3, is_last=False,
                                     conv_clamp=clamp, **block_kwargs)
        self.block1 = SynthesisBlock(256, 128, w_dim=512, resolution=512, img_channels=3, is_last=True,
                                     conv_clamp=clamp, **block_kwargs)

    def forward(self, rgb: torch.Tensor, x: torch.Tensor, ws: torch.Tensor, noise_mode: str = "none",
                fused_modconv: Optional[bool] = None) -> torch.Tensor:
        ws = ws[:, -1:, :].repeat(1, 3, 1)
        size = self.input_resolution
        if x.shape[-1] != size:
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=self.sr_antialias)
            rgb = F.interpolate(rgb, size=(size, size), mode="bilinear", align_corners=False,
                                antialias=self.sr_antialias)
        x, rgb = self.block0(x, rgb, ws, noise_mode=noise_mode, fused_modconv=fused_modconv)
        _, rgb = self.block1(x, rgb, ws, noise_mode=noise_mode, fused_modconv=fused_modconv)
        return rgb


class EG3DGenerator(FaceGenerator):
    """EG3D behind the FaceGenerator interface (features = tri-planes, views = GUIDE's cameras)."""

    def __init__(
        self,
        z_dim: int = 512,
        c_dim: int = 25,
        w_dim: int = 512,
        img_resolution: int = 512,
        img_channels: int = 3,
        sr_num_fp16_res: int = 0,
        mapping_kwargs: Optional[dict] = None,
        rendering_kwargs: Optional[dict] = None,
        sr_kwargs: Optional[dict] = None,
        neural_rendering_resolution: int = 128,
        cameras: Optional[CameraRig] = None,
        loss_resolution: Optional[int] = None,
        **synthesis_kwargs: Any,
    ) -> None:
        super().__init__(loss_resolution=loss_resolution)
        if img_channels != 3:
            raise ValueError(f"face generators output RGB; this network has img_channels={img_channels}")
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution = self.resolution = img_resolution
        self.img_channels = img_channels
        # 'inference_only' (fused modulated convs in eval, separate in train) is what guide-pl's blocks always do.
        synthesis_kwargs.pop("fused_modconv_default", None)
        self.rendering = RenderSettings.from_kwargs(dict(rendering_kwargs or {}))
        self.neural_rendering_resolution = neural_rendering_resolution
        self.cameras = cameras or CameraRig()
        self.backbone = TriPlaneBackbone(z_dim, c_dim, w_dim, mapping_kwargs, **synthesis_kwargs)
        self.num_ws = self.backbone.num_ws
        sr_block_kwargs = {k: v for k, v in (sr_kwargs or {}).items()  # the official 8XDC ignores these
                           if k not in ("channel_base", "channel_max", "num_fp16_res", "conv_clamp",
                                        "fused_modconv_default")}
        self.superresolution = SuperResolution8XDC(PLANE_CHANNELS, img_resolution, sr_num_fp16_res,
                                                   self.rendering.sr_antialias, **sr_block_kwargs)
        self.decoder = OSGDecoder(PLANE_CHANNELS, PLANE_CHANNELS, self.rendering.decoder_lr_mul)

    # -- the official API ------------------------------------------------------------------------------
    def mapping(self, z: torch.Tensor, c: torch.Tensor, truncation_psi: float = 1.0,
                truncation_cutoff: Optional[int] = None) -> torch.Tensor:
        """z [B, z_dim] and camera labels c [B, 25] → W+ [B, 14, w_dim] (truncated toward w̄ when ψ < 1)."""
        if self.rendering.c_gen_conditioning_zero:
            c = torch.zeros_like(c)
        return self.backbone.mapping(z, c * self.rendering.c_scale, truncation_psi=truncation_psi,
                                     truncation_cutoff=truncation_cutoff)

    def get_planes(self, ws: torch.Tensor, noise_mode: Optional[str] = None) -> torch.Tensor:
        """The backbone's tri-planes [B, 96, 256, 256] (GUIDE's L2 term compares these)."""
        return self.backbone.synthesis(self.as_wplus(ws), noise_mode=noise_mode or self.noise_mode)

    def synthesis(self, ws: torch.Tensor, c: torch.Tensor, neural_rendering_resolution: Optional[int] = None,
                  noise_mode: Optional[str] = None, planes: Optional[torch.Tensor] = None,
                  rng: Optional[torch.Generator] = None) -> dict[str, torch.Tensor]:
        """Images of `ws` seen from cameras `c` [B or 1, 25]: {"image" (512²), "image_raw" (the first 3 channels
        of the feature image), "image_depth"}. `planes` reuses tri-planes already computed from `ws`; `rng`
        seeds the renderer's jitter (None: the global RNG, as the official code)."""
        ws = self.as_wplus(ws)
        resolution = neural_rendering_resolution or self.neural_rendering_resolution
        if planes is None:
            planes = self.get_planes(ws, noise_mode)
        n = planes.shape[0]
        c = c.to(planes.device).expand(n, -1) if c.shape[0] == 1 else c.to(planes.device)
        origins, directions = rays(c[:, :16].view(-1, 4, 4), c[:, 16:25].view(-1, 3, 3), resolution)
        planes = planes.view(n, 3, PLANE_CHANNELS, planes.shape[-2], planes.shape[-1])
        features, depth = render_planes(planes, self.decoder, origins, directions, self.rendering, rng)
        feature_image = features.permute(0, 2, 1).reshape(n, features.shape[-1], resolution, resolution).contiguous()
        depth_image = depth.permute(0, 2, 1).reshape(n, 1, resolution, resolution)
        raw = feature_image[:, :3]
        image = self.superresolution(raw, feature_image, ws, noise_mode=self.rendering.superresolution_noise_mode)
        return {"image": image, "image_raw": raw, "image_depth": depth_image}

    # -- the FaceGenerator interface -------------------------------------------------------------------
    @property
    def w_avg(self) -> torch.Tensor:  # type: ignore[override]
        """The mapping network's w̄ [w_dim]."""
        return self.backbone.mapping.w_avg

    @property
    def trainable_synthesis(self) -> nn.Module:
        """GUIDE trains the tri-plane backbone's synthesis only (not the mapping, decoder or super-resolution)."""
        return self.backbone.synthesis

    def map(self, z: torch.Tensor, truncation_psi: float = 1.0) -> torch.Tensor:
        """z → W+, conditioned on the frontal camera (GUIDE)."""
        c = self.cameras.conditioning().to(z.device).expand(z.shape[0], -1)
        return self.mapping(z, c, truncation_psi=truncation_psi)

    def features(self, ws: torch.Tensor, noise_mode: Optional[str] = None) -> torch.Tensor:
        return self.get_planes(ws, noise_mode)

    def render(self, features: torch.Tensor, ws: torch.Tensor, view: Optional[View] = None) -> torch.Tensor:
        """The image of tri-planes `features` (from `ws`) seen from `view`, at the loss resolution."""
        view = view or self.cameras.frontal()
        return self.resize_for_loss(self.synthesis(ws, view.c, planes=features, rng=view.rng())["image"])

    def forward(self, ws: torch.Tensor, noise_mode: Optional[str] = None, view: Optional[View] = None) -> torch.Tensor:
        """Full-resolution images of `ws` from `view` (default: the frontal evaluation view)."""
        view = view or self.cameras.frontal()
        return self.synthesis(ws, view.c, noise_mode=noise_mode, rng=view.rng())["image"]

    def sample_view(self, generator: torch.Generator) -> View:
        return self.cameras.sample(generator)

    def evaluation_views(self) -> list[View]:
        return self.cameras.evaluation()

    def view_label(self, view: Optional[View]) -> Optional[float]:
        return None if view is None else view.yaw
