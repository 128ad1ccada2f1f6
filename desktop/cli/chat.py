"""`fireside chat` (ask, continue, list, search, import conversations) and `fireside export`."""
from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from desktop.store.conversation_export import FORMATS
from models.chat.settings import PRESETS

SAVE_EVERY_S = 0.5  # a streaming reply reaches the database at least this often


def register(subparsers) -> None:
    chat = subparsers.add_parser(
        "chat", help="ask a local model; the answer streams to stdout and the conversation is saved",
        description="Ask a local chat model. The answer streams to stdout and is saved as a conversation "
                    "that the app shows too.")
    chat.add_argument("prompt", nargs="?", help="what to ask ('-' reads it from standard input)")
    chat.add_argument("--conversation", "-c", type=int, metavar="ID", help="continue conversation ID")
    chat.add_argument("--model", "-m", help="chat model name (default: the conversation's, else the bundled one)")
    chat.add_argument("--system", help="system prompt (saved with the conversation)")
    chat.add_argument("--preset", choices=list(PRESETS), help="sampling preset")
    chat.add_argument("--temperature", type=float, help="0 means greedy decoding")
    chat.add_argument("--top-p", type=float)
    chat.add_argument("--top-k", type=int)
    chat.add_argument("--max-new-tokens", type=int)
    chat.add_argument("--repetition-penalty", type=float)
    chat.add_argument("--seed", type=int)
    chat.add_argument("--json", action="store_true",
                      help="print one JSON object (reply, model, token counts, speed, conversation_id) instead of the stream")
    chat.add_argument("--list", action="store_true", help="list saved conversations, most recent first")
    chat.add_argument("--search", metavar="WORDS", help="list conversations whose messages contain WORDS")
    chat.add_argument("--import", dest="import_file", type=Path, metavar="FILE",
                      help="add a conversation from a JSON file (Fireside export or an OpenAI messages list)")
    chat.set_defaults(func=run_chat)

    export = subparsers.add_parser("export", help="write a conversation as Markdown or JSON")
    export.add_argument("id", type=int, help="conversation id (see `fireside chat --list`)")
    export.add_argument("--format", choices=FORMATS, default="md", help="md (default) or json (OpenAI messages)")
    export.add_argument("--output", "-o", type=Path, help="file to write (default: standard output)")
    export.set_defaults(func=run_export)


def run_export(args) -> int:
    from desktop.store import open_database
    from desktop.store.conversation_export import export

    db = open_database()
    text = export(db, args.id, args.format)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def run_chat(args) -> int:
    from desktop.store import conversations as store
    from desktop.store import open_database

    db = open_database()
    store.recover_interrupted(db)
    if args.list or args.search is not None:
        return list_conversations(db, args)
    if args.import_file:
        from desktop.store.conversation_export import import_json

        conversation_id = import_json(db, args.import_file.read_text(encoding="utf-8"))
        print(f"imported conversation {conversation_id}")
        return 0
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    if not prompt or not prompt.strip():
        raise ValueError('nothing to send: give a prompt, e.g. fireside chat "Hello"')
    return ask(db, args, prompt)


def list_conversations(db, args) -> int:
    from desktop.store import conversations as store

    found = store.search_conversations(db, args.search) if args.search else store.list_conversations(db)
    if args.json:
        print(json.dumps(found, indent=2, ensure_ascii=False))
        return 0
    if not found:
        print("no conversations" + (f" mention {args.search!r}" if args.search else " yet"), file=sys.stderr)
        return 0
    print(f"{'ID':>5}  {'UPDATED':16}  TITLE")
    for c in found:
        print(f"{c['id']:>5}  {c['updated'][:16].replace('T', ' ')}  {c['title']}")
        if c.get("snippet"):
            print(f"{'':>5}  {'':16}  {c['snippet']}")
    return 0


def chosen_settings(args, stored: dict | None):
    from models.chat import ChatSettings
    from models.chat.settings import preset

    settings = ChatSettings.from_dict(stored)
    if args.preset:
        settings = preset(args.preset, settings)
    changes = {name: getattr(args, name) for name in
               ("temperature", "top_p", "top_k", "max_new_tokens", "repetition_penalty", "seed")
               if getattr(args, name) is not None}
    return settings.with_values(**changes) if changes else settings


