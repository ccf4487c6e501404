"""One GUIDE step on a random-weight EG3D, two ways, side by side:
`python -m guide_pl.tools.bench_eg3d --config small --out experiments/bench/eg3d_step.json`.

- the official loop's structure (GUIDE unlearn.py): each of the 1 + N_a + N_g latents at batch 1, in Python
  loops; tri-planes built twice per latent (`get_planes` for the L2 term, then `synthesis`, which builds them
  again), for G_u and for G_s, every step;
- guide-pl's GuideModule: tri-planes built once per latent and rendered from them, G_s's planes of w_t cached
  across steps, generator passes chunked (`--chunk-size`; default as in training: 1 on CPU, all on GPU).

Both use guide-pl's EG3D modules (equal to the official ones, tests/generators/test_eg3d.py) with the same
weights, draws, camera and stand-in losses (a pixel distance at 64² for LPIPS, a pooled-image cosine for the
identity network), so the losses agree; the figure is seconds per step (median after one warm-up) and the ratio.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..atomic import write_json
from ..faces.identity_distance import CosineIdentityDistance
from ..faces.simple import PixelL2
from ..generators.eg3d import EG3DGenerator
from ..method.draws import StepDraws
from ..method.losses import LocalLoss, LossWeights, adjacency_offsets
from ..method.module import GuideModule
from ..method.settings import GuideSettings

RENDERING = dict(depth_resolution=48, depth_resolution_importance=48, ray_start=2.25, ray_end=3.3, box_warp=1,
                 c_scale=1.0, superresolution_noise_mode="none", sr_antialias=True, clamp_mode="softplus")
# ffhqrebalanced512-128.pkl's init kwargs; "small" narrows the backbone and takes 8 + 8 depth samples at 64².
CONFIGS = {
    "ffhq": (dict(channel_base=32768, channel_max=512, mapping_kwargs={"num_layers": 2}, sr_num_fp16_res=4,
                  rendering_kwargs=RENDERING), 128),
    "small": (dict(channel_base=1024, channel_max=32, mapping_kwargs={"num_layers": 2}, sr_num_fp16_res=4,
                   rendering_kwargs=dict(RENDERING, depth_resolution=8, depth_resolution_importance=8)), 64),
}


class PooledImage(nn.Module):
    """Identity stand-in: the 8×8 average-pooled image as an embedding."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(images, 8).flatten(1)


def random_eg3d(config: str, seed: int = 0) -> EG3DGenerator:
    """An EG3D with the configuration's shapes and seeded random weights (biases and noise strengths non-zero)."""
    kwargs, resolution = CONFIGS[config]
    torch.manual_seed(seed)
    generator = EG3DGenerator(**kwargs, neural_rendering_resolution=resolution)
    with torch.no_grad():
        for name, tensor in generator.state_dict().items():
            if not name.endswith("resample_filter"):
                tensor.add_(0.1 * torch.randn_like(tensor))
    return generator.eval()


def official_structure_step(g_u: EG3DGenerator, g_s: EG3DGenerator, loss: LocalLoss, settings: GuideSettings,
                            w_u: torch.Tensor, w_t: torch.Tensor, batch: dict, view: Any) -> torch.Tensor:
    """GUIDE's loop body (unlearn.py 247-318) on these modules: batch 1 per latent, planes built twice."""
    w = settings.weights

    def pair(latent_u: torch.Tensor, latent_t: torch.Tensor) -> torch.Tensor:
        l2 = F.mse_loss(g_u.get_planes(latent_u), g_s.get_planes(latent_t))
        image_u = g_u.synthesis(latent_u, view.c, rng=view.rng())["image"]
        image_t = g_s.synthesis(latent_t, view.c, rng=view.rng())["image"]
        return (w.lambda_l2 * l2 + w.lambda_per * loss.perceptual(image_u, image_t).mean()
                + w.lambda_id * loss.identity(image_u, image_t).mean())

    total = pair(w_u, w_t)
    w_random = g_s.map(batch["z_adj"])
    deltas = adjacency_offsets(w_u, w_random, batch["alpha"])
    for delta in deltas:
        total = total + w.lambda_adj * pair(w_u + delta, w_t + delta)
    for z in batch["z_glob"]:
        w_global = g_s.map(z.unsqueeze(0))
        image_u = g_u.synthesis(w_global, view.c, rng=view.rng())["image"]
        image_s = g_s.synthesis(w_global, view.c, rng=view.rng())["image"]
        total = total + w.lambda_global * loss.perceptual(image_u, image_s).mean()
    total.backward()
    return total.detach()


