"""Which engine opens a chat model, and opening it.

A GGUF file (the bundled model, an imported one, a full fine-tune written as GGUF) and a LoRA
fine-tune of one (a folder with `adapter.gguf` and the base's path) run on llama.cpp, unless
llama.cpp is missing or the user has an NVIDIA GPU that this llama.cpp build cannot use; then
PyTorch reads the GGUF's weights in memory. A transformers folder runs on PyTorch: the lean
decoder (bfloat16, static cache, CUDA graph) on an NVIDIA GPU, transformers elsewhere.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from models.errors import ModelError

log = logging.getLogger(__name__)

LORA_ADAPTER_FILE = "adapter.gguf"  # the GGUF LoRA adapter llama.cpp applies at load
LORA_BASE_FILE = "base-model.json"  # {"base_gguf": path of the base model's GGUF}
PEFT_FOLDER = "adapter"  # the same adapter in peft's format, for PyTorch
FULL_MODEL_FILE = "model.gguf"  # a full fine-tune of a GGUF model, written as GGUF again

def gguf_files(path: Path) -> tuple[Path | None, Path | None]:
    """(model GGUF, LoRA adapter GGUF or None) for `path`, or (None, None) for a transformers folder."""
    path = Path(path)
    if path.is_file():
        return (path, None) if path.suffix.lower() == ".gguf" else (None, None)
    adapter = path / LORA_ADAPTER_FILE
    if adapter.is_file():
        return lora_base(path), adapter
    if (path / FULL_MODEL_FILE).is_file():
        return path / FULL_MODEL_FILE, None
    return None, None


def lora_base(folder: Path) -> Path:
    """The base GGUF a LoRA fine-tune folder was trained on."""
    try:
        base = Path(json.loads((Path(folder) / LORA_BASE_FILE).read_text(encoding="utf-8"))["base_gguf"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{folder}: this fine-tune does not say which base model it was made for ({exc})") from exc
    if not base.is_file():
        raise ModelError(f"the base model of this fine-tune, {base}, is gone: it was moved or deleted")
    return base


def write_lora_base(folder: Path, base_gguf: Path) -> None:
    (Path(folder) / LORA_BASE_FILE).write_text(json.dumps({"base_gguf": str(Path(base_gguf).resolve())}),
                                               encoding="utf-8")


def llama_gpu_layers(device: str) -> int | None:
    """How many layers llama.cpp puts on a GPU (0: none, -1: all), or None when PyTorch must run it."""
    from models.devices import nvidia_gpu_present
    from models.generation.llama_engine import available

    if available() is not None:
        return None
    import llama_cpp

    offload = bool(llama_cpp.llama_supports_gpu_offload())
    if device == "cpu":
        return 0
    if offload:
        return -1
    if device == "auto" and not nvidia_gpu_present():
        return 0
    if device == "auto":
        import torch

        return None if torch.cuda.is_available() else 0
    return None  # "cuda" or "mps" asked for, and this llama.cpp build has no GPU


def load_generator(cls, path: Path, name: str, device: str, speculative: bool):
    model_file, adapter_file = gguf_files(path)
    if model_file is not None:
        if not model_file.is_file():
            raise ModelError(f"{model_file}: the model file is gone (moved or deleted)")
        layers = llama_gpu_layers(device)
        if layers is not None:
            return _llama(cls, model_file, adapter_file, name, layers, speculative)
    return _torch(cls, path, model_file, adapter_file, name, device)


def _llama(cls, model_file: Path, adapter_file: Path | None, name: str, gpu_layers: int, speculative: bool):
    from models.generation.llama_engine import LlamaModel, LoadedFiles

    model = LlamaModel(LoadedFiles(model_file, adapter_file), gpu_layers=gpu_layers, speculative=speculative)
    precision = model.header.file_type + (" + LoRA adapter" if adapter_file else "")
    return cls(model, model.tokenizer, name=name, device="gpu" if gpu_layers else "cpu",
               context_length=model.context_length, eos_ids=model.eos_ids, precision=precision,
               adapter=adapter_file is not None, engine="llama.cpp" + (" on the GPU" if gpu_layers else ""))


def _torch(cls, path: Path, model_file: Path | None, adapter_file: Path | None, name: str, device: str):
    import torch

    from models.devices import pick_device
    from models.generation.backends import FastRunner, TransformersRunner
    from models.loading import load_causal_lm, load_tokenizer

    device = pick_device(device)
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    model, tokenizer = load_causal_lm(model_file or path, device=device, dtype=dtype)
    if adapter_file is not None:
        model = _merge_peft(model, Path(path) / PEFT_FOLDER)
        tokenizer = load_tokenizer(path)
    runner = None
    if device.startswith("cuda"):
        from models.generation.fast_decoder import FastDecoder, unsupported_reason

        if unsupported_reason(model.config) is None:
            decoder = FastDecoder(model, device=device)
            decoder.capture_graph()
            model.to("meta")  # the decoder holds its own copy of every weight
            runner = FastRunner(decoder)
    if runner is None:
        runner = TransformersRunner(model, device)
    from models.generation.llama_engine import available

    precision = "bfloat16" if dtype == torch.bfloat16 else "float32"
    engine = "PyTorch" + (" on the GPU" if device != "cpu" else "")
    if model_file is not None and available():
        engine += " — llama.cpp is not available here, see fireside doctor"
    return cls(runner, tokenizer, name=name, device=device,
               context_length=int(getattr(model.config, "max_position_embeddings", 2048)),
               eos_ids=_eos_ids(model, tokenizer), precision=precision, adapter=adapter_file is not None,
               engine=engine)


def _eos_ids(model, tokenizer) -> set[int]:
    ids: set[int] = set()
    for value in (getattr(getattr(model, "generation_config", None), "eos_token_id", None), tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif value:
            ids.update(int(v) for v in value)
    return ids


def _merge_peft(model, folder: Path):
    if not (folder / "adapter_config.json").is_file():
        raise ModelError(f"{folder}: the fine-tune's adapter is missing")
    from peft import PeftModel

    return PeftModel.from_pretrained(model, str(folder)).merge_and_unload()
