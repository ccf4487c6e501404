"""`evaluate(objects)`: every metric of a run (metrics.json's evaluation keys) and its grid; the summary screen."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch

from ..generators.base import FaceGenerator
from ..images import save_grid
from .measures import delta_fid_real, fid_pre, identity_report, multiview_similarity, reinvert, render


@dataclass
class EvaluationObjects:
    """What one evaluation needs, built from a config by `jobs.build.evaluation_objects`."""

    judge: Any
    second_judge: Optional[Any]
    source: FaceGenerator  # G_s
    unlearned: FaceGenerator  # G_u
    latents: torch.Tensor  # [w_u, *w_others]
    targets: torch.Tensor  # their UFO targets (the grid's middle column)
    photos: list[torch.Tensor] = field(default_factory=list)  # aligned, x_u first
    photo_names: list[str] = field(default_factory=list)
    attacker: Optional[Any] = None  # the re-inversion attacker (an Inverter); None: no attack
    fid_features: Optional[str] = None  # the FID feature network (resolved name); None: no FID
    fid_samples: int = 64
    real_images: list[torch.Tensor] = field(default_factory=list)  # for ΔFID_real (empty: not computed)
    grid_samples: int = 4
    seed: int = 1234
    truncation_psi: float = 1.0
    progress: bool = True


def _second_judge_entry(second: Any, report: Any) -> dict[str, Any]:
    return {"name": second.name, "cosine_threshold": second.cosine_threshold, "id": report.id,
            "id_others": report.id_others, "photo_recognised_before": report.photo_recognised_before,
            "photo_recognised_after": report.photo_recognised_after,
            "photo_cosines_after": [1.0 - p.distance_after for p in report.photos],
            "reinversion_recognised": None, "reinversion_cosine": None}


def evaluate(objects: EvaluationObjects, grid_path: Path) -> dict[str, Any]:
    """The paper's metrics and ours for G_s → G_u on `objects.latents`, plus the grid at `grid_path`."""
    o = objects
    # G_s and G_u on [w_u, *w_others], rendered once for the identity metrics and the grid.
    before, after = render(o.source, o.latents), render(o.unlearned, o.latents)
    report = identity_report(o.judge, before, after, o.photos, o.photo_names)
    out: dict[str, Any] = {
        "id": report.id,
        "id_others": report.id_others,
        "photo_recognised_before": report.photo_recognised_before,
        "photo_recognised_after": report.photo_recognised_after,
        "photos": [vars(p) for p in report.photos],
        "reinversion_recognised": None,
        "reinversion_distance": None,
        "fid_pre": None,
        "delta_fid_real": None,
        "fid_features": o.fid_features,
        "fid_samples": o.fid_samples,
    }
    if o.second_judge is not None:
        out["second_judge"] = _second_judge_entry(o.second_judge, identity_report(o.second_judge, before, after,
                                                                                  o.photos, o.photo_names))
    # Generators with cameras: ID and ID_others are averaged over the evaluation views (GUIDE's evaluate_id.py);
    # the photo comparisons above stay on the default (frontal) view.
    views = o.source.evaluation_views()
    out["views"] = None
    view_images = [(render(o.source, o.latents, v), render(o.unlearned, o.latents, v)) for v in views] \
        if views != [None] else []
    if view_images:
        judges = [o.judge] + ([o.second_judge] if o.second_judge is not None else [])
        averaged = multiview_similarity(judges, view_images)
        out["id"], out["id_others"] = averaged[0]
        if o.second_judge is not None:
            out["second_judge"]["id"], out["second_judge"]["id_others"] = averaged[1]
        out["views"] = [o.source.view_label(view) for view in views]

    # The re-inversion attack: invert x_u again, into G_u.
    reinverted = None
    if o.attacker is not None and o.photos:
        _, reinverted, comparison = reinvert(o.judge, o.photos[0], o.unlearned, o.attacker.invert)
        out["reinversion_recognised"], out["reinversion_distance"] = comparison.same_person, comparison.distance
        if o.second_judge is not None:
            comparison2 = o.second_judge.compare(o.photos[0], reinverted)
            out["second_judge"]["reinversion_recognised"] = comparison2.same_person
            out["second_judge"]["reinversion_cosine"] = comparison2.cosine

    # FID_pre (and ΔFID_real against real images) on the same seeded z's for both generators.
    if o.fid_features:
        from ..faces import build_identity

        features = build_identity(o.fid_features).to(o.source.w_avg.device)
        out["fid_pre"] = fid_pre(o.source, o.unlearned, features, o.fid_samples, o.seed,
                                 truncation_psi=o.truncation_psi, progress=o.progress)
        if o.real_images:
            out["delta_fid_real"] = delta_fid_real(o.source, o.unlearned, features, o.real_images, o.fid_samples,
                                                   o.seed, truncation_psi=o.truncation_psi)

    # grid.png: photo | G_s(w) | target G_s(w_t) | G_u(w) per latent, then random samples before / after.
    target = render(o.source, o.targets)
    rows = [[o.photos[i] if i < len(o.photos) else None, before[i], target[i], after[i]]
            for i in range(len(o.latents))]
    if reinverted is not None:
        rows[0].append(reinverted)
    rng = torch.Generator().manual_seed(o.seed)
    z = torch.randn(o.grid_samples, o.source.z_dim, generator=rng).to(o.source.w_avg.device)
    samples = o.source.map(z, o.truncation_psi)
    rows.append(list(render(o.source, samples)))
    rows.append(list(render(o.unlearned, samples)))
    if view_images:  # w_u from three views: G_s at the first, middle and last, then G_u at the same
        three = [view_images[0], view_images[len(views) // 2], view_images[-1]]
        rows.append([before[0] for before, _ in three] + [after[0] for _, after in three])
    labels = ["photo", "G_s(w)", "target G_s(w_t)", "G_u(w)"] + (["G_u(re-inverted)"] if reinverted is not None
                                                                   else [])
    save_grid(rows, grid_path, cell_size=192, labels=labels)
    return out


def _verdict(same_person: bool) -> str:
    return "recognised" if same_person else "NOT recognised"


@torch.no_grad()
def inversion_lines(judge: Any, generator: FaceGenerator, latents: torch.Tensor, photos: list[torch.Tensor],
                    names: list[str], second_judge: Any = None) -> list[str]:
    """Whether the judge recognises each photo's person in G_s(w), one line per photo (if not, unlearning that
    latent says little about the person in the photo: a warning says so)."""
    images = render(generator, latents)
    lines = []
    for name, photo, image in zip(names, photos, images):
        comparison = judge.compare(photo, image)
        line = (f"      inversion of {name}: {judge.name} distance {comparison.distance:.3f} → "
                f"{_verdict(comparison.same_person)} in G_s(w)")
        if second_judge is not None:
            second = second_judge.compare(photo, image)
            line += f"; {second_judge.name} cosine {second.cosine:.3f} → {_verdict(second.same_person)}"
        lines.append(line)
        if not comparison.same_person:
            warnings.warn(
                f"the inversion of {name} does not capture the person ({judge.name} distance "
                f"{comparison.distance:.3f} ≥ {judge.threshold}); unlearning this latent says little about the "
                "person in the photo",
                stacklevel=2,
            )
    return lines


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def second_judge_rows(second: Optional[dict[str, Any]]) -> list[tuple[str, Any]]:
    """Summary rows of the second judge (none when it is off)."""
    if not second:
        return []
    name = second["name"]
    return [(f"{name}: ID / ID_others (↓)", f"{second['id']:.4g} / " + (
                f"{second['id_others']:.4g}" if second["id_others"] is not None else "—")),
            (f"{name}: photo recognised after (↓)", second["photo_recognised_after"]),
            (f"{name}: re-inversion recognised (↓)", second["reinversion_recognised"])]


def summary_table(metrics: dict[str, Any], run_dir: Path) -> str:
    """One screen: what was unlearned, how well, what it cost."""
    rows = [
        ("identity", metrics.get("identity")),
        ("generator / method", f"{metrics.get('generator')} / {metrics.get('method')}"),
        ("steps", metrics.get("steps")),
        ("ID (↓, cos G_s vs G_u at w_u)", metrics.get("id")),
        ("ID_others (↓)", metrics.get("id_others")),
        ("photo recognised before", metrics.get("photo_recognised_before")),
        ("photo recognised after (↓)", metrics.get("photo_recognised_after")),
        ("re-inversion recognised (↓)", metrics.get("reinversion_recognised")),
        *second_judge_rows(metrics.get("second_judge")),
        (f"FID_pre ({metrics.get('fid_features')}, n={metrics.get('fid_samples')}) (↓)", metrics.get("fid_pre")),
        ("ΔFID_real (↓)", metrics.get("delta_fid_real")),
        ("seconds per step", metrics.get("seconds_per_step")),
        ("seconds total", metrics.get("seconds_total")),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [f"  {k:<{width}}  {_fmt(v)}" for k, v in rows]
    return "\n".join([f"run folder: {run_dir}", *lines])
