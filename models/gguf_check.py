"""Read a GGUF file's header and check the file before anything native opens it.

llama.cpp aborts the whole process on some damaged files, so a file is checked in two steps:
here, in Python, that its header parses and that every tensor's data lies inside the file (a
download cut short fails this); then, in a child process (`python -m models.gguf_check FILE`),
that the installed llama.cpp knows its architecture and reads its vocabulary. A crash there
takes only the child down, and its message comes back as a sentence.

The header is read without mapping the tensors: scalar values are kept, long arrays (the
vocabulary) are skipped over, so a 5 GB model's header takes milliseconds.
"""
from __future__ import annotations

import struct
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from models.errors import ModelError

MAGIC = b"GGUF"
KEEP_ARRAYS_UP_TO = 64  # arrays longer than this are skipped, not read
CHECK_SECONDS = 120

# GGUF value types: id -> struct format (None: string / array)
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


@dataclass
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    type: int
    offset: int


@dataclass
class GGUFHeader:
    version: int
    metadata: dict = field(default_factory=dict)
    tensors: list[TensorInfo] = field(default_factory=list)
    data_start: int = 0

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", ""))

    def parameters(self) -> int:
        total = 0
        for tensor in self.tensors:
            count = 1
            for dim in tensor.shape:
                count *= dim
            total += count
        return total

    @property
    def is_adapter(self) -> bool:
        return self.metadata.get("general.type") == "adapter"

    @property
    def context_length(self) -> int | None:
        """The context the model was trained for, as the file says."""
        value = self.metadata.get(f"{self.architecture}.context_length")
        return int(value) if isinstance(value, int) else None

    @property
    def file_type(self) -> str:
        """The quantization in words ("Q4_K_M", "Q8_0", "F16"), or "GGUF" when the file does not say."""
        return file_type_name(self.metadata.get("general.file_type")) or "GGUF"


def file_type_name(file_type: int | None) -> str | None:
    """'Q4_K_M' for general.file_type 15, and so on; None when unknown."""
    if file_type is None:
        return None
    from gguf import LlamaFileType

    try:
        name = LlamaFileType(int(file_type)).name
    except ValueError:
        return None
    return name.replace("MOSTLY_", "").replace("ALL_", "")


class _Reader:
    def __init__(self, handle, size: int):
        self.handle = handle
        self.size = size

    def read(self, count: int) -> bytes:
        data = self.handle.read(count)
        if len(data) != count:
            raise ModelError("the file ends inside its header")
        return data

    def unpack(self, fmt: str):
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        length = self.unpack("<Q")
        if length > self.size:
            raise ModelError("its header is damaged (a text longer than the file)")
        return self.read(length).decode("utf-8", errors="replace")

    def value(self, kind: int):
        if kind in _SCALARS:
            return self.unpack(_SCALARS[kind])
        if kind == _STRING:
            return self.string()
        if kind == _ARRAY:
            item, count = self.unpack("<I"), self.unpack("<Q")
            if count > self.size:
                raise ModelError("its header is damaged (an array longer than the file)")
            if count > KEEP_ARRAYS_UP_TO:
                self.skip(item, count)
                return None
            return [self.value(item) for _ in range(count)]
        raise ModelError(f"its header is damaged (unknown value type {kind})")

    def skip(self, kind: int, count: int) -> None:
        if kind in _SCALARS:
            self.handle.seek(struct.calcsize(_SCALARS[kind]) * count, 1)
        elif kind == _STRING:
            for _ in range(count):
                self.handle.seek(self.unpack("<Q"), 1)
        else:
            for _ in range(count):
                self.value(kind)


def read_header(path: Path) -> GGUFHeader:
    """The header of GGUF file `path`. Raises ModelError with the reason in words."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            if handle.read(4) != MAGIC:
                raise ModelError(f"{path.name} is not a GGUF file (it does not start with the GGUF signature)")
            reader = _Reader(handle, size)
            version = reader.unpack("<I")
            if version not in (2, 3):
                raise ModelError(f"{path.name} is GGUF version {version}, which Fireside cannot read")
            n_tensors, n_kv = reader.unpack("<Q"), reader.unpack("<Q")
            if n_tensors > size or n_kv > size:
                raise ModelError(f"{path.name}: its header is damaged (impossible counts)")
            header = GGUFHeader(version=version)
            for _ in range(n_kv):
                key = reader.string()
                header.metadata[key] = reader.value(reader.unpack("<I"))
            for _ in range(n_tensors):
                name = reader.string()
                dims = reader.unpack("<I")
                if dims > 8:
                    raise ModelError(f"{path.name}: its header is damaged (a tensor with {dims} dimensions)")
                shape = tuple(reader.unpack("<Q") for _ in range(dims))
                header.tensors.append(TensorInfo(name, shape, reader.unpack("<I"), reader.unpack("<Q")))
            alignment = int(header.metadata.get("general.alignment") or 32)
            position = handle.tell()
            header.data_start = (position + alignment - 1) // alignment * alignment
    except ModelError as exc:
        message = str(exc)
        raise ModelError(message if message.startswith(path.name) else f"{path.name}: {message}") from None
    except OSError as exc:
        raise ModelError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    return header


def _tensor_bytes(tensor: TensorInfo) -> int | None:
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    try:
        block, size = GGML_QUANT_SIZES[GGMLQuantizationType(tensor.type)]
    except (ValueError, KeyError):
        return None
    count = 1
    for dim in tensor.shape:
        count *= dim
    return count // block * size


def check_data(path: Path, header: GGUFHeader) -> None:
    """Every tensor's bytes lie inside the file (a cut-short download fails this)."""
    size = Path(path).stat().st_size
    end = header.data_start
    for tensor in header.tensors:
        nbytes = _tensor_bytes(tensor)
        if nbytes is None:
            raise ModelError(f"{Path(path).name}: tensor {tensor.name} has a type ({tensor.type}) this version "
                             "of Fireside does not know")
        end = max(end, header.data_start + tensor.offset + nbytes)
    if end > size:
        raise ModelError(
            f"{Path(path).name} is incomplete: it is {size:,} bytes long but its tensors need {end:,} "
            "(it was probably cut short while downloading or copying)")


