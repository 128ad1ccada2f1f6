"""Tiny models built from a config, for unit tests that must not wait for real weights."""
from __future__ import annotations

import shutil
from pathlib import Path

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")


def copy_encoder_tokenizer(target: Path) -> None:
    from models.bundled import encoder_dir

    source = encoder_dir()
    for name in TOKENIZER_FILES:
        if (source / name).exists():
            shutil.copy(source / name, target / name)


def make_tiny_causal_lm(folder: Path, vocab_size: int = 30522) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=256)
    LlamaForCausalLM(config).save_pretrained(folder)
    copy_encoder_tokenizer(folder)
    return folder


def make_tiny_chat_model(folder: Path, template: str | None) -> Path:
    """A tiny causal LM (as make_tiny_causal_lm) with `template` as its chat template, or none."""
    folder.mkdir(parents=True, exist_ok=True)
    make_tiny_causal_lm(folder)
    if template:
        (folder / "chat_template.jinja").write_text(template, encoding="utf-8")
    return folder


def make_tiny_bert(folder: Path, num_labels: int | None = None) -> Path:
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertModel

    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    if num_labels:
        config.num_labels = num_labels
        BertForSequenceClassification(config).save_pretrained(folder)
    else:
        BertModel(config).save_pretrained(folder)
    copy_encoder_tokenizer(folder)
    return folder
