"""Pure-numpy reader for dlib's serialisation format, enough for `dlib_face_recognition_resnet_model_v1.dat`.

Format (dlib/serialize.h, dlib/dnn/*.h): integers are a header byte (low nibble = byte count, 0x80 = negative)
followed by little-endian magnitude bytes; floats are an integer mantissa and exponent (m·2^e); bools one ASCII
byte '1'/'0'; strings a length then bytes; tensors a version, 4 dims (n, k, nr, nc) and raw float32 data.
A network stores its layers' version tags top-down, the input layer, then each layer's details bottom-up.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import BadFileError, MissingFileError


class DlibFormatError(BadFileError):
    """The file is not a dlib network of the expected layout (corrupt, truncated or another model)."""


@dataclass
class DlibLayer:
    """One parsed layer: its dlib version string, scalar fields and float32 arrays (alias shapes applied)."""

    kind: str
    fields: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


class DlibReader:
    """Sequential reader over the bytes of a dlib serialised object."""

    def __init__(self, data: bytes, name: str = "<bytes>") -> None:
        self.data = data
        self.pos = 0
        self.name = name

    def _take(self, count: int) -> bytes:
        if self.pos + count > len(self.data):
            raise DlibFormatError(f"{self.name}: unexpected end of file at byte {self.pos} (truncated?)")
        chunk = self.data[self.pos:self.pos + count]
        self.pos += count
        return chunk

    def integer(self) -> int:
        header = self._take(1)[0]
        size = header & 0x0F
        if size > 8 or header & 0x70:
            raise DlibFormatError(f"{self.name}: bad integer header 0x{header:02x} at byte {self.pos - 1}")
        value = int.from_bytes(self._take(size), "little") if size else 0
        return -value if header & 0x80 else value

    def boolean(self) -> bool:
        char = self._take(1)
        if char not in (b"0", b"1"):
            raise DlibFormatError(f"{self.name}: bad bool byte {char!r} at byte {self.pos - 1}")
        return char == b"1"

    def real(self) -> float:
        mantissa = self.integer()
        exponent = self.integer()
        if exponent >= 32000:  # dlib's codes for inf / -inf / nan
            raise DlibFormatError(f"{self.name}: non-finite float (exponent code {exponent}) at byte {self.pos}")
        return float(np.ldexp(float(mantissa), exponent))

    def string(self) -> str:
        length = self.integer()
        if not 0 <= length < 1 << 16:
            raise DlibFormatError(f"{self.name}: bad string length {length} at byte {self.pos}")
        return self._take(length).decode("latin-1")

    def tensor(self) -> np.ndarray:
        version = self.integer()
        if version != 2:
            raise DlibFormatError(f"{self.name}: tensor version {version} (expected 2) at byte {self.pos}")
        shape = tuple(self.integer() for _ in range(4))
        count = int(np.prod(shape))
        return np.frombuffer(self._take(4 * count), dtype="<f4").reshape(shape).astype(np.float32)

    def alias_shape(self) -> tuple[int, ...]:
        version = self.integer()
        if version != 1:
            raise DlibFormatError(f"{self.name}: alias_tensor version {version} (expected 1) at byte {self.pos}")
        return tuple(self.integer() for _ in range(4))

    def expect_version(self, allowed: tuple[int, ...], what: str) -> int:
        version = self.integer()
        if version not in allowed:
            raise DlibFormatError(f"{self.name}: {what} version {version}, expected one of {allowed}")
        return version


def _split(params: np.ndarray, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
    """Cut a flat parameter tensor into consecutive alias views of the given shapes."""
    flat = params.reshape(-1)
    sizes = [int(np.prod(s)) for s in shapes]
    if sum(sizes) != flat.size:
        raise DlibFormatError(f"parameter tensor of {flat.size} floats does not hold aliases {shapes}")
    out, offset = [], 0
    for shape, size in zip(shapes, sizes):
        out.append(flat[offset:offset + size].reshape(shape))
        offset += size
    return out


def read_layer_details(reader: DlibReader) -> DlibLayer:
    """One layer's `details` object, dispatched on its version string."""
    kind = reader.string()
    if kind in ("con_4", "con_5", "con_6"):
        params = reader.tensor()
        fields = {name: reader.integer() for name in
                  ("num_filters", "nr", "nc", "stride_y", "stride_x", "padding_y", "padding_x")}
        filters, biases = reader.alias_shape(), reader.alias_shape()
        fields["multipliers"] = [reader.real() for _ in range(4)]
        if kind in ("con_5", "con_6"):
            fields["use_bias"] = reader.boolean()
        if kind == "con_6":
            fields["use_relu"] = reader.boolean()
        weight, bias = _split(params, [filters, biases])
        return DlibLayer("con", fields, {"weight": weight, "bias": bias.reshape(-1)})
    if kind in ("affine_", "affine_2"):
        params = reader.tensor()
        gamma, beta = reader.alias_shape(), reader.alias_shape()
        fields = {"mode": reader.integer()}
        if kind == "affine_2":
            fields["disabled"] = reader.boolean()
        g, b = _split(params, [gamma, beta])
        return DlibLayer("affine", fields, {"gamma": g.reshape(-1), "beta": b.reshape(-1)})
    if kind in ("relu_", "relu_2"):
        fields = {"disabled": reader.boolean()} if kind == "relu_2" else {}
        return DlibLayer("relu", fields)
    if kind in ("max_pool_2", "avg_pool_2"):
        fields = {name: reader.integer() for name in ("nr", "nc", "stride_y", "stride_x", "padding_y", "padding_x")}
        return DlibLayer(kind[:-2], fields)
    if kind in ("fc_2", "fc_3"):
        fields = {"num_outputs": reader.integer(), "num_inputs": reader.integer()}
        params = reader.tensor()
        weights, biases = reader.alias_shape(), reader.alias_shape()
        fields["bias_mode"] = reader.integer()
        fields["multipliers"] = [reader.real() for _ in range(4)]
        if kind == "fc_3":
            fields["use_bias"] = reader.boolean()
        shapes = [weights] + ([biases] if fields["bias_mode"] == 0 else [])
        arrays = dict(zip(("weight", "bias"), _split(params, shapes)))
        # dlib computes output = input · W with W stored [num_inputs, num_outputs].
        arrays["weight"] = arrays["weight"].reshape(fields["num_inputs"], fields["num_outputs"])
        return DlibLayer("fc", fields, arrays)
    if kind == "add_prev_":
        return DlibLayer("add_prev")
    raise DlibFormatError(f"{reader.name}: unsupported dlib layer {kind!r} at byte {reader.pos}")


