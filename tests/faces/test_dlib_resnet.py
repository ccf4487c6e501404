"""dlib ResNet port: file parsing, dlib's add_prev padding, and parity with dlib on every shared face chip."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from guide_pl.faces import build_identity
from guide_pl.faces.dlib_format import DlibFormatError, DlibReader
from guide_pl.faces.dlib_resnet import DlibResNet, _zero_pad_add
from helpers.dlib import photo_descriptions, require_models, to_tensor


@pytest.fixture(scope="module")
def port() -> DlibResNet:
    require_models("dlib_resnet", need_dlib=False)
    return build_identity("dlib")


def test_integer_and_float_encoding():
    # Hand-encoded: 300 = 0x012c (2 bytes), −5 (sign bit), 0.6 as mantissa 0x99999a · 2^−24, bool '1'.
    data = bytes([0x02, 0x2C, 0x01, 0x81, 0x05, 0x03, 0x9A, 0x99, 0x99, 0x81, 0x18]) + b"1"
    reader = DlibReader(data)
    assert reader.integer() == 300
    assert reader.integer() == -5
    assert reader.real() == pytest.approx(0.6, abs=1e-7)
    assert reader.boolean() is True
    with pytest.raises(DlibFormatError, match="unexpected end"):
        reader.integer()


def test_add_prev_zero_pads_the_smaller_operand():
    a = torch.ones(1, 2, 3, 3)
    b = torch.full((1, 4, 4, 4), 2.0)
    out = _zero_pad_add(a, b)
    assert out.shape == (1, 4, 4, 4)
    assert torch.all(out[:, :2, :3, :3] == 3) and torch.all(out[:, 2:] == 2) and torch.all(out[:, :, 3] == 2)


def test_truncated_weights_fail_clearly(tmp_path):
    from guide_pl.faces.dlib_format import read_network
    from guide_pl.faces.dlib_models import dlib_model_path
    from guide_pl.faces.dlib_resnet import _layout

    require_models("dlib_resnet", need_dlib=False)
    truncated = tmp_path / "dlib_face_recognition_resnet_model_v1.dat"
    truncated.write_bytes(dlib_model_path("dlib_resnet").read_bytes()[:2_000_000])
    with pytest.raises(DlibFormatError, match="truncated"):
        read_network(truncated, _layout())
    with pytest.raises(ValueError, match="sha256"):  # through the catalogue: the checksum catches it first
        DlibResNet(truncated)


def test_shape_errors(port):
    with pytest.raises(ValueError, match="150"):
        port(torch.zeros(1, 3, 112, 112))
    with pytest.raises(ValueError, match="RGB"):
        port(torch.zeros(1, 1, 150, 150))


def test_port_matches_dlib_on_every_face(port):
    """Same 150² chips (dlib.get_face_chip, padding 0.25) → the port's descriptors equal dlib's."""
    _, described = photo_descriptions()
    chips = torch.cat([to_tensor(d.chip) for _, d in described])
    reference = torch.from_numpy(np.stack([d.descriptor for _, d in described]))
    with torch.no_grad():
        port(chips[:1])  # warm-up
        start = time.perf_counter()
        ours = port(chips).double()
        per_chip_ms = (time.perf_counter() - start) * 1000 / len(chips)
    l2 = (ours - reference).norm(dim=1)
    cosine = torch.nn.functional.cosine_similarity(ours, reference, dim=1)
    print(f"\ndlib port on {len(chips)} faces: worst L2 {l2.max():.2e}, worst cosine {cosine.min():.10f}, "
          f"{per_chip_ms:.1f} ms/chip (batch, {torch.get_num_threads()} threads)")
    assert len(chips) >= 2
    assert l2.max() < 1e-4
