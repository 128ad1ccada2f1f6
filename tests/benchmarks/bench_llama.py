"""Fireside's chat engine against bare llama-cpp-python, as ratios measured in the same run.

    python -m pytest tests/benchmarks/bench_llama.py -s             # all four parts
    python -m pytest tests/benchmarks/bench_llama.py -s -k decode   # one part: decode, command, import, lookup

Both sides get the same GGUF, the same prompt token ids, the same context
(models.generation.llama_engine.DEFAULT_CONTEXT) and the same threads (the number Fireside picks
for itself, default_threads()). The models are the bundled SmolLM2-135M (Q4_1) and a random-weight
1.7B Llama in Q4_K_M (tests/benchmarks/random_gguf.py; built once, then cached).

decode   tokens/s (greedy, 128 new tokens after a short chat prompt) and time to first token for
         that prompt and a ~1,000-token one, key/value cache cleared before every run. Bare side:
         `Llama(path, n_ctx, n_threads, n_threads_batch, verbose=False)` + `llm.generate(ids, temp=0)`;
         Fireside: `Generator.load(path)` + `generator.generate(ids, ...)` and its own stats.
command  the whole `fireside chat --json --temperature 0 --max-new-tokens 64 --model NAME PROMPT`
         (a fresh process: start-up, database, load, prompt, 64 tokens) against a bare script doing
         the same (import llama_cpp, load, chat template, 64 tokens, print JSON): wall time and the
         child's peak resident memory.
import   `fireside models import FILE`: wall time, peak memory, bytes written into the data home;
         `fireside models list` in the same home is the reference for the CLI's own start-up.
lookup   prompt lookup (Generator.load(path, speculative=True)) against plain decoding on a
         "rewrite this paragraph" prompt: tokens/s, and whether the greedy text is identical.

The machine may be shared: the sides take turns, each measurement of one side right after the same
measurement of the other (the order flips every round). Each figure is the best of its rounds, with
its range beside it; each ratio is given twice: the ratio of the two bests, and the median (and
range) of the round-by-round ratios, whose two figures met the same load. Speed is never asserted:
the tables show the ratios next to the targets. Results also go to a JSON file.

Environment:
    FIRESIDE_BENCH_MODELS      bundled,1.7b (default) or either one
    FIRESIDE_BENCH_ROUNDS      rounds per comparison (default 3)
    FIRESIDE_BENCH_OUT         the JSON file (default: fireside-bench-llama-<time>.json in the temp folder)
    FIRESIDE_BENCH_CACHE       where the 1.7B file is kept (default ~/.cache/fireside-bench)
    FIRESIDE_BENCH_BARE_FLASH  1: the bare side uses flash attention too (Fireside always does)
    FIRESIDE_BENCH_LOOKUP_PENALTIES  repetition penalties of the lookup part (default 1.0,1.1)
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import pytest

import models  # noqa: F401 - first: it chooses the OpenMP wait policy that llama.cpp's threads use
from models.generation.llama_engine import DEFAULT_CONTEXT, default_threads

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = int(os.environ.get("FIRESIDE_BENCH_ROUNDS", "3"))
MODELS = [m.strip() for m in os.environ.get("FIRESIDE_BENCH_MODELS", "bundled,1.7b").split(",") if m.strip()]
BARE_FLASH = os.environ.get("FIRESIDE_BENCH_BARE_FLASH", "") == "1"
LOOKUP_PENALTIES = [float(p) for p in os.environ.get("FIRESIDE_BENCH_LOOKUP_PENALTIES", "1.0,1.1").split(",")]
THREADS = default_threads()
TIME_V = "/usr/bin/time" if Path("/usr/bin/time").is_file() else None

DECODE_TOKENS = 128
LONG_PROMPT_TOKENS = 1000
LONG_NEW_TOKENS = 16  # after the long prompt only the first token is the point
COMMAND_TOKENS = 64
IMPORTED_NAME = "bench-{}"

TARGETS = {
    "decode": ">= 0.95x",
    "ttft": "<= 1.1x",
    "command": "<= 1.5x",
    "memory": "<= bare + 500 MB",
    "import_s": "<= 5 s",
    "import_mb": "<= 500 MB",
    "import_written": "<= 1 MB",
}

SHORT_PROMPT = "Write a long story about a lighthouse keeper who finds a message in a bottle."
COMMAND_PROMPT = "Write a short story about a lighthouse keeper."
PARAGRAPH = (
    "The old lighthouse stood at the end of a narrow spit of rock, and for sixty years its lamp had turned "
    "every night without fail. The keeper, a quiet man named Elias, climbed the hundred and twelve steps each "
    "evening at dusk, trimmed the wick, polished the great lens and wrote the weather in a leather book. Ships "
    "passed far out on the grey water, and he never knew their names, but he liked to think that some sailor "
    "looked up, saw the light sweep across the waves and felt a little less alone. In winter the storms threw "
    "spray against the windows of the lamp room, and the whole tower hummed in the wind like a struck bell. "
    "In summer the gulls nested on the ledges below, and children from the village rowed out to bring him "
    "bread, apples and news. When the lighthouse was finally automated, Elias stayed on in the cottage beside "
    "it, still climbing the steps every evening out of habit, just to watch the lamp come on by itself."
)
REWRITE_PROMPT = ("Rewrite the following paragraph exactly as it is, but call the keeper Tobias instead of Elias "
                  "and change nothing else:\n\n" + PARAGRAPH)

RATIO_HEADER = ["ratio of bests", "paired ratio: median (range)"]

RESULTS: dict = {}


# -- small helpers --------------------------------------------------------------------------------
@dataclass
class Run:
    ttft_s: float
    tokens_per_s: float
    new_tokens: int
    text: str


def spread(values: list[float], higher_is_better: bool) -> dict:
    """Best of the rounds, and the range they covered."""
    return {"best": max(values) if higher_is_better else min(values), "low": min(values), "high": max(values),
            "rounds": values}


def take_turns(pairs: dict[str, dict[str, Callable[[], dict]]], rounds: int = ROUNDS) -> dict[str, dict[str, list]]:
    """Every round runs each pair's two sides back to back (so both figures of a pair meet the same
    load), the order of the sides flipped every other round. Returns {pair: {side: [one per round]}}."""
    results = {pair: {side: [] for side in sides} for pair, sides in pairs.items()}
    for index in range(rounds):
        for pair, sides in pairs.items():
            names = list(sides) if index % 2 == 0 else list(sides)[::-1]
            for side in names:
                results[pair][side].append(sides[side]())
    return results


def column(results: list[dict], key: str, higher_is_better: bool) -> dict:
    return spread([r[key] for r in results], higher_is_better)


def paired(ours: list[dict], reference: list[dict], key: str) -> dict:
    """ours / reference round by round (each pair measured back to back): median and range."""
    values = [a[key] / b[key] for a, b in zip(ours, reference)]
    return {"median": statistics.median(values), "low": min(values), "high": max(values), "rounds": values}


def ratio_cells(best: float, pairs: dict) -> list[str]:
    return [f"{best:.2f}x", f"{pairs['median']:.2f}x ({pairs['low']:.2f}-{pairs['high']:.2f})"]


def shown(value: dict, scale: float = 1.0, digits: int = 1) -> str:
    return (f"{value['best'] * scale:.{digits}f} "
            f"({value['low'] * scale:.{digits}f}-{value['high'] * scale:.{digits}f})")


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(row[i])) for row in [header] + rows) for i in range(len(header))]
    print(f"\n{title}")
    for row in [header] + rows:
        print("  " + "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)))


def load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def output_path() -> Path:
    given = os.environ.get("FIRESIDE_BENCH_OUT")
    if given:
        return Path(given)
    return Path(tempfile.gettempdir()) / f"fireside-bench-llama-{time.strftime('%Y%m%d-%H%M%S')}.json"


# -- the two engines, in this process -------------------------------------------------------------
class BareLlama:
    """llama-cpp-python as its README shows it."""

    def __init__(self, path: Path):
        import llama_cpp
        from llama_cpp import Llama

        started = time.perf_counter()
        extra = {"flash_attn": True} if BARE_FLASH else {}
        self.llm = Llama(model_path=str(path), n_ctx=DEFAULT_CONTEXT, n_threads=THREADS, n_threads_batch=THREADS,
                         verbose=False, **extra)
        self.load_s = time.perf_counter() - started
        vocab = llama_cpp.llama_model_get_vocab(self.llm.model)
        self.end_ids = {i for i in range(self.llm.n_vocab()) if llama_cpp.llama_vocab_is_eog(vocab, i)}

    def run(self, ids: list[int], new_tokens: int, penalty: float = 1.0) -> Run:
        self.llm.reset()  # cold: nothing of the previous prompt is reused
        out: list[int] = []
        began = time.perf_counter()
        first = None
        for token in self.llm.generate(ids, temp=0.0, repeat_penalty=penalty):
            if first is None:
                first = time.perf_counter()
            out.append(token)  # as Fireside counts: the end token is a new token too
            if token in self.end_ids or len(out) >= new_tokens:
                break
        end = time.perf_counter()
        text = self.llm.detokenize([t for t in out if t not in self.end_ids]).decode("utf-8", errors="replace")
        return Run(ttft_s=first - began, tokens_per_s=(len(out) - 1) / (end - first) if len(out) > 1 else 0.0,
                   new_tokens=len(out), text=text)

    def close(self) -> None:
        self.llm.close()


class Fireside:
    """Fireside's Generator, as the chat loads it."""

    def __init__(self, path: Path, speculative: bool = False):
        from models.generation import Generator

        started = time.perf_counter()
        self.generator = Generator.load(path, device="cpu", speculative=speculative)
        self.load_s = time.perf_counter() - started
        assert self.generator.backend == "llama.cpp", self.generator.backend
        assert self.generator.context_length == DEFAULT_CONTEXT, self.generator.context_length

    def run(self, ids: list[int], new_tokens: int, penalty: float = 1.0) -> Run:
        from models.generation import GenerationSettings

        self.generator.reset_cache()
        settings = GenerationSettings(temperature=0, max_new_tokens=new_tokens, repetition_penalty=penalty)
        result = self.generator.generate(ids, settings)
        s = result.stats
        return Run(ttft_s=s.ttft_s, tokens_per_s=s.tokens_per_s, new_tokens=s.new_tokens, text=result.text)

    def chat_ids(self, text: str) -> list[int]:
        return self.generator.chat_prompt_ids([{"role": "user", "content": text}])

    def close(self) -> None:
        self.generator.close()


