"""Generation speed and quality against llama.cpp, on the default chat model, in one run.

    python -m pytest tests/benchmarks/bench_generation.py -s
    python tests/benchmarks/bench_generation.py [--quant int4,int4-torch,int8,none] [--threads 2] [--skip-quality]

llama.cpp runs through llama-cpp-python, which is not a dependency of Fireside: install it into its
own environment (`python -m venv llama-venv && llama-venv/bin/pip install llama-cpp-python`) and
point LLAMA_CPP_PYTHON at that environment's python. Without it the llama.cpp rows are skipped
and say so.

Both engines run in their own process (so peak memory is each one's own), with the same number
of threads, on the same token ids: a short chat prompt and a ~1,000-token one, greedy, 128 new
tokens at most, the key/value cache cleared before each measured run (no prompt reuse), after one
warm-up run. Time to first token (TTFT) counts from the call to the first token being chosen.
On a shared machine one run can be slowed by a neighbour, so the engines take turns for
`--rounds` rounds and each figure is the best of its rounds, with the range beside it.

A LoRA fine-tune of the default model (rank 16 on every linear layer, as the chat recipe makes
it) runs as the chat loads it, 4-bit base with the adapters apart, and as int8 merged weights.

Quality: greedy replies (32 tokens) of the quantized engine against full precision on a fixed set
of prompts, and perplexity on a text none of the models was tuned on (this project's README)
against transformers' float32 model.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[2]
NEW_TOKENS = 128

SHORT_PROMPT = "Write a long story about a lighthouse keeper who finds a message in a bottle."
QUALITY_PROMPTS = [
    "What is the capital of France?",
    "Explain photosynthesis to a ten-year-old.",
    "Give me three tips for a good night's sleep.",
    "Write a haiku about autumn leaves.",
    "What is the difference between a list and a tuple in Python?",
    "Translate 'good morning' into Spanish and German.",
    "Why is the sky blue?",
    "Suggest a name for a bakery that sells only bread.",
    "How do I boil an egg?",
    "Summarise the plot of Romeo and Juliet in two sentences.",
    "What are the planets of the solar system?",
    "Write a short thank-you note to a colleague.",
]

LLAMA_SCRIPT = r"""
import json, resource, sys, time
from llama_cpp import Llama
spec = json.loads(sys.stdin.read())
started = time.perf_counter()
llm = Llama(model_path=spec["gguf"], n_ctx=4096, n_threads=spec["threads"], n_threads_batch=spec["threads"],
            n_batch=512, verbose=False)
load_s = time.perf_counter() - started
rows = []
for name, ids in spec["prompts"].items():
    for measured in (False, True):
        llm.reset()
        began = time.perf_counter()
        first = None
        count = 0
        for token in llm.generate(ids, temp=0.0, top_k=1, repeat_penalty=1.0, reset=True):
            now = time.perf_counter()
            if first is None:
                first = now
            count += 1
            if token == llm.token_eos() or count >= spec["new_tokens"]:
                break
        end = time.perf_counter()
        if measured:
            rows.append({"prompt": name, "prompt_tokens": len(ids), "new_tokens": count, "ttft_s": first - began,
                         "tokens_per_s": (count - 1) / (end - first) if count > 1 else 0.0})
