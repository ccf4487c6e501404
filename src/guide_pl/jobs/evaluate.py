"""`guide-pl evaluate RUN [evaluation.*=value ...]`: the evaluation again, on a finished run's G_u.

For questions asked after the run: another judge (`evaluation.second_judge=mobileface` for runs made before it
existed), more FID samples, real images for ΔFID_real, another re-inversion attacker. The run's own
metrics.json and grid.png stay as they were; the result goes to evaluations/<label>.{json,png}.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .. import atomic
from ..method.identity import Identity
from .build import build_judges, evaluation_objects, identity_label
from .rundir import check_overrides, load_finished_run, overrides_label


def evaluate_run(run_dir: str | Path, overrides: Sequence[str] = (), progress: bool = True) -> dict[str, Any]:
    """Evaluate a finished run with `overrides` (keys under evaluation.) over its config; write and return it."""
    from ..evaluation.report import evaluate

    check_overrides(overrides, ["evaluation"], what="evaluate")
    run = load_finished_run(run_dir, overrides)
    cfg = run.cfg
    judge, second = build_judges(cfg)
    identity = Identity(run.saved["w_u"], run.saved["w_others"],
                        photos=torch.stack(run.photos) if run.photos else None)
    label = overrides_label(list(overrides), "eval")
    out_dir = run.folder / "evaluations"
    out_dir.mkdir(exist_ok=True)
    result: dict[str, Any] = {"run": str(run.folder), "overrides": list(overrides), "generator": cfg.generator.name,
                              "method": cfg.method.name, "identity": identity_label(cfg)}
    # The run's own absolute d (metrics.json, unlearned.pt): nothing it recorded is recomputed.
    objects = evaluation_objects(cfg, judge, second, run.source, run.unlearned, identity, run.photo_names,
                                 run.d_absolute, progress)
    result.update(evaluate(objects, out_dir / f"{label}.png"))
    atomic.write_json(out_dir / f"{label}.json", result)
    return result