def time_steps(step: Any, optimizer: torch.optim.Optimizer, repeats: int) -> tuple[list[float], float]:
    """Seconds of `repeats` steps after one warm-up, and the warm-up step's total loss."""
    runs, first = [], None
    for index in range(repeats + 1):
        started = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        total = step(index)
        optimizer.step()
        if index == 0:
            first = float(total)
        else:
            runs.append(time.perf_counter() - started)
    return runs, first


def run(config: str, repeats: int, chunk_size: int | None, device: str) -> dict:
    """Time both structures on the same generator, draws and camera; returns the JSON record."""
    generator = random_eg3d(config).to(device)
    settings = GuideSettings(target="extrapolate", d=30.0, alpha_max=15.0, num_adjacent=2, num_global=2,
                             use_local=True, lr=1e-4, trainable_max_resolution=None, adversarial_memory=3,
                             truncation_psi=1.0, chunk_size=chunk_size, max_steps=repeats + 1, seed=0,
                             weights=LossWeights(1e-2, 1.0, 0.1, 1.0, 1.0, 1.0, "sum"))
    loss = LocalLoss(PixelL2(size=64), CosineIdentityDistance(PooledImage()), settings.weights)
    w_u = generator.map(torch.randn(1, generator.z_dim, generator=torch.Generator().manual_seed(1)).to(device))
    draws = StepDraws(settings, generator.z_dim)
    view = generator.cameras.view(0.1, seed=1234)

    module = GuideModule(copy.deepcopy(generator), w_u.detach(), loss, settings).to(device).train()
    module.view_for = lambda batch: view
    ours = time_steps(lambda i: module.compute_step({k: v.to(device) for k, v in draws[i].items()})["total"],
                      module.configure_optimizers(), repeats)

    g_s = copy.deepcopy(generator).requires_grad_(False).train()  # GUIDE keeps both generators in train mode
    g_u = copy.deepcopy(generator).train()
    g_u.requires_grad_(False)
    g_u.trainable_synthesis.requires_grad_(True)
    optimizer = torch.optim.Adam(g_u.trainable_synthesis.parameters(), lr=settings.lr)
    w_t = module.w_t.detach()
    official = time_steps(lambda i: official_structure_step(
        g_u, g_s, loss, settings, module.w_u, w_t, {k: v.to(device) for k, v in draws[i].items()}, view),
        optimizer, repeats)
    seconds = {"official_structure": statistics.median(official[0]), "guide_pl": statistics.median(ours[0])}
    return {
        "config": config, "device": device, "chunk_size": module.resolved_chunk_size(5), "repeats": repeats,
        "threads": torch.get_num_threads(), "torch": torch.__version__,
        "seconds_per_step": seconds, "runs": {"official_structure": official[0], "guide_pl": ours[0]},
        "first_step_total_loss": {"official_structure": official[1], "guide_pl": ours[1]},
        "ratio": seconds["official_structure"] / seconds["guide_pl"],
        "peak_cuda_gib": torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None,
    }


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--config", choices=sorted(CONFIGS), default="small")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--chunk-size", type=int, default=None, help="latents per pass (default: 1 on CPU)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    result = run(args.config, args.repeats, args.chunk_size, args.device)
    result["loadavg"] = os.getloadavg()
    write_json(args.out, result)
    seconds, losses = result["seconds_per_step"], result["first_step_total_loss"]
    print(f"EG3D {args.config} on {args.device}: official loop structure {seconds['official_structure']:.2f} s/step, "
          f"guide-pl {seconds['guide_pl']:.2f} s/step: {result['ratio']:.2f}× (first-step losses "
          f"{losses['official_structure']:.6g} and {losses['guide_pl']:.6g})")


if __name__ == "__main__":
    main()
