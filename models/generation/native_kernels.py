"""Fireside's own CPU kernels for decoding (native/cpu_kernels.cpp), compiled once on this machine:
4-bit and 8-bit layers (`q4_linear`, `q8_linear`) and one-query attention (`decode_attention`).

PyTorch's 4-bit CPU kernel expands the weights to float32 before multiplying, which makes it bound
by arithmetic (about 32 G multiply-adds a second on two cores here) rather than by reading the
weights. `q4_linear` quantizes the activations to int8 in groups of 32 (two int8 parts each, ~14
bits) and multiplies with AVX-512 VNNI int8 dot products (about 140 G a second on the same
cores), so a decoding step is bound by memory again. `decode_attention` shares a long context
between the threads in chunks of positions, where PyTorch's flash attention splits by head.

It is compiled with the machine's C++ compiler at set-up (`fireside models prepare`), into a folder
named after the source, torch and Python versions, and loaded when present. Without a compiler,
on a CPU without AVX-512 VNNI, or with FIRESIDE_NATIVE_KERNELS=0, decoding uses PyTorch's kernels:
the same weights, slower.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import sys
import threading
from pathlib import Path

SOURCE = Path(__file__).with_name("native") / "cpu_kernels.cpp"
CPU_FLAGS = ("avx512f", "avx512bw", "avx512vl", "avx512_vnni", "f16c", "fma")
COMPILE_FLAGS = ["-O3", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512vnni", "-mf16c", "-mfma", "-fopenmp"]
# at::parallel_for is OpenMP compiled into the kernel; it shares torch's own libgomp (same soname).
LINK_FLAGS = ["-fopenmp"]

# What the set-up and the window say while `build` runs.
BUILDING = "Compiling the 4-bit kernel for this CPU (once, ~15 s)"

_lock = threading.Lock()
_loaded: bool | None = None


def disabled() -> bool:
    return os.environ.get("FIRESIDE_NATIVE_KERNELS", "1").strip().lower() in ("0", "false", "no", "off")


def cpu_supported() -> bool:
    """Whether this CPU has the instructions the kernels are compiled for."""
    from models.devices import cpu_flags

    return cpu_flags().issuperset(CPU_FLAGS)


def _key() -> str:
    import torch

    text = SOURCE.read_bytes() + f"|{torch.__version__}|{sys.version_info[:2]}|{COMPILE_FLAGS}".encode()
    return hashlib.sha256(text).hexdigest()[:12]


def _candidate_folders() -> list[Path]:
    import platformdirs

    return [Path(sys.prefix) / "var" / "fireside" / "kernels", platformdirs.user_cache_path("fireside") / "kernels"]


def _name() -> str:
    return f"fireside_kernels_{_key()}"


def built_library() -> Path | None:
    """The compiled kernel for this source, torch and Python, if some set-up has built it."""
    for folder in _candidate_folders():
        library = folder / _name() / f"{_name()}.so"
        if library.is_file():
            return library
    return None


def available() -> bool:
    """Whether 4-bit layers should use the kernel: it is built, this CPU can run it, and it is not
    switched off (FIRESIDE_NATIVE_KERNELS=0). Loads it on first use."""
    return not disabled() and load()


def load() -> bool:
    """Load the built kernel if this CPU can run it (whether or not it is switched off)."""
    global _loaded
    if _loaded is None:
        with _lock:
            if _loaded is None:
                library = built_library() if cpu_supported() else None
                _loaded = False
                if library is not None:
                    import torch

                    try:
                        torch.ops.load_library(str(library))
                        _loaded = True
                    except (OSError, RuntimeError):
                        pass  # built for another torch; `build` makes a new one
    return _loaded


def _writable_folder() -> Path | None:
    for folder in _candidate_folders():
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probe = folder / ".writable"
            probe.touch()
            probe.unlink()
            return folder
        except OSError:
            continue
    return None


def build() -> str | None:
    """Compile and load the kernel unless it is already here. None when it is ready; otherwise the
    reason it is not (Fireside then uses PyTorch's 4-bit kernel)."""
    global _loaded
    if not cpu_supported():
        return "This CPU has no AVX-512 VNNI: 4-bit layers use PyTorch's kernel."
    if load():
        return None
    folder = _writable_folder()
    if folder is None:
        return "No writable folder for the compiled 4-bit kernel: 4-bit layers use PyTorch's kernel."
    import torch  # noqa: F401 - cpp_extension needs torch imported first
    from torch.utils import cpp_extension

    try:
        import ninja

        os.environ["PATH"] = ninja.BIN_DIR + os.pathsep + os.environ.get("PATH", "")
    except ImportError:
        pass  # cpp_extension looks for a ninja on PATH and says so if there is none
    target = folder / _name()
    target.mkdir(parents=True, exist_ok=True)
    with _lock:
        try:
            cpp_extension.load(name=_name(), sources=[str(SOURCE)], extra_cflags=COMPILE_FLAGS,
                               extra_ldflags=LINK_FLAGS, build_directory=str(target), is_python_module=False)
        except Exception as error:  # noqa: BLE001 - any failure leaves PyTorch's kernel in use
            lines = [line for line in str(error).splitlines() if line.strip()]
            reason = lines[-1] if lines else type(error).__name__
            return f"The 4-bit kernel could not be compiled ({reason}): 4-bit layers use PyTorch's kernel."
        _loaded = True
    for old in folder.glob("fireside_kernels_*"):
        if old != target:  # built from an earlier source or for an earlier torch
            shutil.rmtree(old, ignore_errors=True)
    return None


def needs_build() -> bool:
    """Whether `build` has something to do here: the CPU can run the kernel and none is built."""
    return cpu_supported() and not load()


def describe() -> str:
    """Which 4-bit kernel decoding uses, in words."""
    if not cpu_supported():
        return "PyTorch's (this CPU has no AVX-512 VNNI)"
    if not load():
        return "PyTorch's (Fireside's own is not built: run `fireside models prepare`)"
    if disabled():
        return "PyTorch's (FIRESIDE_NATIVE_KERNELS=0)"
    return "Fireside's own (AVX-512 VNNI int8 dot products)"
