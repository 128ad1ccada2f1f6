"""Which device to compute on, and what the machine has (for `fireside doctor`)."""
from __future__ import annotations

import functools
import platform
import sys


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The instruction-set flags of this CPU as Linux lists them (empty elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as info:
            for line in info:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_signature() -> str:
    """A short name for the instruction sets this CPU offers: code compiled for one CPU with
    `-march=native` runs on another with the same signature."""
    import hashlib

    simd = sorted(flag for flag in cpu_flags()
                  if flag.startswith(("avx", "sse", "amx", "fma", "f16c", "bmi", "vnni", "asimd", "sve")))
    digest = hashlib.sha256(" ".join(simd).encode()).hexdigest()[:10]
    return f"{platform.machine().lower() or 'cpu'}-{digest}"


def nvidia_gpu_present() -> bool:
    """Whether an NVIDIA driver lists a GPU, found without importing torch."""
    import os
    import shutil

    if os.path.isdir("/proc/driver/nvidia/gpus"):
        return bool(os.listdir("/proc/driver/nvidia/gpus"))
    return sys.platform == "win32" and shutil.which("nvidia-smi") is not None


def pick_device(preference: str = "auto") -> str:
    """'cuda', 'mps' or 'cpu'; `preference` may name one of them or be 'auto'."""
    import torch

    if preference != "auto":
        return preference
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def machine_report() -> dict:
    """Versions and accelerators, as plain values."""
    import torch
    import transformers

    from models.generation import llama_engine

    gpus = []
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            gpus.append({"index": index, "name": props.name, "memory_gb": round(props.total_memory / 2**30, 1)})
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "cuda_available": torch.cuda.is_available(),
        "cuda_version": torch.version.cuda,
        "mps_available": mps,
        "gpus": gpus,
        "cpu_threads": torch.get_num_threads(),
        "llama_cpp": llama_engine.describe(),
    }
