"""Which transformers architectures Fireside writes as GGUF, and how their tensors change on the way.

llama.cpp names tensors its own way (`blk.0.attn_q.weight` for `model.layers.0.self_attn.q_proj.weight`);
the `gguf` package holds that mapping. Two architectures need more than a rename:

- llama.cpp's `llama` applies rotary embeddings to adjacent pairs of each head's dimensions, where
  transformers rotates the first half against the second; the rows of the query and key projections
  are reordered to match (`permute_rows`).
- Gemma's RMSNorm scales by (1 + weight) in transformers and by weight in llama.cpp.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Architecture:
    gguf_name: str          # general.architecture in the GGUF file
    rotary_pairs: bool      # llama.cpp rotates adjacent pairs: permute q/k rows
    norm_offset: float = 0.0  # added to every *norm.weight on the way to GGUF
    writes_output: bool = True  # False: llama.cpp always ties the output layer to the embeddings


ARCHITECTURES = {
    "LlamaForCausalLM": Architecture("llama", rotary_pairs=True),
    "MistralForCausalLM": Architecture("llama", rotary_pairs=True),
    "Qwen2ForCausalLM": Architecture("qwen2", rotary_pairs=False),
    "Qwen3ForCausalLM": Architecture("qwen3", rotary_pairs=False),
    "GemmaForCausalLM": Architecture("gemma", rotary_pairs=False, norm_offset=1.0, writes_output=False),
}
BY_GGUF_NAME = {arch.gguf_name: arch for arch in ARCHITECTURES.values()}

# Rotary scalings llama.cpp reproduces from config.json (llama3 through a rope_freqs tensor).
ROPE_TYPES = (None, "default", "linear", "yarn", "llama3")

# Tensors transformers keeps that are not weights llama.cpp reads.
IGNORED_SUFFIXES = (".rotary_emb.inv_freq", ".attention.masked_bias", ".attention.bias")


def for_gguf(gguf_name: str) -> Architecture | None:
    return BY_GGUF_NAME.get(gguf_name)


def hf_architecture(config: dict) -> str:
    names = config.get("architectures") or []
    return names[0] if names else str(config.get("model_type", "unknown"))


def rope_parameters(config: dict) -> dict:
    """The rotary settings from either spelling of config.json: transformers 5 writes one
    `rope_parameters` dict, older files `rope_theta` beside a `rope_scaling` dict."""
    params = dict(config.get("rope_parameters") or {})
    if not params:
        params = dict(config.get("rope_scaling") or {})
        if "type" in params and "rope_type" not in params:
            params["rope_type"] = params.pop("type")
        if config.get("rope_theta") is not None:
            params["rope_theta"] = config["rope_theta"]
    return params


def supported_architecture(config: dict) -> str | None:
    """Why a transformers model with this config.json cannot be written as GGUF, or None if it can."""
    name = hf_architecture(config)
    if name not in ARCHITECTURES:
        known = ", ".join(sorted({a.gguf_name for a in ARCHITECTURES.values()}))
        return (f"{name} models cannot be converted to GGUF by Fireside (it converts {known}); "
                "this model keeps running through transformers")
    quantization = config.get("quantization_config")
    if quantization:
        method = quantization.get("quant_method", "quantized") if isinstance(quantization, dict) else "quantized"
        return (f"this model's weights are stored {method}-quantized, which cannot be converted to GGUF; "
                "it keeps running through transformers")
    rope_type = rope_parameters(config).get("rope_type")
    if rope_type not in ROPE_TYPES:
        return (f"this model uses {rope_type!r} rotary scaling, which Fireside cannot describe to llama.cpp; "
                "it keeps running through transformers")
    for key in ("hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size"):
        if not isinstance(config.get(key), int):
            return f"config.json gives no {key}, so the model's shape is unknown"
    return None


def gguf_tensor_name(gguf_arch: str, block_count: int, hf_name: str) -> str | None:
    """The GGUF name of a transformers tensor (`model.layers.0.mlp.up_proj.weight` -> `blk.0.ffn_up.weight`),
    or None when llama.cpp has no such tensor."""
    import gguf

    if hf_name.endswith(IGNORED_SUFFIXES):
        return None
    arch = next(key for key, value in gguf.MODEL_ARCH_NAMES.items() if value == gguf_arch)
    return _name_map(arch, block_count).get_name(hf_name, try_suffixes=(".weight", ".bias"))


_name_maps: dict = {}


def _name_map(arch, block_count: int):
    import gguf

    key = (arch, block_count)
    if key not in _name_maps:
        _name_maps[key] = gguf.get_tensor_name_map(arch, block_count)
    return _name_maps[key]


def permute_rows(rows: np.ndarray, n_head: int) -> np.ndarray:
    """Reorder the rows (output features) of a query or key projection, weight or bias, from
    transformers' half-split rotary layout to llama.cpp's interleaved one, head by head."""
    head_dim = rows.shape[0] // n_head
    return (rows.reshape(n_head, 2, head_dim // 2, *rows.shape[1:])
            .swapaxes(1, 2)
            .reshape(rows.shape))


def rotary_heads(hf_name: str, n_head: int, n_head_kv: int) -> int | None:
    """How many heads to permute `hf_name` by for an architecture with `rotary_pairs`, or None."""
    if hf_name.endswith(("q_proj.weight", "q_proj.bias")):
        return n_head
    if hf_name.endswith(("k_proj.weight", "k_proj.bias")):
        return n_head_kv
    return None
