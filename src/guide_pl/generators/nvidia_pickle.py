"""Read NVIDIA's network pickles (stylegan2-ada-pytorch, stylegan3) without running code stored in them.

NVIDIA pickles store every network as `torch_utils.persistence._reconstruct_persistent_obj(meta)`, where `meta`
holds the Python source of the class's module (`module_src`), the class name and the object's state; the official
loader `exec`s that source. Here a restricted unpickler resolves only a short list of harmless globals (tensor and
numpy rebuild helpers, OrderedDict, EasyDict) and maps the persistence hook to `PersistentObject`, a record of the
class name, init arguments and tensors. The source text is never executed, never compiled and not kept. Records
are then turned into guide-pl's own modules by builders keyed by class name (StyleGAN2 here).
"""

from __future__ import annotations

import collections
import hashlib
import io
import os
import pickle
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import torch
from torch import nn

from ..errors import BadFileError, MissingFileError


class CheckpointError(BadFileError):
    """A checkpoint file cannot be used (corrupt, truncated, unsafe or of an unsupported architecture)."""


class UnsafePickleError(CheckpointError):
    """The pickle asks for a Python global outside the whitelist; nothing from it was run."""


class UnsupportedCheckpointError(CheckpointError):
    """The pickle is well-formed but holds a network guide-pl has no implementation for."""


class EasyDict(dict):
    """Stand-in for `dnnlib.EasyDict`: a dict with attribute access (no code from dnnlib is imported)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError as exc:
            raise AttributeError(name) from exc


@dataclass
class PersistentObject:
    """What a persistent NVIDIA object holds, read as data: class name, init arguments, state (with tensors)."""

    class_name: str
    version: Any
    state: dict
    module_src_sha256: str = ""
    module_src_chars: int = 0

    @property
    def init_args(self) -> tuple:
        """Positional arguments the object was constructed with."""
        return tuple(self.state.get("_init_args", ()) or ())

    @property
    def init_kwargs(self) -> dict:
        """Keyword arguments the object was constructed with (nested EasyDicts become plain dicts)."""
        return _plain(self.state.get("_init_kwargs", {}) or {})

    @property
    def children(self) -> dict[str, Any]:
        """Submodules by attribute name (each a PersistentObject for official networks)."""
        return dict(self.state.get("_modules", {}) or {})

    def named_tensors(self, prefix: str = "") -> Iterator[tuple[str, torch.Tensor]]:
        """Every parameter and buffer as (dotted name, tensor), like `state_dict()` of the original module."""
        for group in ("_parameters", "_buffers"):
            for name, value in (self.state.get(group, {}) or {}).items():
                if value is not None:
                    yield prefix + name, value
        for name, child in self.children.items():
            if isinstance(child, (PersistentObject, PlainModule)):
                yield from child.named_tensors(prefix + name + ".")
            elif child is not None:
                raise UnsupportedCheckpointError(
                    f"submodule {prefix + name!r} is a plain {type(child).__name__}, not a persistent network object"
                )

    def class_tree(self, prefix: str = "") -> Iterator[tuple[str, str]]:
        """(dotted submodule name, class name) for this object and all its submodules."""
        yield prefix.rstrip("."), self.class_name
        for name, child in self.children.items():
            if isinstance(child, (PersistentObject, PlainModule)):
                yield from child.class_tree(prefix + name + ".")


class PlainModule(PersistentObject):
    """A module the pickle names by import path instead of embedding its source (EG3D's decoder, renderer, ray
    sampler and marcher; torch's Sequential and Softplus), read as data: created empty, its `__dict__` kept as
    state. Only the classes in `PLAIN_MODULES` are accepted, and none of their code is imported or run."""

    qualified_name = ""

    def __init__(self) -> None:  # pickle's NEWOBJ calls __new__ only; this keeps direct construction harmless
        super().__init__(class_name=type(self).__name__, version=None, state={})

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise CheckpointError(f"{self.qualified_name} has a non-dict state ({type(state).__name__})")
        self.class_name, self.version, self.state = type(self).__name__, None, state
        self.module_src_sha256, self.module_src_chars = "", 0


# Non-persistent classes EG3D pickles reference by path: (module, name).
PLAIN_MODULES = {
    ("training.triplane", "OSGDecoder"),
    ("training.volumetric_rendering.renderer", "ImportanceRenderer"),
    ("training.volumetric_rendering.ray_marcher", "MipRayMarcher2"),
    ("training.volumetric_rendering.ray_sampler", "RaySampler"),
    ("torch.nn.modules.container", "Sequential"),
    ("torch.nn.modules.activation", "Softplus"),
}
_PLAIN_CLASSES = {key: type(key[1], (PlainModule,), {"qualified_name": ".".join(key)}) for key in PLAIN_MODULES}


def _plain(value: Any) -> Any:
    """Deep-convert EasyDict/OrderedDict/numpy scalars to plain dicts and Python numbers."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(item) for item in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def _reconstruct_persistent(meta: Any) -> PersistentObject:
    """Replacement for `_reconstruct_persistent_obj`: keep class name and state; never touch `module_src`."""
    if not isinstance(meta, dict) or "class_name" not in meta or "state" not in meta:
        raise CheckpointError("malformed persistent object (no class_name/state in its meta data)")
    if meta.get("type") != "class":
        raise UnsupportedCheckpointError(f"persistent object of type {meta.get('type')!r}; only 'class' is known")
    source = meta.get("module_src") or ""
    digest = hashlib.sha256(source.encode("utf-8", "replace")).hexdigest() if isinstance(source, str) else ""
    state = meta["state"]
    if not isinstance(state, dict):
        raise CheckpointError(f"persistent {meta['class_name']!r} has a non-dict state ({type(state).__name__})")
    return PersistentObject(
        class_name=str(meta["class_name"]),
        version=meta.get("version"),
        state=state,
        module_src_sha256=digest,
        module_src_chars=len(source) if isinstance(source, str) else 0,
    )


def _load_storage_bytes(data: bytes) -> Any:
    """Replacement for `torch.storage._load_from_bytes`: the nested legacy torch.save blob, read weights-only."""
    if not isinstance(data, (bytes, bytearray)):
        raise CheckpointError("tensor storage record is not a bytes blob")
    try:
        return torch.load(io.BytesIO(bytes(data)), weights_only=True, map_location="cpu")
    except Exception as exc:  # torch raises UnpicklingError/RuntimeError for anything it refuses
        raise UnsafePickleError(f"a tensor storage inside the pickle did not load weights-only: {exc}") from exc


def _rebuild_from_type_v2(func: Callable, new_type: type, args: tuple, state: Any) -> torch.Tensor:
    """Safe version of torch's `_rebuild_from_type_v2` for plain tensors and Parameters only."""
    if new_type not in (torch.Tensor, nn.Parameter):
        raise UnsafePickleError(f"tensor subclass {new_type!r} is not allowed")
    tensor = func(*args)
    if type(tensor) is not new_type:
        tensor = tensor.as_subclass(new_type)
    if state:
        raise UnsafePickleError("tensor with extra Python state is not allowed")
    return tensor


def _torch_dtype(name: str) -> Optional[torch.dtype]:
    value = getattr(torch, name, None)
    return value if isinstance(value, torch.dtype) else None


def _tf_network_stub(*args: Any) -> Any:
    raise UnsupportedCheckpointError(
        "this is a TensorFlow StyleGAN2 pickle (dnnlib.tflib.network.Network); guide-pl reads the PyTorch "
        "pickles of stylegan2-ada-pytorch/stylegan3 (convert it once with the official legacy.py, or download "
        "the PyTorch release) or rosinality .pt files"
    )


_NUMPY_GLOBALS = {
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "dtype"),
    ("numpy", "ndarray"),
}
_TENSOR_GLOBALS = {
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_parameter"),
    ("torch._utils", "_rebuild_parameter_with_state"),
}


