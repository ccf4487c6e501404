"""Measures of an unlearned generator: the paper's ID / ID_others / FID metrics and what users also need (is the
photo's person still recognised, and does the person come back when the photo is inverted again).

Identity judgements use a `judge` with `describe(image) → .descriptor` and `compare_descriptions(a, b) →
.cosine/.distance/.same_person` (dlib's own evaluator by default). Metric state lives in torchmetrics objects.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import torch
from torch import nn
from tqdm.auto import tqdm

from ..generators.base import FaceGenerator
from ..images import as_saved_pixels
from .metrics import FrechetDistance, IdentitySimilarity, RecognitionRate


@dataclass
class PhotoResult:
    """What the judge says of one photo against the generators' rendering of its latent."""

    name: str
    distance_before: float
    distance_after: float
    recognised_before: bool
    recognised_after: bool


@dataclass
class IdentityReport:
    """ID, ID_others (cosine of G_s vs G_u on the same latent; lower = more forgotten) and photo recognition."""

    id: float
    id_others: Optional[float]
    photo_recognised_before: Optional[float]
    photo_recognised_after: Optional[float]
    photos: list[PhotoResult] = field(default_factory=list)


@torch.no_grad()
def render(generator: FaceGenerator, ws: torch.Tensor, view: Any = None) -> torch.Tensor:
    """Full-resolution images of `ws` (from `view`; None: the generator's default), one latent at a time
    (bounded memory), on the CPU."""
    device = generator.w_avg.device
    return torch.cat([generator(w.unsqueeze(0).to(device), view=view).cpu() for w in ws])


@torch.no_grad()
def multiview_similarity(judges: Sequence[Any], images: Sequence[tuple[torch.Tensor, torch.Tensor]]
                         ) -> list[tuple[float, Optional[float]]]:
    """Per judge, (ID, ID_others): the cosine of G_s and G_u on the same latent and view, averaged over the views
    (GUIDE's evaluate_id.py: 11 yaws); `images` holds (G_s, G_u) renders of [w_u, *w_others] per view."""
    metrics = [(IdentitySimilarity(), IdentitySimilarity()) for _ in judges]
    for before, after in images:
        for judge, (id_metric, others_metric) in zip(judges, metrics):
            for i in range(before.shape[0]):
                a, b = judge.describe(before[i]).descriptor, judge.describe(after[i]).descriptor
                (id_metric if i == 0 else others_metric).update(torch.as_tensor(a).unsqueeze(0),
                                                                 torch.as_tensor(b).unsqueeze(0))
    others = images[0][0].shape[0] > 1
    return [(float(i.compute()), float(o.compute()) if others else None) for i, o in metrics]


@torch.no_grad()
def identity_report(
    judge: Any,
    before: torch.Tensor,
    after: torch.Tensor,
    photos: Sequence[torch.Tensor] = (),
    photo_names: Sequence[str] = (),
) -> IdentityReport:
    """ID and ID_others (paper definitions) from G_s(w) `before` and G_u(w) `after` of [w_u, *w_others], and,
    when photos are given (x_u first, then each x_o, aligned like the generator), the fraction of photos the
    judge still matches to G_s(w) before and G_u(w) after."""
    id_metric, others_metric = IdentitySimilarity(), IdentitySimilarity()
    rec_before, rec_after = RecognitionRate(judge.threshold), RecognitionRate(judge.threshold)
    results = []
    for i in range(before.shape[0]):
        desc_before, desc_after = judge.describe(before[i]), judge.describe(after[i])
        (id_metric if i == 0 else others_metric).update(
            torch.as_tensor(desc_before.descriptor).unsqueeze(0), torch.as_tensor(desc_after.descriptor).unsqueeze(0)
        )
        if i < len(photos):
            desc_photo = judge.describe(photos[i])
            cmp_before = judge.compare_descriptions(desc_photo, desc_before)
            cmp_after = judge.compare_descriptions(desc_photo, desc_after)
            rec_before.update(torch.tensor([cmp_before.distance]))
            rec_after.update(torch.tensor([cmp_after.distance]))
            name = photo_names[i] if i < len(photo_names) else f"photo {i}"
            results.append(
                PhotoResult(name, cmp_before.distance, cmp_after.distance, cmp_before.same_person,
                            cmp_after.same_person)
            )
    has_others = before.shape[0] > 1
    return IdentityReport(
        id=float(id_metric.compute()),
        id_others=float(others_metric.compute()) if has_others else None,
        photo_recognised_before=float(rec_before.compute()) if results else None,
        photo_recognised_after=float(rec_after.compute()) if results else None,
        photos=results,
    )


