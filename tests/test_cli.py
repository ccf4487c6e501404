"""End-to-end: `guide-pl unlearn` on `tiny` writes the run folder; bad input gives a clear error."""

import json

import torch

from guide_pl.cli import main


def test_unlearn_tiny_writes_run_folder(tmp_path, capsys):
    code = main(["unlearn", "generator=tiny", "scenario=random", "trainer.max_steps=3",
                 f"run.root={tmp_path}", "run.name=smoke", "trainer.progress_bar=false"])
    assert code == 0
    run = tmp_path / "smoke"
    assert {p.name for p in run.iterdir()} >= {"config.yaml", "metrics.json", "unlearned.pt"}
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["steps"] == 3 and metrics["generator"] == "tiny" and metrics["seconds_per_step"] > 0
    assert abs(metrics["target_distance_to_w_avg"] - 30.0) < 1e-3
    saved = torch.load(run / "unlearned.pt", weights_only=False)
    assert saved["w_u"].shape == saved["w_t"].shape
    assert "max_steps: 3" in (run / "config.yaml").read_text()
    assert not list(run.glob(".*.tmp"))  # no half-written files left behind


def test_unknown_key_exits_with_message(capsys):
    assert main(["unlearn", "method.nope=1"]) == 2
    assert "unknown config key 'method.nope'" in capsys.readouterr().err


def test_missing_latent_file_exits_with_message(tmp_path, capsys):
    code = main(["unlearn", "scenario=latent", f"scenario.latent_path={tmp_path}/none.pt",
                 f"run.root={tmp_path}", "trainer.progress_bar=false"])
    assert code == 2
    assert "does not exist" in capsys.readouterr().err
