"""End to end on a random-weight EG3D in the official pickle format (written by the test) and a random-weight GOAE:
`guide-pl unlearn generator=eg3d …` trains, evaluates over GUIDE's 11 views and writes metrics.json."""

from __future__ import annotations

import json
import math

import pytest
import torch

from guide_pl.cli import main
from guide_pl.generators.eg3d import EG3DGenerator
from guide_pl.inversion.goae import GOAEncoder
from helpers.eg3d_weights import SMALL_KWARGS, fill_seeded
from helpers.nvidia_pickles import write_network_pickle

# Stand-in loss networks (LPIPS-VGG and ArcFace need the user's weights) and small evaluation settings.
# Every 512² image costs ~2 s here (the super-resolution's size is fixed), so few latents and views.
FAST = ["generator=eg3d", "losses.perceptual.name=pixel_l2", "losses.perceptual.options.size=64",
        "losses.identity.name=random_cnn", "method.num_adjacent=1", "method.use_global=false",
        "generator.options.neural_rendering_resolution=32", "generator.options.evaluation_views=3",
        "evaluation.fid_samples=2", "evaluation.grid_samples=1", "evaluation.curve_every_n_steps=0",
        "trainer.progress_bar=false"]


@pytest.fixture(scope="module")
def eg3d_pickle(tmp_path_factory):
    generator = EG3DGenerator(**SMALL_KWARGS, neural_rendering_resolution=32).eval()
    fill_seeded(generator, base_seed=7)
    return write_network_pickle(tmp_path_factory.mktemp("eg3d") / "eg3d.pkl", generator, SMALL_KWARGS)


def test_random_scenario_trains_and_evaluates_over_the_views(tmp_path, eg3d_pickle):
    assert main(["unlearn", *FAST, f"generator.options.checkpoint={eg3d_pickle}", "scenario=random",
                 "trainer.max_steps=2", f"run.root={tmp_path}", "run.name=run"]) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["generator"] == "eg3d" and metrics["steps"] == 2
    assert metrics["views"] == pytest.approx([-math.pi / 12, 0.0, math.pi / 12])
    assert -1 <= metrics["id"] <= 1 and metrics["fid_pre"] is not None
    assert metrics["target_distance_to_w_avg"] == pytest.approx(30.0, rel=1e-5)  # the paper's d, absolute
    saved = torch.load(tmp_path / "run" / "unlearned.pt", weights_only=True)
    assert all(name.startswith("b") for name in saved["synthesis_state_dict"])  # backbone.synthesis only
    assert (tmp_path / "run" / "grid.png").is_file()


def test_photos_are_inverted_by_goae(tmp_path, eg3d_pickle):
    """A photo of a shipped identity through a random-weight GOAE (constant per tensor, the real position
    buffers): w_u is GOAE's output + w̄, the run evaluates it over the views and re-inverts with GOAE."""
    pytest.importorskip("dlib")
    encoder = GOAEncoder()
    generator = torch.Generator().manual_seed(0)
    state = {name: (value if name not in dict(encoder.named_parameters())
                    else (0.02 * torch.randn((), generator=generator)).expand(value.shape))
             for name, value in encoder.state_dict().items()}
    checkpoint = tmp_path / "encoder_FFHQ.pt"
    torch.save(state, checkpoint)
    assert main(["unlearn", *FAST, f"generator.options.checkpoint={eg3d_pickle}", "id=alex_lacamoire",
                 f"scenario.inverter.options.checkpoint={checkpoint}", "trainer.max_steps=1", f"run.root={tmp_path}",
                 "run.name=run", "generator.options.evaluation_views=1"]) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["views"] == [0.0] and len(metrics["photos"]) == 2
    assert isinstance(metrics["reinversion_recognised"], bool) and metrics["id_others"] is not None
