"""Values that make no sense are refused when the config loads, with one line naming the key."""

import pytest

from guide_pl.config import ConfigError, load_config


@pytest.mark.parametrize("override, message", [
    ("method.lambda_adj=-5", "method.lambda_adj must be ≥ 0"),
    ("method.lambda_global=-0.1", "method.lambda_global must be ≥ 0"),
    ("method.lambda_id=nan", "method.lambda_id must be ≥ 0 and finite"),
    ("method.lambda_l2=inf", "method.lambda_l2 must be ≥ 0 and finite"),
    ("method.lambda_adversarial=-1", "method.lambda_adversarial must be ≥ 0"),
    ("generator.truncation_psi=nan", "generator.truncation_psi must be a positive finite number"),
    ("generator.truncation_psi=0", "generator.truncation_psi must be a positive finite number"),
    ("evaluation.grid_samples=-1", "evaluation.grid_samples must be ≥ 0"),
    ("evaluation.fid_samples=1", "evaluation.fid_samples must be ≥ 2"),
    ("method.d=nan", "method.d must be positive"),
    ("method.alpha_max=-1", "method.alpha_max must be ≥ 0"),
    ("method.lr=0", "method.lr must be positive"),
    ("trainer.accelerator=quantum", "trainer.accelerator must be one of"),
    ("trainer.devices=0", "trainer.devices must be"),
    ("trainer.precision=8-bit", "trainer.precision must be one of"),
    ("trainer.log_every_n_steps=0", "trainer.log_every_n_steps must be ≥ 1"),
    ("method.trainable_max_resolution=0", "method.trainable_max_resolution must be ≥ 1"),
    ("generator.noise_mode=loud", "generator.noise_mode must be one of"),
])
def test_nonsense_values_are_refused_with_one_line(override, message):
    with pytest.raises(ConfigError, match=message) as info:
        load_config(["generator=tiny", override])
    assert "\n" not in str(info.value)


def test_sensible_values_pass():
    cfg = load_config(["generator=tiny", "method.lambda_adj=0", "evaluation.grid_samples=0", "trainer.devices=2",
                       "generator.truncation_psi=0.7", "trainer.precision=bf16-mixed", "trainer.accelerator=cpu"])
    assert cfg.method.lambda_adj == 0 and cfg.trainer.devices == 2