def long_prompt_ids(engine: Fireside) -> list[int]:
    """About LONG_PROMPT_TOKENS tokens: the start of this project's README and a request about it."""
    tokenizer = engine.generator.tokenizer
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    body_ids = tokenizer.encode(text * 4, add_special_tokens=False)[: LONG_PROMPT_TOKENS - 40]
    return engine.chat_ids(tokenizer.decode(body_ids) + "\n\nSummarise the text above in three sentences.")


# -- fixtures -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model_files() -> dict[str, Path]:
    from models import bundled

    known = {"bundled": bundled.chat_model_file}
    if "1.7b" in MODELS:
        from random_gguf import random_gguf

        known["1.7b"] = random_gguf
    unknown = [m for m in MODELS if m not in known]
    if unknown:
        raise ValueError(f"FIRESIDE_BENCH_MODELS: unknown {unknown} (known: bundled, 1.7b)")
    return {name: Path(known[name]()) for name in MODELS}


@pytest.fixture(scope="module", autouse=True)
def results_file():
    import llama_cpp

    RESULTS["setup"] = {
        "llama_cpp_python": llama_cpp.__version__, "threads": THREADS, "n_ctx": DEFAULT_CONTEXT, "rounds": ROUNDS,
        "models": MODELS, "bare_flash_attn": BARE_FLASH, "cpus": os.cpu_count(),
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"), "GOMP_SPINCOUNT": os.environ.get("GOMP_SPINCOUNT"),
        "load_average_start": load_average(), "targets": TARGETS,
    }
    print(f"\nthreads {THREADS}, n_ctx {DEFAULT_CONTEXT}, best of {ROUNDS} rounds, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}, load average {load_average()}, "
          f"bare flash attention: {'on' if BARE_FLASH else 'off (llama-cpp-python default)'}; Fireside: on")
    yield
    RESULTS["setup"]["load_average_end"] = load_average()
    path = output_path()
    path.write_text(json.dumps(RESULTS, indent=2), encoding="utf-8")
    print(f"\nresults written to {path}")


