"""One GUIDE step equals the body of GUIDE's unlearn.py loop (fixtures/guide_step/NOTES.md): on the same
random-weight EG3D, w_u, adjacency and global latents, α's and camera, with the same stand-in perceptual and
identity distances, the loss terms and G_u's gradients agree to 1e-4 relative (`method.reduction=sum`, as GUIDE
sums its N_a and N_g terms)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from guide_pl.config import load_config
from guide_pl.faces.identity_distance import CosineIdentityDistance
from guide_pl.faces.simple import PixelL2
from guide_pl.generators.eg3d import EG3DGenerator
from guide_pl.jobs.build import guide_settings
from guide_pl.method.losses import LocalLoss
from guide_pl.method.module import GuideModule
from helpers import FIXTURES
from helpers.eg3d_weights import SMALL_KWARGS, SMALL_NEURAL_RESOLUTION, fill_seeded, perturb_synthesis


class PooledImage(nn.Module):
    """The fixture's identity embedding: the 8×8 average-pooled image (CosineIdentityDistance normalises it)."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(images, 8).flatten(1)


def test_one_step_equals_guides_loop_body():
    official = torch.load(FIXTURES / "guide_step" / "guide_step_official.pt", weights_only=False)
    generator = EG3DGenerator(**SMALL_KWARGS, neural_rendering_resolution=SMALL_NEURAL_RESOLUTION)
    fill_seeded(generator, base_seed=300)
    cfg = load_config(["generator=tiny", "method.reduction=sum", "trainer.chunk_size=1"])  # the paper's λ's, d, N's
    settings = guide_settings(cfg, scale=1.0)
    loss = LocalLoss(PixelL2(size=64), CosineIdentityDistance(PooledImage()), settings.weights)
    module = GuideModule(generator, official["w_u"], loss, settings).train()
    perturb_synthesis(module.unlearned, scale=0.1)  # the fixture's G_u, already moved away from G_s
    assert torch.allclose(module.w_t, official["w_target"], rtol=0, atol=1e-5)
    view = generator.cameras.view(official["yaw"], seed=official["render_seed"])
    module.view_for = lambda batch: view
    batch = {"z_adj": official["z_adj"], "alpha": official["alphas"].float(), "z_glob": official["z_glob"]}
    terms = module.compute_step(batch, backward=True)

    for ours, theirs in ((terms["local"], official["loss_local"]), (terms["adjacency"], official["loss_adj"]),
                         (terms["global"], official["loss_global"]), (terms["total"], official["loss"])):
        assert torch.allclose(ours.double(), theirs.double(), rtol=1e-4, atol=0), (ours, theirs)
    grads = {n: p.grad for n, p in module.unlearned.trainable_synthesis.named_parameters() if p.grad is not None}
    assert set(grads) == set(official["grads_norm"])
    for name, grad in grads.items():
        expected = official["grads_sample"][name]
        scale = official["grads_norm"][name] / grad.numel() ** 0.5 + 1e-12  # RMS of the official gradient
        assert (grad.flatten()[::13] - expected).abs().max() <= 1e-4 * max(scale, expected.abs().max()), name
        assert torch.allclose(grad.norm(), official["grads_norm"][name], rtol=1e-4), name
