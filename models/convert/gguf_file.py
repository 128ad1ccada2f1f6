"""Reading an existing GGUF file: its metadata (to copy into a new file) and its tensors."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from models.errors import ModelError

# (key, value, value type, array item type or None) as GGUFWriter.add_key_value takes them
KeyValue = tuple[str, Any, Any, Any]

# keys GGUFWriter sets itself (it writes the default alignment whatever the source file used)
WRITER_KEYS = ("general.architecture", "general.alignment")


@dataclass
class GgufFile:
    path: Path
    reader: Any  # gguf.GGUFReader

    @property
    def architecture(self) -> str:
        return str(self.value("general.architecture", ""))

    @property
    def file_type(self) -> int | None:
        value = self.value("general.file_type")
        return None if value is None else int(value)

    @property
    def general_type(self) -> str:
        return str(self.value("general.type", "model"))

    def value(self, key: str, default: Any = None) -> Any:
        field = self.reader.fields.get(key)
        if field is None or not field.types:
            return default
        return field.contents()

    def hparam(self, name: str, default: Any = None) -> Any:
        """`{architecture}.{name}`, e.g. hparam("attention.head_count")."""
        return self.value(f"{self.architecture}.{name}", default)

    def uniform_hparam(self, name: str) -> int:
        """A per-model integer that some architectures store per layer; an error if the layers differ."""
        value = self.hparam(name)
        if isinstance(value, list):
            if len(set(value)) != 1:
                raise ModelError(f"{self.path.name}: layers with different {name} are not supported")
            value = value[0]
        if value is None:
            raise ModelError(f"{self.path.name}: the file gives no {self.architecture}.{name}")
        return int(value)

    @property
    def block_count(self) -> int:
        return self.uniform_hparam("block_count")

    @property
    def head_count(self) -> int:
        return self.uniform_hparam("attention.head_count")

    @property
    def head_count_kv(self) -> int:
        try:
            return self.uniform_hparam("attention.head_count_kv")
        except ModelError:
            return self.head_count

    @cached_property
    def tensors(self) -> dict:
        return {tensor.name: tensor for tensor in self.reader.tensors}

    def tensor_ne(self, name: str) -> tuple[int, ...] | None:
        """A tensor's dimensions in GGUF order (columns first), or None if the file has no such tensor."""
        tensor = self.tensors.get(name)
        return None if tensor is None else tuple(int(n) for n in tensor.shape)

    def float_tensor(self, name: str) -> np.ndarray:
        """A tensor de-quantized to float32, rows first (numpy order)."""
        from gguf import quants

        tensor = self.tensors[name]
        values = quants.dequantize(tensor.data, tensor.tensor_type)
        return np.asarray(values, dtype=np.float32).reshape(tuple(reversed(self.tensor_ne(name))))

    def metadata(self, skip: tuple[str, ...] = ()) -> list[KeyValue]:
        """Every key-value pair except the file header's own and those in `skip` (exact keys or prefixes
        ending in '.'), with strings copied as raw bytes so nothing is re-encoded."""
        from gguf import GGUFValueType

        items = []
        for key, field in self.reader.fields.items():
            if key.startswith("GGUF.") or key in WRITER_KEYS or _skipped(key, skip):
                continue
            main = field.types[0]
            if main == GGUFValueType.ARRAY:
                item_type = field.types[-1]
                if item_type == GGUFValueType.STRING:
                    value = [bytes(field.parts[index]) for index in field.data]
                elif item_type == GGUFValueType.ARRAY:
                    continue  # nested arrays: no llama.cpp key uses them
                else:
                    value = field.contents()
                if not value:
                    continue
                items.append((key, value, main, item_type))
            elif main == GGUFValueType.STRING:
                items.append((key, bytes(field.parts[field.data[0]]), main, None))
            else:
                items.append((key, field.contents(), main, None))
        return items


def _skipped(key: str, skip: tuple[str, ...]) -> bool:
    return any(key == s or (s.endswith(".") and key.startswith(s)) for s in skip)


def open_gguf(path: Path) -> GgufFile:
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such GGUF file")
    with open(path, "rb") as handle:
        if handle.read(4) != b"GGUF":
            raise ModelError(f"{path}: not a GGUF file")
    try:
        from gguf import GGUFReader

        return GgufFile(path=path, reader=GGUFReader(str(path)))
    except Exception as exc:  # the reader raises ValueError, IndexError, struct errors for a damaged file
        raise ModelError(f"{path}: truncated or damaged GGUF file ({exc})") from exc


def token_text(gguf_file: GgufFile, token_id: int | None) -> str | None:
    """The text of one vocabulary entry, e.g. the end-of-sequence token, or None."""
    field = gguf_file.reader.fields.get("tokenizer.ggml.tokens")
    if token_id is None or field is None or not 0 <= int(token_id) < len(field.data):
        return None
    return bytes(field.parts[field.data[int(token_id)]]).decode("utf-8", errors="replace")
