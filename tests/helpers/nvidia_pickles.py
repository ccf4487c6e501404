"""Official-format NVIDIA network pickles written by the tests themselves (no official code, no embedded source
that could matter): persistent objects are `torch_utils.persistence._reconstruct_persistent_obj(meta)` records,
EG3D's non-persistent modules are plain class references with their `__dict__` as state, as the official
training loop writes them. The stand-in modules exist in `sys.modules` only while pickling.
"""

from __future__ import annotations

import contextlib
import copyreg
import pickle
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

STANDIN_MODULES = ("torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util", "training", "training.triplane",
                   "training.volumetric_rendering", "training.volumetric_rendering.renderer",
                   "training.volumetric_rendering.ray_marcher", "training.volumetric_rendering.ray_sampler")
# guide-pl class → the official persistent class name (EG3D's TriPlaneGenerator and its parts).
OFFICIAL_NAMES = {"EG3DGenerator": "TriPlaneGenerator", "TriPlaneBackbone": "Generator",
                  "SuperResolution8XDC": "SuperresolutionHybrid8XDC", "StyleGAN2Generator": "Generator"}


class Persistent:
    """Pickles like an official persistent object: reconstructor(meta), the module source inside meta."""

    def __init__(self, reconstruct: Any, meta: dict) -> None:
        self.reconstruct, self.meta = reconstruct, meta

    def __reduce__(self):
        return self.reconstruct, (self.meta,)


class Plain:
    """Pickles like a non-persistent module: NEWOBJ of `cls` (a class reference), then its state."""

    def __init__(self, cls: type, state: dict) -> None:
        self.cls, self.state = cls, state

    @property
    def __class__(self):  # pickle checks that NEWOBJ's class is the object's
        return self.cls

    def __reduce_ex__(self, protocol):
        return copyreg.__newobj__, (self.cls,), self.state


@contextlib.contextmanager
def official_modules() -> Iterator[types.SimpleNamespace]:
    """Stand-in modules so `pickle.dump` writes the official global references; removed afterwards, so the
    loader under test can never import them."""

    def _reconstruct_persistent_obj(meta):  # pragma: no cover - the loader must never call it
        raise AssertionError("the loader must not call the pickle's own reconstructor")

    class EasyDict(dict):
        pass

    saved = {name: sys.modules.get(name) for name in STANDIN_MODULES}
    modules = {name: types.ModuleType(name) for name in STANDIN_MODULES}
    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    modules["torch_utils.persistence"]._reconstruct_persistent_obj = _reconstruct_persistent_obj
    EasyDict.__module__, EasyDict.__qualname__ = "dnnlib.util", "EasyDict"
    modules["dnnlib.util"].EasyDict = EasyDict
    plain = {}
    for module, name in (("training.triplane", "OSGDecoder"),
                         ("training.volumetric_rendering.renderer", "ImportanceRenderer"),
                         ("training.volumetric_rendering.ray_marcher", "MipRayMarcher2"),
                         ("training.volumetric_rendering.ray_sampler", "RaySampler")):
        cls = type(name, (), {"__module__": module, "__qualname__": name})
        setattr(modules[module], name, cls)
        plain[name] = cls
    sys.modules.update(modules)
    try:
        yield types.SimpleNamespace(reconstruct=_reconstruct_persistent_obj, EasyDict=EasyDict, plain=plain)
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def _module_state(module: torch.nn.Module) -> dict:
    state = {"_parameters": dict(module._parameters), "_buffers": dict(module._buffers), "training": module.training}
    for key, value in module.__dict__.items():
        if isinstance(value, (int, float, str, bool)) and not key.startswith("_"):
            state[key] = value
    state["weight_gain"] = np.float64(0.125)  # official layers keep numpy scalars in their state
    return state


def as_record(module: torch.nn.Module, names: types.SimpleNamespace, source: str = "",
              class_name: Optional[str] = None, init_kwargs: Optional[dict] = None) -> Any:
    """`module` as the official pickle holds it: persistent records for StyleGAN layers and EG3D's persistent
    classes, plain references for EG3D's decoder and torch's Sequential/Softplus."""
    kind = type(module).__name__
    state = _module_state(module)
    children = {name: as_record(child, names, source) for name, child in module._modules.items()}
    if kind == "EG3DGenerator":  # the official object also holds its (tensor-free) renderer and ray sampler
        marcher = Plain(names.plain["MipRayMarcher2"], {"_parameters": {}, "_buffers": {}, "_modules": {}})
        renderer = Plain(names.plain["ImportanceRenderer"],
                         {"_parameters": {}, "_buffers": {}, "training": False, "_modules": {"ray_marcher": marcher},
                          "plane_axes": torch.eye(3).repeat(3, 1, 1)})
        sampler = Plain(names.plain["RaySampler"], {"_parameters": {}, "_buffers": {}, "_modules": {},
                                                    "ray_origins_h": None, "depths": None})
        children = {"renderer": renderer, "ray_sampler": sampler, **children}
        state["rendering_kwargs"] = dict(init_kwargs["rendering_kwargs"])
        state["neural_rendering_resolution"] = module.neural_rendering_resolution
    state["_modules"] = children
    if kind == "OSGDecoder":
        return Plain(names.plain["OSGDecoder"], {**state, "hidden_dim": 64})
    if isinstance(module, (torch.nn.Sequential, torch.nn.Softplus)):
        return Plain(type(module), state)
    state["_init_args"] = ()
    state["_init_kwargs"] = names.EasyDict(init_kwargs or {})
    meta = dict(type="class", version=6, module_src=source, class_name=class_name or OFFICIAL_NAMES.get(kind, kind),
                state=state)
    return Persistent(names.reconstruct, meta)


def write_network_pickle(path: Path, generator: torch.nn.Module, init_kwargs: dict, source: str = "",
                         protocol: int = 4, extra_buffers: Optional[dict] = None) -> Path:
    """A snapshot {G, D, G_ema, augment_pipe, training_set_kwargs} with `generator` as G and G_ema."""
    with official_modules() as names:
        record = as_record(generator, names, source, init_kwargs=init_kwargs)
        if extra_buffers:
            record.meta["state"]["_buffers"] = {**extra_buffers, **record.meta["state"]["_buffers"]}
        data = {"G": record, "D": as_record(torch.nn.Linear(3, 1), names, source, "Discriminator"),
                "G_ema": record, "augment_pipe": None,
                "training_set_kwargs": names.EasyDict(path="ffhq.zip", resolution=512)}
        with open(path, "wb") as handle:
            pickle.dump(data, handle, protocol=protocol)
    return path
