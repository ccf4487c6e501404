"""MobileStyleGAN in PyTorch against the OpenVINO runtime on the same IR, and its GUIDE-facing behaviour."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from guide_pl.generators import build_generator
from guide_pl.generators.mobilestylegan import NUM_WS, wplus_from_authors_layout
from guide_pl.generators.mobilestylegan_ir import load_mobilestylegan
from guide_pl.generators.openvino_ir import IRGraph
from guide_pl.weights import fetched_keys

MOBILESTYLEGAN_FILES = list(fetched_keys("mobilestylegan").values())

SEEDS = (0, 1)


@pytest.fixture(scope="module")
def weights_dir():
    from guide_pl.weights import fetched_folder
    from helpers.weights import fetched_weights

    return fetched_weights(fetched_folder("mobilestylegan"), MOBILESTYLEGAN_FILES, "mobilestylegan")


@pytest.fixture(scope="module")
def gen(weights_dir):
    torch.manual_seed(0)
    return load_mobilestylegan(weights_dir)


@pytest.fixture(scope="module")
def openvino_nets(weights_dir):
    ov = pytest.importorskip("openvino")
    core = ov.Core()
    config = {"INFERENCE_PRECISION_HINT": "f32"}
    mapping = core.compile_model(core.read_model(str(weights_dir / "MappingNetwork.xml")), "CPU", config)
    synthesis = core.compile_model(core.read_model(str(weights_dir / "SynthesisNetwork.xml")), "CPU", config)
    return mapping, synthesis


def _z(seed: int) -> torch.Tensor:
    return torch.randn(1, 512, generator=torch.Generator().manual_seed(seed))


def test_mapping_matches_openvino(gen, openvino_nets):
    mapping, _ = openvino_nets
    for seed in (0, 1, 2, 3):
        z = _z(seed)
        reference = torch.from_numpy(mapping(z.numpy())[0])
        with torch.no_grad():
            ws = gen.mapping(z)
        assert ws.shape == (1, NUM_WS, 512)
        assert (ws - reference[:, None]).abs().max().item() < 1e-4


def test_synthesis_wplus_matches_openvino_single_w(gen, openvino_nets):
    """W+ with all rows equal (what mapping returns) equals the IR fed the single w; also through `forward`."""
    mapping, synthesis = openvino_nets
    for seed in SEEDS:
        w = mapping(_z(seed).numpy())[0]
        reference = torch.from_numpy(synthesis(w)[0])
        with torch.no_grad():
            image = gen.synthesis(torch.from_numpy(w)[:, None].repeat(1, NUM_WS, 1), noise_mode="const")
        assert image.shape == (1, 3, 1024, 1024)
        assert (image - reference).abs().max().item() < 1e-3
        if seed == SEEDS[0]:
            with torch.no_grad():
                assert torch.equal(gen(torch.from_numpy(w)), image)  # w [B, 512] is broadcast to W+


def test_every_wplus_row_reaches_the_image(gen):
    ws = gen.w_avg.expand(1, NUM_WS, -1).clone().requires_grad_(True)
    gen.synthesis(ws, noise_mode="none").square().mean().backward()
    per_row = ws.grad[0].abs().sum(dim=1)
    assert (per_row > 0).all(), f"rows without effect: {torch.nonzero(per_row == 0).flatten().tolist()}"
    gen.zero_grad(set_to_none=True)


def test_authors_layout_conversion():
    ws = torch.arange(NUM_WS, dtype=torch.float32)[None, :, None].expand(2, NUM_WS, 3)
    rows = wplus_from_authors_layout(ws)[0, :, 0].long().tolist()
    # conv1 ← 0; block k: up and conv1 ← 3k+1, conv2 ← 3k+2; to_img ← 21 (the authors' last block head).
    assert rows[:7] == [0, 1, 1, 2, 4, 4, 5] and rows[-1] == 21 and len(rows) == NUM_WS


def test_noise_modes(gen):
    """'const' adds the baked map, 'none' nothing, 'random' fresh noise of the baked map's strength."""
    layer = gen.synthesis.layers[6].conv1  # 512², 32 → 64 channels
    x = torch.randn(1, 32, 512, 512, generator=torch.Generator().manual_seed(0))
    x = x.contiguous(memory_format=torch.channels_last)
    w = gen.w_avg[None]

    def pre_activation(y):  # invert LeakyReLU(0.2)
        return torch.where(y >= 0, y, y / 0.2)

    with torch.no_grad():
        none = pre_activation(layer(x, w, "none"))
        const = pre_activation(layer(x, w, "const"))
        rand = pre_activation(layer(x, w, "random"))
    assert torch.allclose(const - none, layer.noise_const.expand_as(none), atol=1e-4)
    fresh = (rand - none)[0, 0] / layer.noise_strength
    assert abs(fresh.std().item() - 1.0) < 0.02 and abs(fresh.mean().item()) < 0.02
    assert not torch.allclose(rand, const, atol=1e-3)
    with pytest.raises(ValueError, match="noise_mode"):
        gen.synthesis(w, noise_mode="fixed")


