"""Time a generator's synthesis pass: `python -m guide_pl.tools.bench --out experiments/bench/mobilestylegan.json`.

Seconds per image for forward and forward+backward (gradients for every synthesis parameter) at each batch
size and loss resolution (the generator always renders full resolution; the loss image is area-downsampled).
Each figure is the minimum over `--repeats` timed runs after one warm-up (the machine may be shared: the
minimum is the least disturbed run; all runs are kept in the JSON, with the load average).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ..atomic import write_json
from ..config import load_config
from ..jobs.build import build_generator


def _time_once(gen, batch: int, loss_resolution: int, backward: bool, seed: int) -> float:
    z = torch.randn(batch, gen.z_dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        ws = gen.map(z)
    gen.zero_grad(set_to_none=True)
    start = time.perf_counter()
    with torch.set_grad_enabled(backward):
        image = gen.synthesis(ws, noise_mode="const")
        if loss_resolution != image.shape[-1]:
            image = F.interpolate(image, size=(loss_resolution, loss_resolution), mode="area")
        loss = image.square().mean()
        if backward:
            loss.backward()
    return time.perf_counter() - start


def run(
    generator: str, batches: list[int], loss_resolutions: list[int], repeats: int, threads: int, overrides: list[str]
) -> dict:
    """Measure every (mode, batch, loss resolution) and return the results as a JSON-ready dict."""
    torch.set_num_threads(threads)
    gen = build_generator(load_config([f"generator={generator}", *overrides]))
    rows = []
    load_before = os.getloadavg()
    for backward in (False, True):
        for batch in batches:
            for loss_resolution in loss_resolutions:
                _time_once(gen, batch, loss_resolution, backward, seed=0)  # warm-up
                runs = [_time_once(gen, batch, loss_resolution, backward, seed=1 + r) for r in range(repeats)]
                rows.append(
                    {
                        "mode": "forward+backward" if backward else "forward",
                        "batch": batch,
                        "render_resolution": gen.resolution,
                        "loss_resolution": loss_resolution,
                        "seconds_per_image_min": min(runs) / batch,
                        "seconds_per_batch_runs": runs,
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
    return {
        "generator": generator,
        "overrides": overrides,
        "threads": threads,
        "repeats": repeats,
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "THP_MEM_ALLOC_ENABLE": os.environ.get("THP_MEM_ALLOC_ENABLE"),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "results": rows,
    }


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--generator", default="mobilestylegan")
    parser.add_argument("--checkpoint-dir", default=None, help="generator checkpoint folder (default per backend)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--loss-resolutions", type=int, nargs="+", default=[1024, 256])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    if os.environ.get("THP_MEM_ALLOC_ENABLE") != "1":
        print("note: THP_MEM_ALLOC_ENABLE=1 is not set; large convolutions are about 2x slower without it")
    overrides = [f"generator.options.checkpoint_dir={args.checkpoint_dir}"] if args.checkpoint_dir else []
    result = run(args.generator, args.batches, args.loss_resolutions, args.repeats, args.threads, overrides)
    write_json(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
