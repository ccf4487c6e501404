"""pSp GradualStyleEncoder against the official pixel2style2pixel code (fixtures/psp/, see fixtures/irse/NOTES.md)."""

from __future__ import annotations

import os
from functools import lru_cache
from types import SimpleNamespace

import pytest
import torch

from guide_pl.generators import build_generator
from guide_pl.inversion import build_inverter
from guide_pl.inversion.psp import GradualStyleEncoder, PSPInverter, psp_from_checkpoint
from helpers import FIXTURES as FIXTURE_ROOT
from helpers.irse_seeded import seeded_inputs, seeded_latent_avg, seeded_state_dict

FIXTURES = FIXTURE_ROOT / "psp"
TOLERANCE = 1e-4
slow = pytest.mark.skipif(os.environ.get("GUIDE_PL_SLOW") != "1", reason="slow (set GUIDE_PL_SLOW=1)")


def official(name: str) -> dict:
    return torch.load(FIXTURES / name, weights_only=True)


@lru_cache(maxsize=1)
def seeded_checkpoint(n_styles: int) -> dict:
    """An official-layout pSp checkpoint dict with seeded encoder weights (decoder keys stand in, unused)."""
    with torch.device("meta"):
        reference = GradualStyleEncoder(n_styles).state_dict()
    state = {f"encoder.{k}": v for k, v in seeded_state_dict(reference).items()}
    state["decoder.style.1.weight"] = torch.zeros(1)
    output_size = 2 ** ((n_styles + 2) // 2)
    opts = {"encoder_type": "GradualStyleEncoder", "start_from_latent_avg": True, "learn_in_w": False,
            "input_nc": 3, "output_size": output_size, "label_nc": 0}
    return {"state_dict": state, "latent_avg": seeded_latent_avg(n_styles), "opts": opts}


@pytest.mark.parametrize(
    ("n_styles", "fixture"), [(18, "psp_encoder_official.pt"), (8, "psp_encoder_8styles_128_official.pt")]
)
def test_state_dict_layout_is_official(n_styles, fixture):
    with torch.device("meta"):
        state = GradualStyleEncoder(n_styles).state_dict()
    assert {f"{k} {tuple(v.shape)}" for k, v in state.items()} == set(official(fixture)["keys"])


def test_reduced_encoder_matches_official():
    """8 styles (coarse, middle and fine levels all used), 128² input: the official forward + latent_avg."""
    ref = official("psp_encoder_8styles_128_official.pt")
    x = seeded_inputs("psp128", (2, 3, 128, 128))
    assert torch.allclose(x.sum(), ref["psp128_sum"])
    inverter = psp_from_checkpoint(seeded_checkpoint(8), "<seeded>")
    with torch.no_grad():
        codes = inverter.encoder(x)
        w = codes + inverter.latent_avg
    assert (codes - ref["codes"]).abs().max() < TOLERANCE
    assert (w - ref["w"]).abs().max() < TOLERANCE


def test_real_config_encoder_matches_official():
    """Real config (18 styles, 256² input, 267M parameters) against the official forward, in CI."""
    ref = official("psp_encoder_official.pt")
    x = seeded_inputs("psp256", (2, 3, 256, 256))
    assert torch.allclose(x.sum(), ref["psp256_sum"])
    inverter = psp_from_checkpoint(seeded_checkpoint(18), "<seeded>")
    with torch.no_grad():
        w = inverter.invert(x, SimpleNamespace(num_ws=18, w_dim=512))
    assert (w - ref["w"]).abs().max() < TOLERANCE


@slow
def test_psp_ffhq_encode_layout_matches_official(tmp_path):
    """Real config (18 styles, 256² input) through a psp_ffhq_encode.pt-layout file and the registry."""
    ref = official("psp_encoder_official.pt")
    path = tmp_path / "psp_ffhq_encode.pt"
    torch.save(seeded_checkpoint(18), path)
    inverter = build_inverter("psp", path=str(path))
    x = seeded_inputs("psp256", (2, 3, 256, 256))
    assert torch.allclose(x.sum(), ref["psp256_sum"])
    with torch.no_grad():
        w = inverter.invert(x, SimpleNamespace(num_ws=18, w_dim=512))
    assert w.shape == (2, 18, 512)
    assert (w - ref["w"]).abs().max() < TOLERANCE


def meta_inverter(n_styles: int = 18, latent_avg: torch.Tensor | None = None) -> PSPInverter:
    with torch.device("meta"):
        return PSPInverter(GradualStyleEncoder(n_styles), latent_avg)


def test_generator_with_other_latent_shape_is_refused():
    tiny = build_generator("tiny")
    with pytest.raises(ValueError, match=r"18 × 512 W\+ latents .* generator takes"):
        meta_inverter().invert(torch.zeros(1, 3, 256, 256), tiny)


def test_preprocess_resizes_to_256():
    inverter = meta_inverter()
    x = torch.rand(1, 3, 1024, 1024) * 2 - 1
    y = inverter.preprocess(x)
    assert y.shape == (1, 3, 256, 256)
    # Antialiased bilinear 4× downsampling of a constant stays constant; a 256² input passes through untouched.
    assert torch.allclose(inverter.preprocess(torch.full((1, 3, 512, 512), 0.25)), torch.full((1, 3, 256, 256), 0.25))
    same = torch.rand(1, 3, 256, 256)
    assert inverter.preprocess(same) is same
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        inverter.preprocess(torch.zeros(3, 256, 256))


def small_ckpt(**changes) -> dict:
    ckpt = {"state_dict": {"encoder.input_layer.0.weight": torch.zeros(64, 3, 3, 3)},
            "latent_avg": torch.zeros(18, 512), "opts": {"encoder_type": "GradualStyleEncoder"}}
    for key, value in changes.items():
        if key == "opts":
            ckpt["opts"] = {**ckpt["opts"], **value}
        elif value is None:
            ckpt.pop(key)
        else:
            ckpt[key] = value
    return ckpt


@pytest.mark.parametrize(
    ("ckpt", "message"),
    [
        (small_ckpt(state_dict=None), "expected a dict with 'state_dict'"),
        (small_ckpt(opts={"encoder_type": "BackboneEncoderUsingLastLayerIntoW"}), "not supported"),
        (small_ckpt(opts={"learn_in_w": True}), "learn_in_w"),
        (small_ckpt(opts={"input_nc": 1}), "input_nc=1"),
        (small_ckpt(state_dict={"decoder.x": torch.zeros(1)}), "no 'encoder.\\*' keys"),
        (small_ckpt(), r"does not match the pSp GradualStyleEncoder \(18 styles\) architecture: .*missing"),
    ],
)
def test_bad_checkpoints_are_refused(ckpt, message):
    with pytest.raises(ValueError, match=message):
        psp_from_checkpoint(ckpt, "psp_ffhq_encode.pt")


def test_latent_avg_required_and_checked():
    ckpt = dict(seeded_checkpoint(8))
    with pytest.raises(ValueError, match="no 'latent_avg'"):
        psp_from_checkpoint({**ckpt, "latent_avg": None}, "p.pt")
    with pytest.raises(ValueError, match=r"latent_avg has shape \(7, 512\)"):
        psp_from_checkpoint({**ckpt, "latent_avg": torch.zeros(7, 512)}, "p.pt")
    single = psp_from_checkpoint({**ckpt, "latent_avg": torch.ones(512)}, "p.pt")
    assert single.latent_avg.shape == (512,)


def test_missing_and_truncated_files(tmp_path, monkeypatch):
    monkeypatch.setenv("GUIDE_PL_CHECKPOINTS", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="psp_ffhq_encode.pt.*drive.google.com"):
        build_inverter("psp")
    path = tmp_path / "psp_ffhq_encode.pt"
    torch.save(small_ckpt(), path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="could not be read as the pSp checkpoint.*corrupt, truncated"):
        build_inverter("psp")
