"""bench_step: whole GUIDE steps per CPU lever, on `tiny` (fast)."""

import math

from guide_pl.generators import build_generator
from guide_pl.tools.bench_step import time_variant


def test_time_variant_counts_the_trainable_set_and_runs_bf16():
    full = time_variant(["generator=tiny"], "32-true", repeats=1)
    low = time_variant(["generator=tiny", "method.trainable_max_resolution=8"], "bf16-mixed", repeats=1)
    tiny = build_generator("tiny")  # the config's tiny: 32², so stages 4, 8, 16, 32
    syn = tiny.synthesis
    expected_low = sum(p.numel() for p in [syn.const, *syn.layer4.parameters(), *syn.torgb4.parameters(),
                                           *syn.blocks[0].parameters(), *syn.torgbs[0].parameters()])
    assert full["trainable_parameters"] == sum(p.numel() for p in syn.parameters())
    assert low["trainable_parameters"] == expected_low < full["trainable_parameters"]
    for result in (full, low):
        assert result["latents_per_step"] == 1 + 2 + 2  # the method's defaults: N_a = N_g = 2
        assert len(result["seconds_per_step_runs"]) == 1 and result["seconds_per_step_min"] > 0
        assert math.isfinite(result["last_total_loss"])
