"""The composition root: what each config key builds, and the problems it refuses before any work."""


from guide_pl.config import load_config


def test_reinversion_attacker_lays_its_options_over_the_scenario_inverter():
    from guide_pl.jobs.build import build_inverter

    base = ["generator=tiny", "scenario=photos", "scenario.inverter.options.steps=7"]
    own = build_inverter(load_config(base), progress=False)
    same = build_inverter(load_config(base), progress=False, role="attacker")
    assert (own.inner.steps, own.inner.latent_space) == (same.inner.steps, same.inner.latent_space) == (7, "wplus")
    stronger = build_inverter(load_config([*base, "evaluation.reinversion_inverter.options.latent_space=w"]),
                              progress=False, role="attacker")
    assert (stronger.inner.steps, stronger.inner.latent_space) == (7, "w")
    named = build_inverter(load_config([*base, "evaluation.reinversion_inverter.name=optimize",
                                        "evaluation.reinversion_inverter.options.steps=3"]),
                           progress=False, role="attacker")
    assert (named.inner.steps, named.inner.latent_space) == (3, "wplus")  # only its own options


def test_adversarial_attacker_lays_its_options_over_the_scenario_inverter():
    from guide_pl.jobs.build import build_inverter

    base = ["generator=tiny", "scenario=photos", "scenario.inverter.options.steps=7"]
    cfg = load_config([*base, "method.adversarial_inverter.options.start=sample"])
    adversary = build_inverter(cfg, progress=False, role="adversary", cached=False)
    assert (adversary.steps, adversary.start) == (7, "sample")
    # Neither the scenario's inverter nor the evaluation's attacker take the adversary's options.
    assert build_inverter(cfg, progress=False, role="attacker").inner.start == "mean"
    assert build_inverter(cfg, progress=False).inner.start == "mean"
    assert build_inverter(cfg, progress=False).reseeded(3).inner.seed == 3  # the cache wrapper reseeds its inner

