"""EG3D against NVlabs/eg3d's official TriPlaneGenerator on seeded weights (fixtures/eg3d/NOTES.md says how they
were made), its cameras, and official-format pickles read without running anything."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from guide_pl.generators import build_generator, load_nvidia_pickle
from guide_pl.generators.cameras import CameraRig, camera_vector, fov_to_intrinsics, look_at
from guide_pl.generators.eg3d import EG3DGenerator
from guide_pl.generators.eg3d_render import rays
from guide_pl.generators.nvidia_pickle import UnsupportedCheckpointError
from helpers import FIXTURES
from helpers.eg3d_weights import SMALL_KWARGS, SMALL_NEURAL_RESOLUTION, fill_seeded, view_angles
from helpers.nvidia_pickles import write_network_pickle

FIXTURE_DIR = FIXTURES / "eg3d"


def official(name: str) -> dict:
    return torch.load(FIXTURE_DIR / f"eg3d_{name}_official.pt", weights_only=False)


def built(fixture: dict) -> EG3DGenerator:
    generator = EG3DGenerator(**fixture["kwargs"], neural_rendering_resolution=fixture["neural_rendering_resolution"])
    fill_seeded(generator.eval(), base_seed=300)
    return generator


def compare(fixture: dict, generator: EG3DGenerator) -> dict[str, float]:
    """Max abs differences of guide-pl's outputs from the official ones stored in `fixture`."""
    errors = {}
    with torch.no_grad():
        ws = generator.mapping(fixture["z"], fixture["c_cond"])
        errors["ws"] = (ws - fixture["ws"]).abs().max().item()
        trunc = generator.mapping(fixture["z"], fixture["c_cond"], truncation_psi=0.7)
        errors["ws_trunc07"] = (trunc - fixture["ws_trunc07"]).abs().max().item()
        planes = generator.get_planes(fixture["ws"], noise_mode="const")
        errors["planes"] = max((planes[:, :, ::32, ::32] - fixture["planes_stride32"]).abs().max().item(),
                               (F.avg_pool2d(planes, 32) - fixture["planes_pool32"]).abs().max().item())
        torch.manual_seed(11)  # the renderer's jitter draws from the global RNG, in the official order
        out = generator.synthesis(fixture["ws"], fixture["c_view"], noise_mode="const")
        step = out["image_raw"].shape[-1] // fixture["image_raw"].shape[-1]
        errors["image_raw"] = (out["image_raw"][:, :, ::step, ::step] - fixture["image_raw"]).abs().max().item()
        errors["image_depth"] = (out["image_depth"][:, :, ::step, ::step] - fixture["image_depth"]).abs().max().item()
        errors["image"] = max((out["image"][:, :, ::8, ::8] - fixture["image_stride8"]).abs().max().item(),
                              (F.avg_pool2d(out["image"], 16) - fixture["image_pool16"]).abs().max().item())
    return errors


def test_small_configuration_equals_the_official_generator(one_thread):
    fixture = official("small")
    generator = built(fixture)
    assert sorted(generator.state_dict()) == fixture["keys"]
    errors = compare(fixture, generator)
    assert errors["ws"] < 1e-4 and errors["ws_trunc07"] < 1e-4 and errors["planes"] < 1e-4, errors
    assert errors["image_raw"] < 1e-3 and errors["image"] < 1e-3 and errors["image_depth"] < 1e-3, errors


def test_ffhq_512_128_configuration_equals_the_official_generator(one_thread):
    """The real ffhqrebalanced512-128 shapes (backbone 512 channels, 48 + 48 samples, 128² rendering; 5 s)."""
    fixture = official("ffhq")
    generator = built(fixture)
    errors = compare(fixture, generator)
    assert errors["ws"] < 1e-4 and errors["planes"] < 1e-4, errors
    assert errors["image_raw"] < 1e-3 and errors["image"] < 1e-3, errors


