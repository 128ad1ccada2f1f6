"""A peft LoRA adapter written as a GGUF LoRA adapter, which llama.cpp applies over the unchanged base
GGUF at load (`Llama(model_path=base, lora_path=adapter)`)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from models.convert.gguf_file import KeyValue, open_gguf
from models.convert.gguf_output import PlannedTensor, write_gguf
from models.convert.lora_weights import LoraWeights, read_peft_lora
from models.errors import ModelError


def write_lora_adapter(peft_dir: Path, base_gguf: Path, out_file: Path) -> Path:
    """Convert the adapter in `peft_dir` for the model in `base_gguf`; returns `out_file`.

    Raises ModelError when the adapter was trained on a model of another shape, or holds something a
    llama.cpp adapter cannot (DoRA, trained embeddings, whole retrained modules)."""
    base = open_gguf(Path(base_gguf))
    if base.general_type == "adapter":
        raise ModelError(f"{Path(base_gguf).name} is itself an adapter; give the base model's GGUF file")
    lora = read_peft_lora(Path(peft_dir), base)
    return write_gguf(Path(out_file), base.architecture, adapter_metadata(lora, Path(peft_dir).name),
                      adapter_tensors(lora))


def write_lora_fine_tune(folder: Path, base_gguf: Path) -> None:
    """A LoRA fine-tune folder's peft adapter written as the GGUF adapter llama.cpp loads it with, and
    the base's path beside it (models.generation.loaders reads both)."""
    from models.generation.loaders import LORA_ADAPTER_FILE, PEFT_FOLDER, write_lora_base

    write_lora_base(folder, base_gguf)
    write_lora_adapter(Path(folder) / PEFT_FOLDER, base_gguf, Path(folder) / LORA_ADAPTER_FILE)


def adapter_metadata(lora: LoraWeights, name: str) -> list[KeyValue]:
    from gguf import GGUFValueType, Keys

    return [
        (Keys.General.TYPE, "adapter", GGUFValueType.STRING, None),
        (Keys.General.NAME, name or "adapter", GGUFValueType.STRING, None),
        (Keys.Adapter.TYPE, "lora", GGUFValueType.STRING, None),
        (Keys.Adapter.LORA_ALPHA, float(lora.alpha), GGUFValueType.FLOAT32, None),
    ]


def adapter_tensors(lora: LoraWeights) -> list[PlannedTensor]:
    from gguf import GGMLQuantizationType

    tensors = []
    for pair in lora.pairs:
        for suffix, array in ((".lora_a", pair.a), (".lora_b", pair.b)):
            tensors.append(PlannedTensor(pair.target + suffix, tuple(array.shape), np.float32,
                                         GGMLQuantizationType.F32, array.nbytes, lambda array=array: array))
    return tensors
