"""torchmetrics Metrics for evaluation: identity similarity, recognition rate, Fréchet distance.

Every state is a sum declared with `add_state(..., dist_reduce_fx="sum")`, so summing the states of the
processes (what DDP's sync does) gives exactly the state one process would reach on all the data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import Metric


class _ExactStateMetric(Metric):
    """A Metric whose states keep their dtype (float64 sums, integer counts) through `.to(dtype)`.

    torchmetrics guards `.half()`/`.float()` but not `module.to(dtype)`, which Lightning's "16-true"/"bf16-true"
    precision applies to the whole LightningModule: bf16 sums of outer products would be useless. States
    only follow device moves; child modules (a feature extractor) follow `fn` as usual.
    """

    def _apply(self, fn: Callable, exclude_state: Sequence[str] = "") -> nn.Module:
        names = list(self._defaults)
        this = super()._apply(fn, exclude_state=names)
        for name in names:
            this._defaults[name] = this._defaults[name].to(this.device)
            setattr(this, name, getattr(this, name).to(this.device))
        return this


def _check_embeddings(emb_a: Tensor, emb_b: Tensor) -> None:
    if emb_a.ndim != 2 or emb_a.shape != emb_b.shape:
        shapes = f"{tuple(emb_a.shape)} and {tuple(emb_b.shape)}"
        raise ValueError(f"expected two embedding batches of the same shape [B, D], got {shapes}")


class IdentitySimilarity(_ExactStateMetric):
    """Mean cosine similarity between paired identity embeddings (paper's ID / ID_others; lower = forgotten)."""

    full_state_update = False
    higher_is_better = False
    is_differentiable = False

    cosine_sum: Tensor
    count: Tensor

    def __init__(self, eps: float = 1e-8, **kwargs) -> None:
        super().__init__(**kwargs)
        self.eps = eps
        self.add_state("cosine_sum", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")

    def update(self, emb_a: Tensor, emb_b: Tensor) -> None:
        """Add the cosines of the pairs (emb_a[i], emb_b[i]), both [B, D]."""
        _check_embeddings(emb_a, emb_b)
        cos = F.cosine_similarity(emb_a.detach().double(), emb_b.detach().double(), dim=1, eps=self.eps)
        self.cosine_sum += cos.sum()
        self.count += cos.numel()

    def compute(self) -> Tensor:
        """Mean cosine over every pair seen."""
        if self.count == 0:
            raise RuntimeError("IdentitySimilarity.compute() called before any update")
        return self.cosine_sum / self.count


class RecognitionRate(_ExactStateMetric):
    """Fraction of pairs a face recogniser calls "same person".

    `update` takes distances [B] (same person when distance < `threshold`; dlib's rule is Euclidean distance
    < 0.6) or boolean decisions [B] (True = same person). With `higher_is_same=True` the scores are
    similarities instead (same person when score > threshold, e.g. a cosine threshold).
    """

    full_state_update = False
    higher_is_better = False
    is_differentiable = False

    recognised: Tensor
    total: Tensor

    def __init__(self, threshold: float = 0.6, higher_is_same: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.threshold = threshold
        self.higher_is_same = higher_is_same
        self.add_state("recognised", default=torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("total", default=torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")

    def update(self, scores: Tensor) -> None:
        """Add distances (or similarities, or boolean decisions), shape [B]."""
        if scores.ndim != 1:
            raise ValueError(f"expected scores or decisions of shape [B], got {tuple(scores.shape)}")
        if scores.dtype == torch.bool:
            same = scores
        elif self.higher_is_same:
            same = scores.detach() > self.threshold
        else:
            same = scores.detach() < self.threshold
        self.recognised += same.sum()
        self.total += same.numel()

    def compute(self) -> Tensor:
        """Recognised fraction in [0, 1]."""
        if self.total == 0:
            raise RuntimeError("RecognitionRate.compute() called before any update")
        return self.recognised.double() / self.total


def _sqrtm_psd(matrix: Tensor) -> Tensor:
    """Square root of a symmetric positive semi-definite matrix by eigendecomposition (negative noise → 0)."""
    eigvals, eigvecs = torch.linalg.eigh(matrix)
    return (eigvecs * eigvals.clamp(min=0).sqrt()) @ eigvecs.T


def frechet_distance(mu1: Tensor, sigma1: Tensor, mu2: Tensor, sigma2: Tensor) -> Tensor:
    """‖μ1 − μ2‖² + Tr(Σ1 + Σ2 − 2 (Σ1^½ Σ2 Σ1^½)^½), in float64, with symmetric eigendecompositions only.

    Tr((Σ1 Σ2)^½) equals Tr((Σ1^½ Σ2 Σ1^½)^½) (same eigenvalues), and the latter is symmetric PSD, so eigh is
    stable where a general sqrtm of the non-symmetric Σ1 Σ2 is not.
    """
    mu1, mu2, sigma1, sigma2 = (t.double() for t in (mu1, mu2, sigma1, sigma2))
    root1 = _sqrtm_psd(sigma1)
    middle = root1 @ sigma2 @ root1
    middle = (middle + middle.T) / 2  # remove round-off asymmetry before eigh
    trace_covmean = torch.linalg.eigvalsh(middle).clamp(min=0).sqrt().sum()
    return (mu1 - mu2).square().sum() + torch.trace(sigma1) + torch.trace(sigma2) - 2 * trace_covmean


class FrechetDistance(_ExactStateMetric):
    """Fréchet distance between the feature Gaussians of two image sets ("real"/source and "fake"/unlearned).

    Features come from a pluggable `extractor` (nn.Module: images [B, 3, H, W] → [B, D]) or are passed in
    directly ([B, D] inputs are always taken as features). States are per-set feature sums, sums of outer
    products (float64) and counts, so DDP's sum reduction is exact. torchmetrics' own FID is not used: it
    needs torch-fidelity and downloaded Inception weights.

    `reset_real_features=False` keeps the real set's statistics across `reset()` (compute them once for
    ΔFID_real against a fixed image set).
    """

    full_state_update = False
    higher_is_better = False
    is_differentiable = False

    real_sum: Tensor
    real_outer: Tensor
    real_count: Tensor
    fake_sum: Tensor
    fake_outer: Tensor
    fake_count: Tensor

    def __init__(
        self,
        num_features: int | None = None,
        extractor: nn.Module | None = None,
        reset_real_features: bool = True,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if num_features is None:
            num_features = getattr(extractor, "num_features", None)
        if num_features is None or int(num_features) < 1:
            raise ValueError("FrechetDistance needs num_features (or an extractor with a `num_features` attribute)")
        self.num_features = int(num_features)
        self.extractor = extractor.eval().requires_grad_(False) if extractor is not None else None
        self.reset_real_features = reset_real_features
        d = self.num_features
        for name in ("real", "fake"):
            self.add_state(f"{name}_sum", default=torch.zeros(d, dtype=torch.float64), dist_reduce_fx="sum")
            self.add_state(f"{name}_outer", default=torch.zeros(d, d, dtype=torch.float64), dist_reduce_fx="sum")
            self.add_state(f"{name}_count", default=torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")

    def _features(self, inputs: Tensor) -> Tensor:
        if inputs.ndim == 2:
            features = inputs
        elif inputs.ndim == 4:
            if self.extractor is None:
                raise ValueError("got images [B, 3, H, W] but this FrechetDistance has no feature extractor")
            with torch.no_grad():
                features = self.extractor(inputs)
        else:
            raise ValueError(f"expected features [B, D] or images [B, 3, H, W], got {tuple(inputs.shape)}")
        if features.ndim != 2 or features.shape[1] != self.num_features:
            raise ValueError(f"expected features [B, {self.num_features}], got {tuple(features.shape)}")
        return features.detach().double()

    def update(self, inputs: Tensor, real: bool) -> None:
        """Add images or features [B, D] to the real (True) or fake (False) set."""
        features = self._features(inputs)
        prefix = "real" if real else "fake"
        setattr(self, f"{prefix}_sum", getattr(self, f"{prefix}_sum") + features.sum(dim=0))
        setattr(self, f"{prefix}_outer", getattr(self, f"{prefix}_outer") + features.T @ features)
        setattr(self, f"{prefix}_count", getattr(self, f"{prefix}_count") + features.shape[0])

    def _gaussian(self, prefix: str) -> tuple[Tensor, Tensor]:
        n = int(getattr(self, f"{prefix}_count"))
        if n < 2:
            raise RuntimeError(f"FrechetDistance needs at least 2 samples in the {prefix} set, got {n}")
        mean = getattr(self, f"{prefix}_sum") / n
        # Unbiased covariance from the running sums: (Σ x xᵀ − n μ μᵀ) / (n − 1).
        cov = (getattr(self, f"{prefix}_outer") - n * torch.outer(mean, mean)) / (n - 1)
        return mean, cov

    def compute(self) -> Tensor:
        """Fréchet distance (float64 scalar) between the real and the fake set."""
        mu1, sigma1 = self._gaussian("real")
        mu2, sigma2 = self._gaussian("fake")
        return frechet_distance(mu1, sigma1, mu2, sigma2)

    def reset(self) -> None:
        """Reset the states; the real set's survive when `reset_real_features` is False."""
        if self.reset_real_features:
            super().reset()
            return
        kept = {name: getattr(self, name) for name in ("real_sum", "real_outer", "real_count")}
        super().reset()
        for name, value in kept.items():
            setattr(self, name, value)
