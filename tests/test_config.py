"""Config loading: groups, strict keys, overrides, validation."""

import pytest

from guide_pl.config import ConfigError, load_config


def test_defaults_and_groups():
    cfg = load_config()
    assert cfg.generator.name == "mobilestylegan" and cfg.method.name == "guide"
    # The embedded default scales the UFO distances to its latent space ...
    assert cfg.method.distance_unit == "typical" and cfg.trainer.max_steps == 40
    assert (cfg.method.d, cfg.method.alpha_max, cfg.method.lr) == (1.0, 0.5, 3e-4)
    assert cfg.scenario.inverter.options.latent_space == "w"
    assert cfg.method.adversarial_every_n_steps == 0  # an extension, off by default
    # ... while other generators keep the paper's values (§4.1).
    paper = load_config(["generator=tiny"])
    assert paper.method.d == 30.0 and paper.method.alpha_max == 15.0 and paper.method.lr == 1e-4
    assert paper.method.adversarial_every_n_steps == 0
    assert paper.method.distance_unit == "absolute" and paper.trainer.max_steps == 1000
    base = load_config(["method=baseline"])
    assert base.method.target == "average" and not base.method.use_adjacency and not base.method.use_global


def test_overrides_are_typed():
    cfg = load_config(["trainer.max_steps=7", "method.d=12.5", "trainer.chunk_size=2"])
    assert cfg.trainer.max_steps == 7 and cfg.method.d == 12.5 and cfg.trainer.chunk_size == 2
    with pytest.raises(ConfigError, match="method.d"):
        load_config(["method.d=far"])


def test_unknown_key_names_it_and_the_valid_ones():
    with pytest.raises(ConfigError) as info:
        load_config(["method.lambda_foo=1"])
    message = str(info.value)
    assert "method.lambda_foo" in message and "lambda_adj" in message and "alpha_max" in message
    with pytest.raises(ConfigError, match="unknown config key 'bogus'"):
        load_config(["bogus=1"])


def test_unknown_group_file_lists_available():
    with pytest.raises(ConfigError, match="available: baseline, guide"):
        load_config(["method=nonsense"])


def test_value_validation():
    with pytest.raises(ConfigError, match="method.target"):
        load_config(["method.target=nearest"])
    with pytest.raises(ConfigError, match="not of the form"):
        load_config(["method.d"])


def test_identity_shorthand():
    cfg = load_config(["id=random:7"])
    assert cfg.scenario.name == "random" and cfg.scenario.identity_seed == 7
    cfg = load_config(["id=obama"])
    assert cfg.scenario.name == "photos" and cfg.scenario.photos.endswith("data/identities/obama")
    with pytest.raises(ConfigError, match="shipped identity"):
        load_config(["id=nobody_here"])
    with pytest.raises(ConfigError, match="random:<integer seed>"):
        load_config(["id=random:x"])


def test_paper_preset_restores_paper_settings_over_group_files(tmp_path):
    cfg = load_config(["method.preset=paper", "method.d=2.0", "method.distance_unit=typical"])
    assert cfg.trainer.max_steps == 1000 and cfg.method.alpha_max == 15.0 and cfg.method.num_adjacent == 2
    assert cfg.method.lr == 1e-4  # the generator file sets 3e-4; the preset restores the paper's
    assert cfg.method.d == 2.0 and cfg.method.distance_unit == "typical"  # explicit keys still win
    assert cfg.method.adversarial_every_n_steps == 0  # the paper has no adversarial latents
    with pytest.raises(ConfigError, match="no method preset 'fast'"):
        load_config(["method.preset=fast"])


def test_adversarial_latents_are_off_for_the_baseline_and_checked():
    assert load_config(["method=baseline"]).method.adversarial_every_n_steps == 0
    assert load_config(["method=baseline", "method.adversarial_every_n_steps=5"]).method.adversarial_every_n_steps == 5
    with pytest.raises(ConfigError, match="adversarial_every_n_steps must be ≥ 0"):
        load_config(["method.adversarial_every_n_steps=-1"])
    with pytest.raises(ConfigError, match="adversarial_memory must be ≥ 1"):
        load_config(["method.adversarial_memory=0"])


def test_reinversion_attacker_lays_its_options_over_the_scenario_inverter():
    from guide_pl.runner import build_inverter

    base = ["generator=tiny", "scenario=photos", "scenario.inverter.options.steps=7"]
    own = build_inverter(load_config(base), progress=False)
    same = build_inverter(load_config(base), progress=False, attacker=True)
    assert (own.inner.steps, own.inner.latent_space) == (same.inner.steps, same.inner.latent_space) == (7, "wplus")
    stronger = build_inverter(load_config([*base, "evaluation.reinversion_inverter.options.latent_space=w"]),
                              progress=False, attacker=True)
    assert (stronger.inner.steps, stronger.inner.latent_space) == (7, "w")
    named = build_inverter(load_config([*base, "evaluation.reinversion_inverter.name=optimize",
                                        "evaluation.reinversion_inverter.options.steps=3"]),
                           progress=False, attacker=True)
    assert (named.inner.steps, named.inner.latent_space) == (3, "wplus")  # only its own options


def test_adversarial_attacker_lays_its_options_over_the_scenario_inverter():
    from guide_pl.runner import build_inverter

    base = ["generator=tiny", "scenario=photos", "scenario.inverter.options.steps=7"]
    cfg = load_config([*base, "method.adversarial_inverter.options.start=sample"])
    adversary = build_inverter(cfg, progress=False, cached=False, adversary=True)
    assert (adversary.steps, adversary.start) == (7, "sample")
    # Neither the scenario's inverter nor the evaluation's attacker take the adversary's options.
    assert build_inverter(cfg, progress=False, attacker=True).inner.start == "mean"
    assert build_inverter(cfg, progress=False).inner.start == "mean"
    assert build_inverter(cfg, progress=False).reseeded(3).inner.seed == 3  # the cache wrapper reseeds its inner

