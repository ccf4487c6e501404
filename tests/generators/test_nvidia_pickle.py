"""The NVIDIA pickle reader: official-format pickles load without running their embedded source; bad files fail."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch

from guide_pl.generators import build_generator
from guide_pl.generators.nvidia_pickle import (
    CheckpointError,
    UnsafePickleError,
    UnsupportedCheckpointError,
    load_nvidia_pickle,
)
from guide_pl.generators.stylegan2 import StyleGAN2Generator
from helpers.nvidia_pickles import as_record, official_modules, write_network_pickle
from helpers.stylegan2_weights import SMALL_CONFIGS, fill_seeded


def _evil_source(marker: Path) -> str:
    # What an attacker (or just the official loader's exec) would run: must never happen here.
    return (
        f"open({str(marker)!r}, 'w').write('executed')\n"
        "raise SystemExit('module_src was executed')\n"
        "class Generator: pass\n"
    )


@pytest.fixture(params=[2, 4], ids=["protocol2", "protocol4"])
def official_style_pickle(request, tmp_path: Path):
    marker = tmp_path / "EXECUTED"
    kwargs = SMALL_CONFIGS["skip"]
    generator = StyleGAN2Generator(**kwargs).eval()
    fill_seeded(generator, base_seed=5)
    path = write_network_pickle(tmp_path / "network-snapshot.pkl", generator, kwargs, source=_evil_source(marker),
                                protocol=request.param)
    return path, marker, generator


def test_official_format_pickle_loads_without_running_source(official_style_pickle) -> None:
    path, marker, reference = official_style_pickle
    assert b"module_src" in path.read_bytes() and b"EXECUTED" in path.read_bytes()
    networks = load_nvidia_pickle(path)
    assert not marker.exists()
    assert set(networks) == {"G", "G_ema"}  # D is read as data and skipped
    loaded = networks["G_ema"]
    assert isinstance(loaded, StyleGAN2Generator)
    assert loaded.init_kwargs["synthesis_kwargs"]["channel_base"] == 512
    for name, value in reference.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name
    z = torch.randn(2, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(loaded(loaded.mapping(z)), reference(reference.mapping(z)))
    built = build_generator("stylegan2", checkpoint=str(path), loss_resolution=16)
    assert built.resolution == 32 and built.num_ws == 8 and torch.equal(built.w_avg, reference.w_avg)
    assert built.render(built.features(built.w_avg[None]), built.w_avg[None]).shape == (1, 3, 16, 16)
    assert not marker.exists()


def test_truncated_pickle_fails_clearly(official_style_pickle, tmp_path: Path) -> None:
    path, marker, _ = official_style_pickle
    truncated = tmp_path / "truncated.pkl"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated.pkl"):
        load_nvidia_pickle(truncated)
    assert not marker.exists()


class _CallsSystem:
    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def test_unknown_global_is_refused_and_nothing_runs(tmp_path: Path) -> None:
    marker = tmp_path / "RAN"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"G_ema": _CallsSystem(f"touch {marker}")}))
    with pytest.raises(UnsafePickleError, match="system"):
        load_nvidia_pickle(path)
    assert not marker.exists()


def test_other_architecture_fails_clearly(tmp_path: Path) -> None:
    with official_modules() as names:
        record = as_record(torch.nn.Linear(2, 2), names, "", "StyleGAN3Generator")
        path = tmp_path / "other.pkl"
        path.write_bytes(pickle.dumps({"G_ema": record}))
    with pytest.raises(UnsupportedCheckpointError, match="StyleGAN3Generator"):
        load_nvidia_pickle(path)


def test_missing_checkpoint_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUIDE_PL_CHECKPOINTS", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="stylegan2-ffhq-config-f.pkl"):
        build_generator("stylegan2")
    with pytest.raises(FileNotFoundError, match="nowhere.pkl"):
        build_generator("stylegan2", checkpoint=str(tmp_path / "nowhere.pkl"))
