"""Time whole GUIDE steps for the CPU levers: `python -m guide_pl.tools.bench_step --out experiments/bench/step.json`.

Each variant is a list of config overrides on top of the default (e.g. `method.trainable_max_resolution=64`) and a
precision (`32-true` or `bf16-mixed`, the latter as CPU autocast, as Lightning's bf16-mixed). One step = the
1 + N_a + N_g latents through G_s and G_u with every loss and its backward, plus the Adam update. Figures are the
minimum over `--repeats` timed steps after one warm-up step (the machine may be shared; all runs are kept).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import time
from pathlib import Path

import torch

from ..atomic import write_json

DEFAULT_VARIANTS = {
    "fp32, all synthesis": ("32-true", []),
    "bf16 autocast, all synthesis": ("bf16-mixed", []),
    "fp32, stages ≤ 64²": ("32-true", ["method.trainable_max_resolution=64"]),
    "bf16 autocast, stages ≤ 64²": ("bf16-mixed", ["method.trainable_max_resolution=64"]),
}


def time_variant(overrides: list[str], precision: str, repeats: int) -> dict:
    """Seconds per GUIDE step (min and all runs) for one configuration, with the identity of random:0."""
    from ..config import load_config
    from ..jobs import build
    from ..method.draws import StepDraws
    from ..method.module import GuideModule

    cfg = load_config(["scenario=random", f"trainer.max_steps={repeats + 1}", *overrides])
    generator = build.build_generator(cfg)
    settings = build.guide_settings(cfg, build.latent_scale(cfg, generator))
    identity = build.build_identity(cfg, generator, progress=False)
    module = GuideModule(generator, identity.w_u, build.build_local_loss(cfg, settings), settings)
    optimizer = module.configure_optimizers()
    draws = StepDraws(settings, generator.z_dim)
    autocast = (torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16-mixed"
                else contextlib.nullcontext())
    runs = []
    for step in range(repeats + 1):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            terms = module.compute_step(draws[step], backward=True)
        optimizer.step()
        if step > 0:
            runs.append(time.perf_counter() - start)
    trainable = sum(p.numel() for p in module.unlearned.parameters() if p.requires_grad)
    return {
        "overrides": overrides,
        "precision": precision,
        "latents_per_step": module.layout.size,
        "trainable_parameters": trainable,
        "seconds_per_step_min": min(runs),
        "seconds_per_step_runs": runs,
        "last_total_loss": float(terms["total"]),
    }


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--variants", nargs="*", default=list(DEFAULT_VARIANTS), help="names of DEFAULT_VARIANTS")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.variants) - set(DEFAULT_VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; valid: {list(DEFAULT_VARIANTS)}")
    torch.set_num_threads(args.threads)
    results = {}
    load_before = os.getloadavg()
    for name in args.variants:
        precision, overrides = DEFAULT_VARIANTS[name]
        results[name] = time_variant(overrides, precision, args.repeats)
        print(f"{name}: {results[name]['seconds_per_step_min']:.2f} s/step", flush=True)
    write_json(
        args.out,
        {
            "threads": args.threads,
            "torch": torch.__version__,
            "THP_MEM_ALLOC_ENABLE": os.environ.get("THP_MEM_ALLOC_ENABLE"),
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
            "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
            "results": results,
        },
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
