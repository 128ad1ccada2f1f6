"""A model's shape and rotary settings, from config.json, in llama.cpp's metadata keys."""
from __future__ import annotations

import math

import numpy as np

from models.convert.architectures import Architecture, rope_parameters
from models.convert.gguf_file import KeyValue
from models.convert.metadata_collector import collect


def head_dim(config: dict) -> int:
    return int(config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"])


def hparams_metadata(config: dict, arch: Architecture, file_type: int, name: str) -> list[KeyValue]:
    def fill(w):
        w.add_type("model")
        w.add_name(name)
        w.add_block_count(config["num_hidden_layers"])
        w.add_context_length(int(config.get("max_position_embeddings") or 4096))
        w.add_embedding_length(config["hidden_size"])
        w.add_feed_forward_length(config["intermediate_size"])
        w.add_head_count(config["num_attention_heads"])
        w.add_head_count_kv(config.get("num_key_value_heads") or config["num_attention_heads"])
        w.add_layer_norm_rms_eps(float(config.get("rms_norm_eps", 1e-6)))
        rope = rope_parameters(config)
        w.add_rope_freq_base(float(rope.get("rope_theta", config.get("rope_theta", 10000.0))))
        if arch.gguf_name == "llama":
            w.add_vocab_size(config["vocab_size"])
            w.add_rope_dimension_count(head_dim(config))
        if config.get("head_dim") or arch.gguf_name in ("gemma", "qwen3"):
            w.add_key_length(head_dim(config))
            w.add_value_length(head_dim(config))
        _add_rope_scaling(w, rope)
        w.add_file_type(file_type)

    return collect(arch.gguf_name, fill)


def _add_rope_scaling(w, rope: dict) -> None:
    import gguf

    kind, factor = rope.get("rope_type"), rope.get("factor")
    if kind == "linear" and factor:
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(float(factor))
    elif kind == "yarn" and factor:
        w.add_rope_scaling_type(gguf.RopeScalingType.YARN)
        w.add_rope_scaling_factor(float(factor))
        if rope.get("original_max_position_embeddings"):
            w.add_rope_scaling_orig_ctx_len(int(rope["original_max_position_embeddings"]))


def llama3_rope_factors(config: dict) -> np.ndarray | None:
    """The per-frequency divisors of Llama 3.1-style rotary scaling, which llama.cpp reads from a
    `rope_freqs.weight` tensor; None for a model without that scaling."""
    rope = rope_parameters(config)
    if rope.get("rope_type") != "llama3":
        return None
    dim = head_dim(config)
    base = float(rope.get("rope_theta", config.get("rope_theta", 10000.0)))
    factor = float(rope.get("factor", 8.0))
    low, high = float(rope.get("low_freq_factor", 1.0)), float(rope.get("high_freq_factor", 4.0))
    original = float(rope.get("original_max_position_embeddings", 8192))
    long_wavelength, short_wavelength = original / low, original / high
    divisors = []
    for i in range(0, dim, 2):
        wavelength = 2 * math.pi * base ** (i / dim)
        if wavelength < short_wavelength:
            divisors.append(1.0)
        elif wavelength > long_wavelength:
            divisors.append(factor)
        else:
            smooth = (original / wavelength - low) / (high - low)
            divisors.append(1.0 / ((1 - smooth) / factor + smooth))
    return np.asarray(divisors, dtype=np.float32)
