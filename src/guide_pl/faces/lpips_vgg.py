"""LPIPS v0.1 with the VGG16 trunk (Zhang et al. 2018), written without torchvision or the `lpips` package.

Same computation as the official `lpips.LPIPS(net='vgg', version='0.1')`: ScalingLayer → VGG16 features cut at
relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 → channel unit-normalisation → squared difference → 1×1 linear
layers → spatial mean → sum over the five layers. Two weight files are needed (see `weights_help()`):
torchvision's ImageNet VGG16 `vgg16-397923af.pth` and LPIPS's linear layers `weights/v0.1/vgg.pth`.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from ..errors import BadFileError, MissingFileError
from ..frozen import AlwaysEval
from ..weights import WEIGHTS, checkpoint_dir, locate
from .registry import PERCEPTUAL_NETS

VGG16_KEY = "vgg16_imagenet"
LPIPS_VGG_KEY = "lpips_vgg_v0.1"

# torchvision `vgg16().features`: (index, in, out) of each 3×3 conv; a ReLU follows each conv, max-pools sit
# at indices 4, 9, 16, 23 (and 30, unused by LPIPS).
VGG16_CONVS: tuple[tuple[int, int, int], ...] = (
    (0, 3, 64), (2, 64, 64),
    (5, 64, 128), (7, 128, 128),
    (10, 128, 256), (12, 256, 256), (14, 256, 256),
    (17, 256, 512), (19, 512, 512), (21, 512, 512),
    (24, 512, 512), (26, 512, 512), (28, 512, 512),
)  # fmt: skip
VGG16_POOLS = (4, 9, 16, 23)
# LPIPS taps the output of these ReLUs: relu1_2, relu2_2, relu3_3, relu4_3, relu5_3.
LPIPS_TAPS = (3, 8, 15, 22, 29)
LPIPS_CHANNELS = (64, 128, 256, 512, 512)


def vgg16_feature_shapes() -> dict[str, tuple[int, ...]]:
    """Key → shape of every tensor of torchvision's `vgg16().features` state dict (as `features.N.*`)."""
    shapes: dict[str, tuple[int, ...]] = {}
    for index, cin, cout in VGG16_CONVS:
        shapes[f"features.{index}.weight"] = (cout, cin, 3, 3)
        shapes[f"features.{index}.bias"] = (cout,)
    return shapes


class VGG16Features(nn.Module):
    """torchvision's VGG16 `features` stack up to relu5_3 (indices 0–29), returning the five LPIPS taps."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        convs = {index: (cin, cout) for index, cin, cout in VGG16_CONVS}
        for index in range(LPIPS_TAPS[-1] + 1):
            if index in convs:
                layers.append(nn.Conv2d(*convs[index], kernel_size=3, padding=1))
            elif index in VGG16_POOLS:
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers.append(nn.ReLU())
        # Named `features` so torchvision's `features.N.weight/bias` keys load unchanged.
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        taps = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in LPIPS_TAPS:
                taps.append(x)
        return taps


class ScalingLayer(nn.Module):
    """LPIPS's input normalisation: (x − shift) / scale, ImageNet statistics expressed for [-1, 1] images."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.shift) / self.scale


class NetLinLayer(nn.Module):
    """A bias-free 1×1 conv to one channel; `model.1` keeps the official key (index 0 was a Dropout)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        # Official layout: Sequential(Dropout, Conv2d). Dropout is inactive in eval, so Identity stands in.
        self.model = nn.Sequential(nn.Identity(), nn.Conv2d(channels, 1, kernel_size=1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def normalize_channels(features: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Divide by the L2 norm over channels (+eps, as the official `normalize_tensor`)."""
    norm = torch.sqrt(torch.sum(features**2, dim=1, keepdim=True))
    return features / (norm + eps)


