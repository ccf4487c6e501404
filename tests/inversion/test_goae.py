"""GOAE against the official GOAEncoder on seeded weights (fixtures/goae/NOTES.md), its checkpoint loading, and
the inverter GUIDE uses: w_u = GOAE(photo) + w̄."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from guide_pl.inversion import build_inverter
from guide_pl.inversion.goae import GOAEInverter, GOAEncoder, goae_input
from guide_pl.inversion.swin import relative_position_index, shifted_window_mask
from helpers import FIXTURES
from helpers.goae_weights import fill_seeded, seeded_input


@pytest.fixture(scope="module")
def official():
    return torch.load(FIXTURES / "goae" / "goae_official.pt", weights_only=False)


@pytest.fixture(scope="module")
def encoder():
    model = GOAEncoder()
    fill_seeded(model, base_seed=500)
    return model


def test_encoder_equals_the_official_one(official, encoder):
    x = seeded_input(2)
    assert x.double().sum().item() == pytest.approx(official["input_sum"].item(), rel=1e-6)
    assert sorted(encoder.state_dict()) == official["keys"]
    for name, value in official["buffers"].items():
        assert torch.equal(encoder.state_dict()[name], value), name
    with torch.no_grad():
        ws, ws_base = encoder(x)
        base, query, coarse, mid, fine = encoder.swin_model(x)
    assert (ws - official["ws"]).abs().max() < 1e-4 and (ws_base - official["ws_base"]).abs().max() < 1e-4
    for name, ours in (("x_base_stride", base[:, ::16]), ("x_query_stride", query[:, ::16]),
                       ("x_coarse_stride", coarse[:, ::16, ::8]), ("x_mid_stride", mid[:, ::64, ::8]),
                       ("x_fine_stride", fine[:, ::256, ::4])):
        assert (ours - official[name]).abs().max() < 1e-4, name
    assert torch.equal(ws[:, 0], ws_base[:, 0])  # row 0 is the base latent alone


def test_window_geometry_by_hand():
    index = relative_position_index(16)
    assert (index[0, 0].item(), index[0, 1].item(), index[1, 0].item(), index[0, 16].item()) == (480, 479, 481, 449)
    assert index.max().item() == 960
    mask = shifted_window_mask(64, 16, 8)
    counts = (mask != 0).flatten(1).sum(1).tolist()
    assert counts == [0, 0, 0, 32768] * 3 + [32768, 32768, 32768, 49152]
    assert set(mask.unique().tolist()) == {0.0, -100.0}


def test_checkpoint_is_matched_key_for_key(tmp_path, encoder):
    good = tmp_path / "encoder_FFHQ.pt"
    torch.save(encoder.state_dict(), good)
    inverter = build_inverter("goae", checkpoint=str(good))
    for name, value in encoder.state_dict().items():
        assert torch.equal(inverter.encoder.state_dict()[name], value), name
    wrong = dict(encoder.state_dict())
    wrong.pop("mapper_base_spatial.0.weight")
    wrong["extra.weight"] = torch.zeros(1)
    torch.save(wrong, tmp_path / "wrong.pt")
    with pytest.raises(ValueError, match=r"missing keys \['mapper_base_spatial.0.weight'\].*unexpected keys "
                                         r"\['extra.weight'\]"):
        build_inverter("goae", checkpoint=str(tmp_path / "wrong.pt"))
    (tmp_path / "truncated.pt").write_bytes(good.read_bytes()[:1000])
    with pytest.raises(ValueError, match="truncated"):
        build_inverter("goae", checkpoint=str(tmp_path / "truncated.pt"))


def test_missing_encoder_names_the_file_and_where_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("GUIDE_PL_CHECKPOINTS", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="encoder_FFHQ.pt.*GOAE"):
        build_inverter("goae")


def test_inverter_adds_the_generators_average_latent(encoder):
    class Fourteen:
        num_ws, w_dim = 14, 512
        w_avg = torch.linspace(-1, 1, 512)

    images = seeded_input(1)
    ws = GOAEInverter(encoder=encoder).invert(images, Fourteen())
    with torch.no_grad():
        offsets, _ = encoder(goae_input(images))
    assert ws.shape == (1, 14, 512) and torch.allclose(ws, offsets + Fourteen.w_avg, rtol=0, atol=1e-6)


def test_photos_are_resized_as_guide_does():
    """GUIDE: PIL.Image.open(photo).resize((256, 256)) (Pillow's default bicubic), then /127.5 − 1."""
    from PIL import Image

    pixels = (torch.rand(512, 512, 3, generator=torch.Generator().manual_seed(1)) * 255).round().to(torch.uint8)
    expected = Image.fromarray(pixels.numpy()).resize((256, 256))
    expected = torch.from_numpy(np.asarray(expected).copy()).permute(2, 0, 1).float() / 127.5 - 1
    photo = pixels.permute(2, 0, 1).float() / 127.5 - 1
    assert torch.allclose(goae_input(photo.unsqueeze(0))[0], expected, atol=1e-6)


def test_a_generator_other_than_eg3d_is_refused_before_encoding(encoder, tiny):
    with pytest.raises(ValueError, match="EG3D's W\\+ \\(14 × 512\\).*generator=eg3d"):
        GOAEInverter(encoder=encoder).invert(seeded_input(1), tiny)
