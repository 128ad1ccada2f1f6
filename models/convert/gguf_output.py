"""Writing a GGUF file tensor by tensor, so a model never has to fit in memory twice.

The tensor table (names, shapes, types) goes into the header before any data, so every tensor is
planned first (`PlannedTensor`, with a function that produces its bytes) and loaded only when its
turn comes to be written.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from models.convert.atomic import atomic_file
from models.convert.gguf_file import KeyValue
from models.errors import ModelError

ProgressCallback = Callable[[float, str], None]

OUTTYPES = ("auto", "F16", "BF16", "F32")


@dataclass
class PlannedTensor:
    name: str
    shape: tuple[int, ...]  # numpy order, rows first; for raw bytes, the byte array's shape
    np_dtype: type          # the dtype of the array `load` returns
    ggml_type: object       # gguf.GGMLQuantizationType written in the header
    nbytes: int
    load: Callable[[], np.ndarray]


def float_type_for(name: str, ndim: int, source_dtype: str, outtype: str):
    """The GGML type to store a float tensor in (`source_dtype` as safetensors spells it: F32, BF16...).
    Vectors and norms stay F32, as llama.cpp expects; matrices take `outtype`, where "auto" keeps
    bfloat16 sources in BF16 and writes the rest as F16."""
    from gguf import GGMLQuantizationType as T

    if ndim <= 1 or name.endswith("_norm.weight") or outtype == "F32":
        return T.F32
    if outtype == "BF16" or (outtype == "auto" and source_dtype == "BF16"):
        return T.BF16
    return T.F16


def planned_float(name: str, shape: tuple[int, ...], ggml_type, load_f32: Callable[[], np.ndarray]) -> PlannedTensor:
    """A tensor computed in float32 by `load_f32` and stored as F32, F16 or BF16."""
    from gguf import GGMLQuantizationType as T

    count = int(np.prod(shape)) if shape else 1
    if ggml_type == T.F32:
        return PlannedTensor(name, shape, np.float32, T.F32, 4 * count,
                             lambda: np.ascontiguousarray(load_f32(), dtype=np.float32))
    if ggml_type == T.F16:
        return PlannedTensor(name, shape, np.float16, T.F16, 2 * count, lambda: _to_f16(name, load_f32()))
    if ggml_type == T.BF16:
        byte_shape = (*shape[:-1], shape[-1] * 2)
        return PlannedTensor(name, byte_shape, np.uint8, T.BF16, 2 * count, lambda: _to_bf16(load_f32()))
    raise ValueError(f"not a float type: {ggml_type}")


def planned_copy(name: str, reader_tensor) -> PlannedTensor:
    """A tensor copied byte for byte (quantized or not) from a GGUFReader tensor."""
    data = reader_tensor.data
    return PlannedTensor(name, tuple(data.shape), data.dtype.type, reader_tensor.tensor_type,
                         int(reader_tensor.n_bytes), lambda: data)


def _to_f16(name: str, array: np.ndarray) -> np.ndarray:
    half = np.ascontiguousarray(array, dtype=np.float16)
    if not np.isfinite(half).all() and np.isfinite(array).all():
        raise ModelError(f"tensor {name} holds values too large for 16-bit floats; write the model as BF16 or F32")
    return half


def _to_bf16(array: np.ndarray) -> np.ndarray:
    from gguf import GGMLQuantizationType, quants

    return np.ascontiguousarray(quants.quantize(np.ascontiguousarray(array, dtype=np.float32),
                                                GGMLQuantizationType.BF16))


def write_gguf(out_file: Path, architecture: str, metadata: list[KeyValue], tensors: list[PlannedTensor],
               progress: ProgressCallback | None = None, span: tuple[float, float] = (0.0, 1.0)) -> Path:
    """Write a complete GGUF file atomically: metadata, tensor table, then each tensor as it loads."""
    import gguf

    report = progress or (lambda fraction, message: None)
    start, end = span
    with atomic_file(Path(out_file)) as temporary:
        writer = gguf.GGUFWriter(temporary, architecture)
        try:
            for key, value, value_type, item_type in metadata:
                writer.add_key_value(key, value, value_type, item_type)
            for tensor in tensors:
                writer.add_tensor_info(tensor.name, tensor.shape, np.dtype(tensor.np_dtype), tensor.nbytes,
                                       raw_dtype=tensor.ggml_type)
            writer.write_header_to_file()
            writer.write_kv_data_to_file()
            writer.write_ti_data_to_file()
            total = sum(t.nbytes for t in tensors) or 1
            done = 0
            for tensor in tensors:
                data = tensor.load()
                if data.nbytes != tensor.nbytes:
                    raise ValueError(f"{tensor.name}: {data.nbytes} bytes, planned {tensor.nbytes}")
                writer.write_tensor_data(data)
                done += tensor.nbytes
                report(start + (end - start) * done / total, f"Writing {tensor.name}")
            writer.flush()
        finally:
            writer.close()
    return Path(out_file)