class SafeUnpickler(pickle.Unpickler):
    """Unpickler that resolves only whitelisted globals; any other global raises `UnsafePickleError`."""

    def find_class(self, module: str, name: str) -> Any:
        key = (module, name)
        if key == ("torch_utils.persistence", "_reconstruct_persistent_obj"):
            return _reconstruct_persistent
        if key in {("dnnlib.util", "EasyDict"), ("dnnlib", "EasyDict")}:
            return EasyDict
        if key == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module in ("builtins", "__builtin__") and name in ("set", "frozenset"):  # __builtin__: protocol ≤ 2
            return set if name == "set" else frozenset
        if key == ("_codecs", "encode"):  # protocol-2 pickles encode bytes as (str, 'latin1')
            return _latin1_encode
        if key in {("torch.storage", "_load_from_bytes"), ("torch.serialization", "_load_from_bytes")}:
            return _load_storage_bytes
        if key in _TENSOR_GLOBALS:
            return getattr(torch._utils, name)
        if key == ("torch._tensor", "_rebuild_from_type_v2"):
            return _rebuild_from_type_v2
        if key in {("torch", "Tensor"), ("torch.nn.parameter", "Parameter")}:
            return torch.Tensor if name == "Tensor" else nn.Parameter
        if module == "torch" and _torch_dtype(name) is not None:
            return _torch_dtype(name)
        if key in _NUMPY_GLOBALS:
            return _numpy_global(module, name)
        if key == ("dnnlib.tflib.network", "Network"):
            return _tf_network_stub
        if key in _PLAIN_CLASSES:
            return _PLAIN_CLASSES[key]
        raise UnsafePickleError(
            f"the pickle asks for the Python global {module}.{name}, which is not on guide-pl's whitelist; "
            "nothing from the file was run"
        )


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    if encoding not in ("latin1", "latin-1"):
        raise UnsafePickleError(f"_codecs.encode with encoding {encoding!r} is not allowed")
    return text.encode("latin1")


