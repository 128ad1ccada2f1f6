"""Conversations into token ids with the loss on the assistant's tokens only.

The model's own chat template renders the conversation. The assistant's part of turn i is the
text between the rendering of messages[:i] with the generation prompt and the rendering of
messages[:i+1]; tokens whose characters fall there get labels, all others get -100. Templates
that are not prefix-consistent fall back to tokenizing each turn's piece separately.
"""
from __future__ import annotations

IGNORE = -100


def render_chat(tokenizer, messages: list[dict], add_generation_prompt: bool = False) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)


def assistant_spans(tokenizer, messages: list[dict]) -> tuple[str, list[tuple[int, int]]]:
    """(full text, character spans of the assistant replies), or spans=None when not prefix-consistent."""
    full = render_chat(tokenizer, messages)
    spans = []
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before = render_chat(tokenizer, messages[:index], add_generation_prompt=True) if index else ""
        after = render_chat(tokenizer, messages[: index + 1])
        if not full.startswith(after) or not after.startswith(before):
            return full, None
        spans.append((len(before), len(after)))
    return full, spans


def tokenize_chat(tokenizer, messages: list[dict], max_length: int) -> dict:
    """{"input_ids", "attention_mask", "labels"} with labels only on assistant tokens."""
    full, spans = assistant_spans(tokenizer, messages)
    if spans is not None and getattr(tokenizer, "is_fast", False):
        encoded = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
        ids = encoded["input_ids"]
        labels = []
        for token_id, (start, end) in zip(ids, encoded["offset_mapping"]):
            inside = any(start >= s and end <= e and end > start for s, e in spans)
            labels.append(token_id if inside else IGNORE)
    else:
        ids, labels = [], []
        previous = ""
        for index, message in enumerate(messages):
            text = render_chat(tokenizer, messages[: index + 1])
            piece = text[len(previous):] if text.startswith(previous) else text
            piece_ids = tokenizer(piece, add_special_tokens=False)["input_ids"]
            ids.extend(piece_ids)
            labels.extend(piece_ids if message["role"] == "assistant" else [IGNORE] * len(piece_ids))
            previous = text
    ids, labels = ids[:max_length], labels[:max_length]
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels}


def prompt_messages(messages: list[dict]) -> tuple[list[dict], str]:
    """(the conversation up to its last assistant reply, that reply): a held-out generation prompt."""
    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    return messages[:last], messages[last]["content"]