# -- decode and time to first token ---------------------------------------------------------------
def measure_decode(path: Path) -> dict:
    fireside, bare = Fireside(path), BareLlama(path)
    try:
        prompts = {"short": (fireside.chat_ids(SHORT_PROMPT), DECODE_TOKENS),
                   "1k": (long_prompt_ids(fireside), LONG_NEW_TOKENS)}
        engines = {"bare": bare, "fireside": fireside}
        for engine in engines.values():  # warm-up: the weights paged in, the threads started
            engine.run(prompts["short"][0], 8)

        def run(engine, ids, n):
            return lambda: asdict(engine.run(ids, n))

        rounds = take_turns({prompt: {side: run(engine, ids, n) for side, engine in engines.items()}
                             for prompt, (ids, n) in prompts.items()})
        return {"prompt_tokens": {name: len(ids) for name, (ids, _) in prompts.items()},
                "load_s": {"bare": bare.load_s, "fireside": fireside.load_s}, "rounds": rounds}
    finally:
        fireside.close()
        bare.close()


def decode_summary(measured: dict) -> dict:
    summary = {"prompt_tokens": measured["prompt_tokens"], "load_s": measured["load_s"]}
    for prompt, sides in measured["rounds"].items():
        for side, runs in sides.items():
            summary[f"{side}_{prompt}"] = {
                "tokens_per_s": column(runs, "tokens_per_s", True), "ttft_s": column(runs, "ttft_s", False),
                "new_tokens": [r["new_tokens"] for r in runs], "text": runs[-1]["text"]}
        bare, ours = summary[f"bare_{prompt}"], summary[f"fireside_{prompt}"]
        summary[f"ratio_{prompt}"] = {
            "tokens_per_s": ours["tokens_per_s"]["best"] / bare["tokens_per_s"]["best"],
            "ttft": ours["ttft_s"]["best"] / bare["ttft_s"]["best"], "same_text": ours["text"] == bare["text"],
            "tokens_per_s_paired": paired(sides["fireside"], sides["bare"], "tokens_per_s"),
            "ttft_paired": paired(sides["fireside"], sides["bare"], "ttft_s")}
    return summary


