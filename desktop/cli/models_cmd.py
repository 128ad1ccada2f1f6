"""`fireside models list|import|remove|download`."""
from __future__ import annotations

import json
from pathlib import Path

from desktop.cli.common import stderr_progress
from desktop.format import human_count, human_size


def register(subparsers) -> None:
    parser = subparsers.add_parser("models", help="list, import, download or remove models")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    listing = actions.add_parser("list", help="the registry, one model a line")
    listing.add_argument("--json", action="store_true", help="print the registry as JSON")
    listing.set_defaults(func=list_models)

    importing = actions.add_parser("import", help="add a Hugging Face model folder or a .gguf file")
    importing.add_argument("path", type=Path)
    importing.add_argument("--name", help="name in Fireside (default: the folder or file name)")
    importing.add_argument("--allow-pickle", action="store_true",
                           help="accept pickled .bin weights (they can run code when loaded)")
    importing.set_defaults(func=import_model)

    download = actions.add_parser("download", help="download a model by hub id (goes online)")
    download.add_argument("hub_id")
    download.add_argument("--name")
    download.set_defaults(func=download_model)

    prepare = actions.add_parser("prepare", help="convert the bundled chat model and compile the 4-bit kernel, once "
                                 "(done by the set-up)")
    prepare.set_defaults(func=prepare_models)

    remove = actions.add_parser("remove", help="remove a model from Fireside (bundled models stay)")
    remove.add_argument("name")
    remove.set_defaults(func=remove_model)


def list_models(args) -> int:
    from models.registry import Registry

    entries = Registry().list()
    if args.json:
        print(json.dumps([e.to_dict() for e in entries], indent=2))
        return 0
    print(f"{'NAME':34} {'KIND':10} {'ARCHITECTURE':28} {'PARAMS':>7} {'SIZE':>9}  SOURCE")
    for e in entries:
        print(f"{e.name:34} {e.kind:10} {e.architecture:28} {human_count(e.parameters):>7} "
              f"{human_size(e.size_bytes):>9}  {e.source}")
    return 0


def import_model(args) -> int:
    from models.registry import Registry

    registry = Registry()
    if args.path.suffix.lower() == ".gguf":
        entry = registry.import_gguf(args.path, name=args.name, progress=stderr_progress)
    else:
        entry = registry.import_folder(args.path, name=args.name, allow_pickle=args.allow_pickle)
    print(f"imported {entry.name} ({entry.kind}, {entry.architecture}, {human_count(entry.parameters)} parameters)")
    return 0


def download_model(args) -> int:
    from models.registry import Registry

    entry = Registry().download(args.hub_id, name=args.name)
    print(f"downloaded {entry.name} ({entry.kind})")
    return 0


def remove_model(args) -> int:
    from models.registry import Registry

    Registry().remove(args.name)
    print(f"removed {args.name}")
    return 0


def prepare_models(args) -> int:
    from models import bundled
    from models.generation import native_kernels

    if native_kernels.needs_build():
        print(native_kernels.BUILDING, flush=True)
        problem = native_kernels.build()
        print(problem or "4-bit kernel ready")
    if bundled.chat_cache_ready():
        print(f"{bundled.CHAT_NAME} is ready")
        return 0
    path = bundled.ensure_chat_model(stderr_progress)
    print(f"{bundled.CHAT_NAME} converted into {path}")
    return 0
