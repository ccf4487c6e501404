"""End-to-end: `guide-pl unlearn` on `tiny` writes the run folder, resumes after a kill, and the photo pipeline."""

import json

import pytest
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
    saved = torch.load(run / "unlearned.pt", weights_only=True)
    assert saved["w_u"].shape == saved["w_t"].shape
    assert "max_steps: 3" in (run / "config.yaml").read_text()
    assert not list(run.glob(".*.tmp"))  # no half-written files left behind


def test_unknown_key_exits_with_message(capsys):
    assert main(["unlearn", "method.nope=1"]) == 2
    assert "unknown config key 'method.nope'" in capsys.readouterr().err


def test_missing_latent_file_exits_with_message(tmp_path, capsys):
    code = main(["unlearn", "generator=tiny", "scenario=latent", f"scenario.latent_path={tmp_path}/none.pt",
                 f"run.root={tmp_path}", "trainer.progress_bar=false"])
    assert code == 2
    assert "does not exist" in capsys.readouterr().err


def crash_at_step(monkeypatch, step):
    """Make GuideModule.training_step raise at `step` (a simulated crash); returns the original method."""
    import guide_pl.method.module as module_lib

    original = module_lib.GuideModule.training_step

    def crashing(self, batch, batch_idx):
        if int(batch["step"]) == step:
            raise RuntimeError("simulated crash")
        return original(self, batch, batch_idx)

    monkeypatch.setattr(module_lib.GuideModule, "training_step", crashing)
    return original


