"""Make a loaded model fast for inference on its device: int8 on CPUs, half precision on GPUs.

Dynamic int8 quantization of the linear layers is the largest single gain on a CPU (about 2x on
a small BERT) and moves a classifier's accuracy by a fraction of a point; the benchmark in
tests/benchmarks/bench_classify.py measures both against a plain float32 loop.
"""
from __future__ import annotations

import logging
import os
import warnings

log = logging.getLogger(__name__)
PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8")
ENV_OVERRIDE = "FIRESIDE_CLASSIFY_PRECISION"


def choose_precision(device: str, requested: str = "auto") -> str:
    requested = os.environ.get(ENV_OVERRIDE, requested) if requested == "auto" else requested
    if requested not in PRECISIONS:
        raise ValueError(f"unknown precision {requested!r}; choose one of {', '.join(PRECISIONS)}")
    if requested != "auto":
        return requested
    if device == "cpu":
        return "int8"
    if device.startswith("cuda"):
        return "fp16"
    return "fp32"


def prepare_for_inference(model, device: str, precision: str = "auto"):
    """(model in eval mode on device, precision actually used)."""
    import torch

    precision = choose_precision(device, precision)
    model = model.eval()
    if precision == "int8":
        if device != "cpu":
            precision = "fp16" if device.startswith("cuda") else "fp32"
        else:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # torch announces the move of this API to torchao
                    model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
                return model, "int8"
            except Exception as exc:  # noqa: BLE001 - no quantized engine on this CPU: plain float32 works
                log.warning("int8 quantization unavailable (%s); using float32", exc)
                precision = "fp32"
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    return model.to(device=device, dtype=dtype), precision
