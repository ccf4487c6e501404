"""GuideModule: what trains, what stays frozen, chunking, sampling, and that unlearning makes progress."""

import copy
import dataclasses

import pytest
import pytorch_lightning as pl
import torch

from guide_pl.config import load_config
from guide_pl.faces.identity_distance import CosineIdentityDistance
from guide_pl.faces.simple import PixelL2, RandomCNNEmbedder
from guide_pl.jobs.build import guide_settings
from guide_pl.method.data import UnlearnDataModule
from guide_pl.method.draws import StepDraws
from guide_pl.method.identity import random_identity
from guide_pl.method.losses import LocalLoss
from guide_pl.method.module import GuideModule

# d, α_max and lr of these tests (not the paper's: tiny's latents are small and short fits must move).
TEST_METHOD = ["generator=tiny", "method.d=20", "method.alpha_max=8", "method.lr=1e-3", "trainer.seed=1",
               "trainer.max_steps=10"]


def settings_for(*overrides):
    """GuideSettings of the tiny test config with `overrides` (dotted config keys), through the composition root."""
    return guide_settings(load_config([*TEST_METHOD, *overrides]), scale=1.0)


def make_module(tiny, *overrides):
    settings = settings_for(*overrides)
    loss = LocalLoss(PixelL2(), CosineIdentityDistance(RandomCNNEmbedder(dim=16)), settings.weights)
    return GuideModule(tiny, random_identity(tiny, seed=3, truncation_psi=1.0).w_u, loss, settings)


def draws(index=0, z_dim=64):
    return StepDraws(settings_for(), z_dim)[index]


def fit(module, steps, callbacks=()):
    trainer = pl.Trainer(max_steps=steps, max_epochs=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
                         callbacks=list(callbacks))
    settings = dataclasses.replace(module.settings, max_steps=steps)
    trainer.fit(module, datamodule=UnlearnDataModule(settings, module.source.z_dim))
    return trainer


