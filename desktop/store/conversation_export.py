"""A conversation as Markdown or as JSON in the OpenAI `messages` format, and back from that JSON."""
from __future__ import annotations

import json

from desktop.store import conversations as store
from desktop.store.db import Database

FORMATS = ("md", "json")
_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


def _conversation(db: Database, conversation_id: int) -> dict:
    conversation = store.get_conversation(db, conversation_id)
    if conversation is None:
        raise ValueError(f"no conversation with id {conversation_id} (see `fireside chat --list`)")
    return conversation


def _shown(message: dict) -> bool:
    return not (message["role"] == "assistant" and message["status"] == "error" and not message["content"])


def to_json(db: Database, conversation_id: int) -> dict:
    conversation = _conversation(db, conversation_id)
    messages = [{"role": m["role"], "content": m["content"]}
                for m in store.active_messages(db, conversation_id) if _shown(m)]
    return {
        "title": conversation["title"], "model": conversation["model"], "created": conversation["created"],
        "settings": conversation["settings"], "messages": messages,
    }


def to_markdown(db: Database, conversation_id: int) -> str:
    conversation = _conversation(db, conversation_id)
    lines = [f"# {conversation['title']}", ""]
    details = [f"Created {conversation['created'][:16].replace('T', ' ')} UTC"]
    if conversation["model"]:
        details.append(f"model {conversation['model']}")
    lines += ["*" + " · ".join(details) + "*", ""]
    for message in store.active_messages(db, conversation_id):
        if not _shown(message):
            continue
        if message["role"] == "system":
            heading = "System prompt"
        elif message["role"] == "user":
            heading = "You"
        else:
            heading = "Assistant" + (f" ({message['model']})" if message.get("model") else "")
            if message["status"] in ("stopped", "interrupted"):
                heading += f" — {message['status']}"
        lines += [f"## {heading}", "", message["content"].rstrip(), ""]
    return "\n".join(lines)


def export(db: Database, conversation_id: int, fmt: str) -> str:
    if fmt == "md":
        return to_markdown(db, conversation_id)
    if fmt == "json":
        return json.dumps(to_json(db, conversation_id), indent=2, ensure_ascii=False) + "\n"
    raise ValueError(f"unknown export format {fmt!r} (choose md or json)")


def _content_text(content, index: int) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts: keep the text ones
        parts = [p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        return "".join(parts)
    raise ValueError(f"message {index + 1}: content must be text")


def parse_messages(data) -> tuple[list[dict], dict]:
    """(messages, metadata) from an exported file's JSON, or a bare OpenAI `messages` list."""
    meta = {}
    if isinstance(data, dict):
        meta = data
        data = data.get("messages")
    if not isinstance(data, list) or not data:
        raise ValueError("not a conversation: expected a JSON object with a non-empty \"messages\" list")
    messages = []
    for index, item in enumerate(data):
        if not isinstance(item, dict) or "role" not in item:
            raise ValueError(f"message {index + 1}: expected an object with \"role\" and \"content\"")
        role = _ROLES.get(item["role"])
        if role is None:
            raise ValueError(f"message {index + 1}: unknown role {item['role']!r}")
        messages.append({"role": role, "content": _content_text(item.get("content") or "", index)})
    return messages, meta


def import_json(db: Database, text: str, title: str | None = None) -> int:
    """A new conversation from exported JSON; nothing is written when the file is not valid."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    messages, meta = parse_messages(data)
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    turns = [m for m in messages if m["role"] != "system"]
    if not turns:
        raise ValueError("not a conversation: it has no user or assistant messages")
    first_user = next((m["content"] for m in turns if m["role"] == "user"), "")
    name = title or (meta.get("title") if isinstance(meta.get("title"), str) else None) or store.title_from(first_user)
    model = meta.get("model") if isinstance(meta.get("model"), str) else None
    settings = meta.get("settings") if isinstance(meta.get("settings"), dict) else None
    with db.transaction():
        conversation_id = store.create_conversation(db, name, system_prompt=system, model=model, settings=settings)
        for message in turns:
            store.add_message(db, conversation_id, message["role"], message["content"],
                              model=model if message["role"] == "assistant" else None)
    return conversation_id
