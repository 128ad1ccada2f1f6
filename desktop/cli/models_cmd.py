"""`fireside models list|import|remove|download`."""
from __future__ import annotations

import json
from pathlib import Path

from desktop.cli.common import stderr_progress
from desktop.format import human_count, human_size

EXPORT_QUANTS = ("Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0", "F16")


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

    prepare = actions.add_parser("prepare", help="check the bundled chat model and llama.cpp (done by the set-up)")
    prepare.set_defaults(func=prepare_models)

    remove = actions.add_parser("remove", help="remove a model from Fireside (bundled models stay)")
    remove.add_argument("name")
    remove.set_defaults(func=remove_model)

    export = actions.add_parser("export", help="write a chat model as one GGUF file (with an Ollama Modelfile) "
                                "for LM Studio, Ollama or llama.cpp")
    export.add_argument("name", help="the model's name, as `fireside models list` shows it")
    export.add_argument("--quant", default="Q4_K_M", choices=EXPORT_QUANTS,
                        help="quantization of the file (default: Q4_K_M)")
    export.add_argument("-o", "--output", type=Path, required=True, help="the .gguf file to write")
    export.set_defaults(func=export_model)


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
    from models.generation.llama_engine import available, describe

    freed = bundled.remove_legacy_cache()
    if freed:
        print(f"removed the float32 copy of {bundled.CHAT_NAME} made by an earlier version ({freed / 2**20:,.0f} MB)")
    path = bundled.chat_model_file()
    print(f"{bundled.CHAT_NAME} is ready ({path.name}, loaded in place)")
    problem = available()
    if problem:
        print(f"llama.cpp: not available ({problem}); chat runs through PyTorch")
    else:
        info = describe()
        print(f"llama.cpp {info['version']} ready (CPU: {' '.join(info['cpu_features']) or 'baseline'}"
              f"{'; GPU offload' if info['gpu_offload'] else ''})")
    return 0


def export_model(args) -> int:
    import sys

    from models.convert.export import export_registered
    from models.registry import Registry

    last_step = None

    def one_line_per_step(fraction: float, message: str) -> None:
        nonlocal last_step
        if message and message != last_step:
            last_step = message
            print(f"[{int(fraction * 100):3d}%] {message}", file=sys.stderr, flush=True)

    result = export_registered(Registry(), args.name, args.output, args.quant, settings=_default_chat_settings(),
                               progress=one_line_per_step)
    print(f"exported {args.name} as {result.gguf_file} ({result.quant}, {human_size(result.size_bytes)})")
    print(f"Ollama: ollama create NAME -f {result.modelfile}")
    for note in result.notes:
        print(f"note: {note}")
    return 0


def _default_chat_settings() -> dict:
    """Fireside's default sampling settings, which the Modelfile carries over to Ollama."""
    from models.chat.settings import ChatSettings

    return ChatSettings().to_dict()
