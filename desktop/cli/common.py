"""What every subcommand shares: user-facing errors as one line on stderr, progress on stderr."""
from __future__ import annotations

import sys

from desktop.store import StoreError
from models.errors import ModelError

USER_ERRORS = (ModelError, StoreError, FileNotFoundError, PermissionError, ValueError)


def run_command(args) -> int:
    try:
        return int(args.func(args) or 0)
    except USER_ERRORS as exc:
        print(f"fireside: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("fireside: interrupted", file=sys.stderr)
        return 130


def stderr_progress(fraction: float, text: str) -> None:
    """A progress line on stderr; redrawn in place on a terminal."""
    line = f"[{int(fraction * 100):3d}%] {text}"
    if sys.stderr.isatty():
        print("\r" + line.ljust(78), end="" if fraction < 1 else "\n", file=sys.stderr, flush=True)
    else:
        print(line, file=sys.stderr, flush=True)


def not_built(args) -> int:
    print(f"fireside {args.command}: not available yet in this version", file=sys.stderr)
    return 2
