"""Token lengths of rows with a model's own tokenizer (any Hugging Face tokenizer object).

Chat rows are measured as the model will see them: through its chat template when it has one.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Sequence

from models.datasets.rows import row_text

CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "n_ctx", "max_sequence_length", "seq_length")
BATCH = 512


def context_length_from_config(config: dict) -> int | None:
    for key in CONTEXT_KEYS:
        value = config.get(key)
        if isinstance(value, int) and value > 0:
            return value
    text_config = config.get("text_config")
    return context_length_from_config(text_config) if isinstance(text_config, dict) else None


def model_context_length(model_folder: Path) -> int | None:
    """The longest input the model takes, from its config.json or its GGUF header (None when it
    does not say)."""
    from models.errors import ModelError
    from models.generation.loaders import gguf_files
    from models.gguf_check import read_header

    try:
        gguf_file = gguf_files(Path(model_folder))[0]
    except ModelError:
        gguf_file = None
    if gguf_file is not None:
        try:
            return read_header(gguf_file).context_length
        except ModelError:
            return None
    try:
        config = json.loads((Path(model_folder) / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return context_length_from_config(config)


def _render(rows: Sequence[dict], tokenizer) -> tuple[list[str], bool]:
    """The texts to tokenize, and whether they already hold the special tokens (chat template)."""
    if rows and "messages" in rows[0] and getattr(tokenizer, "chat_template", None):
        return [tokenizer.apply_chat_template(row["messages"], tokenize=False) for row in rows], True
    return [row_text(row) for row in rows], False


def token_lengths(rows: Sequence[dict], tokenizer, progress: Callable[[float, str], None] | None = None,
                  cancelled: Callable[[], bool] | None = None) -> list[int]:
    """One length per row; stops early (returning what it has) when `cancelled()` turns true."""
    lengths: list[int] = []
    for start in range(0, len(rows), BATCH):
        if cancelled and cancelled():
            break
        texts, templated = _render(rows[start:start + BATCH], tokenizer)
        encoded = tokenizer(texts, add_special_tokens=not templated, return_attention_mask=False,
                            return_token_type_ids=False, verbose=False)
        lengths += [len(ids) for ids in encoded["input_ids"]]
        if progress:
            done = min(start + BATCH, len(rows))
            progress(done / max(len(rows), 1), f"Counting tokens: {done:,} of {len(rows):,} rows")
    return lengths
