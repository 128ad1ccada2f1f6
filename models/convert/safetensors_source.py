"""The tensors of a transformers safetensors folder, read one at a time."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.errors import ModelError


@dataclass(frozen=True)
class SourceTensor:
    name: str
    shape: tuple[int, ...]
    dtype: str  # safetensors' spelling: F32, F16, BF16, ...
    file: Path

    def load(self) -> np.ndarray:
        """The tensor as float32 numpy (bfloat16 included, which numpy cannot read itself)."""
        from safetensors import safe_open

        with safe_open(str(self.file), framework="pt") as handle:
            return handle.get_tensor(self.name).float().numpy()


def safetensors_tensors(folder: Path) -> dict[str, SourceTensor]:
    folder = Path(folder)
    index_file = folder / "model.safetensors.index.json"
    if index_file.is_file():
        weight_map = json.loads(index_file.read_text(encoding="utf-8")).get("weight_map", {})
        files = sorted({folder / name for name in weight_map.values()})
    else:
        files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise ModelError(f"{folder}: no *.safetensors weights (pickled .bin weights are not converted)")
    from safetensors import safe_open

    tensors = {}
    for file in files:
        if not file.is_file():
            raise ModelError(f"{folder}: the weights file {file.name} is missing")
        with safe_open(str(file), framework="pt") as handle:
            for name in handle.keys():
                piece = handle.get_slice(name)
                tensors[name] = SourceTensor(name, tuple(piece.get_shape()), piece.get_dtype(), file)
    return tensors
