"""How often a random face of the source generator passes each judge's same-person test against a photo:
`python -m guide_pl.tools.judge_calibration --samples 300 --out experiments/calibration/judges.json`.

A judge's "recognised" is only evidence when random faces rarely reach it. For every photo of the shipped
identities (aligned by the pipeline) this counts the random G_s faces each judge accepts as that person and
gives the closest one; for pairs of random faces, the rate at which a judge calls two of them one person.
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from ..atomic import write_json
from ..config import identities_dir, shipped_identities
from ..errors import MissingFileError


def against_photo(judge: Any, photo: Any, samples: Sequence[Any]) -> dict[str, float]:
    """How many `samples` (judge descriptions) `judge` takes for the person of `photo` (a description), with the
    highest cosine, the lowest distance and the 99th-percentile cosine among them."""
    comparisons = [judge.compare_descriptions(photo, sample) for sample in samples]
    cosines = sorted(c.cosine for c in comparisons)
    return {"accepted": sum(c.same_person for c in comparisons), "of": len(comparisons),
            "max_cosine": cosines[-1], "cosine_p99": cosines[min(len(cosines) - 1, int(0.99 * len(cosines)))],
            "min_distance": min(c.distance for c in comparisons)}


def among_samples(judge: Any, samples: Sequence[Any], max_pairs: int = 20000) -> dict[str, float]:
    """The fraction of pairs of different samples (the first `max_pairs`) that `judge` calls one person."""
    pairs = list(itertools.islice(itertools.combinations(range(len(samples)), 2), max_pairs))
    if not pairs:
        raise ValueError("need at least two samples to form a pair")
    accepted = sum(judge.compare_descriptions(samples[i], samples[j]).same_person for i, j in pairs)
    return {"pairs": len(pairs), "accept_rate": accepted / len(pairs)}


def calibrate(num_samples: int, seed: int, truncation_psi: float, identities: Path | None = None,
              progress: bool = True) -> dict[str, Any]:
    """Judge `num_samples` seeded random faces of the embedded default's G_s against every photo of
    `identities` (default: the shipped identities, config.identities_dir)."""
    from ..config import load_config
    from ..evaluation.measures import render
    from ..jobs import build
    from ..method.identity import list_photos

    identities = identities or identities_dir()
    if not identities.is_dir():  # before any weights are loaded
        raise MissingFileError(f"no folder of identities at {identities} (one sub-folder of photos per person)")
    cfg = load_config([])
    generator = build.build_generator(cfg)
    judge, second = build.build_judges(cfg)
    judges = {judge.name: judge}
    if second is not None:
        judges[second.name] = second
    align = build.make_aligner(generator.resolution)
    photos = [(person, path.name, align(path))
              for person in shipped_identities(identities) for path in list_photos(identities / person)]
    z = torch.randn(num_samples, generator.z_dim, generator=torch.Generator().manual_seed(seed))
    samples: dict[str, list[Any]] = {name: [] for name in judges}
    for i in tqdm(range(num_samples), desc="random faces", disable=not progress):
        with torch.no_grad():  # one face at a time: 300 faces at 1024² would hold 4 GB
            image = render(generator, generator.map(z[i : i + 1], truncation_psi))[0]
        for name, judge in judges.items():
            samples[name].append(judge.describe(image))
    result: dict[str, Any] = {"generator": cfg.generator.name, "samples": num_samples, "seed": seed,
                              "truncation_psi": truncation_psi, "photos": [], "random_pairs": {}}
    for person, photo_name, photo in photos:
        row: dict[str, Any] = {"identity": person, "photo": photo_name}
        for name, judge in judges.items():
            row[name] = against_photo(judge, judge.describe(photo), samples[name])
        result["photos"].append(row)
    for name, judge in judges.items():
        result["random_pairs"][name] = among_samples(judge, samples[name])
    return result


def summary_lines(result: dict[str, Any]) -> list[str]:
    """One line per judge: random faces accepted as a photo's person, the closest one, pairs accepted."""
    lines = []
    for name, pairs in result["random_pairs"].items():
        rows = [row[name] for row in result["photos"]]
        accepted, total = sum(r["accepted"] for r in rows), sum(r["of"] for r in rows)
        lines.append(f"{name}: random faces accepted as a photo's person {accepted} of {total} "
                     f"({100 * accepted / total:.2f} %), per photo {min(r['accepted'] for r in rows)}–"
                     f"{max(r['accepted'] for r in rows)} of {rows[0]['of']}; highest cosine to a photo "
                     f"{min(r['max_cosine'] for r in rows):.3f}–{max(r['max_cosine'] for r in rows):.3f}, lowest "
                     f"distance {min(r['min_distance'] for r in rows):.3f}; pairs of random faces accepted "
                     f"{100 * pairs['accept_rate']:.2f} % of {pairs['pairs']}")
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point: calibrate, write the JSON atomically, print one line per judge."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=300, help="random G_s faces (default 300)")
    parser.add_argument("--seed", type=int, default=20261122, help="seed of their z's")
    parser.add_argument("--psi", type=float, default=1.0, help="truncation ψ (1: untruncated)")
    parser.add_argument("--identities", type=Path, default=None,
                        help="one sub-folder of photos per person (default: the shipped identities)")
    parser.add_argument("--out", type=Path, default=Path("experiments/calibration/judges.json"))
    args = parser.parse_args(argv)
    if args.samples < 2:
        parser.error("--samples must be at least 2")
    result = calibrate(args.samples, args.seed, args.psi, args.identities)
    write_json(args.out, result)
    print("\n".join(summary_lines(result)))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
