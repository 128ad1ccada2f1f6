"""`fireside finetune`."""
from desktop.cli.common import not_built


def register(subparsers) -> None:
    parser = subparsers.add_parser("finetune", help="(not available yet)")
    parser.set_defaults(func=not_built)
