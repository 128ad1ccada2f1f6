"""`fireside doctor`: versions, accelerators, the data home, and whether the default models load."""
from __future__ import annotations

import json
import time

from desktop.cli.common import stderr_progress


def register(subparsers) -> None:
    parser = subparsers.add_parser("doctor", help="check the installation and load the default models")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=doctor)


def check_default_models() -> list[dict]:
    from models.generation import GenerationSettings, Generator
    from models.loading import load_encoder
    from models.registry import Registry

    registry = Registry()
    results = []
    for kind in ("chat", "encoder"):
        result = {"kind": kind}
        try:
            entry = registry.default(kind)
            result["name"] = entry.name
            started = time.perf_counter()
            path = registry.local_path(entry, stderr_progress)
            result["prepare_s"] = round(time.perf_counter() - started, 2)
            started = time.perf_counter()
            if kind == "chat":
                generator = Generator.load(path, name=entry.name)
                result["load_s"] = round(time.perf_counter() - started, 2)
                result["engine"] = generator.backend
                result["precision"] = generator.precision
                ids = generator.chat_prompt_ids([{"role": "user", "content": "Say hello."}])
                reply = generator.generate(ids, GenerationSettings(temperature=0, max_new_tokens=8))
                result["sample"] = reply.text
                result["tokens_per_s"] = round(reply.stats.tokens_per_s, 1)
            else:
                import torch

                model, tokenizer = load_encoder(path)
                result["load_s"] = round(time.perf_counter() - started, 2)
                with torch.inference_mode():
                    out = model(**tokenizer(["hello world"], return_tensors="pt"))
                result["embedding_dim"] = int(out.last_hidden_state.shape[-1])
            result["ok"] = True
        except Exception as exc:  # doctor reports every failure instead of stopping
            result["ok"] = False
            result["error"] = str(exc)
        results.append(result)
    return results


def doctor(args) -> int:
    from models.devices import machine_report
    from models.home import data_home

    started = time.perf_counter()
    report = machine_report()
    report["import_s"] = round(time.perf_counter() - started, 2)
    report["data_home"] = str(data_home())
    report["models"] = check_default_models()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"Python        {report['python']}  ({report['platform']})")
        print(f"torch         {report['torch']}   transformers {report['transformers']}")
        print(f"CUDA          {'yes, ' + str(report['cuda_version']) if report['cuda_available'] else 'no'}")
        for gpu in report["gpus"]:
            print(f"  GPU {gpu['index']}       {gpu['name']}, {gpu['memory_gb']} GB")
        print(f"MPS           {'yes' if report['mps_available'] else 'no'}")
        print(f"CPU threads   {report['cpu_threads']}")
        llama = report["llama_cpp"]
        if llama["available"]:
            print(f"llama.cpp     {llama['version']}, CPU features {' '.join(llama['cpu_features']) or 'baseline'}, "
                  f"GPU offload {'yes' if llama['gpu_offload'] else 'no'}")
        else:
            print(f"llama.cpp     not available: {llama['reason']}. GGUF chat models run through PyTorch (slower)")
        print(f"Data home     {report['data_home']}")
        for m in report["models"]:
            if m["ok"]:
                detail = f"loaded in {m['load_s']} s"
                if m["kind"] == "chat":
                    detail += (f" on {m['engine']} ({m['precision']}), {m['tokens_per_s']} tokens/s, "
                               f"said {m['sample']!r}")
                else:
                    detail += f", embedding size {m['embedding_dim']}"
                print(f"{m['kind']:13} {m['name']}: OK, {detail}")
            else:
                print(f"{m['kind']:13} {m.get('name', '?')}: FAILED, {m['error']}")
    return 0 if all(m["ok"] for m in report["models"]) else 1
