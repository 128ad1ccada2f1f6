"""A ~1.7B-parameter Llama GGUF with random weights, for speed measurements at a realistic size.

    python tests/benchmarks/random_gguf.py        # builds it (once) and prints its path

The shape is SmolLM2-1.7B's (hidden 2048, 24 layers, 32 heads, 32 key/value heads, feed-forward
8192, RoPE theta 130000, context 8192, tied embeddings) and the tokenizer and chat template are
the bundled SmolLM2-135M's (the same 49152-token vocabulary), so the bundled model's prompts
tokenize the same way. Decoding speed does not depend on the weights' values: they are random
normal (std 0.02), norms are 1. The special tokens' embedding rows are zero, so with tied
embeddings their logit is exactly 0 and greedy decoding never picks one: every reply runs to its
full length, as a real model's long answer would.

The file is written as F16 with the `gguf` package, one tensor at a time (the largest, the
embedding, in row chunks), then quantized to Q4_K_M by llama.cpp's own quantizer; the F16
intermediate (3.4 GB) is deleted. The result (about 1 GB) is kept in FIRESIDE_BENCH_CACHE
(default ~/.cache/fireside-bench) and reused by later runs.
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FILE_NAME = "random-smollm2-1.7b-shape.Q4_K_M.gguf"
WEIGHT_STD = 0.02
ROWS_PER_CHUNK = 4096
SEED = 1234
THREADS = 2
CONTROL_TOKEN = 3  # tokenizer.ggml.token_type of special tokens


@dataclass(frozen=True)
class Shape:
    hidden: int = 2048
    layers: int = 24
    heads: int = 32
    kv_heads: int = 32
    ffn: int = 8192
    rope_theta: float = 130000.0
    context: int = 8192
    vocab: int = 49152
    rms_eps: float = 1e-5

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    def parameters(self) -> int:
        return sum(int(np.prod(shape)) for _, shape in tensor_shapes(self))


SMOLLM2_1_7B = Shape()


def cache_dir() -> Path:
    return Path(os.environ.get("FIRESIDE_BENCH_CACHE") or Path.home() / ".cache" / "fireside-bench").expanduser()


def random_gguf(shape: Shape = SMOLLM2_1_7B, log=print) -> Path:
    """The path of the random Q4_K_M model, built first if the cache does not have it yet."""
    from models.convert.quantize import quantize_gguf

    target = cache_dir() / FILE_NAME
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    f16 = target.with_name(target.name + ".f16.partial")
    partial = target.with_name(target.name + ".partial")
    try:
        started = time.perf_counter()
        log(f"writing a random {shape.parameters() / 1e9:.2f}B-parameter F16 GGUF to {f16} ...")
        write_f16(f16, shape)
        log(f"  {f16.stat().st_size / 1e9:.2f} GB in {time.perf_counter() - started:.0f} s; quantizing to Q4_K_M ...")
        started = time.perf_counter()
        quantize_gguf(f16, partial, "Q4_K_M")
        log(f"  {partial.stat().st_size / 1e9:.2f} GB in {time.perf_counter() - started:.0f} s")
        check_decodes(partial)
        partial.replace(target)
    finally:
        f16.unlink(missing_ok=True)
        partial.unlink(missing_ok=True)
    return target


# -- writing the F16 file ------------------------------------------------------------------------
def tensor_shapes(shape: Shape) -> list[tuple[str, tuple[int, ...]]]:
    """(name, numpy shape) of every tensor, in file order; matrices are (out, in)."""
    kv = shape.kv_heads * shape.head_dim
    tensors = [("token_embd.weight", (shape.vocab, shape.hidden))]
    for i in range(shape.layers):
        tensors += [
            (f"blk.{i}.attn_norm.weight", (shape.hidden,)),
            (f"blk.{i}.attn_q.weight", (shape.hidden, shape.hidden)),
            (f"blk.{i}.attn_k.weight", (kv, shape.hidden)),
            (f"blk.{i}.attn_v.weight", (kv, shape.hidden)),
            (f"blk.{i}.attn_output.weight", (shape.hidden, shape.hidden)),
            (f"blk.{i}.ffn_norm.weight", (shape.hidden,)),
            (f"blk.{i}.ffn_gate.weight", (shape.ffn, shape.hidden)),
            (f"blk.{i}.ffn_up.weight", (shape.ffn, shape.hidden)),
            (f"blk.{i}.ffn_down.weight", (shape.hidden, shape.ffn)),
        ]
    tensors.append(("output_norm.weight", (shape.hidden,)))  # no output.weight: tied embeddings
    return tensors


def bundled_tokenizer():
    """The bundled chat model's GGUF, opened with the gguf package's reader."""
    from gguf import GGUFReader

    from models import bundled

    return GGUFReader(str(bundled.chat_model_file()))


def copy_tokenizer(writer, reader) -> list[int]:
    """Copy every tokenizer.* key (vocabulary, merges, special ids, chat template); returns the
    ids of the special (control) tokens."""
    from gguf import GGUFValueType

    for key, field in reader.fields.items():
        if not key.startswith("tokenizer."):
            continue
        kind = field.types[0]
        sub_type = field.types[-1] if kind == GGUFValueType.ARRAY else None
        writer.add_key_value(key, field.contents(), kind, sub_type=sub_type)
    types = reader.fields["tokenizer.ggml.token_type"].contents()
    return [i for i, t in enumerate(types) if t == CONTROL_TOKEN]


def add_architecture(writer, shape: Shape) -> None:
    from gguf import LlamaFileType

    writer.add_name("random weights, SmolLM2-1.7B shape (Fireside benchmark)")
    writer.add_context_length(shape.context)
    writer.add_embedding_length(shape.hidden)
    writer.add_block_count(shape.layers)
    writer.add_feed_forward_length(shape.ffn)
    writer.add_head_count(shape.heads)
    writer.add_head_count_kv(shape.kv_heads)
    writer.add_rope_dimension_count(shape.head_dim)
    writer.add_rope_freq_base(shape.rope_theta)
    writer.add_layer_norm_rms_eps(shape.rms_eps)
    writer.add_vocab_size(shape.vocab)
    writer.add_file_type(int(LlamaFileType.MOSTLY_F16))


def random_matrix(rng, rows: int, cols: int, zero_rows: list[int] = ()) -> np.ndarray:
    """Normal(0, WEIGHT_STD) in float16, made ROWS_PER_CHUNK rows at a time (float32 stays small)."""
    out = np.empty((rows, cols), dtype=np.float16)
    for start in range(0, rows, ROWS_PER_CHUNK):
        stop = min(rows, start + ROWS_PER_CHUNK)
        chunk = rng.standard_normal((stop - start, cols), dtype=np.float32)
        chunk *= WEIGHT_STD
        out[start:stop] = chunk
    out[list(zero_rows)] = 0
    return out


def write_f16(path: Path, shape: Shape) -> None:
    from gguf import GGUFWriter

    reader = bundled_tokenizer()
    writer = GGUFWriter(path, "llama")
    add_architecture(writer, shape)
    special = copy_tokenizer(writer, reader)
    shapes = tensor_shapes(shape)
    for name, dims in shapes:
        dtype = np.float32 if len(dims) == 1 else np.float16
        writer.add_tensor_info(name, dims, np.dtype(dtype), int(np.prod(dims)) * np.dtype(dtype).itemsize)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    rng = np.random.default_rng(SEED)
    for name, dims in shapes:
        if len(dims) == 1:
            writer.write_tensor_data(np.ones(dims, dtype=np.float32))
        else:
            zero_rows = special if name == "token_embd.weight" else ()
            writer.write_tensor_data(random_matrix(rng, *dims, zero_rows=zero_rows))
    writer.close()


# -- quantizing and checking ---------------------------------------------------------------------
def check_decodes(path: Path, new_tokens: int = 4) -> list[int]:
    """Load the file in llama.cpp and decode a few greedy tokens after a chat prompt."""
    from llama_cpp import Llama

    llm = Llama(model_path=str(path), n_ctx=256, n_threads=THREADS, verbose=False)
    try:
        prompt = llm.tokenize(b"<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n", add_bos=False,
                              special=True)
        out = []
        for token in llm.generate(prompt, temp=0.0):
            out.append(token)
            if len(out) >= new_tokens:
                break
    finally:
        llm.close()
    if len(out) != new_tokens:
        raise RuntimeError(f"{path}: decoded {len(out)} tokens instead of {new_tokens}")
    return out


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    print(random_gguf())
