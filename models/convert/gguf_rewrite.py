"""New GGUF files made from an existing one: a LoRA adapter merged into its base's weights, or the same
weights under changed metadata (another chat template).

The merge happens in GGUF terms: each changed base tensor is de-quantized, the adapter's delta
(alpha / rank * B @ A, already in llama.cpp's row order) added, and the sum written as F32 for the
quantizer to bring down to the chosen type. Tensors the adapter leaves alone are copied byte for byte.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from models.convert.gguf_file import GgufFile, KeyValue, open_gguf
from models.convert.gguf_output import PlannedTensor, planned_copy, planned_float, write_gguf
from models.convert.lora_weights import LoraWeights

ProgressCallback = Callable[[float, str], None]


def write_merged_gguf(base: GgufFile, lora: LoraWeights, out_file: Path,
                      progress: ProgressCallback | None = None, metadata_changes: dict | None = None) -> Path:
    from gguf import GGMLQuantizationType

    by_target = {pair.target: pair for pair in lora.pairs}
    tensors: list[PlannedTensor] = []
    for name, reader_tensor in base.tensors.items():
        pair = by_target.get(name)
        if pair is None:
            tensors.append(planned_copy(name, reader_tensor))
            continue
        shape = tuple(reversed(base.tensor_ne(name)))
        tensors.append(planned_float(name, shape, GGMLQuantizationType.F32,
                                     lambda name=name, pair=pair: base.float_tensor(name) + lora.delta(pair)))
    metadata = changed_metadata(base, metadata_changes or {})
    return write_gguf(Path(out_file), base.architecture, metadata, tensors, progress)


def write_with_metadata(src: Path, out_file: Path, changes: dict,
                        progress: ProgressCallback | None = None) -> Path:
    """A copy of `src` whose string metadata in `changes` (key -> text) is replaced or added."""
    source = open_gguf(src)
    tensors = [planned_copy(name, tensor) for name, tensor in source.tensors.items()]
    return write_gguf(Path(out_file), source.architecture, changed_metadata(source, changes), tensors, progress)


def changed_metadata(source: GgufFile, changes: dict) -> list[KeyValue]:
    from gguf import GGUFValueType

    metadata = source.metadata(skip=tuple(changes))
    return metadata + [(key, text, GGUFValueType.STRING, None) for key, text in changes.items()]
