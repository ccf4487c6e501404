"""`guide-pl attack RUN`: run a re-inversion attack, with any attacker settings, on a finished run's G_u.

The main job attacks with one inverter (evaluation.reinversion_inverter); a stronger or different attacker
(free W+ rows, more steps, no identity term) is a question a user asks afterwards, of the same unlearned
weights. The attacker also runs on G_s as a reference: how well it finds the person where nothing was erased.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import atomic
from ..evaluation.measures import reinvert
from ..images import save_grid
from .build import build_inverter, build_judges, options
from .rundir import check_overrides, load_finished_run, overrides_label

ATTACK_PREFIX = "evaluation.reinversion_inverter"
SECOND_JUDGE_KEY = "evaluation.second_judge"  # may be set too: a run made before it existed can be judged by it


def attack_run(run_dir: str | Path, overrides: Sequence[str] = (), on_source: bool = True,
               progress: bool = True) -> dict[str, Any]:
    """Invert the run's source photo (or G_s(w_u) without photos) into G_u (and G_s) with the attacker that
    `overrides` (keys under evaluation.reinversion_inverter) configure; judge it (and with
    evaluation.second_judge); write attacks/<label>.json, labelled by the attacker's overrides only."""
    check_overrides(overrides, [ATTACK_PREFIX], [SECOND_JUDGE_KEY], what="attack")
    attacker_overrides = [item for item in overrides if item.startswith(ATTACK_PREFIX + ".")]
    run = load_finished_run(run_dir, overrides, source_photo_only=True)  # the attack needs x_u only
    cfg = run.cfg
    image = run.first_image()
    judge, second = build_judges(cfg)
    invert = build_inverter(cfg, progress, role="attacker").invert
    result: dict[str, Any] = {"run": str(run.folder), "overrides": attacker_overrides,
                              "attacker": options(cfg.evaluation.reinversion_inverter)}
    row = [image]
    targets = [("unlearned", run.unlearned)] + ([("source", run.source)] if on_source else [])
    for name, net in targets:
        w_re, rendered, comparison = reinvert(judge, image, net, invert)
        result[name] = {"recognised": comparison.same_person, "distance": comparison.distance,
                        "latent_distance_to_w_avg": float((w_re - run.source.w_avg.cpu()).flatten(1).norm(dim=1)[0])}
        if second is not None:
            comparison2 = second.compare(image, rendered)
            result[name]["second_judge"] = {"name": second.name, "recognised": comparison2.same_person,
                                            "cosine": comparison2.cosine}
        row.append(rendered)
    label = overrides_label(attacker_overrides, "attack")
    out_dir = run.folder / "attacks"
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