def read_network(path: str | os.PathLike, layout: list[str]) -> tuple[dict[str, Any], list[DlibLayer]]:
    """Parse a dlib `loss<...<input>>` network whose top-down `layout` lists "layer", "tag" or "skip" tokens.

    Returns (header with the loss and input settings, computational layers bottom-up).
    """
    name = os.fspath(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        raise MissingFileError(f"cannot read dlib network {name}: {error}") from error
    reader = DlibReader(data, name)
    header: dict[str, Any] = {}
    reader.expect_version((1,), "loss layer")
    header["loss"] = reader.string()
    header["loss_values"] = [reader.real(), reader.real()]
    versions = []
    for token in layout:
        if token == "layer":
            versions.append(reader.expect_version((1, 2, 3), "add_layer"))
        else:  # tag / skip layers: a version, nothing else
            reader.expect_version((1,), f"{token} layer")
    # The innermost add_layer wraps the input layer.
    versions.append(reader.expect_version((2, 3), "input add_layer"))
    header["input"] = reader.string()
    header["input_mean"] = [reader.real() for _ in range(3)]
    header["input_size"] = (reader.integer(), reader.integer())
    layers: list[DlibLayer] = []
    for index, version in enumerate(reversed(versions)):
        layer = read_layer_details(reader)
        for _ in range(3):  # this_layer_setup_called, gradient_input_is_stale, output/gradient disabled
            reader.boolean()
        reader.tensor()  # x_grad
        reader.tensor()  # cached_output
        if index == 0:
            reader.tensor()  # grad_final
            if version >= 3:
                reader.integer()  # sample expansion factor
        elif version == 2:
            reader.tensor()  # params_grad
        layers.append(layer)
    if reader.pos != len(data):
        raise DlibFormatError(f"{name}: {len(data) - reader.pos} bytes left after the network (wrong layout?)")
    return header, layers