def test_interface_and_w_avg_cache(gen, weights_dir):
    assert (gen.z_dim, gen.w_dim, gen.num_ws, gen.resolution) == (512, 512, NUM_WS, 1024)
    cached = torch.load(weights_dir / "w_avg.pt", weights_only=True)
    assert cached["num_samples"] >= 10_000 and torch.equal(cached["w_avg"], gen.w_avg)
    # Independent check: the mean over 2,000 other z lies close to the cached 10,000-sample mean.
    with torch.no_grad():
        w = gen.mapping.w(torch.randn(2000, 512, generator=torch.Generator().manual_seed(123)))
    assert (w.mean(0) - gen.w_avg).norm() < 0.1 * (w - gen.w_avg).norm(dim=1).mean()
    params = {id(p) for p in gen.synthesis_parameters()}
    assert params == {id(p) for p in gen.synthesis.parameters()} and len(params) > 0
    # Stages 4², 8², …, 512² (the last UpBlock's to_img feeds the IDWT to 1024²) split the parameters exactly.
    stages = gen.synthesis_stages()
    assert [res for res, _ in stages] == [4, 8, 16, 32, 64, 128, 256, 512]
    staged = [id(p) for _, ps in stages for p in ps]
    assert len(staged) == len(set(staged)) and set(staged) == params
    input_side = {id(p) for p in gen.synthesis_parameters(max_resolution=64)}
    assert input_side == {id(p) for p in [*gen.synthesis.input.parameters(), *gen.synthesis.conv1.parameters(),
                                          *gen.synthesis.layers[:4].parameters()]}
    assert not any(p.requires_grad for p in gen.mapping.parameters())
    with pytest.raises(ValueError, match="expected"):
        gen.synthesis(torch.zeros(1, 7, 512))


def test_registry_build_and_loss_resolution(weights_dir):
    g = build_generator("mobilestylegan", checkpoint_dir=str(weights_dir), loss_resolution=64)
    images = torch.zeros(2, 3, 1024, 1024)
    assert g.resize_for_loss(images).shape == (2, 3, 64, 64)


def test_missing_weights_say_how_to_fetch(tmp_path):
    with pytest.raises(FileNotFoundError, match="guide-pl fetch-weights mobilestylegan"):
        load_mobilestylegan(tmp_path)


def test_corrupt_or_truncated_weights_are_rejected(weights_dir, tmp_path):
    for name in MOBILESTYLEGAN_FILES:
        shutil.copy(weights_dir / name, tmp_path / name)
    with open(tmp_path / "MappingNetwork.bin", "r+b") as handle:
        handle.truncate(1000)
    with pytest.raises(ValueError, match="sha256"):
        load_mobilestylegan(tmp_path)
    with pytest.raises(ValueError, match="truncated"):
        IRGraph(tmp_path / "MappingNetwork.xml").value(IRGraph(tmp_path / "MappingNetwork.xml").of_type("Const")[-1].id)


def test_finetuning_changes_only_synthesis(weights_dir):
    """A few Adam steps on synthesis_parameters at a small loss resolution lower an L2 to a target image and
    leave the mapping network, w_avg and every buffer (noise maps, wavelet taps) bit-identical."""
    g = load_mobilestylegan(weights_dir, loss_resolution=64)
    before = {k: v.clone() for k, v in g.state_dict().items()}
    synthesis_names = {f"synthesis.{n}" for n, _ in g.synthesis.named_parameters()}
    w_source = g.w_avg[None]
    with torch.no_grad():
        w_target = g.mapping.w(_z(7))
        target = g.resize_for_loss(g(w_target))
    optimiser = torch.optim.Adam(g.synthesis_parameters(), lr=1e-3)
    losses = []
    for _ in range(3):
        optimiser.zero_grad(set_to_none=True)
        loss = F.mse_loss(g.resize_for_loss(g(w_source)), target)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    with torch.no_grad():
        losses.append(F.mse_loss(g.resize_for_loss(g(w_source)), target).item())
    assert losses[-1] < 0.9 * losses[0], losses
    after = g.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and changed <= synthesis_names, sorted(changed - synthesis_names)
    assert np.isfinite(losses).all()
