"""llama.cpp's quantizer, run in a child process."""
import sys
from collections import namedtuple

import numpy as np
import pytest

from models.convert import quantize
from models.convert.quantize import QUANTS, quantize_gguf
from models.errors import ModelError
from tests.convert_support import leftovers, llama_cpp_logits, make_tiny_model, write_tiny_gguf

pytest.importorskip("llama_cpp")


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory):
    folder = tmp_path_factory.mktemp("quantize")
    return write_tiny_gguf(make_tiny_model(folder / "hf"), folder / "tiny-f32.gguf")


def test_q8_0_file_loads_and_computes_nearly_the_same(tiny_gguf, tmp_path):
    from models.convert.gguf_file import open_gguf

    seen = []
    out = quantize_gguf(tiny_gguf, tmp_path / "tiny-q8.gguf", "Q8_0", lambda fraction, text: seen.append(fraction))
    written = open_gguf(out)
    assert written.file_type == 7  # MOSTLY_Q8_0
    assert written.tensors["blk.0.ffn_up.weight"].tensor_type.name == "Q8_0"
    assert written.value("tokenizer.chat_template") is not None  # metadata carried over
    reference, quantized = llama_cpp_logits(tiny_gguf), llama_cpp_logits(out)
    assert np.abs(quantized - reference).max() < 0.05 * np.abs(reference).max()
    assert (quantized.argmax(axis=1) == reference.argmax(axis=1)).mean() >= 0.8
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) > 10  # reported tensor by tensor
    assert leftovers(tmp_path) == []


def test_quantized_file_can_be_requantized(tiny_gguf, tmp_path):
    q8 = quantize_gguf(tiny_gguf, tmp_path / "q8.gguf", "Q8_0")
    f16 = quantize_gguf(q8, tmp_path / "f16.gguf", "F16")
    assert np.isfinite(llama_cpp_logits(f16)).all()


def test_unknown_quantization_is_refused(tiny_gguf, tmp_path):
    with pytest.raises(ModelError, match="unknown quantization 'Q3_X'.*Q4_K_M"):
        quantize_gguf(tiny_gguf, tmp_path / "out.gguf", "Q3_X")
    assert set(QUANTS) >= {"Q4_K_M", "Q5_K_M", "Q8_0", "F16"}


def test_not_enough_space_is_reported_before_starting(tiny_gguf, tmp_path, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(quantize.shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 1000, 1000))
    out_dir = tmp_path / "out"
    with pytest.raises(ModelError, match="the disk is full"):
        quantize_gguf(tiny_gguf, out_dir / "out.gguf", "Q8_0")
    assert list(out_dir.iterdir()) == []


def test_a_crashing_quantizer_does_not_take_the_caller_down(tiny_gguf, tmp_path, monkeypatch):
    def crashing_child(src, out, quant):
        return [sys.executable, "-c", "import os, signal; open(os.sys.argv[1], 'wb').write(b'GGUF half');"
                                      "os.kill(os.getpid(), signal.SIGSEGV)", str(out)]

    monkeypatch.setattr(quantize, "child_command", crashing_child)
    out_dir = tmp_path / "out"
    with pytest.raises(ModelError, match=r"crashed \(SIGSEGV\).*unchanged"):
        quantize_gguf(tiny_gguf, out_dir / "out.gguf", "Q8_0")
    assert list(out_dir.iterdir()) == []  # the half-written file is gone


def test_a_failing_quantizer_explains(tiny_gguf, tmp_path, monkeypatch):
    def failing_child(src, out, quant):
        return [sys.executable, "-c", "print('{\"error\": \"requantizing from type q4_1 is disabled\"}');"
                                      "raise SystemExit(1)"]

    monkeypatch.setattr(quantize, "child_command", failing_child)
    with pytest.raises(ModelError, match="could not quantize tiny-f32.gguf to Q8_0: requantizing from type q4_1"):
        quantize_gguf(tiny_gguf, tmp_path / "out" / "out.gguf", "Q8_0")
