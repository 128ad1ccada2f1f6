"""Response bodies in the OpenAI shapes, and server-sent event framing."""
from __future__ import annotations

import json
import time
import uuid

from desktop import __version__

SYSTEM_FINGERPRINT = f"fireside-{__version__}"
SSE_DONE = "data: [DONE]\n\n"


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def now() -> int:
    return int(time.time())


def usage(prompt_tokens: int, completion_tokens: int = 0) -> dict:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def embedding_usage(prompt_tokens: int) -> dict:
    return {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}


def sse(payload: dict) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False, separators=(',', ':'))}\n\n"


def chat_completion(id_: str, created: int, model: str, text: str, finish_reason: str, usage_: dict) -> dict:
    return {
        "id": id_, "object": "chat.completion", "created": created, "model": model,
        "system_fingerprint": SYSTEM_FINGERPRINT,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None,
                     "finish_reason": finish_reason}],
        "usage": usage_,
    }


def chat_chunk(id_: str, created: int, model: str, delta: dict | None, finish_reason: str | None = None,
               usage_: dict | None = None) -> dict:
    chunk = {"id": id_, "object": "chat.completion.chunk", "created": created, "model": model,
             "system_fingerprint": SYSTEM_FINGERPRINT, "choices": []}
    if delta is not None:
        chunk["choices"] = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]
    if usage_ is not None:
        chunk["usage"] = usage_
    return chunk


def text_completion(id_: str, created: int, model: str, choices: list[tuple[str, str]], usage_: dict) -> dict:
    return {
        "id": id_, "object": "text_completion", "created": created, "model": model,
        "system_fingerprint": SYSTEM_FINGERPRINT,
        "choices": [{"index": i, "text": text, "logprobs": None, "finish_reason": finish}
                    for i, (text, finish) in enumerate(choices)],
        "usage": usage_,
    }


def text_chunk(id_: str, created: int, model: str, index: int | None, text: str = "",
               finish_reason: str | None = None, usage_: dict | None = None) -> dict:
    chunk = {"id": id_, "object": "text_completion", "created": created, "model": model,
             "system_fingerprint": SYSTEM_FINGERPRINT, "choices": []}
    if index is not None:
        chunk["choices"] = [{"index": index, "text": text, "logprobs": None, "finish_reason": finish_reason}]
    if usage_ is not None:
        chunk["usage"] = usage_
    return chunk


def model_object(entry) -> dict:
    """One registry entry as an OpenAI model object, plus Fireside's own details."""
    from datetime import datetime

    try:
        created = int(datetime.fromisoformat(entry.created).timestamp()) if entry.created else 0
    except ValueError:
        created = 0
    return {
        "id": entry.name, "object": "model", "created": created, "owned_by": "fireside",
        "kind": entry.kind, "architecture": entry.architecture, "parameters": entry.parameters,
        "source": entry.source, "labels": entry.labels or None,
    }
