"""EG3D configurations and deterministic weights for parity tests: the same numbers for the official
TriPlaneGenerator and guide-pl's EG3DGenerator (their state-dict names are the same), without storing weights."""

from __future__ import annotations

import math

import torch

from . import stylegan2_weights

# rendering_kwargs of ffhqrebalanced512-128.pkl (EG3D's train.py, --cfg=ffhq --gen_pose_cond=True).
FFHQ_RENDERING = dict(
    image_resolution=512, disparity_space_sampling=False, clamp_mode="softplus",
    superresolution_module="training.superresolution.SuperresolutionHybrid8XDC", c_gen_conditioning_zero=False,
    gpc_reg_prob=0.8, c_scale=1.0, superresolution_noise_mode="none", density_reg=0.25, density_reg_p_dist=0.004,
    reg_type="l1", decoder_lr_mul=1.0, sr_antialias=True, depth_resolution=48, depth_resolution_importance=48,
    ray_start=2.25, ray_end=3.3, box_warp=1, avg_camera_radius=2.7, avg_camera_pivot=[0, 0, 0.2],
)  # fmt: skip

# TriPlaneGenerator init kwargs of ffhqrebalanced512-128.pkl.
FFHQ_KWARGS = dict(
    z_dim=512, w_dim=512, mapping_kwargs=dict(num_layers=2), channel_base=32768, channel_max=512,
    fused_modconv_default="inference_only", rendering_kwargs=FFHQ_RENDERING, num_fp16_res=0, sr_num_fp16_res=4,
    sr_kwargs=dict(channel_base=32768, channel_max=512, fused_modconv_default="inference_only"), conv_clamp=None,
    c_dim=25, img_resolution=512, img_channels=3,
)  # fmt: skip

# A reduced configuration that runs every code path on a CPU in seconds: a narrow backbone (32 channels at most),
# 8 + 8 depth samples, and a 32² neural rendering resolution (so the super-resolution resizes to 128² first).
SMALL_KWARGS = dict(FFHQ_KWARGS, channel_base=1024, channel_max=32,
                    rendering_kwargs=dict(FFHQ_RENDERING, depth_resolution=8, depth_resolution_importance=8))
SMALL_NEURAL_RESOLUTION = 32


# The weights: the StyleGAN2 helper's seeding (sorted names, one seed per tensor, scaled by kind) covers EG3D's names.
fill_seeded = stylegan2_weights.fill_seeded


def view_angles() -> list[tuple[float, float]]:
    """(horizontal, vertical) look-at angles of the camera checks: frontal conditioning, GUIDE's frontal view,
    a yaw at each end of GUIDE's range, and an off-grid pose."""
    front, pitch = math.pi / 2, math.pi / 2 - 0.2
    return [(front, front), (front, pitch), (front - math.pi / 12, pitch), (front + math.pi / 12, pitch), (1.3, 1.9)]


def perturb_synthesis(generator: torch.nn.Module, base_seed: int = 900, scale: float = 0.01) -> None:
    """Move every backbone.synthesis parameter by `scale`·randn (seed base_seed + index in sorted order): a G_u
    that already differs from G_s, so the global term and its gradient are not zero."""
    parameters = {n: p for n, p in generator.named_parameters() if n.startswith("backbone.synthesis.")}
    with torch.no_grad():
        for index, name in enumerate(sorted(parameters)):
            seeded = torch.Generator().manual_seed(base_seed + index)
            noise = torch.randn(tuple(parameters[name].shape), generator=seeded)
            parameters[name].add_(scale * noise * parameters[name].detach().abs().mean().clamp(min=1e-3))