print(json.dumps({"load_s": load_s, "rows": rows,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def default_model_paths() -> tuple[Path, Path | None]:
    from models import bundled

    return bundled.ensure_chat_model(), bundled.locate().chat_gguf


def build_prompts(model_dir: Path) -> dict[str, list[int]]:
    from models.loading import load_tokenizer

    tokenizer = load_tokenizer(model_dir)

    def chat(text):
        ids = tokenizer.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True, tokenize=True)
        return list(ids["input_ids"] if hasattr(ids, "keys") else ids)

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    body = tokenizer.decode(tokenizer.encode(readme * 4, add_special_tokens=False)[:960])
    return {"short": chat(SHORT_PROMPT), "1k": chat(body + "\n\nSummarise the text above in three sentences.")}


def engine_scheme(quant: str) -> tuple[str, dict[str, str]]:
    """The precision and environment of a --quant entry: "int4-torch" is 4-bit weights on PyTorch's
    kernel instead of Fireside's own (the reference for what the native kernel gains)."""
    if quant == "int4-torch":
        return "int4", {"FIRESIDE_NATIVE_KERNELS": "0"}
    return quant, {}


# -- Fireside's engine, in its own process -----------------------------------------------------
def run_fireside(model_dir: Path, prompts: dict, quant: str, threads: int) -> dict:
    import resource
    import time

    from models.generation import GenerationSettings, Generator  # before torch: sets the OpenMP wait policy

    import torch

    torch.set_num_threads(threads)

    started = time.perf_counter()
    generator = Generator.load(model_dir, quantization=quant)
    load_s = time.perf_counter() - started
    settings = GenerationSettings(temperature=0, repetition_penalty=1.0, max_new_tokens=NEW_TOKENS)
    rows = []
    for name, ids in prompts.items():
        for measured in (False, True):
            generator.reset_cache()
            stats = generator.generate(ids, settings).stats
            if measured:
                rows.append({"prompt": name, "prompt_tokens": len(ids), "new_tokens": stats.new_tokens,
                             "ttft_s": stats.ttft_s, "tokens_per_s": stats.tokens_per_s})
    return {"load_s": load_s, "rows": rows, "backend": generator.backend,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_quality(model_dir: Path, quants: list[str], threads: int) -> dict:
    """Greedy agreement with full precision, and perplexity against transformers' float32 model."""
    import math

    from models.generation import GenerationSettings, Generator
    from models.loading import load_causal_lm

    import torch

    torch.set_num_threads(threads)

    model, tokenizer = load_causal_lm(model_dir, dtype=torch.float32)
    text_ids = tokenizer.encode((ROOT / "README.md").read_text(encoding="utf-8"), add_special_tokens=False)[:1024]
    ids = torch.tensor(text_ids)
    with torch.inference_mode():
        logits = model(ids[None]).logits[0]
    reference_ppl = math.exp(torch.nn.functional.cross_entropy(logits[:-1].float(), ids[1:]).item())

    # Prompts are read in chunks sized by how long the last chunk took, and a 4-bit matmul over a
    # different number of rows rounds differently: one chunk per prompt keeps the comparison
    # independent of the machine's load.
    from models.generation import backends

    backends.FIRST_CHUNK = backends.MIN_CHUNK = backends.MAX_CHUNK
    settings = GenerationSettings(temperature=0, repetition_penalty=1.0, max_new_tokens=32)
    full = Generator.load(model_dir, quantization="none")
    prompts = [full.chat_prompt_ids([{"role": "user", "content": p}]) for p in QUALITY_PROMPTS]
    reference = [full.generate(p, settings).text for p in prompts]
    result = {"reference_ppl": reference_ppl, "text_tokens": len(text_ids), "prompts": len(prompts), "quants": {}}
    for quant in quants:
        scheme, env = engine_scheme(quant)
        with mock.patch.dict(os.environ, env):
            generator = full if quant == "none" else Generator.load(model_dir, quantization=scheme)
        replies = [generator.generate(p, settings).text for p in prompts]
        decoder = generator.decoder
        decoder.release()
        with torch.inference_mode():
            scored = torch.cat([decoder.forward(ids[i:i + 256], i, all_positions=True) for i in range(0, len(ids), 256)])
        generator.reset_cache()
        ppl = math.exp(torch.nn.functional.cross_entropy(scored[:-1], ids[1:]).item())
        result["quants"][quant] = {"greedy_matches": sum(a == b for a, b in zip(replies, reference)), "ppl": ppl}
    return result


def make_lora_fine_tune(model_dir: Path, folder: Path) -> Path:
    """A LoRA fine-tune of the default model as a chat job writes it (merged weights plus the
    adapter folder), with the fine-tune recipe's rank and targets; random adapters, since speed
    does not depend on what they learnt."""
    import torch
    from peft import LoraConfig, get_peft_model

    from models.loading import load_causal_lm

    model, tokenizer = load_causal_lm(model_dir, dtype=torch.float32)
    tuned = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", lora_dropout=0.0))
    torch.manual_seed(0)
    with torch.no_grad():
        for name, parameter in tuned.named_parameters():
            if "lora_B" in name:
                parameter.normal_(std=1e-3)
    tuned.save_pretrained(str(folder / "adapter"))
    tuned.merge_and_unload().save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


# -- llama.cpp, through llama-cpp-python in its own environment -------------------------------
def llama_python() -> str | None:
    path = os.environ.get("LLAMA_CPP_PYTHON")
    return path if path and Path(path).exists() else None


def run_llama(python: str, gguf: Path, prompts: dict, threads: int) -> dict:
    spec = {"gguf": str(gguf), "prompts": prompts, "threads": threads, "new_tokens": NEW_TOKENS}
    done = subprocess.run([python, "-c", LLAMA_SCRIPT], input=json.dumps(spec), capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"llama-cpp-python failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def in_subprocess(*args: str, **extra_env: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), **extra_env)
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, timeout=1800, env=env, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip()[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the report -------------------------------------------------------------------------------
def best_of(rounds: list[dict]) -> dict:
    """One result from several rounds of the same engine: per prompt the highest tokens/s and the
    lowest time to first token, with each figure's range over the rounds."""
    best = dict(rounds[0], rows=[], load_s=min(r["load_s"] for r in rounds), peak_mb=max(r["peak_mb"] for r in rounds))
    for index, row in enumerate(rounds[0]["rows"]):
        speeds = [r["rows"][index]["tokens_per_s"] for r in rounds]
        firsts = [r["rows"][index]["ttft_s"] for r in rounds]
        best["rows"].append(dict(row, tokens_per_s=max(speeds), ttft_s=min(firsts),
                                 speed_range=(min(speeds), max(speeds)), ttft_range=(min(firsts), max(firsts))))
    return best


def table(results: dict[str, dict]) -> str:
    lines = [f"{'engine':<22}{'prompt':>7}{'prompt tok':>11}{'new tok':>8}{'tok/s':>9}{'(range)':>14}{'TTFT ms':>9}"
             f"{'(range)':>14}{'peak MB':>9}{'load s':>8}"]
    for engine, result in results.items():
        for row in result["rows"]:
            low, high = row.get("speed_range", (row["tokens_per_s"],) * 2)
            first, last = row.get("ttft_range", (row["ttft_s"],) * 2)
            lines.append(f"{engine:<22}{row['prompt']:>7}{row['prompt_tokens']:>11}{row['new_tokens']:>8}"
                         f"{row['tokens_per_s']:>9.1f}{f'({low:.0f}-{high:.0f})':>14}{row['ttft_s'] * 1000:>9.0f}"
                         f"{f'({first * 1000:.0f}-{last * 1000:.0f})':>14}{result['peak_mb']:>9.0f}{result['load_s']:>8.2f}")
    reference = results.get("llama.cpp Q4_1")
    if reference:
        lines.append("")
        lines.append("ratios against llama.cpp (tok/s: higher is better; TTFT: lower is better)")
        by_prompt = {row["prompt"]: row for row in reference["rows"]}
        for engine, result in results.items():
            if result is reference:
                continue
            for row in result["rows"]:
                ref = by_prompt[row["prompt"]]
                lines.append(f"{engine:<22}{row['prompt']:>7}  tok/s x{row['tokens_per_s'] / ref['tokens_per_s']:.2f}"
                             f"   TTFT x{row['ttft_s'] / ref['ttft_s']:.2f}")
    return "\n".join(lines)


def benchmark(quants: list[str], threads: int, quality: bool = True, lora: bool = True, rounds: int = 3) -> str:
    # Both engines use OpenMP; both get the wait policy Fireside chooses for itself (or the one
    # given in the environment), see models/__init__.py.
    import models  # noqa: F401
    model_dir, gguf = default_model_paths()
    prompts = build_prompts(model_dir)
    runs: dict[str, object] = {}
    python = llama_python()
    notes = []
    if python and gguf:
        runs["llama.cpp Q4_1"] = lambda: run_llama(python, gguf, prompts, threads)
    else:
        notes.append("llama.cpp: skipped (set LLAMA_CPP_PYTHON to the python of an environment with llama-cpp-python)")
    for quant in quants:
        scheme, env = engine_scheme(quant)
        runs[f"fireside {quant}"] = lambda scheme=scheme, env=env: in_subprocess(
            "--engine", str(model_dir), scheme, str(threads), **env)
    with tempfile.TemporaryDirectory() as scratch:
        if lora:
            tuned = make_lora_fine_tune(model_dir, Path(scratch) / "tuned")
            for quant, label in (("auto", "LoRA auto (4-bit+ad.)"), ("int8", "LoRA int8 merged")):
                runs[label] = lambda quant=quant: in_subprocess("--engine", str(tuned), quant, str(threads),
                                                                "--prompts", str(model_dir))
        measured: dict[str, list[dict]] = {name: [] for name in runs}
        for _ in range(rounds):
            for name, run in runs.items():
                measured[name].append(run())
    results = {name: best_of(rounds_of) for name, rounds_of in measured.items()}
    report = [f"threads: {threads}, new tokens: {NEW_TOKENS} (greedy), cache cleared before each run, best of {rounds} "
              f"rounds, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')} GOMP_SPINCOUNT={os.environ.get('GOMP_SPINCOUNT', '-')}",
              table(results)]
    if quality:
        q = in_subprocess("--quality", str(model_dir), ",".join(x for x in quants), str(threads))
        report.append("")
        report.append(f"quality: perplexity on {q['text_tokens']} tokens of README.md, transformers float32: {q['reference_ppl']:.3f}")
        for quant, row in q["quants"].items():
            change = 100 * (row["ppl"] / q["reference_ppl"] - 1)
            report.append(f"  {quant:<5} perplexity {row['ppl']:.3f} ({change:+.2f}%), greedy 32 tokens equal to full "
                          f"precision in {row['greedy_matches']}/{q['prompts']} prompts")
    return "\n".join(report + notes)


def test_generation_benchmark():
    print()
    print(benchmark(os.environ.get("BENCH_QUANTS", "int4,int4-torch,int8,none").split(","), int(os.environ.get("BENCH_THREADS", "2"))))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--engine":
        model_dir, quant, threads = argv[1], argv[2], int(argv[3])
        prompts_from = argv[5] if len(argv) > 5 and argv[4] == "--prompts" else model_dir
        print(json.dumps(run_fireside(Path(model_dir), build_prompts(Path(prompts_from)), quant, threads)))
        return 0
    if argv and argv[0] == "--quality":
        print(json.dumps(run_quality(Path(argv[1]), argv[2].split(","), int(argv[3]))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quant", default="int4,int4-torch,int8,none",
                        help="int4-torch: 4-bit weights on PyTorch's kernel instead of Fireside's own")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-lora", action="store_true", help="leave out the LoRA fine-tune's rows")
    parser.add_argument("--rounds", type=int, default=3, help="the engines take turns this many times; best of each")
    args = parser.parse_args(argv)
    print(benchmark(args.quant.split(","), args.threads, quality=not args.skip_quality, lora=not args.skip_lora,
                    rounds=args.rounds))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