def decode_rows(model: str, s: dict) -> list[list[str]]:
    rows = []
    for prompt, new_tokens in (("short", DECODE_TOKENS), ("1k", LONG_NEW_TOKENS)):
        bare, ours, ratio = s[f"bare_{prompt}"], s[f"fireside_{prompt}"], s[f"ratio_{prompt}"]
        tokens = f"{s['prompt_tokens'][prompt]} prompt tok"
        same = f"{'yes' if ratio['same_text'] else 'NO'} ({max(bare['new_tokens'])}/{max(ours['new_tokens'])} tok)"
        rows.append([model, tokens, f"decode tok/s, {new_tokens} new", shown(bare["tokens_per_s"]),
                     shown(ours["tokens_per_s"]), *ratio_cells(ratio["tokens_per_s"], ratio["tokens_per_s_paired"]),
                     TARGETS["decode"] if prompt == "short" else "-", same])
        rows.append([model, tokens, "TTFT ms", shown(bare["ttft_s"], 1000, 0), shown(ours["ttft_s"], 1000, 0),
                     *ratio_cells(ratio["ttft"], ratio["ttft_paired"]), TARGETS["ttft"], ""])
    rows.append([model, "", "load s (once)", f"{s['load_s']['bare']:.2f}", f"{s['load_s']['fireside']:.2f}",
                 f"{s['load_s']['fireside'] / s['load_s']['bare']:.2f}x", "", "-", ""])
    return rows


def test_decode_and_ttft(model_files):
    rows = []
    RESULTS["decode"] = {}
    for model, path in model_files.items():
        summary = decode_summary(measure_decode(path))
        RESULTS["decode"][model] = summary
        rows += decode_rows(model, summary)
    print_table(f"decode and time to first token: Fireside against bare llama-cpp-python (best of {ROUNDS}, range)",
                ["model", "prompt", "measure", "bare", "Fireside", *RATIO_HEADER, "target",
                 "same greedy text (new tok)"], rows)
    if not BARE_FLASH:
        print("  (the bare side runs llama-cpp-python's default, flash attention off, and Fireside's on: their "
              "arithmetic differs, so greedy texts can fork at a near tie; FIRESIDE_BENCH_BARE_FLASH=1 aligns them)")