class LPIPSVGG(AlwaysEval):
    """LPIPS v0.1 (VGG): (x, y) images [B, 3, H, W] in [-1, 1] → per-sample distances [B].

    Build with `from_checkpoints()` for the real weights; the bare constructor leaves random weights (tests).
    All parameters are frozen; gradients flow to the inputs.
    """

    def __init__(self) -> None:
        super().__init__()
        self.scaling_layer = ScalingLayer()
        self.net = VGG16Features()
        self.lin0, self.lin1, self.lin2, self.lin3, self.lin4 = (NetLinLayer(c) for c in LPIPS_CHANNELS)
        self.requires_grad_(False)
        self.eval()

    @property
    def lins(self) -> list[NetLinLayer]:
        """The five linear layers, shallow to deep."""
        return [self.lin0, self.lin1, self.lin2, self.lin3, self.lin4]

    def load_vgg16(self, state: Mapping[str, torch.Tensor], source: str = "state dict") -> None:
        """Load torchvision `vgg16()` weights (`features.N.*`; `classifier.*` is ignored)."""
        expected = vgg16_feature_shapes()
        missing = sorted(set(expected) - set(state))
        if missing:
            raise BadFileError(
                f"{source} is not a torchvision VGG16 state dict: missing {missing[:4]} ({len(missing)} keys)"
            )
        features = {}
        for key, shape in expected.items():
            if tuple(state[key].shape) != shape:
                raise BadFileError(f"{source}: {key} has shape {tuple(state[key].shape)}, expected {shape}")
            features[key.removeprefix("features.")] = state[key]
        self.net.features.load_state_dict(features)

    def load_linear(self, state: Mapping[str, torch.Tensor], source: str = "state dict") -> None:
        """Load the official v0.1 linear layers (`lin{k}.model.1.weight`, shape [1, C, 1, 1])."""
        for k, (lin, channels) in enumerate(zip(self.lins, LPIPS_CHANNELS)):
            key = f"lin{k}.model.1.weight"
            if key not in state:
                raise BadFileError(f"{source} is not an LPIPS linear-layer file: missing {key}")
            if tuple(state[key].shape) != (1, channels, 1, 1):
                raise BadFileError(
                    f"{source}: {key} has shape {tuple(state[key].shape)}, expected (1, {channels}, 1, 1)"
                )
            lin.model[1].weight.copy_(state[key])

    @classmethod
    def from_checkpoints(cls, vgg_path: str | os.PathLike | None = None,
                         linear_path: str | os.PathLike | None = None, verify: bool = True) -> LPIPSVGG:
        """The real LPIPS-VGG: weights from explicit paths, else found by `find_vgg16()` / `find_lpips_linear()`."""
        vgg_file = locate(VGG16_KEY, vgg_path, verify=verify) if vgg_path is not None else find_vgg16(verify)
        lin_file = locate(LPIPS_VGG_KEY, linear_path, verify=verify) if linear_path is not None else \
            find_lpips_linear(verify)
        model = cls()
        with torch.no_grad():
            model.load_vgg16(_load_state(vgg_file), str(vgg_file))
            model.load_linear(_load_state(lin_file), str(lin_file))
        return model

    def layer_distances(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-layer LPIPS terms [5, B] (their sum over layers is the distance)."""
        if x.shape != y.shape or x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"LPIPS expects two images [B, 3, H, W] of the same shape; got {tuple(x.shape)} "
                             f"and {tuple(y.shape)}")
        if min(x.shape[2:]) < 16:
            raise ValueError(f"LPIPS-VGG needs images of at least 16×16 (four 2× poolings); got {tuple(x.shape)}")
        feats_x = self.net(self.scaling_layer(x))
        feats_y = self.net(self.scaling_layer(y))
        terms = []
        for lin, fx, fy in zip(self.lins, feats_x, feats_y):
            diff = (normalize_channels(fx) - normalize_channels(fy)) ** 2
            terms.append(lin(diff).mean(dim=(2, 3)).flatten())
        return torch.stack(terms)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        # Summed in layer order, like the official `val += res[l]`.
        terms = self.layer_distances(x, y)
        total = terms[0]
        for term in terms[1:]:
            total = total + term
        return total


def _load_state(path: Path) -> Mapping[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - torch raises many types for corrupt/truncated files
        raise BadFileError(
            f"cannot read {path} as a PyTorch state dict ({error}); the file may be truncated"
        ) from error
    if not isinstance(state, Mapping):
        raise BadFileError(f"{path} holds a {type(state).__name__}, not a state dict")
    return state


def torch_hub_checkpoints() -> Path:
    """torch's hub cache for downloaded checkpoints: $TORCH_HOME/hub/checkpoints (default ~/.cache/torch)."""
    torch_home = os.environ.get("TORCH_HOME")
    if torch_home is None:
        cache = os.environ.get("XDG_CACHE_HOME", os.path.join(os.path.expanduser("~"), ".cache"))
        torch_home = os.path.join(cache, "torch")
    return Path(torch_home) / "hub" / "checkpoints"


def lpips_package_weights() -> Path | None:
    """`lpips/weights/v0.1/vgg.pth` of an installed lpips package, found without importing it (it pulls torchvision)."""
    try:
        spec = importlib.util.find_spec("lpips")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / "weights" / "v0.1" / "vgg.pth"
        if candidate.is_file():
            return candidate
    return None


def weights_help() -> str:
    """Which files LPIPS-VGG needs and where to get them."""
    vgg, lin = WEIGHTS[VGG16_KEY], WEIGHTS[LPIPS_VGG_KEY]
    return (
        f"LPIPS-VGG needs two files: (1) {vgg.filename} (sha256 {vgg.sha256}) in {checkpoint_dir()} or "
        f"{torch_hub_checkpoints()}; get it from {vgg.source}. (2) {lin.filename} (sha256 {lin.sha256}) in "
        f"{checkpoint_dir()}; get it from {lin.source}."
    )


def find_vgg16(verify: bool = True) -> Path:
    """The ImageNet VGG16 file: checkpoints/ first, then the torch hub cache; a clear error if neither has it."""
    filename = WEIGHTS[VGG16_KEY].filename
    for folder in (checkpoint_dir(), torch_hub_checkpoints()):
        if (folder / filename).is_file():
            return locate(VGG16_KEY, folder / filename, verify=verify)
    raise MissingFileError(
        f"{filename} not found in {checkpoint_dir()} nor {torch_hub_checkpoints()}. {weights_help()}"
    )


def find_lpips_linear(verify: bool = True) -> Path:
    """The LPIPS v0.1 VGG linear weights: checkpoints/ first, then an installed lpips package."""
    entry = WEIGHTS[LPIPS_VGG_KEY]
    candidates = [checkpoint_dir() / entry.filename]
    packaged = lpips_package_weights()
    if packaged is not None:
        candidates.append(packaged)
    for candidate in candidates:
        if candidate.is_file():
            return locate(LPIPS_VGG_KEY, candidate, verify=verify)
    raise MissingFileError(f"{entry.filename} not found in {checkpoint_dir()} (nor in an installed lpips package). "
                            f"{weights_help()}")


@PERCEPTUAL_NETS.register("lpips_vgg")
def build_lpips_vgg(vgg_path: str | None = None, linear_path: str | None = None,
                    verify: bool = True) -> LPIPSVGG:
    """LPIPS v0.1 with the VGG16 trunk (the paper's perceptual term); needs two weight files, see `weights_help()`."""
    return LPIPSVGG.from_checkpoints(vgg_path, linear_path, verify)


__all__ = [
    "LPIPSVGG", "VGG16Features", "ScalingLayer", "NetLinLayer", "normalize_channels", "vgg16_feature_shapes",
    "find_vgg16", "find_lpips_linear", "weights_help",
    "torch_hub_checkpoints", "lpips_package_weights", "build_lpips_vgg",
]
