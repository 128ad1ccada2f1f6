"""Fit a conversation into the model's context window.

The newest message always goes in. When the whole history does not fit, the oldest turns are left
out (the system prompt stays); when the newest message alone is too long (a pasted book), its middle
is cut out so the model reads its beginning and its end. Each of these yields a notice for the user.
"""
from __future__ import annotations

from dataclasses import dataclass, field

# Room kept for the reply: the requested max new tokens, but never more than half the context.
MAX_REPLY_SHARE = 0.5
# A pasted text is cut to this many characters per token of room before it is tokenized, so a
# megabyte paste costs a fraction of a second instead of tokenizing all of it.
CHARS_PER_TOKEN_CEILING = 16
TAIL_SHARE = 0.25  # of a shortened message, the share kept from its end (the question is often there)
MAX_TAIL_TOKENS = 512
CUT_MARK = "\n\n[…]\n\n"


@dataclass
class FittedPrompt:
    prompt_ids: list[int]
    messages: list[dict]  # what the model sees, after leaving out and shortening
    max_new_tokens: int  # the requested number, lowered if the context has less room
    dropped_messages: int = 0
    shortened: bool = False  # the newest message was cut to fit
    notices: list[str] = field(default_factory=list)


def prompt_ids(generator, messages: list[dict]) -> list[int]:
    """Token ids for `messages`, through the tokenizer's own chat template when it has one.

    Base models without a template get a plain "User: / Assistant:" transcript, so any causal
    language model can still be chatted with.
    """
    tokenizer = generator.tokenizer
    if getattr(tokenizer, "chat_template", None):
        return generator.chat_prompt_ids(messages)
    lines = []
    for message in messages:
        lines.append(f"{message['role'].capitalize()}: {message['content']}")
    text = "\n\n".join(lines) + "\n\nAssistant:"
    ids = tokenizer.encode(text, add_special_tokens=False)
    bos = getattr(tokenizer, "bos_token_id", None)
    return ([bos] if bos is not None else []) + list(ids)


def _token_count(generator, text: str) -> int:
    return len(generator.tokenizer.encode(text, add_special_tokens=False))


def shorten_text(generator, text: str, max_tokens: int, keep_tail: bool = True) -> tuple[str, int, int]:
    """Cut `text` to about `max_tokens` tokens, keeping its beginning and (optionally) its end.

    Returns (text, head_tokens, tail_tokens); text that already fits comes back unchanged.
    """
    tokenizer = generator.tokenizer
    max_tokens = max(int(max_tokens), 1)
    limit_chars = max_tokens * CHARS_PER_TOKEN_CEILING
    if len(text) > limit_chars:
        tail_chars = int(limit_chars * TAIL_SHARE) if keep_tail else 0
        text = text[: limit_chars - tail_chars] + (text[-tail_chars:] if tail_chars else "")
    ids = tokenizer.encode(text, add_special_tokens=False)
    if len(ids) <= max_tokens:
        return text, len(ids), 0
    tail = min(int(max_tokens * TAIL_SHARE), MAX_TAIL_TOKENS) if keep_tail else 0
    head = max_tokens - tail
    shortened = tokenizer.decode(ids[:head])
    if tail:
        shortened += CUT_MARK + tokenizer.decode(ids[-tail:])
    return shortened, head, tail


def _room_for_prompt(context_length: int, max_new_tokens: int) -> int:
    return context_length - min(max_new_tokens, int(context_length * MAX_REPLY_SHARE))