# -- the whole `fireside chat --json` command -------------------------------------------------------
BARE_CHAT_SCRIPT = r"""
import json, sys, time
import llama_cpp
from llama_cpp import Llama
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

spec = json.loads(sys.argv[1])
llm = Llama(model_path=spec["model"], n_ctx=spec["n_ctx"], n_threads=spec["threads"],
            n_threads_batch=spec["threads"], verbose=False, **spec["extra"])
special = lambda token: llm.detokenize([token], special=True).decode("utf-8", errors="replace")
formatter = Jinja2ChatFormatter(llm.metadata["tokenizer.chat_template"], eos_token=special(llm.token_eos()),
                                bos_token=special(llm.token_bos()), add_generation_prompt=True)
prompt = formatter(messages=[{"role": "user", "content": spec["prompt"]}]).prompt
ids = llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
vocab = llama_cpp.llama_model_get_vocab(llm.model)
out, began, first = [], time.perf_counter(), None
for token in llm.generate(ids, temp=0.0, repeat_penalty=spec["repetition_penalty"]):
    first = first or time.perf_counter()
    out.append(token)
    if llama_cpp.llama_vocab_is_eog(vocab, token) or len(out) >= spec["new_tokens"]:
        break
end = time.perf_counter()
print(json.dumps({"reply": llm.detokenize(out).decode("utf-8", errors="replace"), "prompt_tokens": len(ids),
                  "new_tokens": len(out), "ttft_s": first - began,
                  "tokens_per_s": (len(out) - 1) / (end - first) if len(out) > 1 else 0.0}))
"""


def measure_command(argv: list[str], env: dict) -> dict:
    """Wall time, peak resident memory and standard output of one command, run to its end."""
    if TIME_V:
        return _measure_with_time(argv, env)
    return _measure_with_psutil(argv, env)


def shorter(argv: list[str]) -> str:
    return " ".join(a if len(a) < 60 else a[:57] + "..." for a in argv[1:])


def _measure_with_time(argv, env) -> dict:
    started = time.perf_counter()
    done = subprocess.run([TIME_V, "-v", *argv], capture_output=True, text=True, env=env, cwd=ROOT, timeout=1800)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{shorter(argv)} failed:\n{done.stderr[-3000:]}")
    line = next(l for l in done.stderr.splitlines() if "Maximum resident set size" in l)
    return {"wall_s": wall, "peak_mb": int(line.rsplit(":", 1)[1]) / 1024, "stdout": done.stdout,
            "memory_method": "/usr/bin/time -v (largest process of the tree)"}


def _measure_with_psutil(argv, env) -> dict:
    import psutil

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        child = subprocess.Popen(argv, stdout=out, stderr=err, text=True, env=env, cwd=ROOT)
        peak = 0
        watched = psutil.Process(child.pid)
        while child.poll() is None:
            try:
                tree = [watched] + watched.children(recursive=True)
                peak = max(peak, sum(p.memory_info().rss for p in tree))
            except psutil.Error:
                pass
            time.sleep(0.02)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        if child.returncode != 0:
            raise RuntimeError(f"{shorter(argv)} failed:\n{err.read()[-3000:]}")
        return {"wall_s": wall, "peak_mb": peak / 2**20, "stdout": out.read(),
                "memory_method": "psutil, resident memory of the tree polled every 20 ms"}


def cli_env(home: Path) -> dict:
    return dict(os.environ, FIRESIDE_HOME=str(home), PYTHONPATH=str(ROOT))


def import_model(home: Path, path: Path, name: str) -> dict:
    return measure_command([sys.executable, "-m", "desktop", "models", "import", str(path), "--name", name],
                           cli_env(home))


@pytest.fixture(scope="module")
def chat_home(tmp_path_factory, model_files) -> tuple[Path, dict[str, str]]:
    """A data home where the 1.7B file is imported; the names to ask `fireside chat` for."""
    from models import bundled

    home = tmp_path_factory.mktemp("chat-home")
    names = {}
    for model, path in model_files.items():
        if model == "bundled":
            names[model] = bundled.CHAT_NAME
        else:
            names[model] = IMPORTED_NAME.format(model)
            import_model(home, path, names[model])
    return home, names