def ask(db, args, prompt: str) -> int:
    from desktop.store import conversations as store
    from models.registry import Registry

    registry = Registry()
    conversation = None
    if args.conversation is not None:
        conversation = store.get_conversation(db, args.conversation)
        if conversation is None:
            raise ValueError(f"no conversation with id {args.conversation} (see `fireside chat --list`)")
    model = args.model or (conversation or {}).get("model") or registry.default("chat").name
    registry.get(model)  # an unknown name fails here, before anything is written
    settings = chosen_settings(args, (conversation or {}).get("settings"))
    system = args.system if args.system is not None else (conversation or {}).get("system_prompt", "")

    if conversation is None:
        conversation_id = store.create_conversation(db, system_prompt=system, model=model, settings=settings.to_dict())
    else:
        conversation_id = conversation["id"]
        store.update_conversation(db, conversation_id, system_prompt=system, model=model, settings=settings.to_dict())
    question_id = store.add_user_message(db, conversation_id, prompt)
    reply_id = store.start_reply(db, conversation_id, question_id, model)
    history = store.prompt_messages(db, conversation_id, reply_id)
    return stream_reply(db, args, registry, model, settings, conversation_id, reply_id, history)


def stream_reply(db, args, registry, model, settings, conversation_id, reply_id, history) -> int:
    from desktop.cli.common import stderr_progress
    from desktop.store import conversations as store
    from desktop.store.settings import prompt_lookup
    from models.chat import ModelSlot, respond

    try:
        generator = ModelSlot(registry, speculative=prompt_lookup(db)).load(model, progress=stderr_progress)
    except Exception as exc:
        message = f"{model} could not be loaded: {exc}"
        store.add_notice(db, reply_id, message)
        store.finish_reply(db, reply_id, "", "error")
        print(f"fireside: {message}", file=sys.stderr)
        return 1

    pieces: list[str] = []
    last_save = time.monotonic()

    def on_text(text: str) -> None:
        nonlocal last_save
        pieces.append(text)
        if not args.json:
            sys.stdout.write(text)
            sys.stdout.flush()
        if time.monotonic() - last_save >= SAVE_EVERY_S:
            store.save_partial(db, reply_id, "".join(pieces))
            last_save = time.monotonic()

    def on_notice(text: str) -> None:
        store.add_notice(db, reply_id, text)
        print(f"note: {text}", file=sys.stderr)

    try:
        reply = respond(generator, history, settings, on_text=on_text, on_notice=on_notice)
    except KeyboardInterrupt:
        store.finish_reply(db, reply_id, "".join(pieces), "stopped")
        print("\nfireside: stopped; the partial reply is saved", file=sys.stderr)
        return 130
    except Exception as exc:
        store.finish_reply(db, reply_id, "".join(pieces), "error")
        store.add_notice(db, reply_id, f"The reply failed: {exc}")
        raise
    stats = asdict(reply.stats)
    store.finish_reply(db, reply_id, reply.text, "stopped" if reply.stopped else "complete", stats)
    if args.json:
        print(json.dumps({
            "reply": reply.text, "model": reply.stats.model, "prompt_tokens": reply.stats.prompt_tokens,
            "new_tokens": reply.stats.new_tokens, "ttft_s": round(reply.stats.ttft_s, 4),
            "tokens_per_s": round(reply.stats.tokens_per_s, 2), "total_s": round(reply.stats.total_s, 3),
            "stop_reason": reply.stats.stop_reason, "conversation_id": conversation_id, "message_id": reply_id,
            "notices": reply.notices,
        }, ensure_ascii=False))
    else:
        if not reply.text.endswith("\n"):
            sys.stdout.write("\n")
        s = reply.stats
        print(f"[{s.model} · {s.new_tokens} tokens · {s.tokens_per_s:.1f} tok/s · first token {s.ttft_s:.2f} s · "
              f"conversation {conversation_id}]", file=sys.stderr)
    return 0
