"""Run folders: one live process and one config per folder, runs that always finish after a kill, run files read
as data only, and clear errors for folders that cannot be used."""

from __future__ import annotations

import json
import os
import pickle

import pytest
import torch

from guide_pl.cli import main
from guide_pl.config import load_config
from guide_pl.errors import RunFolderError

FAST = ["generator=tiny", "trainer.max_steps=2", "trainer.progress_bar=false", "evaluation.fid_samples=4",
        "evaluation.grid_samples=1"]


def folders(root):
    return sorted(p.name for p in root.iterdir() if not p.name.startswith("."))


class RunsCode:
    """Unpickling this runs `open(marker, "w")`: what a tampered run file could do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_tampered_unlearned_pt_is_refused_and_runs_nothing(tmp_path, capsys):
    assert main(["unlearn", *FAST, "evaluation.enabled=false", f"run.root={tmp_path}", "run.name=run"]) == 0
    run, marker = tmp_path / "run", tmp_path / "pwned"
    saved = torch.load(run / "unlearned.pt", weights_only=True)
    saved["config"] = RunsCode(marker)
    with open(run / "unlearned.pt", "wb") as handle:
        pickle.dump(saved, handle)  # a plain pickle whose load would call open(marker, "w")
    for command in (["attack", str(run)], ["evaluate", str(run), "evaluation.fid_samples=4"]):
        assert main(command) == 2
        assert "cannot load the unlearned generator" in capsys.readouterr().err
    assert not marker.exists()


def test_a_run_killed_while_it_evaluates_finishes_when_rerun(tmp_path, monkeypatch):
    import guide_pl.jobs.unlearn as job

    command = ["unlearn", *FAST, "trainer.max_steps=3", "trainer.checkpoint_every_n_steps=2", f"run.root={tmp_path}"]
    evaluate = job.evaluate

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # as a kill would stop it, after training and unlearned.pt

    monkeypatch.setattr(job, "evaluate", killed)
    with pytest.raises(KeyboardInterrupt):
        main(command)
    (run,) = [tmp_path / name for name in folders(tmp_path)]
    assert torch.load(run / "checkpoints" / "last.pt", weights_only=True)["step"] == 3  # the last step is saved
    assert not (run / "metrics.json").exists()
    monkeypatch.setattr(job, "evaluate", evaluate)
    assert main(command) == 0
    assert folders(tmp_path) == [run.name]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["steps"] == 3 and metrics["resumed_from_step"] == 3 and metrics["fid_pre"] is not None
    # The timings and losses of the steps made before the kill are kept, not lost (or NaN).
    assert metrics["seconds_per_step"] > 0 and metrics["loss_first_step"]["total"] > 0


def test_a_busy_folder_is_refused_and_a_finished_one_is_not_trained_again(tmp_path, capsys):
    from guide_pl.jobs.rundir import open_run_folder

    cfg = load_config([*FAST, "evaluation.enabled=false", f"run.root={tmp_path}", "run.name=fixed"])
    with open_run_folder(cfg):  # another process's live run (a second lock on the same folder)
        assert main(["unlearn", *FAST, "evaluation.enabled=false", f"run.root={tmp_path}", "run.name=fixed"]) == 2
        assert "in use by another guide-pl process" in capsys.readouterr().err
    assert main(["unlearn", *FAST, "evaluation.enabled=false", f"run.root={tmp_path}", "run.name=fixed"]) == 0
    weights = (tmp_path / "fixed" / "unlearned.pt").stat().st_mtime_ns
    capsys.readouterr()
    assert main(["unlearn", *FAST, "evaluation.enabled=false", f"run.root={tmp_path}", "run.name=fixed"]) == 0
    assert "already finished" in capsys.readouterr().out
    assert (tmp_path / "fixed" / "unlearned.pt").stat().st_mtime_ns == weights


def test_a_named_folder_belongs_to_one_config(tmp_path, capsys):
    assert main(["unlearn", *FAST, "evaluation.enabled=false", f"run.root={tmp_path}", "run.name=fixed"]) == 0
    config = (tmp_path / "fixed" / "config.yaml").read_text()
    assert main(["unlearn", *FAST, "evaluation.enabled=false", "method=baseline", f"run.root={tmp_path}",
                 "run.name=fixed"]) == 2
    assert "holds a run of another configuration" in capsys.readouterr().err
    assert (tmp_path / "fixed" / "config.yaml").read_text() == config
    # What only changes the screen (the progress bar) is the same run.
    assert main(["unlearn", *FAST, "evaluation.enabled=false", "trainer.progress_bar=true", f"run.root={tmp_path}",
                 "run.name=fixed"]) == 0


def test_runs_started_together_get_their_own_folders_and_never_resume_a_live_one(tmp_path, monkeypatch):
    import guide_pl.jobs.rundir as rundir

    monkeypatch.setattr(rundir.time, "strftime", lambda fmt: "20260101-000000")  # the same second
    cfg = load_config([*FAST, f"run.root={tmp_path}"])
    first = rundir.open_run_folder(cfg)
    first.checkpoint.parent.mkdir()
    first.checkpoint.write_bytes(b"an unfinished run's checkpoint")
    second = rundir.open_run_folder(cfg)  # while the first is live: not resumed, a folder of its own
    assert second.path != first.path and second.path.name == first.path.name + "-2"
    second.close()
    first.close()
    third = rundir.open_run_folder(cfg)  # the first is no longer live: it is resumed
    assert third.path == first.path
    third.close()


def test_failed_runs_leave_no_empty_folder_and_bad_roots_are_one_line(tmp_path, capsys):
    assert main(["unlearn", *FAST, "evaluation.second_judge=nope", f"run.root={tmp_path}"]) == 2
    assert "unknown evaluation.second_judge 'nope'" in capsys.readouterr().err
    assert folders(tmp_path) == []
    a_file = tmp_path / "file"
    a_file.write_text("not a folder")
    for root in (a_file, a_file / "below"):
        assert main(["unlearn", *FAST, f"run.root={root}"]) == 2
        error = capsys.readouterr().err
        assert "cannot create run.root" in error and error.count("\n") == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to any folder")
def test_an_unwritable_root_is_one_line(tmp_path, capsys):
    tmp_path.chmod(0o500)
    try:
        assert main(["unlearn", *FAST, f"run.root={tmp_path}/runs"]) == 2
        assert "cannot create run.root" in capsys.readouterr().err
    finally:
        tmp_path.chmod(0o700)


@pytest.mark.parametrize("override, message", [
    ("trainer.accelerator=gpu", "no CUDA GPU"),
    ("trainer.devices=4096", "asks for 4096 devices"),
    ("trainer.devices='0,4095'", "asks for 4096 devices"),
    ("trainer.strategy=teleport", "unknown trainer.strategy 'teleport'"),
])
def test_hardware_the_machine_lacks_is_refused_before_any_work(tmp_path, capsys, override, message):
    if override.endswith("gpu") and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert main(["unlearn", *FAST, override, f"run.root={tmp_path}"]) == 2
    assert message in capsys.readouterr().err
    assert not tmp_path.exists() or folders(tmp_path) == []


def test_open_run_folder_errors_are_run_folder_errors(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunFolderError):
        from guide_pl.jobs.rundir import open_run_folder

        open_run_folder(load_config([*FAST, f"run.root={tmp_path / 'file'}"]))


def test_a_folder_whose_config_no_longer_loads_is_another_config(tmp_path, capsys):
    """An old run's config.yaml with a key the schema dropped is neither resumed nor a traceback."""
    (tmp_path / "old" / "checkpoints").mkdir(parents=True)
    (tmp_path / "old" / "checkpoints" / "last.pt").write_bytes(b"x")
    (tmp_path / "old" / "config.yaml").write_text("method:\n  dropped_key: 1\n")
    assert main(["unlearn", *FAST, "evaluation.enabled=false", f"run.root={tmp_path}"]) == 0
    assert len(folders(tmp_path)) == 2  # a new folder beside the old one
    assert main(["unlearn", *FAST, "evaluation.enabled=false", f"run.root={tmp_path}", "run.name=old"]) == 2
    assert "holds a run of another configuration" in capsys.readouterr().err
