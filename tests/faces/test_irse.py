"""IR-SE50 (ArcFace) and IR-101 (CurricularFace) against the official pSp / GUIDE / CurricularFace code.

Fixtures in fixtures/irse/ hold the official outputs for seeded weights (irse_seeded.py); see NOTES.md there.
"""

from __future__ import annotations

from functools import lru_cache

import pytest
import torch

from guide_pl.faces import build_identity
from guide_pl.faces.irse import FaceEmbedder, backbone_from_state, ir101, ir_se50, load_strict, read_checkpoint
from helpers import FIXTURES as FIXTURE_ROOT
from helpers.irse_seeded import seeded_inputs, seeded_state_dict

FIXTURES = FIXTURE_ROOT / "irse"
TOLERANCE = 1e-4


def official(name: str) -> dict:
    return torch.load(FIXTURES / name, weights_only=True)


def key_layout(factory) -> set[str]:
    """'name (shape)' for every state-dict entry of `factory()` (built on the meta device)."""
    with torch.device("meta"):
        state = factory().state_dict()
    return {f"{k} {tuple(v.shape)}" for k, v in state.items()}


@lru_cache(maxsize=2)
def seeded(factory) -> dict[str, torch.Tensor]:
    """Seeded weights for `factory()`'s layout (cached: generating 44-65M values takes seconds)."""
    with torch.device("meta"):
        reference = factory().state_dict()
    return seeded_state_dict(reference)


@pytest.mark.parametrize(("factory", "fixture"), [(ir_se50, "ir_se50_official.pt"), (ir101, "ir101_official.pt")])
def test_state_dict_layout_is_official(factory, fixture):
    assert key_layout(factory) == set(official(fixture)["keys"])


def test_ir_se50_matches_pSp_backbone():
    ref = official("ir_se50_official.pt")
    faces = seeded_inputs("faces112", (2, 3, 112, 112))
    assert torch.allclose(faces.sum(), ref["faces112_sum"])  # the inputs regenerate identically
    net = backbone_from_state(ir_se50, seeded(ir_se50), "<seeded>", "IR-SE50")
    with torch.no_grad():
        emb = net(faces)
    assert emb.shape == (2, 512)
    assert (emb - ref["embedding"]).abs().max() < TOLERANCE


def test_arcface_from_checkpoint_matches_GUIDE_idloss(tmp_path, monkeypatch):
    """The registry entry, loading model_ir_se50.pth from checkpoints/, equals GUIDE's IDLoss.extract_feats."""
    ref = official("ir_se50_official.pt")
    torch.save(seeded(ir_se50), tmp_path / "model_ir_se50.pth")
    monkeypatch.setenv("GUIDE_PL_CHECKPOINTS", str(tmp_path))
    embedder = build_identity("arcface")
    images = seeded_inputs("ffhq1024", (2, 3, 1024, 1024))
    assert torch.allclose(images.sum(), ref["ffhq1024_sum"])
    with torch.no_grad():
        emb = embedder(images)
    assert (emb - ref["guide_idloss_ffhq1024"]).abs().max() < TOLERANCE


def test_curricularface_from_checkpoint_matches_official(tmp_path):
    """CurricularFace_Backbone.pth layout: raw BN1d output equals CurricularFace's, normalised equals GUIDE's IR_101."""
    ref = official("ir101_official.pt")
    path = tmp_path / "CurricularFace_Backbone.pth"
    torch.save(seeded(ir101), path)
    embedder = build_identity("curricularface", path=str(path), crop="none")
    faces = seeded_inputs("faces112", (2, 3, 112, 112))
    with torch.no_grad():
        raw = embedder.backbone(faces, normalize=False)
    assert (raw - ref["raw"]).abs().max() < TOLERANCE
    # GUIDE's IR_101 is the same network followed by l2_norm; FaceEmbedder(crop="none") feeds 112² chips as is.
    assert (raw / raw.norm(dim=1, keepdim=True) - ref["guide_normalised"]).abs().max() < TOLERANCE
    assert torch.equal(embedder.faces(faces), faces)


def test_ffhq_crop_is_the_official_region():
    """crop='ffhq' = bilinear to 256², rows 35:223, columns 32:220, adaptive average pool to 112² (by hand)."""
    embedder = FaceEmbedder.__new__(FaceEmbedder)
    torch.nn.Module.__init__(embedder)
    embedder.crop = "ffhq"
    image = torch.zeros(1, 3, 256, 256)
    image[:, :, 35:223, 32:220] = 1.0  # only the official region is lit
    chip = embedder.faces(image)
    assert chip.shape == (1, 3, 112, 112)
    assert torch.allclose(chip, torch.ones_like(chip))
    image[:, :, 35, 32] = 5.0  # the region's corner falls into the first pooled cell (188 → 112 pooling windows)
    assert embedder.faces(image)[0, 0, 0, 0] > 1.0


def test_missing_weights_name_the_file_and_source(tmp_path, monkeypatch):
    monkeypatch.setenv("GUIDE_PL_CHECKPOINTS", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="model_ir_se50.pth.*drive.google.com"):
        build_identity("arcface")
    with pytest.raises(FileNotFoundError, match="CurricularFace_Backbone.pth"):
        build_identity("curricularface")


def test_truncated_file_gives_clear_error(tmp_path):
    path = tmp_path / "model_ir_se50.pth"
    torch.save({"input_layer.0.weight": torch.zeros(64, 3, 3, 3)}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupt, truncated"):
        build_identity("arcface", path=str(path))
    with pytest.raises(ValueError, match=str(path)):
        read_checkpoint(path, "ArcFace IR-SE50")


def test_wrong_checkpoint_names_the_mismatch(tmp_path):
    path = tmp_path / "model_ir_se50.pth"
    torch.save({"conv.weight": torch.zeros(3)}, path)
    with pytest.raises(ValueError, match=r"does not match the ArcFace IR-SE50 architecture: .*missing"):
        build_identity("arcface", path=str(path))
    # An IR-101 state dict (no SE modules, deeper body, no BN1d affine) is not an IR-SE50.
    with torch.device("meta"):
        ir101_state = ir101().state_dict()
        target = ir_se50()
    with pytest.raises(ValueError, match=r"missing.*res_layer\.5\.fc1.*unexpected"):
        load_strict(target, ir101_state, "CurricularFace_Backbone.pth", "ArcFace IR-SE50")
    torch.save([1, 2, 3], path)
    with pytest.raises(ValueError, match="not a ArcFace IR-SE50 state dict"):
        build_identity("arcface", path=str(path))


def test_module_prefix_and_old_checkpoints_without_counters_load():
    """DataParallel 'module.' prefixes are stripped; BatchNorm num_batches_tracked may be absent (torch < 0.4.1)."""
    state = {
        f"module.{k}": v for k, v in seeded(ir_se50).items() if not k.endswith("num_batches_tracked")
    }
    net = backbone_from_state(ir_se50, state, "<seeded>", "IR-SE50")
    assert not net.training and not any(p.requires_grad for p in net.parameters())


def test_bad_inputs_are_rejected():
    with torch.device("meta"):
        net = ir_se50()
    with pytest.raises(ValueError, match=r"\[B, 3, 112, 112\]"):
        net(torch.zeros(1, 3, 64, 64, device="meta"))
    with pytest.raises(ValueError, match="crop must be"):
        FaceEmbedder(net, crop="center")
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        FaceEmbedder(net).faces(torch.zeros(3, 64, 64))
