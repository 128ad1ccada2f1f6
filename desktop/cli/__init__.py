"""`fireside`: no arguments opens the window; subcommands work headless.

Each subcommand lives in its own module with a `register(subparsers)` function that sets
`func(args) -> int` on its parser.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from desktop import __version__

COMMAND_MODULES = (
    "desktop.cli.models_cmd",
    "desktop.cli.doctor",
    "desktop.cli.chat",
    "desktop.cli.classify",
    "desktop.cli.dataset",
    "desktop.cli.finetune",
    "desktop.cli.serve",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fireside", description="Local language models: chat, classify, fine-tune. No arguments opens the app."
    )
    parser.add_argument("--version", action="version", version=f"fireside {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        from desktop.app import run_gui

        return run_gui()
    from models.home import force_offline

    force_offline()
    from desktop.cli.common import run_command

    return run_command(args)
