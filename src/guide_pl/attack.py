"""`guide-pl attack RUN`: run a re-inversion attack, with any attacker settings, on a finished run's G_u.

The main job attacks with one inverter (evaluation.reinversion_inverter); a stronger or different attacker
(free W+ rows, more steps, no identity term) is a question a user asks afterwards, of the same unlearned
weights. The attacker also runs on G_s as a reference: how well it finds the person where nothing was erased.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from . import atomic
from .config import ConfigError, load_saved_config
from .generators.base import FaceGenerator

ATTACK_PREFIX = "evaluation.reinversion_inverter"
SECOND_JUDGE_KEY = "evaluation.second_judge"  # may be set too: a run made before it existed can be judged by it


def load_unlearned(path: Path, generator: FaceGenerator, expected_name: str) -> tuple[FaceGenerator, dict]:
    """G_u (a copy of `generator` with the synthesis weights of a run's unlearned.pt) and the file's contents;
    clear errors if unusable."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: the run has not finished (no unlearned generator yet)")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=False)
        if saved.get("generator") != expected_name:
            raise ValueError(f"it holds generator {saved.get('generator')!r}, the run's config says {expected_name!r}")
        unlearned = copy.deepcopy(generator)
        unlearned.synthesis.load_state_dict(saved["synthesis_state_dict"])
    except Exception as error:  # noqa: BLE001 - any failure means the file cannot be trusted
        raise ValueError(f"cannot load the unlearned generator from {path}: {error}") from error
    return unlearned.eval().requires_grad_(False), saved


def attack_label(overrides: Sequence[str]) -> str:
    """A file name for an attacker: `default`, or a short hash of its overrides."""
    if not overrides:
        return "default"
    return "attack-" + hashlib.sha256("\n".join(sorted(overrides)).encode()).hexdigest()[:10]


def attack_run(run_dir: str | Path, overrides: Sequence[str] = (), on_source: bool = True,
               progress: bool = True) -> dict[str, Any]:
    """Invert the run's source photo (or G_s(w_u) without photos) into G_u (and G_s) with the attacker that
    `overrides` (keys under evaluation.reinversion_inverter) configure; judge it (and with
    evaluation.second_judge); write attacks/<label>.json, labelled by the attacker's overrides only."""
    from .data import list_photos
    from .evaluation import reinvert, render
    from .generators import build_generator
    from .images import save_grid
    from .runner import build_inverter, build_judge, build_second_judge, make_aligner, options

    run_dir = Path(run_dir)
    config_file = run_dir / "config.yaml"
    if not config_file.is_file():
        raise FileNotFoundError(f"{config_file} does not exist: {run_dir} is not a guide-pl run folder")
    wrong = [item for item in overrides
             if not item.startswith(ATTACK_PREFIX + ".") and item.split("=", 1)[0] != SECOND_JUDGE_KEY]
    if wrong:
        raise ConfigError(f"attack overrides must be keys under {ATTACK_PREFIX} (the attacker) or "
                          f"{SECOND_JUDGE_KEY}, got {wrong[0]!r}")
    attacker_overrides = [item for item in overrides if item.startswith(ATTACK_PREFIX + ".")]
    cfg = load_saved_config(config_file, overrides)
    noise = cfg.generator.noise_mode
    generator = build_generator(cfg.generator.name, **options(cfg.generator.options)).eval()
    unlearned, saved = load_unlearned(run_dir / "unlearned.pt", generator, cfg.generator.name)
    if cfg.scenario.name == "photos":
        image = make_aligner(generator.resolution)(list_photos(cfg.scenario.photos)[0])
    else:
        image = render(generator, saved["w_u"][:1], noise)[0]
    judge, second = build_judge(cfg), build_second_judge(cfg)
    invert = build_inverter(cfg, progress, attacker=True).invert
    result: dict[str, Any] = {"run": str(run_dir), "overrides": attacker_overrides,
                              "attacker": options(cfg.evaluation.reinversion_inverter)}
    row = [image]
    targets = [("unlearned", unlearned)] + ([("source", generator)] if on_source else [])
    for name, net in targets:
        w_re, rendered, comparison = reinvert(judge, image, net, invert, noise)
        result[name] = {"recognised": comparison.same_person, "distance": comparison.distance,
                        "latent_distance_to_w_avg": float((w_re - generator.w_avg.cpu()).flatten(1).norm(dim=1)[0])}
        if second is not None:
            comparison2 = second.compare(image, rendered)
            result[name]["second_judge"] = {"name": second.name, "recognised": comparison2.same_person,
                                            "cosine": comparison2.cosine}
        row.append(rendered)
    label = attack_label(attacker_overrides)
    out_dir = run_dir / "attacks"
    out_dir.mkdir(exist_ok=True)
    atomic.write_json(out_dir / f"{label}.json", result)
    save_grid([row], out_dir / f"{label}.png", cell_size=192,
              labels=["photo", "G_u(re-inverted)"] + (["G_s(re-inverted)"] if on_source else []))
    return result


def attack_summary(result: dict[str, Any]) -> str:
    """One line per attacked generator: recognised or not, and the judge's distance."""
    lines = [f"attacker: {result['attacker']}"]
    def verdict(recognised: bool) -> str:
        return "recognised" if recognised else "not recognised"

    for name in ("unlearned", "source"):
        if name in result:
            r = result[name]
            line = f"  {name:<9} distance {r['distance']:.3f} → {verdict(r['recognised'])}"
            if "second_judge" in r:
                second = r["second_judge"]
                line += f"; {second['name']}: cosine {second['cosine']:.3f} → {verdict(second['recognised'])}"
            lines.append(line)
    return "\n".join(lines)