def fit_prompt(generator, messages: list[dict], max_new_tokens: int) -> FittedPrompt:
    """Choose what of `messages` the model reads. The last message is the one to answer."""
    if not messages:
        raise ValueError("nothing to answer: the conversation is empty")
    context = generator.context_length
    room = _room_for_prompt(context, max_new_tokens)
    messages = [{"role": m["role"], "content": m["content"]} for m in messages]
    notices: list[str] = []
    head = messages[:1] if messages[0]["role"] == "system" else []
    rest = messages[len(head):]
    if not rest:
        raise ValueError("nothing to answer: the conversation has only a system prompt")
    history, last = rest[:-1], rest[-1]

    if head:
        head, notice = _fit_system_prompt(generator, head[0], room // 2)
        notices += notice

    shortened = False
    ids = None
    if len(last["content"]) <= room * CHARS_PER_TOKEN_CEILING:  # else it cannot fit: skip tokenizing it whole
        ids = prompt_ids(generator, head + [last])
    if ids is None or len(ids) > room:
        # Even alone the newest message does not fit: cut its middle, and no history goes in.
        last, ids, notice = _shorten_last(generator, head, last, room)
        notices += notice
        shortened, dropped = True, len(history)
    else:
        dropped = _oldest_to_drop(generator, head, history, last, room, len(ids))

    seen = head + history[dropped:] + [last]
    if history[dropped:]:
        ids = prompt_ids(generator, seen)
    if dropped:
        notices.insert(0, (
            f"The {dropped} oldest message{'s were' if dropped != 1 else ' was'} left out: the conversation "
            f"no longer fits the model's context of {context:,} tokens"
            + ("; the system prompt was kept." if head else ".")
        ))
    return FittedPrompt(
        prompt_ids=ids, messages=seen, max_new_tokens=max(1, min(max_new_tokens, context - len(ids))),
        dropped_messages=dropped, shortened=shortened, notices=notices,
    )


def _fit_system_prompt(generator, system: dict, system_room: int) -> tuple[list[dict], list[str]]:
    empty = len(prompt_ids(generator, [{"role": "system", "content": ""}]))
    if empty + _token_count(generator, system["content"]) <= system_room:
        return [system], []
    text, kept, _ = shorten_text(generator, system["content"], system_room - empty, keep_tail=False)
    notice = (f"The system prompt ({len(system['content']):,} characters) is longer than half the model's "
              f"context; the model read its first {kept:,} tokens.")
    return [{"role": "system", "content": text}], [notice]


def _shorten_last(generator, head, last, room) -> tuple[dict, list[int], list[str]]:
    content = last["content"]
    overhead = len(prompt_ids(generator, head + [{"role": last["role"], "content": ""}]))
    target = room - overhead - 8
    for _ in range(5):
        text, kept_head, kept_tail = shorten_text(generator, content, max(target, 1))
        ids = prompt_ids(generator, head + [{"role": last["role"], "content": text}])
        if len(ids) <= room or target <= 1:
            break
        target -= len(ids) - room + 8
    read = f"its first {kept_head:,} and last {kept_tail:,} tokens" if kept_tail else f"its first {kept_head:,} tokens"
    notice = (f"Your message ({len(content):,} characters) is longer than the model's context of "
              f"{generator.context_length:,} tokens allows; the model read {read}.")
    return {"role": last["role"], "content": text}, ids, [notice]


def _oldest_to_drop(generator, head, history, last, room, base_tokens) -> int:
    """How many of the oldest history messages to leave out so the rest fits in `room`."""
    if not history:
        return 0
    full = len(prompt_ids(generator, head + history + [last]))
    if full <= room:
        return 0
    # Estimate from per-message token counts, then check with the real template.
    per_message = max(1, (full - base_tokens - sum(_token_count(generator, m["content"]) for m in history)) // len(history))
    costs = [_token_count(generator, m["content"]) + per_message for m in history]
    total, drop = full, 0
    while total > room and drop < len(history):
        total -= costs[drop]
        drop += 1
    while True:
        # Start the kept history at a user turn so templates that insist on alternation accept it.
        while drop < len(history) and history[drop]["role"] != "user":
            drop += 1
        if drop >= len(history):
            return len(history)
        if len(prompt_ids(generator, head + history[drop:] + [last])) <= room:
            return drop
        drop += 1
