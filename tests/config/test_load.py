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


def test_configs_ship_inside_the_package_and_an_env_folder_replaces_them(tmp_path, monkeypatch):
    from importlib import resources

    from guide_pl.config import available, config_dir

    shipped = resources.files("guide_pl.config")
    assert (shipped / "default.yaml").is_file() and available("generator") == ["eg3d", "mobilestylegan", "tiny"]
    assert available("method/preset") == ["paper"] and config_dir() == shipped
    (tmp_path / "generator").mkdir()
    (tmp_path / "default.yaml").write_text("defaults:\n  generator: mine\n")
    (tmp_path / "generator" / "mine.yaml").write_text("generator:\n  name: tiny\n  truncation_psi: 0.5\n")
    monkeypatch.setenv("GUIDE_PL_CONFIG_DIR", str(tmp_path))
    cfg = load_config()
    assert cfg.generator.name == "tiny" and cfg.generator.truncation_psi == 0.5
    assert cfg.method.name == "guide" and cfg.trainer.max_steps == 1000  # the schema's defaults
    (tmp_path / "generator" / "broken.yaml").write_text("generator: [unclosed\n")
    with pytest.raises(ConfigError, match="cannot read config file .*broken.yaml"):
        load_config(["generator=broken"])


def test_the_schema_holds_the_defaults_and_the_paper_preset_restates_them():
    """default.yaml only chooses groups, and the paper's values are the schema's (one home per setting)."""
    from importlib import resources

    from omegaconf import OmegaConf

    from guide_pl.config import Config

    default = OmegaConf.load(resources.files("guide_pl.config") / "default.yaml")
    assert set(default) == {"defaults"}
    schema = OmegaConf.structured(Config)
    paper = OmegaConf.load(resources.files("guide_pl.config") / "method" / "preset" / "paper.yaml")
    for section, values in paper.items():
        for key, value in values.items():
            assert schema[section][key] == value, f"{section}.{key}"
