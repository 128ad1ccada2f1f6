"""`fireside serve`: the local OpenAI-compatible API in the foreground, until Ctrl+C."""
from __future__ import annotations

import argparse
import os
import sys

from desktop.server.config import DEFAULT_HOST, DEFAULT_MAX_BODY_BYTES, DEFAULT_PORT


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "serve", help="serve the models to other programs over the OpenAI API",
        description="Serve Fireside's models over the OpenAI API (GET /v1/models, POST /v1/chat/completions, "
                    "/v1/completions, /v1/embeddings, /v1/classify). Listens on this computer only unless "
                    "--host says otherwise, which needs an API key.",
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 = any free port)")
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    parser.add_argument("--api-key", default=os.environ.get("FIRESIDE_API_KEY"),
                        help="require 'Authorization: Bearer KEY' on every request (default: $FIRESIDE_API_KEY); "
                             "needed for any address other than this computer's own")
    parser.add_argument("--device", default="auto", help="cpu, cuda, mps or auto (default)")
    parser.add_argument("--prompt-lookup", action=argparse.BooleanOptionalAction,
                        help="speculative decoding by prompt lookup for chat models: faster replies that repeat "
                             "their prompt, the same text (default: the Models page's choice, else off)")
    parser.add_argument("--record", action="store_true", help="keep the conversations in Fireside's history")
    parser.add_argument("--max-body-mb", type=float, default=DEFAULT_MAX_BODY_BYTES / 2**20,
                        help="largest request body accepted, in MB (default %(default)g)")
    parser.add_argument("--quiet", action="store_true", help="do not print a line per request")
    parser.set_defaults(func=serve)


def serve(args) -> int:
    from desktop.server import ServerConfig, ServerController, ServerError
    from desktop.store import open_database
    from desktop.store.settings import prompt_lookup

    db = open_database()
    config = ServerConfig(host=args.host, port=args.port, api_key=args.api_key, device=args.device,
                          record=args.record, max_body_bytes=int(args.max_body_mb * 2**20),
                          speculative=prompt_lookup(db) if args.prompt_lookup is None else args.prompt_lookup)
    try:
        config.check()
    except ServerError as exc:
        print(f"fireside serve: {exc}", file=sys.stderr)
        return 2
    controller = ServerController(db=db)
    if not args.quiet:
        controller.log.subscribe(lambda record: print(record.line(), file=sys.stderr, flush=True))

    def ready(address: str) -> None:
        key = " (API key required)" if config.api_key else ""
        print(f"Fireside API listening on {address}{key}; press Ctrl+C to stop.", flush=True)

    try:
        controller.serve_forever(config, on_ready=ready)
    except ServerError as exc:
        print(f"fireside serve: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # uvicorn shut down gracefully, then passed Ctrl+C on
        pass
    print("Fireside API stopped.", file=sys.stderr)
    return 0