def _numpy_global(module: str, name: str) -> Any:
    if name == "dtype":
        return np.dtype
    if name == "ndarray":
        return np.ndarray
    core = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray
    return getattr(core, name)


def read_nvidia_pickle(path: str | os.PathLike) -> Any:
    """Unpickle `path` with the whitelist; persistent networks come back as `PersistentObject` records."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise MissingFileError(f"network pickle not found: {path}")
    try:
        with open(path, "rb") as handle:
            return SafeUnpickler(handle).load()
    except CheckpointError as exc:
        raise type(exc)(f"{path}: {exc}") from exc
    except (EOFError, pickle.UnpicklingError, ValueError, TypeError, IndexError, KeyError, AttributeError) as exc:
        raise CheckpointError(
            f"{path} is not a readable network pickle (truncated or corrupt?): {type(exc).__name__}: {exc}"
        ) from exc


# Builders turn a record into one of our modules; other packages add theirs with `register_builder`.
Builder = Callable[[PersistentObject], nn.Module]
BUILDERS: dict[str, Builder] = {}


def register_builder(kind: str, builder: Builder) -> None:
    """Register `builder` for records it accepts (it raises UnsupportedCheckpointError for others)."""
    BUILDERS[kind] = builder


def build_module(record: Any, what: str = "network") -> nn.Module:
    """Build guide-pl's module for `record` with the first builder that accepts it; a clear error otherwise."""
    if not isinstance(record, PersistentObject):
        raise UnsupportedCheckpointError(f"{what} is a {type(record).__name__}, not an NVIDIA persistent network")
    reasons = []
    for kind, builder in BUILDERS.items():
        try:
            return builder(record)
        except UnsupportedCheckpointError as exc:
            reasons.append(f"{kind}: {exc}")
    raise UnsupportedCheckpointError(
        f"{what} is a {record.class_name!r} that no guide-pl backend implements ({'; '.join(reasons) or 'none'})"
    )


def load_tensors(module: nn.Module, record: PersistentObject, what: str = "network") -> nn.Module:
    """Copy every parameter and buffer of `record` into `module`; names and shapes must match exactly."""
    tensors = dict(record.named_tensors())
    own = module.state_dict()
    missing = sorted(set(own) - set(tensors))
    unexpected = sorted(set(tensors) - set(own))
    if missing or unexpected:
        raise UnsupportedCheckpointError(
            f"{what}: tensors do not match the architecture (missing {missing[:5]}{'…' if len(missing) > 5 else ''}, "
            f"unexpected {unexpected[:5]}{'…' if len(unexpected) > 5 else ''})"
        )
    for name, value in tensors.items():
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{what}: {name} is a {type(value).__name__}, not a tensor")
        if tuple(value.shape) != tuple(own[name].shape):
            raise UnsupportedCheckpointError(
                f"{what}: {name} has shape {tuple(value.shape)}, the architecture expects {tuple(own[name].shape)}"
            )
    module.load_state_dict({name: value.detach().float() for name, value in tensors.items()}, strict=True)
    return module


GENERATOR_KEYS = ("G", "G_ema")


def load_nvidia_pickle(path: str | os.PathLike) -> dict[str, nn.Module]:
    """Like the official `legacy.load_network_pkl`, but safe: {"G": …, "G_ema": …} as guide-pl modules.

    Discriminators, augmentation pipelines and training options in the pickle are read as data and skipped.
    """
    data = read_nvidia_pickle(path)
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a dict of networks (G, D, G_ema, …), got {type(data).__name__}")
    present = [key for key in GENERATOR_KEYS if key in data]
    if not present:
        raise CheckpointError(f"{path}: no generator in the pickle (keys: {sorted(map(str, data))})")
    networks: dict[str, nn.Module] = {}
    for key in present:
        try:
            module = build_module(data[key], what=key)
            networks[key] = load_tensors(module, data[key], what=key).eval()
        except CheckpointError as exc:
            raise type(exc)(f"{path}: {exc}") from exc
    return networks


def load_generator(path: str | os.PathLike, network: str, expected: type, what: str) -> nn.Module:
    """Network `network` ("G_ema" or "G") of an NVIDIA pickle, refused unless it is an `expected` (named `what`)."""
    networks = load_nvidia_pickle(path)
    if network not in networks:
        raise CheckpointError(f"{path}: no network {network!r} (has {sorted(networks)})")
    generator = networks[network]
    if not isinstance(generator, expected):
        raise UnsupportedCheckpointError(f"{path}: {network} is a {type(generator).__name__}, not {what}")
    return generator
