"""`guide-pl fetch-weights`: one verified, atomic path for pinned wheels and npm tarballs (no network unless
GUIDE_PL_SLOW=1), and a catalogue with every file."""

from __future__ import annotations

import ast
import io
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from guide_pl.errors import FetchError
from guide_pl.weights import WEIGHTS, fetched_folder, fetched_keys, locate, sha256_of
from guide_pl.weights import fetch as fw
from guide_pl.weights.sources import ARCHIVES, LPIPS, MOBILEFACE, MOBILESTYLEGAN

SOURCE = Path(fw.__file__).resolve().parents[1]


def _no_download(tmp):
    raise AssertionError("download attempted")


def _npm_tarball(path, members):
    """A gzipped tar at `path` with `members` {name inside the tar: bytes} (an npm tarball's layout)."""
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_every_fetched_file_is_catalogued_with_its_pin():
    assert set(ARCHIVES) == {"mobilestylegan", "lpips", "mobileface"}
    for name, archive in ARCHIVES.items():
        keys = fetched_keys(name)
        assert len(keys) == len(archive.members) and len(archive.sha256) == 64
        for key, member in zip(keys, archive.members):
            assert WEIGHTS[key].filename == member.destination and WEIGHTS[key].sha256 == member.sha256
            assert f"fetch-weights {name}" in WEIGHTS[key].source
    assert sorted(fetched_keys("mobilestylegan").values()) == sorted(
        ["MappingNetwork.xml", "MappingNetwork.bin", "SynthesisNetwork.xml", "SynthesisNetwork.bin"])
    # The paper's user-downloaded files are in the same catalogue.
    assert {"vgg16_imagenet", "fid_inception", "arcface_ir_se50", "curricularface_ir101", "psp_ffhq_encode",
            "stylegan2-ffhq-config-f", "insightface_w600k_r50", "dlib_resnet"} <= set(WEIGHTS)


def test_fetch_imports_no_model_module():
    """weights/ is below every model module: fetching never imports generators, faces or inversion."""
    for path in (SOURCE / "weights").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                assert (node.module or "").split(".")[0] not in {"generators", "faces", "inversion", "method"}, path


def test_unknown_name_lists_valid_ones():
    with pytest.raises(KeyError, match="mobilestylegan"):
        fw.fetch_weights("stylegan9")


def test_pip_failure_is_a_clear_error(tmp_path, monkeypatch):
    def failing_run(command, **kwargs):
        assert command[1:4] == ["-m", "pip", "download"] and MOBILESTYLEGAN.requirement in command
        return subprocess.CompletedProcess(command, 1, "", "ERROR: Could not find a version (network down)")

    monkeypatch.setattr(fw.subprocess, "run", failing_run)
    with pytest.raises(FetchError, match="could not download random-face==2021.7.21.1") as info:
        fw.fetch("mobilestylegan", tmp_path)
    assert "network down" in str(info.value)
    assert [p.name for p in tmp_path.iterdir()] == []  # nothing half-written


def test_wrong_wheel_is_rejected(tmp_path):
    fake = tmp_path / "fake.whl"
    fake.write_bytes(b"not a wheel")
    with pytest.raises(FetchError, match="sha256"):
        fw.fetch("mobilestylegan", tmp_path / "ckpt", archive_file=fake)
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == []


def test_skips_when_files_are_present_and_refetches_a_corrupt_one(tmp_path, mobilestylegan_weights):
    dest = tmp_path / "ckpt"
    (dest / "mobilestylegan").mkdir(parents=True)
    for name in fetched_keys("mobilestylegan").values():
        shutil.copy(mobilestylegan_weights / name, dest / "mobilestylegan" / name)
    assert fw.fetch("mobilestylegan", dest, downloader=_no_download) == dest
    with open(dest / "mobilestylegan" / "SynthesisNetwork.xml", "ab") as handle:
        handle.write(b"<!-- edited -->")
    with pytest.raises(AssertionError, match="download attempted"):
        fw.fetch("mobilestylegan", dest, downloader=_no_download)
    with pytest.raises(ValueError, match="corrupt"):
        locate("mobilestylegan-synthesisnetwork-xml", dest / "mobilestylegan" / "SynthesisNetwork.xml")