def check_in_child(path: Path, adapter_for: Path | None = None) -> None:
    """Let the installed llama.cpp open the file's vocabulary (or apply an adapter) in a child process."""
    from models.generation.llama_engine import available

    if available() is not None:
        return
    command = [sys.executable, "-m", "models.gguf_check", str(path)]
    if adapter_for is not None:
        command += ["--adapter-for", str(adapter_for)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=CHECK_SECONDS,
                              cwd=str(Path(__file__).resolve().parent.parent))
    except subprocess.TimeoutExpired:
        raise ModelError(f"{Path(path).name}: llama.cpp took more than {CHECK_SECONDS} s to open it") from None
    if done.returncode == 0:
        return
    reason = _last_reason(done.stdout + "\n" + done.stderr)
    if done.returncode < 0:
        raise ModelError(f"{Path(path).name}: llama.cpp crashed while opening it{': ' + reason if reason else ''}")
    raise ModelError(f"{Path(path).name}: llama.cpp cannot run it{': ' + reason if reason else ''}")


def _last_reason(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("REASON "):
            return line[len("REASON "):]
    for marker in ("unknown model architecture", "error loading model", "failed", "error"):
        for line in reversed(lines):
            if marker in line.lower():
                return line
    return lines[-1] if lines else ""


def check_gguf(path: Path, in_child: bool = True) -> GGUFHeader:
    """Header, data and (in a child process) llama.cpp's own reading. Returns the header."""
    header = read_header(path)
    check_data(path, header)
    if header.is_adapter:
        raise ModelError(f"{Path(path).name} is a LoRA adapter, not a model: import the model it was made for")
    if not header.architecture:
        raise ModelError(f"{Path(path).name} names no architecture (general.architecture)")
    if in_child:
        check_in_child(path)
    return header


def check_adapter_fits(adapter: Path, base: Path, model: GGUFHeader | None = None) -> None:
    """A GGUF LoRA adapter's tensors match its base's (made for this model, not another). `model` is
    the base's header where it was read already."""
    head, model = read_header(adapter), model or read_header(base)
    if not head.is_adapter:
        raise ModelError(f"{Path(adapter).name} is not a LoRA adapter")
    if head.architecture != model.architecture:
        raise ModelError(f"the adapter {Path(adapter).name} was made for a {head.architecture} model, but its base "
                         f"{Path(base).name} is {model.architecture}")
    shapes = {t.name: t.shape for t in model.tensors}
    for tensor in head.tensors:
        target, _, part = tensor.name.rpartition(".lora_")
        base_shape = shapes.get(target)
        fits = base_shape is not None and len(base_shape) == 2 and len(tensor.shape) == 2 and (
            tensor.shape[0] == base_shape[0] if part == "a" else tensor.shape[1] == base_shape[1])
        if not fits:
            raise ModelError(f"the adapter {Path(adapter).name} was made for another model: its {tensor.name} "
                             f"{list(tensor.shape)} does not fit {Path(base).name}"
                             + (f" ({target} is {list(base_shape)})" if base_shape else f" (which has no {target})"))


def _child(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m models.gguf_check")
    parser.add_argument("path")
    parser.add_argument("--adapter-for")
    args = parser.parse_args(argv)
    import llama_cpp

    llama_cpp.llama_backend_init()
    params = llama_cpp.llama_model_default_params()
    params.vocab_only = args.adapter_for is None
    target = args.adapter_for or args.path
    model = llama_cpp.llama_model_load_from_file(target.encode("utf-8"), params)
    if not model:
        print("REASON llama.cpp could not read it (an architecture or a format it does not support)")
        return 1
    if args.adapter_for:
        adapter = llama_cpp.llama_adapter_lora_init(model, args.path.encode("utf-8"))
        if not adapter:
            print("REASON the adapter does not fit this model (made for another base?)")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