def command_runs(home: Path, name: str, path: Path) -> dict[str, Callable[[], dict]]:
    from models.chat import ChatSettings

    fireside = [sys.executable, "-m", "desktop", "chat", "--json", "--temperature", "0",
                "--max-new-tokens", str(COMMAND_TOKENS), "--model", name, COMMAND_PROMPT]
    spec = {"model": str(path), "n_ctx": DEFAULT_CONTEXT, "threads": THREADS, "prompt": COMMAND_PROMPT,
            "new_tokens": COMMAND_TOKENS, "repetition_penalty": ChatSettings().repetition_penalty,
            "extra": {"flash_attn": True} if BARE_FLASH else {}}
    bare = [sys.executable, "-c", BARE_CHAT_SCRIPT, json.dumps(spec)]

    def run(argv):
        def go():
            measured = measure_command(argv, cli_env(home))
            reply = json.loads(measured.pop("stdout").strip().splitlines()[-1])
            return dict(measured, **{k: reply[k] for k in ("prompt_tokens", "new_tokens", "ttft_s", "tokens_per_s")},
                        reply=reply["reply"])
        return go

    return {"bare": run(bare), "fireside": run(fireside)}


def command_rows(model: str, s: dict) -> list[list[str]]:
    bare, ours = s["bare"], s["fireside"]
    info = (f"prompt {ours['prompt_tokens'][0]}/{bare['prompt_tokens'][0]} tok, "
            f"new {ours['new_tokens'][0]}/{bare['new_tokens'][0]}")
    return [
        [model, "wall s", shown(bare["wall_s"], digits=2), shown(ours["wall_s"], digits=2),
         *ratio_cells(s["ratio_wall"], s["ratio_wall_paired"]), TARGETS["command"], info],
        [model, "peak MB", shown(bare["peak_mb"], digits=0), shown(ours["peak_mb"], digits=0),
         f"{s['extra_mb']:+.0f} MB", "", TARGETS["memory"], s["memory_method"]],
        [model, "inner tok/s", shown(bare["tokens_per_s"]), shown(ours["tokens_per_s"]),
         f"{ours['tokens_per_s']['best'] / bare['tokens_per_s']['best']:.2f}x", "", "-", "as each side reports it"],
        [model, "inner TTFT ms", shown(bare["ttft_s"], 1000, 0), shown(ours["ttft_s"], 1000, 0),
         f"{ours['ttft_s']['best'] / bare['ttft_s']['best']:.2f}x", "", "-", ""],
    ]


def command_summary(rounds: dict[str, list[dict]]) -> dict:
    summary = {}
    for side, runs in rounds.items():
        summary[side] = {"wall_s": column(runs, "wall_s", False), "peak_mb": column(runs, "peak_mb", False),
                         "tokens_per_s": column(runs, "tokens_per_s", True), "ttft_s": column(runs, "ttft_s", False),
                         "prompt_tokens": [r["prompt_tokens"] for r in runs],
                         "new_tokens": [r["new_tokens"] for r in runs], "reply": runs[-1]["reply"]}
    summary["ratio_wall"] = summary["fireside"]["wall_s"]["best"] / summary["bare"]["wall_s"]["best"]
    summary["ratio_wall_paired"] = paired(rounds["fireside"], rounds["bare"], "wall_s")
    summary["extra_mb"] = summary["fireside"]["peak_mb"]["best"] - summary["bare"]["peak_mb"]["best"]
    summary["same_reply"] = summary["fireside"]["reply"] == summary["bare"]["reply"]
    summary["memory_method"] = rounds["bare"][0]["memory_method"]
    return summary


def test_whole_chat_command(model_files, chat_home):
    home, names = chat_home
    rows = []
    RESULTS["command"] = {}
    for model, path in model_files.items():
        runs = command_runs(home, names[model], path)
        for run in runs.values():  # warm-up: the file in the page cache for both
            run()
        summary = command_summary(take_turns({"command": runs})["command"])
        RESULTS["command"][model] = summary
        rows += command_rows(model, summary)
    print_table(f"`fireside chat --json --max-new-tokens {COMMAND_TOKENS}` against a bare llama-cpp-python script, "
                f"each a fresh process (best of {ROUNDS}, range)",
                ["model", "measure", "bare", "Fireside", *RATIO_HEADER, "target", "notes"], rows)


