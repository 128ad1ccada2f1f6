"""`fireside classify`."""
from desktop.cli.common import not_built


def register(subparsers) -> None:
    parser = subparsers.add_parser("classify", help="(not available yet)")
    parser.set_defaults(func=not_built)
