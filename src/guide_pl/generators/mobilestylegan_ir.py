"""MobileStyleGAN's weights from the `random-face` OpenVINO IR (`guide-pl fetch-weights mobilestylegan`).

The IR keeps the PyTorch parameter names for most constants; the rest (folded pointwise weights, baked noise
maps, Haar taps) are found by their position in the graph. Registers the generator "mobilestylegan".
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..atomic import torch_save
from ..errors import BadFileError, MissingFileError
from ..weights import fetched_folder, fetched_keys, locate, sha256_of
from .mobilestylegan import NUM_BLOCKS, W_DIM, MobileMapping, MobileStyleGAN, MobileSynthesis
from .openvino_ir import IRGraph
from .registry import GENERATORS

FETCH_HINT = "run `guide-pl fetch-weights mobilestylegan`"


def _t(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


def _after(graph: IRGraph, layer_id: int, kind: str):
    return graph.only_consumer(layer_id, kind)


def _input_of_type(graph: IRGraph, layer_id: int, kind: str):
    """The one input of `layer_id` produced by a layer of type `kind`."""
    found = [graph.producer(layer_id, p) for p in range(len(graph.layers[layer_id].inputs))]
    found = [layer for layer in found if layer.type == kind]
    if len(found) != 1:
        raise BadFileError(f"{graph.xml_path}: expected one {kind} input to {graph.layers[layer_id].name!r}")
    return found[0]


def mapping_state_from_ir(graph: IRGraph) -> dict[str, torch.Tensor]:
    """State dict of `MobileMapping` from the mapping IR (8 MatMul + bias Add, in graph order)."""
    state = {}
    matmuls = graph.of_type("MatMul")
    if len(matmuls) != 8:
        raise BadFileError(f"{graph.xml_path}: expected 8 MatMul layers in the mapping network, found {len(matmuls)}")
    for i, mm in enumerate(matmuls):
        weight = graph.const_input(mm.id, 1)
        add = _after(graph, mm.id, "Add")
        reshape = next(graph.producer(add.id, p) for p in (0, 1) if graph.producer(add.id, p).id != mm.id)
        bias = graph.const_input(reshape.id, 0)
        if weight is None or bias is None or mm.data.get("transpose_b") != "true":
            raise BadFileError(f"{graph.xml_path}: unexpected structure around {mm.name}")
        state[f"layers.{i}.weight"] = _t(weight)
        state[f"layers.{i}.bias"] = _t(bias.reshape(-1))
    return state


def _modulation_scale(graph: IRGraph, weight_name: str) -> float:
    """The constant the IR multiplies a modulation by (1.0 when there is none: the IDWT input modulation)."""
    add = _after(graph, _after(graph, graph.const_id(weight_name), "MatMul").id, "Add")
    reshape = _after(graph, add.id, "Reshape")
    for layer in graph.consumers(reshape.id):
        if layer.type == "Multiply":
            for port in (0, 1):
                value = graph.const_input(layer.id, port)
                if value is not None:
                    return float(value.reshape(-1)[0])
    return 1.0


def synthesis_state_from_ir(graph: IRGraph, model: MobileSynthesis) -> dict[str, torch.Tensor]:
    """State dict of `MobileSynthesis` from the synthesis IR: named constants by name, the folded pointwise
    weights and baked noise maps by position (bias Add ← noise Add ← conv)."""
    state: dict[str, torch.Tensor] = {"input.input": _t(graph.named("m.input.input"))}
    modulated = {"conv1.conv": model.conv1.conv, "layers.6.to_img.conv": model.layers[-1].to_img.conv}
    for k, block in enumerate(model.layers):
        modulated[f"layers.{k}.up"] = block.up
        modulated[f"layers.{k}.conv1.conv"] = block.conv1.conv
        modulated[f"layers.{k}.conv2.conv"] = block.conv2.conv
    for prefix, module in modulated.items():
        name = f"m.{prefix}.modulation.weight"
        state[f"{prefix}.modulation.weight"] = _t(graph.named(name))
        state[f"{prefix}.modulation.bias"] = _t(graph.named(f"m.{prefix}.modulation.bias").reshape(-1))
        scale = _modulation_scale(graph, name)
        if abs(scale - module.scale) > 1e-6 * max(1.0, abs(scale)):
            raise BadFileError(f"{graph.xml_path}: {prefix} modulation scale {scale}, architecture says {module.scale}")

    styled = ["conv1"] + [f"layers.{k}.conv{j}" for k in range(NUM_BLOCKS) for j in (1, 2)]
    for prefix in styled:
        bias_add = _after(graph, graph.const_id(f"m.{prefix}.bias"), "Add")
        noise_add = _input_of_type(graph, bias_add.id, "Add")
        conv = _input_of_type(graph, noise_add.id, "Convolution")
        noise = graph.value(_input_of_type(graph, noise_add.id, "Const").id)
        state[f"{prefix}.bias"] = _t(graph.named(f"m.{prefix}.bias"))
        state[f"{prefix}.conv.weight"] = _t(graph.const_input(conv.id, 1))
        state[f"{prefix}.noise_const"] = _t(noise)
        state[f"{prefix}.noise_strength"] = torch.tensor(float(noise.std()))
        if prefix != "conv1":
            dw_name = f"m.{prefix}.conv.weight_dw"
            source = graph.producer(conv.id, 0)
            if source.type != "GroupConvolution" or graph.producer(source.id, 1).id != graph.const_id(dw_name):
                raise BadFileError(f"{graph.xml_path}: {prefix}: pointwise conv does not follow {dw_name}")
            state[f"{prefix}.conv.weight_dw"] = _t(graph.named(dw_name).squeeze(1))
    state["layers.6.to_img.conv.weight"] = _t(graph.named("m.layers.6.to_img.conv.weight"))
    state["layers.6.to_img.bias"] = _t(graph.named("m.layers.6.to_img.bias"))

    # Wavelet taps: (g0, g1) of the first column synthesis (low band, then LH band), shared by every IDWT.
    deconvs = graph.of_type("GroupConvolutionBackpropData")
    g0 = graph.const_input(deconvs[0].id, 1)[0].reshape(-1)
    g1 = graph.const_input(deconvs[1].id, 1)[0].reshape(-1)
    taps = _t(np.stack([g0, g1]))
    for d in deconvs:
        flat = np.abs(graph.const_input(d.id, 1)).reshape(-1)
        if not np.allclose(flat, abs(g0[0]), atol=1e-6):
            raise BadFileError(f"{graph.xml_path}: {d.name} is not a Haar synthesis filter")
    for name in [n for n, _ in model.named_buffers() if n.endswith("taps")]:
        state[name] = taps
    return state


def load_from_ir(mapping: MobileMapping, synthesis: MobileSynthesis, mapping_xml: Path, synthesis_xml: Path) -> None:
    """Fill `mapping` and `synthesis` from the IR files (strict: every parameter and buffer is set)."""
    mapping.load_state_dict(mapping_state_from_ir(IRGraph(mapping_xml)), strict=True)
    synthesis.load_state_dict(synthesis_state_from_ir(IRGraph(synthesis_xml), synthesis), strict=True)


def cached_w_avg(generator: MobileStyleGAN, folder: Path, mapping_sha: str, num_samples: int,
                 seed: int = 0) -> torch.Tensor:
    """w̄ as the mean of Map(z) over `num_samples` seeded z, cached in `folder/w_avg.pt` (keyed by the mapping's
    sha256); a broken cache is recomputed, never trusted."""
    path = folder / "w_avg.pt"
    meta = {"mapping_sha256": mapping_sha, "num_samples": num_samples, "seed": seed}
    if path.is_file():
        try:
            cached = torch.load(path, map_location="cpu", weights_only=True)
            if {k: cached.get(k) for k in meta} == meta and cached["w_avg"].shape == (W_DIM,):
                return cached["w_avg"]
        except Exception:  # noqa: BLE001 — a broken cache is recomputed, never trusted
            pass
    w_avg = generator.estimate_w_avg(num_samples=num_samples, seed=seed)
    try:
        torch_save({**meta, "w_avg": w_avg}, path)
    except OSError:
        pass  # read-only checkpoint folder: keep the value in memory
    return w_avg


def load_mobilestylegan(checkpoint_dir: str | os.PathLike | None = None, loss_resolution: int | None = None,
                        w_avg_samples: int = 10_000, verify: bool = True) -> MobileStyleGAN:
    """MobileStyleGAN with the IR's weights from `checkpoint_dir` (default checkpoints/mobilestylegan) and its w̄."""
    folder = Path(checkpoint_dir) if checkpoint_dir is not None else fetched_folder("mobilestylegan")
    paths = {}
    for key, filename in fetched_keys("mobilestylegan").items():
        try:
            paths[filename] = locate(key, folder / filename, verify=verify)
        except FileNotFoundError as error:
            raise MissingFileError(f"MobileStyleGAN weights missing: {error}. To get them, {FETCH_HINT}.") from None
    generator = MobileStyleGAN(loss_resolution)
    load_from_ir(generator.mapping, generator.synthesis, paths["MappingNetwork.xml"], paths["SynthesisNetwork.xml"])
    generator.w_avg.copy_(cached_w_avg(generator, folder, sha256_of(paths["MappingNetwork.bin"]), w_avg_samples))
    return generator


@GENERATORS.register("mobilestylegan")
def build_mobilestylegan(
    checkpoint_dir: str | None = None,
    loss_resolution: int | None = 256,
    w_avg_samples: int = 10_000,
    verify: bool = True,
) -> MobileStyleGAN:
    """FFHQ MobileStyleGAN from checkpoints/mobilestylegan (get it with `guide-pl fetch-weights mobilestylegan`)."""
    return load_mobilestylegan(checkpoint_dir, loss_resolution, w_avg_samples, verify)