def test_cameras_and_rays_equal_the_official_ones():
    fixture = official("small")
    intrinsics = fov_to_intrinsics(18.837)
    assert torch.equal(intrinsics, fixture["intrinsics"]) and intrinsics[0, 0].item() == pytest.approx(4.263391)
    for pivot, key in (((0.0, 0.0, 0.0), "cameras_pivot0"), ((0.0, 0.0, 0.2), "cameras_pivot02")):
        ours = torch.cat([camera_vector(look_at(torch.tensor([h]), torch.tensor([v]), pivot, 2.7), intrinsics)
                          for h, v in view_angles()])
        assert (ours - fixture[key]).abs().max() < 1e-6, key
    c = fixture["c_view"]
    origins, directions = rays(c[:, :16].view(-1, 4, 4), c[:, 16:].view(-1, 3, 3), SMALL_NEURAL_RESOLUTION)
    assert (origins[:, :4] - fixture["rays_origins_first"]).abs().max() < 1e-6
    assert (directions[:, ::7] - fixture["rays_dirs_stride7"]).abs().max() < 1e-6


def test_guides_cameras():
    rig = CameraRig()
    assert rig.pivot == (0.0, 0.0, 0.0) and rig.radius == 2.7 and rig.fov_degrees == 18.837
    views = rig.evaluation()
    assert len(views) == 11 and views[0].yaw == pytest.approx(-math.pi / 12) and views[5].yaw == pytest.approx(0.0)
    assert views[-1].yaw == pytest.approx(math.pi / 12)
    frontal = rig.frontal().c.view(-1)[:16].view(4, 4)
    assert frontal[:3, 3].tolist() == pytest.approx([0.0, 0.343775, 2.678025], abs=1e-5)  # GUIDE's front pose
    first, again = rig.sample(torch.Generator().manual_seed(3)), rig.sample(torch.Generator().manual_seed(3))
    assert torch.equal(first.c, again.c) and first.seed == again.seed and abs(first.yaw) <= math.pi / 12
    yaws = [rig.sample(torch.Generator().manual_seed(s)).yaw for s in range(200)]
    assert min(yaws) < -0.8 * math.pi / 12 and max(yaws) > 0.8 * math.pi / 12  # the whole range is used


def test_official_format_pickle_loads_with_the_official_api(tmp_path):
    generator = EG3DGenerator(**SMALL_KWARGS, neural_rendering_resolution=SMALL_NEURAL_RESOLUTION).eval()
    fill_seeded(generator, base_seed=1)
    marker = tmp_path / "EXECUTED"
    source = f"open({str(marker)!r}, 'w').write('executed')\n"
    path = write_network_pickle(tmp_path / "eg3d.pkl", generator, SMALL_KWARGS, source=source,
                                extra_buffers={"dataset_label_std": torch.ones(25)})
    loaded = load_nvidia_pickle(path)["G_ema"]
    assert not marker.exists() and isinstance(loaded, EG3DGenerator)
    assert loaded.neural_rendering_resolution == SMALL_NEURAL_RESOLUTION
    for name, value in generator.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name
    z = torch.randn(1, 512, generator=torch.Generator().manual_seed(0))
    c = CameraRig().conditioning()
    with torch.no_grad():
        ws = loaded.mapping(z, c, truncation_psi=0.7)
        assert ws.shape == (1, 14, 512) and loaded.get_planes(ws).shape == (1, 96, 256, 256)
        out = loaded.synthesis(ws, c, noise_mode="const", rng=torch.Generator().manual_seed(0))
    assert out["image"].shape == (1, 3, 512, 512) and out["image_raw"].shape == (1, 3, 32, 32)
    assert out["image_depth"].shape == (1, 1, 32, 32)
    built_from_registry = build_generator("eg3d", checkpoint=str(path), camera_pivot=[0, 0, 0.2])
    assert built_from_registry.cameras.pivot == (0.0, 0.0, 0.2)
    assert built_from_registry.trainable_synthesis is built_from_registry.backbone.synthesis


def test_unimplemented_rendering_options_are_refused(tmp_path):
    kwargs = dict(SMALL_KWARGS, rendering_kwargs=dict(SMALL_KWARGS["rendering_kwargs"], white_back=True))
    generator = EG3DGenerator(**SMALL_KWARGS).eval()
    path = write_network_pickle(tmp_path / "eg3d.pkl", generator, kwargs)
    with pytest.raises(UnsupportedCheckpointError, match="white_back"):
        load_nvidia_pickle(path)


def test_missing_checkpoint_names_the_file_and_where_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("GUIDE_PL_CHECKPOINTS", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="ffhqrebalanced512-128.pkl.*catalog.ngc.nvidia.com"):
        build_generator("eg3d")