def test_interrupted_run_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    """A run stopped after its step-2 checkpoint, rerun with the same command, continues at step 2 and ends with
    the same weights as an uninterrupted run (the per-step draws are seeded by step)."""
    import guide_pl.method.module as module_lib

    common = ["generator=tiny", "trainer.max_steps=4", "trainer.checkpoint_every_n_steps=2",
              "trainer.progress_bar=false", "method.lr=0.01", "evaluation.curve_every_n_steps=1",
              "trainer.log_every_n_steps=1"]
    assert main(["unlearn", *common, f"run.root={tmp_path}/full", "run.name=full"]) == 0
    full = torch.load(tmp_path / "full" / "full" / "unlearned.pt", weights_only=True)

    original = crash_at_step(monkeypatch, 3)
    root = tmp_path / "interrupted"
    with pytest.raises(RuntimeError, match="simulated crash"):
        main(["unlearn", *common, f"run.root={root}"])
    runs = list(root.iterdir())
    assert len(runs) == 1 and (runs[0] / "checkpoints" / "last.pt").is_file()
    assert not (runs[0] / "metrics.json").exists()
    monkeypatch.setattr(module_lib.GuideModule, "training_step", original)
    assert main(["unlearn", *common, f"run.root={root}"]) == 0
    assert list(root.iterdir()) == runs  # the same folder was resumed, not a new one
    metrics = json.loads((runs[0] / "metrics.json").read_text())
    assert metrics["resumed_from_step"] == 2 and metrics["steps"] == 4
    resumed = torch.load(runs[0] / "unlearned.pt", weights_only=True)
    for key, value in full["synthesis_state_dict"].items():
        assert torch.allclose(resumed["synthesis_state_dict"][key], value, atol=1e-6), key
    # Nothing recorded before the interruption is lost: the curve has every step, the loss log every step under
    # its own number, and the timings and first losses are those of the whole run.
    full_curve = (tmp_path / "full" / "full" / "curve.csv").read_text().splitlines()
    curve = (runs[0] / "curve.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in curve[1:]] == ["0", "1", "2", "3", "4"]
    assert curve[:4] == full_curve[:4]  # steps 0-2 come from before the crash, unchanged
    losses = (runs[0] / "logs" / "metrics.csv").read_text().splitlines()
    assert losses[0].startswith("step,loss/") and [line.split(",")[0] for line in losses[1:]] == ["0", "1", "2", "3"]
    full_metrics = json.loads((tmp_path / "full" / "full" / "metrics.json").read_text())
    assert metrics["loss_first_step"] == full_metrics["loss_first_step"]
    assert metrics["seconds_per_step"] > 0


def test_photos_pipeline_on_tiny_writes_every_metric(tmp_path, mobileface_weights):
    """Align → invert → unlearn → evaluate on real photos, with `tiny` so it is fast (the numbers mean little)."""
    pytest.importorskip("dlib")
    code = main(["unlearn", "generator=tiny", "id=alex_lacamoire", "trainer.max_steps=2", f"run.root={tmp_path}",
                 "run.name=photos", "trainer.progress_bar=false", "scenario.inverter.options.steps=5",
                 "evaluation.fid_samples=4", "evaluation.curve_every_n_steps=1", "evaluation.second_judge=mobileface"])
    assert code == 0
    run = tmp_path / "photos"
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("id", "id_others", "fid_pre", "delta_fid_real", "photo_recognised_before", "photo_recognised_after",
                "reinversion_recognised", "seconds_total", "method", "generator", "identity"):
        assert key in metrics, key
    assert metrics["identity"] == "alex_lacamoire" and metrics["delta_fid_real"] is None
    assert len(metrics["photos"]) == 2 and -1.0 <= metrics["id"] <= 1.0
    second = metrics["second_judge"]
    assert second["name"] == "mobileface" and len(second["photo_cosines_after"]) == 2
    assert -1.0 <= second["id"] <= 1.0 and isinstance(second["reinversion_recognised"], bool)
    # Its verdicts follow its cosines and threshold (a fraction of the 2 photos at or above it).
    above = sum(c >= second["cosine_threshold"] for c in second["photo_cosines_after"])
    assert second["photo_recognised_after"] == above / 2
    assert (run / "grid.png").is_file()
    curve = (run / "curve.csv").read_text().splitlines()
    assert len(curve) == 1 + 3  # header + steps 0, 1, 2
    header, first = curve[0].split(","), dict(zip(curve[0].split(","), map(float, curve[1].split(","))))
    assert header[-4:] == ["second_id", "second_id_others", "second_photo_cosine", "second_photo_recognised"]
    # Step 0 is before any update: G_u = G_s, so both judges see identical images (cosine 1).
    assert first["id"] == pytest.approx(1.0, abs=1e-6) and first["second_id"] == pytest.approx(1.0, abs=1e-5)
    assert list((tmp_path / ".cache" / "inversions").glob("*.pt"))  # inversions cached for the next run


def test_adversarial_latents_survive_an_interruption(tmp_path, monkeypatch):
    """With adversarial latents on, a run interrupted after the step that found one resumes with it: the final
    weights equal an uninterrupted run's, and metrics.json lists what the attack found."""
    import guide_pl.method.module as module_lib

    common = ["generator=tiny", "trainer.max_steps=4", "trainer.checkpoint_every_n_steps=1",
              "trainer.progress_bar=false", "method.lr=0.01", "method.adversarial_every_n_steps=2",
              "scenario.inverter.options.steps=3", "evaluation.enabled=false"]
    assert main(["unlearn", *common, f"run.root={tmp_path}/full", "run.name=full"]) == 0
    full_run = tmp_path / "full" / "full"
    full = torch.load(full_run / "unlearned.pt", weights_only=True)
    found = json.loads((full_run / "metrics.json").read_text())["adversarial_latents"]
    assert [r["step"] for r in found] == [2] and found[0]["latent_distance_to_w_u"] > 0

    original = crash_at_step(monkeypatch, 3)
    root = tmp_path / "interrupted"
    with pytest.raises(RuntimeError, match="simulated crash"):
        main(["unlearn", *common, f"run.root={root}"])
    run = next(root.iterdir())
    saved = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert saved["step"] == 3 and saved["adversarial_latents"].shape[0] == 1
    monkeypatch.setattr(module_lib.GuideModule, "training_step", original)
    assert main(["unlearn", *common, f"run.root={root}"]) == 0
    resumed = torch.load(run / "unlearned.pt", weights_only=True)
    for key, value in full["synthesis_state_dict"].items():
        assert torch.allclose(resumed["synthesis_state_dict"][key], value, atol=1e-6), key


def test_attack_command_reattacks_a_finished_run(tmp_path, capsys, mobileface_weights):
    """`guide-pl attack RUN`: the default attacker on G_s is the scenario's inverter, so it lands on the saved
    w_u; another attacker gets its own result file; bad overrides and damaged runs are clear errors."""
    pytest.importorskip("dlib")
    assert main(["unlearn", "generator=tiny", "id=alex_lacamoire", "trainer.max_steps=1", f"run.root={tmp_path}",
                 "run.name=run", "trainer.progress_bar=false", "scenario.inverter.options.steps=4",
                 "evaluation.enabled=false"]) == 0
    run = tmp_path / "run"
    assert main(["attack", str(run)]) == 0
    result = json.loads((run / "attacks" / "default.json").read_text())
    saved = torch.load(run / "unlearned.pt", weights_only=True)
    from guide_pl.generators import build_generator

    w_avg = build_generator("tiny", resolution=32, seed=0).w_avg
    expected = float((saved["w_u"] - w_avg).flatten(1).norm(dim=1)[0])
    assert abs(result["source"]["latent_distance_to_w_avg"] - expected) < 1e-4
    assert set(result["unlearned"]) == {"recognised", "distance", "latent_distance_to_w_avg"}
    assert (run / "attacks" / "default.png").is_file()
    assert "unlearned distance" in capsys.readouterr().out
    # The attack needs x_u only: the run's second photo is not aligned for it (alex_lacamoire ships 2).
    from guide_pl.jobs.rundir import load_finished_run

    assert [len(load_finished_run(run, source_photo_only=flag).photos) for flag in (True, False)] == [1, 2]

    other = "evaluation.reinversion_inverter.options.latent_space=wplus"
    assert main(["attack", str(run), other, "--no-source"]) == 0
    files = sorted(p.name for p in (run / "attacks").glob("attack-*.json"))
    assert len(files) == 1
    assert "source" not in json.loads((run / "attacks" / files[0]).read_text())

    # The second judge can be asked of a run made without it; the attacker (and its file) stay the default.
    assert main(["attack", str(run), "evaluation.second_judge=mobileface", "--no-source"]) == 0
    judged = json.loads((run / "attacks" / "default.json").read_text())["unlearned"]["second_judge"]
    assert judged["name"] == "mobileface" and -1.0 <= judged["cosine"] <= 1.0
    assert judged["recognised"] == (judged["cosine"] >= 0.28)
    assert "mobileface: cosine" in capsys.readouterr().out

    assert main(["attack", str(run), "method.lr=1"]) == 2
    assert "must be keys under evaluation.reinversion_inverter" in capsys.readouterr().err
    assert main(["attack", str(run), "evaluation.second_judge=nope"]) == 2
    assert "unknown evaluation.second_judge 'nope'" in capsys.readouterr().err
    (run / "unlearned.pt").write_bytes((run / "unlearned.pt").read_bytes()[:100])
    assert main(["attack", str(run)]) == 2
    assert "cannot load the unlearned generator" in capsys.readouterr().err
    assert main(["attack", str(tmp_path / "nowhere")]) == 2


def test_second_judge_problems_fail_before_any_work(tmp_path, monkeypatch, capsys):
    """An unknown second judge, or its weights missing, is a clear error before inversion or training."""
    common = ["unlearn", "generator=tiny", "trainer.max_steps=1", f"run.root={tmp_path}", "trainer.progress_bar=false"]
    assert main([*common, "evaluation.second_judge=nope"]) == 2
    assert "unknown evaluation.second_judge 'nope'" in capsys.readouterr().err
    monkeypatch.setenv("GUIDE_PL_CHECKPOINTS", str(tmp_path / "empty"))
    assert main([*common, "evaluation.second_judge=mobileface"]) == 2
    assert "guide-pl fetch-weights mobileface" in capsys.readouterr().err
    assert not list(tmp_path.glob("*/unlearned.pt"))


def test_evaluate_command_reevaluates_a_finished_run(tmp_path, capsys, mobileface_weights):
    """`guide-pl evaluate RUN`: the evaluation again with new evaluation.* settings (here the second judge, which
    the run did not have); its ID is dlib's cosine of G_s(w_u) and G_u(w_u); the run's own files are untouched."""
    pytest.importorskip("dlib")
    assert main(["unlearn", "generator=tiny", "id=alex_lacamoire", "trainer.max_steps=1", f"run.root={tmp_path}",
                 "run.name=run", "trainer.progress_bar=false", "scenario.inverter.options.steps=4",
                 "evaluation.enabled=false", "method.lr=0.05"]) == 0
    run = tmp_path / "run"
    metrics_before = (run / "metrics.json").read_bytes()
    overrides = ["evaluation.second_judge=mobileface", "evaluation.reinversion=false", "evaluation.fid_samples=4"]
    assert main(["evaluate", str(run), *overrides]) == 0
    assert "mobileface: ID / ID_others" in capsys.readouterr().out
    files = sorted(p.name for p in (run / "evaluations").iterdir())
    assert len(files) == 2 and files[0].startswith("eval-") and files[1].endswith(".png")
    result = json.loads((run / "evaluations" / files[0]).read_text())
    assert result["identity"] == "alex_lacamoire" and result["reinversion_recognised"] is None
    assert result["second_judge"]["name"] == "mobileface" and len(result["photos"]) == 2
    assert (run / "metrics.json").read_bytes() == metrics_before and not (run / "grid.png").exists()

    from guide_pl.evaluation.measures import render
    from guide_pl.faces.evaluator import DlibIdentityEvaluator
    from guide_pl.jobs.rundir import load_finished_run

    loaded = load_finished_run(run)
    w_u = loaded.saved["w_u"]
    expected = DlibIdentityEvaluator().compare(render(loaded.source, w_u)[0], render(loaded.unlearned, w_u)[0])
    assert result["id"] == pytest.approx(expected.cosine, abs=1e-9)

    assert main(["evaluate", str(run), "method.lr=1"]) == 2
    assert "evaluate overrides must be keys under evaluation" in capsys.readouterr().err


def test_cpu_threads_sets_torch_threads(tmp_path, capsys):
    """trainer.cpu_threads reaches torch (1 = bit-reproducible CPU runs); 0 is a clear error."""
    assert main(["unlearn", "generator=tiny", "trainer.max_steps=1", "trainer.cpu_threads=1",
                 "evaluation.enabled=false", f"run.root={tmp_path}", "trainer.progress_bar=false"]) == 0
    assert torch.get_num_threads() == 1  # (the suite's thread policy restores it after the test)
    assert main(["unlearn", "generator=tiny", "trainer.cpu_threads=0", f"run.root={tmp_path}"]) == 2
    assert "trainer.cpu_threads must be ≥ 1" in capsys.readouterr().err
