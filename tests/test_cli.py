"""The `guide-pl` command: user errors are one line, bugs keep their traceback, Lightning's banners only with
--verbose."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from guide_pl.cli import main

TINY = ["generator=tiny", "trainer.max_steps=1", "evaluation.enabled=false"]


def test_user_errors_are_one_line(tmp_path, capsys):
    cases = [
        (["unlearn", "method.nope=1"], "unknown config key 'method.nope'"),
        (["unlearn", "generator=tiny", "scenario=latent", f"scenario.latent_path={tmp_path}/none.pt",
          f"run.root={tmp_path}"], "does not exist"),
        (["unlearn", "generator=tiny", "id=nobody_at_all"], "shipped identity"),
        (["unlearn", "generator=tiny", "generator.options.bogus=1", f"run.root={tmp_path}"], "unknown option"),
        (["unlearn", "generator=tiny", "losses.identity.name=nope", f"run.root={tmp_path}"],
         "unknown identity network 'nope'"),
        (["unlearn", "generator=tiny", "method.lambda_adj=-5"], "method.lambda_adj must be ≥ 0"),
        (["fetch-weights", "nope"], "unknown weights 'nope'"),
        (["evaluate", str(tmp_path / "nowhere")], "is not a guide-pl run folder"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        error = capsys.readouterr().err
        assert message in error and error.startswith("guide-pl: error: ") and error.count("\n") == 1, error


def test_a_bug_keeps_its_traceback(tmp_path, monkeypatch):
    import guide_pl.method.module as module

    def broken(self, batch, batch_idx):
        raise TypeError("a bug, not a user error")

    monkeypatch.setattr(module.GuideModule, "training_step", broken)
    with pytest.raises(TypeError, match="a bug"):
        main(["unlearn", *TINY, f"run.root={tmp_path}"])


def _run(tmp_path, *flags):
    env = {**os.environ, "PYTHONWARNINGS": "default"}
    command = [sys.executable, "-m", "guide_pl.cli", *flags, "unlearn", *TINY, "trainer.progress_bar=false",
               f"run.root={tmp_path}"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


def test_lightning_banners_only_with_verbose(tmp_path):
    quiet = _run(tmp_path / "quiet")
    assert "[5/5] done" in quiet
    for banner in ("GPU available", "TPU available", "litlogger", "LeafSpec"):
        assert banner not in quiet, banner
    assert "GPU available" in _run(tmp_path / "verbose", "--verbose")
