"""FID_pre and ΔFID_real are taken on the images as saved (clamped, 8-bit), as StyleGAN's FID is."""

import torch
from torch import nn

from guide_pl.evaluation.measures import delta_fid_real, fid_pre
from guide_pl.images import as_saved_pixels


class SaturatingGenerator:
    """Duck-typed generator: the left half of each channel is 0.9·tanh(z_c); the right half is `saturated`."""

    z_dim = 3

    def __init__(self, saturated: float) -> None:
        self.saturated = saturated
        self.w_avg = torch.zeros(3)

    def map(self, z: torch.Tensor, truncation_psi: float = 1.0) -> torch.Tensor:
        return z[:, None, :]

    def __call__(self, ws: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        images = torch.full((ws.shape[0], 3, 8, 8), self.saturated)
        images[..., :4] = 0.9 * torch.tanh(ws[:, 0, :, None, None])
        return images


class ChannelMeans(nn.Module):
    """Features = each channel's mean pixel."""

    num_features = 3

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images.mean(dim=(2, 3))


def test_as_saved_pixels_clamps_and_rounds_to_8_bit_levels():
    out = as_saved_pixels(torch.tensor([-1.5, -1.0, 0.3, 0.999, 2.0]))
    # 0.3 → (1.3 · 127.5 = 165.75) → 166 → 166 / 127.5 − 1; 0.999 → 254.87 → 255 → 1.
    expected = torch.tensor([-1.0, -1.0, 166 / 127.5 - 1, 1.0, 1.0])
    assert torch.allclose(out, expected, atol=1e-6)


def test_fid_pre_ignores_values_beyond_the_saved_range():
    # Saved, the two generators' images are identical (1.0 and 7.0 both clamp to 1), so FID_pre is 0; on the
    # raw outputs the right halves would differ by 6, i.e. a mean shift of 3 per channel (FID ≥ 3 · 3² = 27).
    same_when_saved = fid_pre(SaturatingGenerator(1.0), SaturatingGenerator(7.0), ChannelMeans(), num_samples=16,
                              progress=False)
    assert abs(same_when_saved) < 1e-6
    different = fid_pre(SaturatingGenerator(1.0), SaturatingGenerator(-1.0), ChannelMeans(), num_samples=16,
                        progress=False)
    # Right halves 1 vs −1: every channel mean moves by exactly 1, covariances are equal → FID = 3 · 1².
    assert abs(different - 3.0) < 1e-4


def test_delta_fid_real_ignores_values_beyond_the_saved_range():
    gen = torch.Generator().manual_seed(1)
    real = [SaturatingGenerator(1.0)(torch.randn(1, 1, 3, generator=gen))[0] for _ in range(12)]
    delta = delta_fid_real(SaturatingGenerator(1.0), SaturatingGenerator(7.0), ChannelMeans(), real, num_samples=16)
    assert abs(delta) < 1e-6
