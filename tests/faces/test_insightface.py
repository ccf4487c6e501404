"""insightface identity entry: crop geometry, the onnxruntime path on a tiny stand-in model, clear errors."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from guide_pl.faces import build_identity
from guide_pl.faces.insightface import (
    ARCFACE_TEMPLATE_112,
    InsightFaceEmbedder,
    arcface_to_ffhq_affine,
    crop_arcface_from_ffhq,
    ffhq_quad,
    find_insightface_model,
)


def test_ffhq_quad_by_hand() -> None:
    # Eyes (±1, 0), mouth corners (±1, 2): eye-to-eye (2, 0), eye-to-mouth (0, 2) → x = (4, 0) scaled to
    # max(2·2, 1.8·2) = 4, y = (0, 4), centre (0, 0.2).
    quad = ffhq_quad(np.array([-1.0, 0]), np.array([1.0, 0]), np.array([-1.0, 2]), np.array([1.0, 2]))
    np.testing.assert_allclose(quad, [[-4, -3.8], [-4, 4.2], [4, 4.2], [4, -3.8]], atol=1e-12)


def test_template_lands_inside_ffhq_frame_symmetrically() -> None:
    affine = arcface_to_ffhq_affine()
    points = ARCFACE_TEMPLATE_112 @ affine[:, :2].T + affine[:, 2]
    # The FFHQ recipe centres the eye–mouth axis horizontally: eye midpoint x ≈ 512, eyes level.
    assert abs((points[0, 0] + points[1, 0]) / 2 - 512) < 0.5
    assert abs(points[0, 1] - points[1, 1]) < 0.1
    assert 0 < points.min() and points.max() < 1024


@pytest.mark.parametrize("resolution", [256, 1024])
def test_crop_puts_landmarks_on_the_template(resolution: int) -> None:
    # Gaussian blobs at the template's FFHQ positions must come out at the ArcFace template in the chip.
    affine = arcface_to_ffhq_affine()
    points = (ARCFACE_TEMPLATE_112 @ affine[:, :2].T + affine[:, 2] + 0.5) * resolution / 1024 - 0.5
    coords = torch.arange(resolution, dtype=torch.float64)
    image = torch.full((1, 3, resolution, resolution), -1.0)
    sigma = 2.5 * resolution / 112  # ≈ 2.5 chip pixels
    for index, (px, py) in enumerate(points):
        blob = torch.exp(-((coords[None, :] - px) ** 2 + (coords[:, None] - py) ** 2) / (2 * sigma**2))
        image[0, index % 3] += 2 * blob.float()
    chips = crop_arcface_from_ffhq(image)
    assert chips.shape == (1, 3, 112, 112)
    u = torch.arange(112, dtype=torch.float32)
    for index, (tx, ty) in enumerate(ARCFACE_TEMPLATE_112):
        channel = chips[0, index % 3] + 1
        # Measured error ≈0.02 chip px; a half-source-pixel convention slip moves it by 0.07–0.3.
        # Weighted centroid within 8 px of the expected place (other blobs of the same channel are further off).
        mask = ((u[None, :] - tx) ** 2 + (u[:, None] - ty) ** 2) < 64
        weights = channel * mask
        cx = (weights * u[None, :]).sum() / weights.sum()
        cy = (weights * u[:, None]).sum() / weights.sum()
        assert abs(cx - tx) < 0.05 and abs(cy - ty) < 0.05, (index, float(cx), float(cy), tx, ty)


def test_crop_pads_with_black_and_rejects_bad_shapes() -> None:
    # A white image: chip corners lie inside the FFHQ frame, so all pixels stay white (no padding reaches them).
    chips = crop_arcface_from_ffhq(torch.ones(2, 3, 128, 128))
    assert torch.allclose(chips, torch.ones_like(chips), atol=1e-6)
    with pytest.raises(ValueError, match="square"):
        crop_arcface_from_ffhq(torch.zeros(1, 3, 128, 64))


def tiny_recogniser(path: Path, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Write a w600k_r50 look-alike (input 'input.1' [N,3,112,112] → '683' [N,512]): stride-8 conv, flatten, Gemm."""
    onnx = pytest.importorskip("onnx", reason="the onnx package (to build a stand-in model) is not installed")
    from onnx import TensorProto, helper, numpy_helper

    generator = torch.Generator().manual_seed(seed)
    conv = torch.randn(8, 3, 8, 8, generator=generator) * 0.1
    fc = torch.randn(512, 8 * 14 * 14, generator=generator) * 0.05
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["input.1", "conv_w"], ["c"], kernel_shape=[8, 8], strides=[8, 8]),
            helper.make_node("Flatten", ["c"], ["f"], axis=1),
            helper.make_node("Gemm", ["f", "fc_w"], ["683"], transB=1),
        ],
        "tiny_w600k",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, ["N", 3, 112, 112])],
        [helper.make_tensor_value_info("683", TensorProto.FLOAT, ["N", 512])],
        initializer=[numpy_helper.from_array(conv.numpy(), "conv_w"), numpy_helper.from_array(fc.numpy(), "fc_w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return conv, fc


def test_entry_runs_onnx_model_from_checkpoints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (extra [insightface])")
    monkeypatch.setenv("GUIDE_PL_CHECKPOINTS", str(tmp_path))
    conv, fc = tiny_recogniser(tmp_path / "insightface" / "models" / "buffalo_l" / "w600k_r50.onnx")
    embedder = build_identity("insightface", threads=1)
    images = torch.rand(3, 3, 256, 256, generator=torch.Generator().manual_seed(5)) * 2 - 1
    with torch.no_grad():
        got = embedder(images)
        chips = crop_arcface_from_ffhq(images)
        expected = F.normalize(F.linear(F.conv2d(chips, conv, stride=8).flatten(1), fc), dim=1)
    assert got.shape == (3, 512)
    assert torch.allclose(got.norm(dim=1), torch.ones(3), atol=1e-5)
    assert (got - expected).abs().max() < 1e-5
    # Already-aligned chips skip the crop.
    chip_embedder = build_identity("insightface", layout="arcface112", threads=1)
    with torch.no_grad():
        assert (chip_embedder(chips) - expected).abs().max() < 1e-5
    with pytest.raises(RuntimeError, match="no_grad"):
        embedder(images.clone().requires_grad_(True))
    with pytest.raises(ValueError, match="112"):
        chip_embedder(images)


def test_missing_pack_truncated_model_and_missing_onnxruntime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUIDE_PL_CHECKPOINTS", str(tmp_path / "ckpt"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with pytest.raises(FileNotFoundError, match="buffalo_l"):
        build_identity("insightface")
    bad = tmp_path / "w600k_r50.onnx"
    bad.write_bytes(b"\x08\x07truncated")
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (extra [insightface])")
    with pytest.raises(ValueError, match="cannot load"):
        build_identity("insightface", model_path=str(bad))
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    with pytest.raises(ImportError, match="onnxruntime"):
        InsightFaceEmbedder(bad)


def test_real_buffalo_l_pack() -> None:
    try:
        path = find_insightface_model()
    except FileNotFoundError as error:
        pytest.skip(f"insightface buffalo_l pack not present ({error})")
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (extra [insightface])")
    embedder = InsightFaceEmbedder(path, threads=1)
    with torch.no_grad():
        out = embedder(torch.zeros(2, 3, 256, 256))
    assert out.shape == (2, 512)
