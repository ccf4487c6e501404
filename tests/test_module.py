"""GuideModule: what trains, what stays frozen, chunking, sampling, and that unlearning makes progress."""

import copy

import pytest
import pytorch_lightning as pl
import torch

from guide_pl.data import StepDraws, UnlearnDataModule
from guide_pl.faces.identity_distance import CosineIdentityDistance
from guide_pl.faces.simple import PixelL2, RandomCNNEmbedder
from guide_pl.losses import LocalLoss, LossWeights
from guide_pl.module import GuideModule, GuideSettings


def make_module(tiny, chunk_size=None, lr=1e-3, **settings):
    data = UnlearnDataModule(tiny, "random", num_steps=4, identity_seed=3)
    data.setup()
    loss = LocalLoss(PixelL2(), CosineIdentityDistance(RandomCNNEmbedder(dim=16)), LossWeights())
    module = GuideModule(tiny, data.w_u, loss, GuideSettings(d=20.0, alpha_max=8.0, lr=lr, chunk_size=chunk_size,
                                                             **settings))
    return module, data


def draws(index=0, n_adj=2, n_glob=2, z_dim=64, alpha_max=8.0):
    return StepDraws(10, z_dim, n_adj, n_glob, alpha_max, seed=1)[index]


def fit(module, data, steps):
    trainer = pl.Trainer(max_steps=steps, max_epochs=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")
    data.num_steps = steps
    trainer.fit(module, datamodule=data)
    return trainer


def test_only_unlearned_synthesis_receives_gradients(tiny):
    module, _ = make_module(tiny)
    module.compute_step(draws(), backward=True)
    with_grad = {n for n, p in module.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert with_grad, "no parameter received a gradient"
    assert all(n.startswith("unlearned.synthesis.") for n in with_grad)
    assert set(module.trainable_parameter_names()) == {f"unlearned.synthesis.{n}"
                                                       for n, _ in tiny.synthesis.named_parameters()}
    assert not module.source.training


def test_source_generator_bit_identical_after_training(tiny):
    module, data = make_module(tiny)
    before = copy.deepcopy(module.source.state_dict())
    unlearned_before = copy.deepcopy(module.unlearned.state_dict())
    fit(module, data, steps=3)
    after = module.source.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not module.source.training
    changed = [k for k, v in module.unlearned.state_dict().items() if not torch.equal(v, unlearned_before[k])]
    assert changed and all(k.startswith("synthesis.") for k in changed)


def test_alpha_bounds_and_seeded_draws():
    dataset = StepDraws(200, 8, 3, 2, alpha_max=15.0, seed=4)
    alphas = torch.cat([dataset[i]["alpha"] for i in range(200)])
    assert alphas.min() >= 0 and alphas.max() < 15.0
    assert alphas.max() > 14.0 and alphas.min() < 1.0  # the whole range is used
    again = StepDraws(200, 8, 3, 2, alpha_max=15.0, seed=4)[17]
    assert all(torch.equal(dataset[17][k], again[k]) for k in again)
    assert not torch.equal(dataset[17]["z_adj"], dataset[18]["z_adj"])


def test_shared_delta_and_global_samples_differ(tiny):
    module, _ = make_module(tiny)
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
    reference, _ = make_module(tiny, chunk_size=1)
    other = copy.deepcopy(reference)
    other.settings = GuideSettings(**{**reference.settings.__dict__, "chunk_size": chunk_size})
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
    module, _ = make_module(tiny)
    ws_u, ws_s = module.step_latents(draws())
    cached = module.source_features(ws_s, 0)
    again = module.source_features(ws_s, 0)  # served from the cache for row 0
    direct = tiny.features(ws_s)
    # Row 0 was computed alone, the others as a batch: equal up to float32 summation order.
    assert torch.allclose(cached, direct, atol=1e-5) and torch.equal(again, cached)
    assert module._target_cache is not None


def test_baseline_uses_local_loss_only(tiny):
    module, _ = make_module(tiny, target="average", use_adjacency=False, use_global=False)
    ws_u, _ = module.step_latents(draws())
    assert ws_u.shape[0] == 1
    assert torch.allclose(module.w_t, tiny.w_avg.expand_as(module.w_t))
    terms = module.compute_step(draws())
    assert terms["adjacency"] == 0 and terms["global"] == 0
    assert torch.allclose(terms["total"], terms["local"])


def test_short_fit_lowers_local_loss(tiny):
    module, data = make_module(tiny, lr=3e-3)
    batch = draws()
    before = module.compute_step(batch, backward=False)["local"].item()
    fit(module, data, steps=25)
    after = module.compute_step(batch, backward=False)["local"].item()
    assert after < 0.7 * before, (before, after)


def test_nan_loss_is_a_clear_error_and_weights_stay(tiny):
    class NaNDistance(torch.nn.Module):
        def forward(self, x, y):
            return torch.full((x.shape[0],), float("nan"))

    data = UnlearnDataModule(tiny, "random", num_steps=2)
    data.setup()
    module = GuideModule(tiny, data.w_u, LocalLoss(NaNDistance(), None), GuideSettings(d=20.0, alpha_max=8.0))
    before = copy.deepcopy(module.unlearned.state_dict())
    with pytest.raises(FloatingPointError, match="non-finite GUIDE loss at step 0"):
        fit(module, data, steps=2)
    assert all(torch.equal(before[k], v) for k, v in module.unlearned.state_dict().items())


def test_rejects_several_source_latents(tiny):
    loss = LocalLoss(PixelL2(), None)
    with pytest.raises(ValueError, match="one identity"):
        GuideModule(tiny, tiny.map(torch.randn(2, 64)), loss)


def test_stages_partition_the_synthesis_parameters(tiny):
    stages = tiny.synthesis_stages()
    assert [res for res, _ in stages] == [4, 8, 16]
    ids = [id(p) for _, params in stages for p in params]
    assert len(ids) == len(set(ids))  # no parameter in two stages
    assert set(ids) == {id(p) for p in tiny.synthesis.parameters()}  # and none left out


def test_input_side_training_changes_only_low_resolution_stages(tiny):
    module, data = make_module(tiny, trainable_max_resolution=8)
    trainable = {id(p) for res, params in module.unlearned.synthesis_stages() if res <= 8 for p in params}
    frozen = {id(p) for res, params in module.unlearned.synthesis_stages() if res > 8 for p in params}
    assert {id(p) for p in module.unlearned.parameters() if p.requires_grad} == trainable
    optimised = {id(p) for group in module.configure_optimizers().param_groups for p in group["params"]}
    assert optimised == trainable
    before = {id(p): p.detach().clone() for p in module.unlearned.synthesis.parameters()}
    fit(module, data, steps=2)
    after = {id(p): p for p in module.unlearned.synthesis.parameters()}
    assert all(torch.equal(before[i], after[i]) for i in frozen)
    assert any(not torch.equal(before[i], after[i]) for i in trainable)
    with pytest.raises(ValueError, match=r"resolution ≤ 2; its stages: \[4, 8, 16\]"):
        make_module(tiny, trainable_max_resolution=2)


def test_adversarial_latents_join_the_step_with_the_ufo_displacement(tiny):
    module, _ = make_module(tiny)
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
    module, _ = make_module(tiny, chunk_size=2, weights=LossWeights(lambda_adversarial=0.5))
    w_r = tiny.map(torch.randn(2, 64, generator=torch.Generator().manual_seed(8)))
    module.add_adversarial_latent(w_r)
    terms = module.compute_step(draws(), backward=False)
    with torch.no_grad():  # independently: the local loss of G_u(w_r) against G_s(w_t + w_r − w_u), averaged
        shifted = module.w_t + (w_r - module.w_u)
        feat_u, feat_s = module.unlearned.features(w_r), module.source.features(shifted)
        expected = module.local_loss(feat_u, feat_s, module.unlearned.render(feat_u, None),
                                     module.source.render(feat_s, None))["total"].mean()
    assert torch.allclose(terms["adversarial"], expected, rtol=1e-5)
    manual = terms["local"] + terms["adjacency"] + 0.5 * terms["adversarial"] + terms["global"]
    assert torch.allclose(terms["total"], manual, rtol=1e-6)
    plain, _ = make_module(tiny, chunk_size=2)
    assert plain.compute_step(draws(), backward=False)["adversarial"] == 0  # none added: Eq. 9 as in the paper


def test_adversarial_callback_finds_latents_at_its_steps_and_they_are_unlearned(tiny):
    from guide_pl.callbacks import AdversarialLatents

    module, data = make_module(tiny, lr=3e-3)
    w_r = tiny.map(torch.randn(1, 64, generator=torch.Generator().manual_seed(9)))
    calls = []

    def fake_attack(image, generator):
        calls.append((image.shape, generator.training, generator is module.unlearned))
        return w_r

    class ModeProbe(pl.Callback):
        modes = []

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, idx):
            self.modes.append(pl_module.unlearned.training)

    adversary, probe_modes = AdversarialLatents(torch.zeros(3, 32, 32), fake_attack, every_n_steps=3), ModeProbe()
    trainer = pl.Trainer(max_steps=25, max_epochs=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
                         callbacks=[adversary, probe_modes])
    data.num_steps = 25
    probe = copy.deepcopy(module)
    probe.add_adversarial_latent(w_r)
    before = probe.compute_step(draws(), backward=False)["adversarial"].item()
    trainer.fit(module, datamodule=data)
    assert [r["step"] for r in adversary.found] == [3, 6, 9, 12, 15, 18, 21, 24]  # never before the first step
    assert calls[0] == ((1, 3, 32, 32), False, True)  # the attack runs on G_u in eval mode
    # G_u's mode after each attack is what it was before (the same at every step as at steps 0–2).
    assert len(probe_modes.modes) == 25 and len(set(probe_modes.modes)) == 1
    assert module.num_adversarial == 3 and torch.equal(module.w_adversarial[0], w_r[0])
    probe.unlearned.load_state_dict(module.unlearned.state_dict())
    after = probe.compute_step(draws(), backward=False)["adversarial"].item()
    assert after < 0.7 * before, (before, after)


def test_adversarial_callback_reseeds_an_inverter_with_its_refresh_number(tiny):
    from guide_pl.callbacks import AdversarialLatents
    from guide_pl.inversion.base import Inverter

    module, data = make_module(tiny)
    seeds = []

    class SeedRecorder(Inverter):
        def __init__(self, seed=0):
            self.seed = seed

        def reseeded(self, seed):
            return SeedRecorder(seed)

        def invert(self, images, generator):
            seeds.append(self.seed)
            return tiny.w_avg.expand(1, tiny.w_dim)

    trainer = pl.Trainer(max_steps=10, max_epochs=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
                         callbacks=[AdversarialLatents(torch.zeros(3, 32, 32), SeedRecorder(), every_n_steps=3)])
    data.num_steps = 10
    trainer.fit(module, datamodule=data)
    assert seeds == [1, 2, 3]  # steps 3, 6, 9; never the evaluation attacker's seed 0