def test_only_unlearned_synthesis_receives_gradients(tiny):
    module = make_module(tiny)
    module.compute_step(draws(), backward=True)
    with_grad = {n for n, p in module.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert with_grad, "no parameter received a gradient"
    assert all(n.startswith("unlearned.synthesis.") for n in with_grad)
    assert set(module.trainable_parameter_names()) == {f"unlearned.synthesis.{n}"
                                                       for n, _ in tiny.synthesis.named_parameters()}
    assert not module.source.training


def test_source_generator_bit_identical_after_training(tiny):
    module = make_module(tiny)
    before = copy.deepcopy(module.source.state_dict())
    unlearned_before = copy.deepcopy(module.unlearned.state_dict())
    fit(module, steps=3)
    after = module.source.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not module.source.training
    changed = [k for k, v in module.unlearned.state_dict().items() if not torch.equal(v, unlearned_before[k])]
    assert changed and all(k.startswith("synthesis.") for k in changed)


def test_alpha_bounds_and_seeded_draws():
    settings = settings_for("method.alpha_max=15", "method.num_adjacent=3", "trainer.max_steps=200",
                            "trainer.seed=4")
    dataset = StepDraws(settings, 8)
    alphas = torch.cat([dataset[i]["alpha"] for i in range(200)])
    assert alphas.min() >= 0 and alphas.max() < 15.0
    assert alphas.max() > 14.0 and alphas.min() < 1.0  # the whole range is used
    again = StepDraws(settings, 8)[17]
    assert all(torch.equal(dataset[17][k], again[k]) for k in again)
    assert not torch.equal(dataset[17]["z_adj"], dataset[18]["z_adj"])
    resumed = StepDraws(settings, 8, start_step=17)  # a resumed run sees the draws it would have seen
    assert len(resumed) == 183 and all(torch.equal(resumed[0][k], again[k]) for k in again)


def test_the_baseline_draws_no_latents_it_does_not_use():
    baseline = StepDraws(settings_for("method=baseline"), 8)[0]
    assert baseline["z_adj"].shape == (0, 8) and baseline["z_glob"].shape == (0, 8) and baseline["alpha"].numel() == 0


def test_shared_delta_and_global_samples_differ(tiny):
    module = make_module(tiny)
    batch = draws()
    ws_u, ws_s = module.step_latents(batch)
    assert ws_u.shape[0] == 5
    delta_u = ws_u[1:3] - module.w_u
    delta_s = ws_s[1:3] - module.w_t
    assert torch.allclose(delta_u, delta_s, atol=1e-5)  # the same Δ_i shifts source and target (Eq. 6)
    norms = delta_u.flatten(1).norm(dim=1)
    assert torch.allclose(norms, batch["alpha"], atol=1e-4)  # ‖Δ_i‖ = α_i
    assert not torch.allclose(batch["z_glob"], batch["z_adj"])
    w_adj = tiny.map(batch["z_adj"])
    for g in ws_u[3:]:
        assert all((g - w).abs().max() > 1e-3 for w in w_adj)
    assert torch.equal(ws_u[3:], ws_s[3:])  # global samples go through both generators unchanged


@pytest.mark.parametrize("chunk_size", [2, 3, 5])
def test_every_chunk_size_gives_the_same_step(tiny, chunk_size):
    reference = make_module(tiny, "trainer.chunk_size=1")
    other = copy.deepcopy(reference)
    other.settings = dataclasses.replace(reference.settings, chunk_size=chunk_size)
    batch = draws(index=2)
    terms_ref = reference.compute_step(batch)
    terms = other.compute_step(batch)
    for key in terms_ref:
        assert torch.allclose(terms[key], terms_ref[key], rtol=1e-5, atol=1e-6), key
    grads_ref = {n: p.grad for n, p in reference.named_parameters() if p.grad is not None}
    grads = {n: p.grad for n, p in other.named_parameters() if p.grad is not None}
    assert grads.keys() == grads_ref.keys()
    for name in grads_ref:
        assert torch.allclose(grads[name], grads_ref[name], rtol=1e-4, atol=1e-6), name


def test_target_cache_matches_direct_computation(tiny):
    module = make_module(tiny)
    ws_u, ws_s = module.step_latents(draws())
    cached = module.source_features(ws_s, 0)
    again = module.source_features(ws_s, 0)  # served from the cache for row 0
    direct = tiny.features(ws_s)
    # Row 0 was computed alone, the others as a batch: equal up to float32 summation order.
    assert torch.allclose(cached, direct, atol=1e-5) and torch.equal(again, cached)
    assert module._target_cache is not None


def test_baseline_uses_local_loss_only(tiny):
    module = make_module(tiny, "method=baseline")
    ws_u, _ = module.step_latents(draws())
    assert ws_u.shape[0] == 1
    assert torch.allclose(module.w_t, tiny.w_avg.expand_as(module.w_t))
    terms = module.compute_step(draws())
    assert terms["adjacency"] == 0 and terms["global"] == 0
    assert torch.allclose(terms["total"], terms["local"])


def test_short_fit_lowers_local_loss(tiny):
    module = make_module(tiny, "method.lr=3e-3")
    batch = draws()
    before = module.compute_step(batch, backward=False)["local"].item()
    fit(module, steps=25)
    after = module.compute_step(batch, backward=False)["local"].item()
    assert after < 0.7 * before, (before, after)


def test_nan_loss_is_a_clear_error_and_weights_stay(tiny):
    class NaNDistance(torch.nn.Module):
        def forward(self, x, y):
            return torch.full((x.shape[0],), float("nan"))

    settings = settings_for()
    w_u = random_identity(tiny, seed=0, truncation_psi=1.0).w_u
    module = GuideModule(tiny, w_u, LocalLoss(NaNDistance(), None, settings.weights), settings)
    before = copy.deepcopy(module.unlearned.state_dict())
    with pytest.raises(FloatingPointError, match="non-finite GUIDE loss at step 0"):
        fit(module, steps=2)
    assert all(torch.equal(before[k], v) for k, v in module.unlearned.state_dict().items())


def test_rejects_several_source_latents(tiny):
    settings = settings_for()
    with pytest.raises(ValueError, match="one identity"):
        GuideModule(tiny, tiny.map(torch.randn(2, 64)), LocalLoss(PixelL2(), None, settings.weights), settings)


def test_stages_partition_the_synthesis_parameters(tiny):
    stages = tiny.synthesis_stages()
    assert [res for res, _ in stages] == [4, 8, 16]
    ids = [id(p) for _, params in stages for p in params]
    assert len(ids) == len(set(ids))  # no parameter in two stages
    assert set(ids) == {id(p) for p in tiny.synthesis.parameters()}  # and none left out


def test_input_side_training_changes_only_low_resolution_stages(tiny):
    module = make_module(tiny, "method.trainable_max_resolution=8")
    trainable = {id(p) for res, params in module.unlearned.synthesis_stages() if res <= 8 for p in params}
    frozen = {id(p) for res, params in module.unlearned.synthesis_stages() if res > 8 for p in params}
    assert {id(p) for p in module.unlearned.parameters() if p.requires_grad} == trainable
    optimised = {id(p) for group in module.configure_optimizers().param_groups for p in group["params"]}
    assert optimised == trainable
    before = {id(p): p.detach().clone() for p in module.unlearned.synthesis.parameters()}
    fit(module, steps=2)
    after = {id(p): p for p in module.unlearned.synthesis.parameters()}
    assert all(torch.equal(before[i], after[i]) for i in frozen)
    assert any(not torch.equal(before[i], after[i]) for i in trainable)
    with pytest.raises(ValueError, match=r"resolution ≤ 2; its stages: \[4, 8, 16\]"):
        make_module(tiny, "method.trainable_max_resolution=2")


def test_adversarial_latents_join_the_step_with_the_ufo_displacement(tiny):
    module = make_module(tiny)
    w_r = tiny.map(torch.randn(2, 64, generator=torch.Generator().manual_seed(7)))
    module.add_adversarial_latent(w_r)
    ws_u, ws_s = module.step_latents(draws())
    assert ws_u.shape[0] == 1 + 2 + 2 + 2  # local, adjacent × 2, adversarial × 2, global × 2
    assert torch.equal(ws_u[3:5], w_r)
    # G_s side: w_t + (w_r − w_u), i.e. w_r shifted by the same displacement UFO gave w_u (Eq. 6 with Δ = w_r − w_u).
    assert torch.allclose(ws_s[3:5] - ws_u[3:5], (module.w_t - module.w_u).expand(2, -1, -1), atol=1e-5)
    assert torch.equal(ws_u[5:], ws_s[5:])  # the global samples are untouched
    # Only the newest adversarial_memory (3) are kept.
    module.add_adversarial_latent(w_r + 1.0)
    module.add_adversarial_latent(w_r[:1] + 2.0)
    assert module.num_adversarial == 3
    assert torch.equal(module.w_adversarial, torch.cat([w_r[1:] + 1.0, w_r + 1.0, w_r[:1] + 2.0])[-3:])


def test_adversarial_term_is_the_local_loss_of_its_latents(tiny):
    module = make_module(tiny, "trainer.chunk_size=2", "method.lambda_adversarial=0.5")
    w_r = tiny.map(torch.randn(2, 64, generator=torch.Generator().manual_seed(8)))
    module.add_adversarial_latent(w_r)
    terms = module.compute_step(draws(), backward=False)
    with torch.no_grad():  # independently: the local loss of G_u(w_r) against G_s(w_t + w_r − w_u), averaged
        shifted = module.w_t + (w_r - module.w_u)
        feat_u, feat_s = module.unlearned.features(w_r), module.source.features(shifted)
        expected = module.local_loss(feat_u, feat_s, module.unlearned.render(feat_u, w_r),
                                     module.source.render(feat_s, shifted))["total"].mean()
    assert torch.allclose(terms["adversarial"], expected, rtol=1e-5)
    manual = terms["local"] + terms["adjacency"] + 0.5 * terms["adversarial"] + terms["global"]
    assert torch.allclose(terms["total"], manual, rtol=1e-6)
    plain = make_module(tiny, "trainer.chunk_size=2")
    assert plain.compute_step(draws(), backward=False)["adversarial"] == 0  # none added: Eq. 9 as in the paper


def test_adversarial_callback_finds_latents_at_its_steps_and_they_are_unlearned(tiny):
    from guide_pl.method.callbacks import AdversarialLatents

    module = make_module(tiny, "method.lr=3e-3")
    w_r = tiny.map(torch.randn(1, 64, generator=torch.Generator().manual_seed(9)))
    calls = []

    def fake_attack(generator, refresh):
        calls.append((refresh, generator.training, generator is module.unlearned))
        return w_r, 0.5

    class ModeProbe(pl.Callback):
        modes = []

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, idx):
            self.modes.append(pl_module.unlearned.training)

    adversary, probe_modes = AdversarialLatents(fake_attack, every_n_steps=3), ModeProbe()
    probe = copy.deepcopy(module)
    probe.add_adversarial_latent(w_r)
    before = probe.compute_step(draws(), backward=False)["adversarial"].item()
    fit(module, steps=25, callbacks=[adversary, probe_modes])
    assert [r["step"] for r in adversary.found] == [3, 6, 9, 12, 15, 18, 21, 24]  # never before the first step
    assert all(r["judge_distance"] == 0.5 and r["latent_distance_to_w_u"] > 0 for r in adversary.found)
    # The attack runs on G_u in eval mode; refresh k of the run is attack k (seeds 1, 2, …: never the
    # evaluation attacker's seed 0).
    assert [c[0] for c in calls] == list(range(1, 9)) and calls[0][1:] == (False, True)
    # G_u's mode after each attack is what it was before (the same at every step as at steps 0–2).
    assert len(probe_modes.modes) == 25 and len(set(probe_modes.modes)) == 1
    assert module.num_adversarial == 3 and torch.equal(module.w_adversarial[0], w_r[0])
    probe.unlearned.load_state_dict(module.unlearned.state_dict())
    after = probe.compute_step(draws(), backward=False)["adversarial"].item()
    assert after < 0.7 * before, (before, after)