# -- importing a GGUF -----------------------------------------------------------------------------
def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def import_round(path: Path, name: str) -> dict:
    """In a fresh data home: `models list` (the reference, and the database made), then the import."""
    home = Path(tempfile.mkdtemp(prefix="fireside-import-"))
    try:
        listed = measure_command([sys.executable, "-m", "desktop", "models", "list"], cli_env(home))
        before = folder_bytes(home)
        imported = import_model(home, path, name)
        written = folder_bytes(home) - before
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return {"list_wall_s": listed["wall_s"], "list_peak_mb": listed["peak_mb"], "wall_s": imported["wall_s"],
            "peak_mb": imported["peak_mb"], "written_bytes": written, "memory_method": imported["memory_method"]}


def test_import(model_files):
    rows = []
    RESULTS["import"] = {}
    for model, path in model_files.items():
        runs = [import_round(path, IMPORTED_NAME.format(model)) for _ in range(ROUNDS)]
        summary = {key: column(runs, key, False) for key in ("wall_s", "peak_mb", "list_wall_s", "list_peak_mb",
                                                             "written_bytes")}
        summary["file_bytes"] = path.stat().st_size
        summary["memory_method"] = runs[0]["memory_method"]
        RESULTS["import"][model] = summary
        size = f"{path.stat().st_size / 1e9:.2f} GB file"
        rows += [
            [model, size, "wall s", shown(summary["list_wall_s"], digits=2), shown(summary["wall_s"], digits=2),
             TARGETS["import_s"]],
            [model, size, "peak MB", shown(summary["list_peak_mb"], digits=0), shown(summary["peak_mb"], digits=0),
             TARGETS["import_mb"]],
            [model, size, "bytes written", "-", shown(summary["written_bytes"], digits=0), TARGETS["import_written"]],
        ]
    print_table(f"`fireside models import FILE` (reference: `fireside models list`, the CLI's own start-up; best of "
                f"{ROUNDS}, range; memory: {runs[0]['memory_method']})",
                ["model", "file", "measure", "models list", "models import", "target"], rows)


# -- prompt lookup --------------------------------------------------------------------------------
def measure_lookup(path: Path, penalty: float) -> dict:
    plain, lookup = Fireside(path), Fireside(path, speculative=True)
    try:
        ids = plain.chat_ids(REWRITE_PROMPT)
        new_tokens = len(plain.generator.tokenizer.encode(PARAGRAPH, add_special_tokens=False)) + 32
        engines = {"plain": plain, "lookup": lookup}
        for engine in engines.values():
            engine.run(ids, 8, penalty)
        rounds = take_turns({"rewrite": {name: (lambda e=engine: asdict(e.run(ids, new_tokens, penalty)))
                                         for name, engine in engines.items()}})["rewrite"]
    finally:
        plain.close()
        lookup.close()
    texts = {r["text"] for runs in rounds.values() for r in runs}
    summary = {side: {"tokens_per_s": column(runs, "tokens_per_s", True),
                      "new_tokens": [r["new_tokens"] for r in runs]} for side, runs in rounds.items()}
    summary.update(prompt_tokens=len(ids), identical=len(texts) == 1, reply=rounds["plain"][-1]["text"],
                   ratio=summary["lookup"]["tokens_per_s"]["best"] / summary["plain"]["tokens_per_s"]["best"],
                   ratio_paired=paired(rounds["lookup"], rounds["plain"], "tokens_per_s"))
    return summary


def test_prompt_lookup(model_files):
    rows = []
    RESULTS["lookup"] = {}
    for model, path in model_files.items():
        for penalty in LOOKUP_PENALTIES:
            s = measure_lookup(path, penalty)
            RESULTS["lookup"][f"{model} penalty {penalty}"] = s
            new = f"{max(s['plain']['new_tokens'])}/{max(s['lookup']['new_tokens'])}"
            rows.append([model, f"{penalty:g}", f"{s['prompt_tokens']}", new,
                         shown(s["plain"]["tokens_per_s"]), shown(s["lookup"]["tokens_per_s"]),
                         *ratio_cells(s["ratio"], s["ratio_paired"]), "yes" if s["identical"] else "NO"])
    print_table(f"prompt lookup on a 'rewrite this paragraph' prompt, greedy (tok/s, best of {ROUNDS}, range)",
                ["model", "rep. penalty", "prompt tok", "new tok (plain/lookup)", "plain", "prompt lookup",
                 *RATIO_HEADER, "identical text"], rows)