def test_lpips_linear_layers_come_out_of_a_wheel(tmp_path):
    """The same path takes LPIPS's one member out of a wheel (zip), checks it, and refuses a wrong one."""
    from guide_pl.faces.lpips_vgg import find_lpips_linear

    try:
        source = find_lpips_linear()
    except FileNotFoundError:
        pytest.skip("LPIPS linear weights missing: run guide-pl fetch-weights lpips")
    member = LPIPS.members[0]
    wheel = tmp_path / LPIPS.filename
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.write(source, member.path)
    root = fw.fetch("lpips", tmp_path / "ckpt", archive_file=wheel, archive_sha256=sha256_of(wheel))
    target = root / member.destination
    assert target.read_bytes() == source.read_bytes() and oct(target.stat().st_mode & 0o777) == "0o644"
    bad = tmp_path / "bad.whl"
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr(member.path, b"not the weights")
    with pytest.raises(FetchError, match="unexpected sha256"):
        fw.fetch("lpips", tmp_path / "ckpt2", archive_file=bad, archive_sha256=sha256_of(bad))
    assert not any((tmp_path / "ckpt2").iterdir())  # no half-written file left behind


def test_mobileface_extracts_verified_members_from_the_tarball(tmp_path, mobileface_weights):
    members = {m.path: (mobileface_weights / Path(m.destination).name).read_bytes() for m in MOBILEFACE.members}
    members["package/models/other.bin"] = b"not needed"
    tarball = _npm_tarball(tmp_path / "hm.tgz", members)
    root = fw.fetch("mobileface", tmp_path / "ckpt", archive_file=tarball, archive_sha256=sha256_of(tarball))
    folder = root / "mobileface"
    assert sorted(p.name for p in folder.iterdir()) == ["mobileface.bin", "mobileface.json"]
    for member in MOBILEFACE.members:
        assert sha256_of(root / member.destination) == member.sha256
    assert not [p for p in root.iterdir() if p.name.startswith(".fetch-")]  # temporary folder removed
    assert fw.fetch("mobileface", root, downloader=_no_download) == root  # complete: no second download


def test_mobileface_rejects_a_wrong_tarball_and_writes_nothing(tmp_path):
    bad = _npm_tarball(tmp_path / "bad.tgz", {"package/models/mobileface.json": b"{}",
                                               "package/models/mobileface.bin": b"\0" * 8})
    with pytest.raises(FetchError, match="sha256"):
        fw.fetch("mobileface", tmp_path / "a", archive_file=bad)  # not the pinned tarball
    with pytest.raises(FetchError, match="unexpected sha256"):
        fw.fetch("mobileface", tmp_path / "b", archive_file=bad, archive_sha256=sha256_of(bad))  # members checked
    missing = _npm_tarball(tmp_path / "missing.tgz", {"package/README.md": b"x"})
    with pytest.raises(FetchError, match="not the expected npm tarball"):
        fw.fetch("mobileface", tmp_path / "c", archive_file=missing, archive_sha256=sha256_of(missing))
    for folder in ("a", "b", "c"):
        assert [p.name for p in (tmp_path / folder).iterdir()] == []


def test_npm_download_failure_is_a_clear_error(tmp_path, monkeypatch):
    def unreachable(url, timeout):
        raise OSError("network down")

    monkeypatch.setattr(fw.urllib.request, "urlopen", unreachable)
    with pytest.raises(FetchError, match="npm registry reachable.*network down"):
        fw.fetch("mobileface", tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == []


@pytest.mark.slow
def test_real_download(tmp_path):
    root = fw.fetch("mobilestylegan", tmp_path)
    for member in MOBILESTYLEGAN.members:
        assert sha256_of(root / member.destination) == member.sha256
    assert not [p for p in root.iterdir() if p.name.startswith(".")]  # temporary folder removed


def test_fetched_folder_follows_the_checkpoints_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("GUIDE_PL_CHECKPOINTS", str(tmp_path))
    assert fetched_folder("mobilestylegan") == tmp_path / "mobilestylegan" and fetched_folder("lpips") == tmp_path
