"""Quantizing a GGUF model with llama.cpp's own quantizer (through llama_cpp).

The native code runs in a child process, `python -m models.convert.quantize SRC DST QUANT`, so that a
crash in it ends the child and becomes a ModelError here rather than ending the caller. The child
prints one JSON object per line: {"tensor": i, "of": n, "name": ...} as it goes, {"error": ...} on failure.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections import deque
from pathlib import Path
from typing import Callable

from models.convert.atomic import atomic_file, disk_full
from models.convert.gguf_file import GgufFile, open_gguf
from models.errors import ModelError

ProgressCallback = Callable[[float, str], None]

QUANTS = ("Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0", "F16")
LLAMA_FTYPES = {  # names in llama_cpp, and the bits each weight takes on average (for the space check)
    "Q4_K_M": ("LLAMA_FTYPE_MOSTLY_Q4_K_M", 4.9),
    "Q5_K_M": ("LLAMA_FTYPE_MOSTLY_Q5_K_M", 5.7),
    "Q6_K": ("LLAMA_FTYPE_MOSTLY_Q6_K", 6.6),
    "Q8_0": ("LLAMA_FTYPE_MOSTLY_Q8_0", 8.5),
    "F16": ("LLAMA_FTYPE_MOSTLY_F16", 16.0),
}
SPARE_BYTES = 64 * 1024 * 1024
WINDOWS_CRASH = 0xC0000000  # exit statuses from here up are unhandled exceptions (access violation ...)


def check_quant(quant: str) -> str:
    if quant not in QUANTS:
        raise ModelError(f"unknown quantization {quant!r}; choose one of {', '.join(QUANTS)}")
    return quant


def estimated_size(gguf_file: GgufFile, quant: str) -> int:
    weights = sum(int(t.n_elements) for t in gguf_file.reader.tensors)
    metadata = int(gguf_file.reader.tensors[0].data_offset) if gguf_file.reader.tensors else 0
    return int(weights * LLAMA_FTYPES[quant][1] / 8) + metadata


def quantize_gguf(src: Path, dst: Path, quant: str, progress: ProgressCallback | None = None) -> Path:
    """Write `src` quantized to `quant` (one of QUANTS) as `dst`, atomically; returns `dst`.

    An already-quantized source is re-quantized (its quality cannot rise above the source's)."""
    check_quant(quant)
    return quantize_opened(open_gguf(Path(src)), Path(dst), quant, progress)


def quantize_opened(source: GgufFile, dst: Path, quant: str, progress: ProgressCallback | None = None) -> Path:
    """quantize_gguf for a file already opened (reading a GGUF's metadata takes seconds)."""
    src = source.path
    check_quant(quant)
    report = progress or (lambda fraction, message: None)
    if source.general_type == "adapter":
        raise ModelError(f"{src.name} is a LoRA adapter, not a model; adapters are not quantized")
    return quantize_file(src, dst, quant, estimated_size(source, quant), report)


def quantize_file(src: Path, dst: Path, quant: str, needed: int, progress: ProgressCallback | None = None) -> Path:
    """The quantizer run on a file known to be a model, `needed` the bytes the output is expected to take."""
    report = progress or (lambda fraction, message: None)
    dst.parent.mkdir(parents=True, exist_ok=True)
    if shutil.disk_usage(dst.parent).free < needed + SPARE_BYTES:
        raise disk_full(dst.parent)
    report(0.0, f"Quantizing {src.name} to {quant}")
    with atomic_file(dst) as temporary:
        _run_quantizer(src, temporary, quant, needed, report)
    report(1.0, f"Quantized to {quant}")
    return dst


def _crash_name(code: int) -> str:
    if code >= WINDOWS_CRASH:
        return f"exception 0x{code:08X}"
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def child_command(src: Path, out: Path, quant: str) -> list[str]:
    return [sys.executable, "-m", "models.convert.quantize", str(src), str(out), quant]


def _run_quantizer(src: Path, out: Path, quant: str, needed: int, report: ProgressCallback) -> None:
    package_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    child = subprocess.Popen(child_command(src, out, quant), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env)
    stderr_tail: deque[str] = deque(maxlen=20)
    reader = threading.Thread(target=lambda: stderr_tail.extend(child.stderr), daemon=True)
    reader.start()
    error = None
    try:
        for line in child.stdout:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if "error" in event:
                error = event["error"]
            elif event.get("of"):
                report(min(event["tensor"] / event["of"], 0.99), f"Quantizing {event.get('name', '')}")
        code = child.wait()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    reader.join(timeout=5)
    if code == 0:
        return
    written = out.stat().st_size if out.exists() else 0
    if shutil.disk_usage(out.parent).free + written < needed + SPARE_BYTES // 4:
        raise disk_full(out.parent)
    if code < 0 or code >= WINDOWS_CRASH:
        raise ModelError(f"llama.cpp's quantizer crashed ({_crash_name(code)}) while quantizing {src.name}; "
                         "the original file is unchanged")
    detail = error or (stderr_tail[-1].strip() if stderr_tail else f"exit status {code}")
    raise ModelError(f"llama.cpp could not quantize {src.name} to {quant}: {detail}")


# -- the child process -------------------------------------------------------------------------

def _child(src: str, dst: str, quant: str) -> int:
    import ctypes
    import re

    import llama_cpp

    def emit(event: dict) -> None:
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()

    tensor_line = re.compile(r"^\[\s*(\d+)/\s*(\d+)\]\s+(\S+)")
    errors: list[str] = []

    @llama_cpp.llama_log_callback
    def on_log(level, text, user_data):
        piece = text.decode("utf-8", errors="replace")
        match = tensor_line.match(piece)
        if match:
            emit({"tensor": int(match[1]), "of": int(match[2]), "name": match[3]})
        elif level == 3 and piece.strip():  # GGML_LOG_LEVEL_ERROR
            errors.append(piece.strip().split("failed to quantize: ")[-1])

    llama_cpp.llama_log_set(on_log, ctypes.c_void_p(0))
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, LLAMA_FTYPES[quant][0])
    params.allow_requantize = True
    params.nthread = 0
    code = llama_cpp.llama_model_quantize(os.fsencode(src), os.fsencode(dst), ctypes.byref(params))
    if code != 0:
        emit({"error": errors[-1] if errors else f"llama_model_quantize returned {code}"})
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[3] not in QUANTS:
        print(f"usage: python -m models.convert.quantize SRC.gguf DST.gguf {{{','.join(QUANTS)}}}", file=sys.stderr)
        sys.exit(2)
    sys.exit(_child(*sys.argv[1:]))