@torch.no_grad()
def fid_pre(
    source: FaceGenerator,
    unlearned: FaceGenerator,
    features: nn.Module,
    num_samples: int,
    seed: int = 0,
    batch_size: int = 4,
    truncation_psi: float = 1.0,
    progress: bool = True,
) -> float:
    """Fréchet distance between features of G_s and G_u samples from the *same* seeded z's (FID_pre), taken on
    the images as saved (clamped to [-1, 1], 8-bit levels)."""
    metric = FrechetDistance(num_features=_num_features(features))
    rng = torch.Generator().manual_seed(seed)
    device = source.w_avg.device
    done = 0
    with tqdm(total=num_samples, desc="FID_pre", disable=not progress, leave=False) as bar:
        while done < num_samples:
            n = min(batch_size, num_samples - done)
            ws = source.map(torch.randn(n, source.z_dim, generator=rng).to(device), truncation_psi)
            # Features of the images as saved (clamped, 8-bit), as StyleGAN's FID: raw outputs can leave [-1, 1].
            metric.update(features(as_saved_pixels(source(ws))), real=True)
            metric.update(features(as_saved_pixels(unlearned(ws))), real=False)
            done += n
            bar.update(n)
    return float(metric.compute())


@torch.no_grad()
def delta_fid_real(
    source: FaceGenerator,
    unlearned: FaceGenerator,
    features: nn.Module,
    real_images: Sequence[torch.Tensor],
    num_samples: int,
    seed: int = 0,
    batch_size: int = 4,
    truncation_psi: float = 1.0,
) -> float:
    """ΔFID_real = FID(real, G_u) − FID(real, G_s), both generators sampled from the same z's (images as saved)."""
    dim = _num_features(features)
    metric_s = FrechetDistance(num_features=dim)
    metric_u = FrechetDistance(num_features=dim)
    for start in range(0, len(real_images), batch_size):
        batch = torch.stack(list(real_images[start : start + batch_size])).to(source.w_avg.device)
        feats = features(batch)
        metric_s.update(feats, real=True)
        metric_u.update(feats, real=True)
    rng = torch.Generator().manual_seed(seed)
    done = 0
    while done < num_samples:
        n = min(batch_size, num_samples - done)
        ws = source.map(torch.randn(n, source.z_dim, generator=rng).to(source.w_avg.device), truncation_psi)
        metric_s.update(features(as_saved_pixels(source(ws))), real=False)
        metric_u.update(features(as_saved_pixels(unlearned(ws))), real=False)
        done += n
    return float(metric_u.compute() - metric_s.compute())


def _num_features(features: nn.Module) -> int:
    dim = getattr(features, "num_features", None) or getattr(features, "embedding_dim", None)
    if dim is None:
        raise ValueError("the FID feature network must state its output size (num_features)")
    return int(dim)


def reinvert(
    judge: Any,
    photo: torch.Tensor,
    generator: FaceGenerator,
    invert: Callable[[torch.Tensor, FaceGenerator], torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor, Any]:
    """Re-inversion attack: invert `photo` [3, H, W] into `generator`; the latent w_re, the image G(w_re) and the
    judge's comparison of the photo with it (is the person recognised?)."""
    w_re = invert(photo.unsqueeze(0), generator)
    image = render(generator, w_re)[0]
    return w_re, image, judge.compare_descriptions(judge.describe(photo), judge.describe(image))
