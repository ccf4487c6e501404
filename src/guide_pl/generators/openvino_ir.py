"""Read an OpenVINO IR (v10/v11 `.xml` graph + `.bin` weights) with numpy only: layers, edges and constants.

No OpenVINO runtime is needed: backends walk the graph to find their weights (by the constant's name where the
exporter kept the PyTorch name, by position in the graph where it folded a constant).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import BadFileError, MissingFileError

_DTYPES = {
    "f32": np.float32,
    "f16": np.float16,
    "f64": np.float64,
    "i64": np.int64,
    "i32": np.int32,
    "i8": np.int8,
    "u8": np.uint8,
}


@dataclass
class IRLayer:
    """One node of the graph: id, type (`Convolution`, `Const`, …), name, attributes of its `<data>` tag."""

    id: int
    type: str
    name: str
    data: dict[str, str]
    inputs: list[tuple[int, int]] = field(default_factory=list)  # (source layer id, source port) per input port
    output_shapes: list[tuple[int, ...]] = field(default_factory=list)


class IRGraph:
    """A parsed IR: layers by id, their producers/consumers, and constants decoded from the `.bin`."""

    def __init__(self, xml_path: str | Path, bin_path: str | Path | None = None) -> None:
        self.xml_path = Path(xml_path)
        self.bin_path = Path(bin_path) if bin_path is not None else self.xml_path.with_suffix(".bin")
        for path in (self.xml_path, self.bin_path):
            if not path.is_file():
                raise MissingFileError(f"OpenVINO IR file not found: {path}")
        try:
            root = ET.parse(self.xml_path).getroot()
        except ET.ParseError as error:
            raise BadFileError(f"{self.xml_path} is not valid IR XML (corrupt or truncated?): {error}") from error
        if root.tag != "net" or root.find("layers") is None or root.find("edges") is None:
            raise BadFileError(f"{self.xml_path} is not an OpenVINO IR (no <net>/<layers>/<edges>)")
        self._blob = np.fromfile(self.bin_path, dtype=np.uint8)
        self.layers: dict[int, IRLayer] = {}
        for node in root.find("layers"):
            data = node.find("data")
            out = node.find("output")
            shapes = []
            if out is not None:
                for port in out:
                    shapes.append(tuple(int(d.text) for d in port.findall("dim")))
            self.layers[int(node.get("id"))] = IRLayer(
                id=int(node.get("id")),
                type=node.get("type"),
                name=node.get("name", ""),
                data=dict(data.attrib) if data is not None else {},
                output_shapes=shapes,
            )
        # Port ids of inputs are numbered 0..n-1 in IR v10+; keep them sorted by port id.
        incoming: dict[int, dict[int, tuple[int, int]]] = {}
        self._consumers: dict[int, list[int]] = {lid: [] for lid in self.layers}
        for edge in root.find("edges"):
            src, src_port = int(edge.get("from-layer")), int(edge.get("from-port"))
            dst, dst_port = int(edge.get("to-layer")), int(edge.get("to-port"))
            incoming.setdefault(dst, {})[dst_port] = (src, src_port)
            self._consumers[src].append(dst)
        for lid, ports in incoming.items():
            self.layers[lid].inputs = [ports[p] for p in sorted(ports)]
        self._by_name: dict[str, int] = {}
        for layer in self.layers.values():
            if layer.type == "Const":
                self._by_name.setdefault(layer.name, layer.id)

    # -- queries ---------------------------------------------------------------------------------------
    def consumers(self, layer_id: int) -> list[IRLayer]:
        """Layers that read any output of `layer_id`."""
        return [self.layers[c] for c in self._consumers[layer_id]]

    def producer(self, layer_id: int, port: int) -> IRLayer:
        """The layer feeding input `port` of `layer_id`."""
        return self.layers[self.layers[layer_id].inputs[port][0]]

    def of_type(self, kind: str) -> list[IRLayer]:
        """Every layer of type `kind`, in id order."""
        return [layer for lid, layer in sorted(self.layers.items()) if layer.type == kind]

    def const_id(self, name: str) -> int:
        """Id of the constant called `name` (a clear error naming the file if absent)."""
        if name not in self._by_name:
            raise BadFileError(f"{self.xml_path} has no constant named {name!r}: not the expected network?")
        return self._by_name[name]

    def has_const(self, name: str) -> bool:
        """True if a constant called `name` exists."""
        return name in self._by_name

    def const_names(self) -> list[str]:
        """Names of all constants."""
        return sorted(self._by_name)

    def value(self, layer_id: int) -> np.ndarray:
        """Decoded value of the Const layer `layer_id` (a copy, in its shape and dtype)."""
        layer = self.layers[layer_id]
        if layer.type != "Const":
            raise BadFileError(f"layer {layer_id} ({layer.name}) of {self.xml_path} is {layer.type}, not Const")
        dtype = _DTYPES.get(layer.data.get("element_type", ""))
        if dtype is None:
            raise BadFileError(f"unsupported constant type {layer.data.get('element_type')} in {self.xml_path}")
        offset, size = int(layer.data["offset"]), int(layer.data["size"])
        if offset + size > self._blob.size:
            raise BadFileError(
                f"{self.bin_path} is truncated: constant {layer.name!r} needs bytes {offset}..{offset + size}, "
                f"file has {self._blob.size}"
            )
        shape_text = layer.data.get("shape", "").strip()
        shape = tuple(int(s) for s in shape_text.split(",")) if shape_text else ()
        array = self._blob[offset : offset + size].view(dtype)
        return array.reshape(shape).copy()

    def named(self, name: str) -> np.ndarray:
        """Value of the constant called `name`."""
        return self.value(self.const_id(name))

    def const_input(self, layer_id: int, port: int) -> np.ndarray | None:
        """Value of input `port` of `layer_id` when it is a Const, else None."""
        source = self.producer(layer_id, port)
        return self.value(source.id) if source.type == "Const" else None

    def only_consumer(self, layer_id: int, kind: str) -> IRLayer:
        """The single consumer of `layer_id` of type `kind` (error if there is not exactly one)."""
        found = [c for c in self.consumers(layer_id) if c.type == kind]
        if len(found) != 1:
            name = self.layers[layer_id].name
            raise BadFileError(f"{self.xml_path}: expected one {kind} after {name!r}, found {len(found)}")
        return found[0]
