"""`guide-pl fetch-weights NAME`: get the weights that are available offline from a package registry.

Only `mobilestylegan` for now: FFHQ MobileStyleGAN as OpenVINO IR inside the PyPI wheel
`random-face==2021.7.21.1`. The wheel is downloaded with pip (no dependencies, nothing installed), its sha256
is checked, and the four IR files are extracted into `checkpoints/mobilestylegan/`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

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


def _complete(folder: Path) -> bool:
    """True when every IR file is present with its pinned sha256."""
    return all((folder / n).is_file() and sha256_of(folder / n) == s for n, s in MOBILESTYLEGAN_FILES.items())


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
    if not force and _complete(folder):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".fetch-", dir=folder) as tmp_name:
        tmp = Path(tmp_name)
        if wheel is None:
            wheel = (downloader or _download_wheel)(tmp)
        wheel = Path(wheel)
        actual = sha256_of(wheel)
        if actual != MOBILESTYLEGAN_WHEEL_SHA256:
            raise FetchError(
                f"{wheel} has sha256 {actual}, expected {MOBILESTYLEGAN_WHEEL_SHA256} for {MOBILESTYLEGAN_WHEEL}: "
                "corrupt or truncated download, or a different file"
            )
        staged = {}
        try:
            with zipfile.ZipFile(wheel) as archive:
                for name, expected in MOBILESTYLEGAN_FILES.items():
                    target = tmp / name
                    with archive.open(f"random_face/data/{name}") as src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
                    if sha256_of(target) != expected:
                        raise FetchError(f"random_face/data/{name} in {wheel} has an unexpected sha256")
                    staged[name] = target
        except (zipfile.BadZipFile, KeyError) as error:
            raise FetchError(f"{wheel} is not the expected wheel: {error}") from error
        # Same folder, so each os.replace is atomic: a reader sees the old file or the complete new one.
        for name, target in staged.items():
            os.replace(target, folder / name)
    return folder


def fetch_lpips() -> Path:
    """LPIPS v0.1 linear weights from the lpips wheel on PyPI (the VGG16 ImageNet weights are the user's)."""
    from .faces.lpips_vgg import fetch_lpips_linear

    return fetch_lpips_linear()


FETCHERS: dict[str, Callable[[], Path]] = {"mobilestylegan": fetch_mobilestylegan, "lpips": fetch_lpips}


def fetch_weights(name: str) -> Path:
    """Fetch the weights called `name` into checkpoints/ and return their folder."""
    if name not in FETCHERS:
        raise KeyError(f"unknown weights {name!r}; fetchable: {', '.join(sorted(FETCHERS))}")
    return FETCHERS[name]()
