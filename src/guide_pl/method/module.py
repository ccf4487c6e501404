"""GuideModule: the LightningModule that fine-tunes a copy of a generator with GUIDE's LTU losses."""

from __future__ import annotations

import copy
import math
from typing import Any, Optional

import pytorch_lightning as pl
import torch

from ..errors import NonFiniteLossError
from ..frozen import FrozenSubmodules
from ..generators.base import FaceGenerator
from .losses import LocalLoss, StepLayout, adjacency_offsets, sample_coefficients, step_terms
from .settings import GuideSettings
from .ufo import target_latent


class GuideModule(FrozenSubmodules, pl.LightningModule):
    """Frozen source generator G_s and its trainable copy G_u, trained on the LTU objective (Eq. 9).

    Each training batch holds one step's random draws (see data.StepDraws): `z_adj` [N_a, z_dim], `alpha` [N_a],
    `z_glob` [N_g, z_dim], `view_seed`. Only G_u's synthesis parameters receive gradients.

    Beyond the paper, `add_adversarial_latent` takes the latent w_r an attacker landed on (re-inverting the photo
    into the current G_u); from then on it is unlearned like an adjacency sample with
    Δ = w_r − w_u: G_u(w_r) is pulled to G_s(w_t + Δ), weighted λ_adversarial (mean over the kept latents).
    """

    frozen_submodules = ("source", "local_loss")  # G_s and the loss networks stay in eval mode

    def __init__(
        self,
        generator: FaceGenerator,
        w_u: torch.Tensor,
        local_loss: LocalLoss,
        settings: GuideSettings,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.source = generator.eval().requires_grad_(False)
        self.unlearned = copy.deepcopy(generator).requires_grad_(False)
        for param in self.unlearned.synthesis_parameters(settings.trainable_max_resolution):
            param.requires_grad_(True)
        self.local_loss = local_loss.eval().requires_grad_(False)
        w_u = self.source.as_wplus(w_u.detach().to(self.source.w_avg)).contiguous()
        if w_u.shape[0] != 1:
            raise ValueError(f"GuideModule unlearns one identity: w_u must hold one latent, got {w_u.shape[0]}")
        self.register_buffer("w_u", w_u)
        # Eq. 3 (or the ablation targets): fixed for the whole run.
        self.register_buffer("w_t", target_latent(w_u, self.source.w_avg, settings.target, settings.d))
        self.register_buffer("w_adversarial", w_u.new_zeros((0, *w_u.shape[1:])))
        self._target_cache: Optional[torch.Tensor] = None  # G_s features of w_t (w_t never changes)
        self.automatic_optimization = False

    # -- modes --------------------------------------------------------------------------------------------
    def configure_optimizers(self) -> torch.optim.Optimizer:
        trainable = [p for p in self.unlearned.trainable_synthesis.parameters() if p.requires_grad]
        return torch.optim.Adam(trainable, lr=self.settings.lr)

    @property
    def num_adversarial(self) -> int:
        """Adversarial latents unlearned per step (0 until the first is added)."""
        return int(self.w_adversarial.shape[0])

    @property
    def layout(self) -> StepLayout:
        """Where each kind of latent sits in this step's batch."""
        return StepLayout(self.settings.num_adjacent, self.num_adversarial, self.settings.num_global)

    def add_adversarial_latent(self, w: torch.Tensor) -> None:
        """Unlearn `w` (W or W+ latents found by an attacker) from now on; keeps the newest adversarial_memory."""
        w = self.source.as_wplus(w.detach().to(self.w_u)).reshape(-1, *self.w_u.shape[1:])
        kept = torch.cat([self.w_adversarial, w])[-self.settings.adversarial_memory :]
        self.w_adversarial = kept.contiguous()

    def resolved_chunk_size(self, num_latents: int) -> int:
        """Chunk size for generator passes: the setting, else all latents on GPU and 1 on CPU."""
        if self.settings.chunk_size is not None:
            return self.settings.chunk_size
        return num_latents if self.device.type == "cuda" else 1

    # -- one step's latents ---------------------------------------------------------------------------------
    @torch.no_grad()
    def step_latents(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """W+ latents of one step for G_u and G_s, in order [local, adjacent × N_a, adversarial × N_r,
        global × N_g]."""
        n_adj, n_glob = self.settings.num_adjacent, self.settings.num_global
        psi = self.settings.truncation_psi
        ws_u, ws_s = [self.w_u], [self.w_t]
        if n_adj:
            w_rand = self.source.map(batch["z_adj"][:n_adj].to(self.w_u), psi)
            # Eqs. 5–6: one Δ_i shifts both the source latent and the target latent.
            deltas = adjacency_offsets(self.w_u, w_rand, batch["alpha"][:n_adj])
            ws_u.append(self.w_u + deltas)
            ws_s.append(self.w_t + deltas)
        if self.num_adversarial:
            # Eq. 6 with the attacker's Δ = w_r − w_u: the target keeps UFO's displacement w_t − w_u.
            ws_u.append(self.w_adversarial)
            ws_s.append(self.w_t + (self.w_adversarial - self.w_u))
        if n_glob:
            w_glob = self.source.map(batch["z_glob"][:n_glob].to(self.w_u), psi)
            ws_u.append(w_glob)
            ws_s.append(w_glob)
        return torch.cat(ws_u), torch.cat(ws_s)

    @torch.no_grad()
    def source_features(self, ws_s: torch.Tensor, first_index: int) -> torch.Tensor:
        """G_s features for a chunk; the local target G_s(w_t) is computed once and cached when deterministic."""
        if first_index != 0 or self.source.noise_mode == "random":
            return self.source.features(ws_s)
        if self._target_cache is None or self._target_cache.device != ws_s.device:
            self._target_cache = self.source.features(ws_s[:1])
        cached = self._target_cache
        if ws_s.shape[0] == 1:
            return cached
        return torch.cat([cached, self.source.features(ws_s[1:])])

    def view_for(self, batch: dict[str, Any]) -> Any:
        """The step's camera (EG3D) from its seeded draw; None for generators without cameras."""
        seed = int(batch["view_seed"]) if "view_seed" in batch else 0
        return self.source.sample_view(torch.Generator().manual_seed(seed))

    # -- the step -------------------------------------------------------------------------------------------
    def compute_step(self, batch: dict[str, torch.Tensor], backward: bool = True) -> dict[str, torch.Tensor]:
        """Eq. 9 over one step's latents, chunked; back-propagates chunk by chunk and returns detached terms."""
        settings = self.settings
        ws_u, ws_s = self.step_latents(batch)
        layout = self.layout
        coeffs = sample_coefficients(layout.num_adjacent, layout.num_global, settings.weights, settings.use_local,
                                     num_adversarial=layout.num_adversarial).to(ws_u)
        is_global = layout.is_global()
        view = self.view_for(batch)
        num = layout.size
        chunk = self.resolved_chunk_size(num)
        per_sample = {k: torch.zeros(num, device=ws_u.device) for k in ("l2", "per", "id", "local", "global")}

        for start in range(0, num, chunk):
            stop = min(start + chunk, num)
            feat_s = self.source_features(ws_s[start:stop], start)
            img_s = self.source.render(feat_s, ws_s[start:stop], view)
            feat_u = self.unlearned.features(ws_u[start:stop])
            img_u = self.unlearned.render(feat_u, ws_u[start:stop], view)
            glob = is_global[start:stop].to(ws_u.device)
            chunk_loss = ws_u.new_zeros(())
            if (~glob).any():
                loc = ~glob
                terms = self.local_loss(feat_u[loc], feat_s[loc], img_u[loc], img_s[loc])
                chunk_loss = chunk_loss + (coeffs[start:stop][loc] * terms["total"]).sum()
                rows = torch.arange(start, stop, device=ws_u.device)[loc]
                for key in ("l2", "per", "id"):
                    per_sample[key][rows] = terms[key].detach().float()
                per_sample["local"][rows] = terms["total"].detach().float()
            if glob.any():
                dist = self.local_loss.perceptual(img_u[glob], img_s[glob])  # Eq. 8 (build checks it exists)
                chunk_loss = chunk_loss + (coeffs[start:stop][glob] * dist).sum()
                rows = torch.arange(start, stop, device=ws_u.device)[glob]
                per_sample["global"][rows] = dist.detach().float()
            if backward and chunk_loss.requires_grad:
                # Lightning's manual_backward (precision scaling, DDP) when fitting; plain autograd otherwise.
                if self._trainer is not None:
                    self.manual_backward(chunk_loss)
                else:
                    chunk_loss.backward()
        return step_terms(per_sample, layout, settings.weights, settings.use_local)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        optimizer = self.optimizers()
        optimizer.zero_grad(set_to_none=True)
        terms = self.compute_step(batch)
        total = terms["total"]
        if not math.isfinite(float(total)):
            shown = ", ".join(f"{k}={float(v):.4g}" for k, v in terms.items())
            raise NonFiniteLossError(
                f"non-finite GUIDE loss at step {self.global_step} ({shown}); the weights were not updated. "
                "Lower method.lr, check the generator checkpoint, or use trainer.precision=32-true."
            )
        optimizer.step()
        self.log_dict({f"loss/{k}": v for k, v in terms.items()}, prog_bar=False, on_step=True, on_epoch=False)
        self.log("loss", total, prog_bar=True, on_step=True, on_epoch=False, logger=False)
        return total

    # -- results --------------------------------------------------------------------------------------------
    def unlearned_synthesis_state(self) -> dict[str, torch.Tensor]:
        """G_u's synthesis weights (what GUIDE changed), on the CPU."""
        return {k: v.detach().cpu().clone() for k, v in self.unlearned.trainable_synthesis.state_dict().items()}

    def trainable_parameter_names(self) -> list[str]:
        """Names of every parameter that receives gradients (only G_u's synthesis)."""
        return [name for name, p in self.named_parameters() if p.requires_grad]

