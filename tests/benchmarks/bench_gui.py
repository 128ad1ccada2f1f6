"""GUI responsiveness: time to the window, and GUI-thread stalls while a model loads and generates.

    python -m pytest tests/benchmarks/bench_gui.py -s
    FIRESIDE_BENCH_GUI_MODEL=1.7b python -m pytest tests/benchmarks/bench_gui.py -s
    python tests/benchmarks/bench_gui.py

(a) Start-up: `fireside`'s own start-up path (desktop.app.run_gui) in a fresh process; the time
    from the process being started to the main window's show(), and whether torch or
    transformers were imported by then (they must not be: the window comes first). Target < 1 s.
(b) Stalls: a QTimer heartbeat every 10 ms on the GUI thread while the window's start-up work
    imports the libraries (torch, transformers, pyqtgraph), a chat model is loaded, and then
    generates 128 tokens, through desktop.background.BackgroundOp, with every streamed piece sent
    to a label on the GUI thread as the chat does. A stall is a heartbeat that comes late;
    target: none longer than 50 ms, with the bundled model and with a 1.7B one.

FIRESIDE_BENCH_GUI_MODEL picks the chat model of (b): `bundled` (default), `1.7b` (the random-weight
1.7B Q4_K_M of tests/benchmarks/random_gguf.py, built once and cached in FIRESIDE_BENCH_CACHE), or
the path of a .gguf file.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEARTBEAT_MS = 10

STARTUP_PROBE = r"""
import json, sys, time
from desktop import main_window
from desktop.app import run_gui
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

original_show = main_window.MainWindow.show
seen = {}

def show(self):
    seen["shown_at"] = time.time()
    seen["torch_imported"] = "torch" in sys.modules
    seen["transformers_imported"] = "transformers" in sys.modules
    original_show(self)
    QTimer.singleShot(0, lambda: (seen.setdefault("first_event_loop_at", time.time()), QApplication.quit()))

main_window.MainWindow.show = show
code = run_gui(["fireside"])
print(json.dumps(seen))
"""


def measure_startup(runs: int = 3) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    times, loop_times, flags = [], [], []
    for _ in range(runs):
        started = time.time()
        done = subprocess.run([sys.executable, "-c", STARTUP_PROBE], capture_output=True, text=True, env=env,
                              cwd=ROOT, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-2000:])
        seen = json.loads(done.stdout.strip().splitlines()[-1])
        times.append(seen["shown_at"] - started)
        loop_times.append(seen["first_event_loop_at"] - started)
        flags.append(seen["torch_imported"] or seen["transformers_imported"])
    return {"window_shown_s": min(times), "all_runs_s": times, "event_loop_s": min(loop_times),
            "ml_imported_before_window": any(flags)}


def chat_model_file() -> Path:
    """The GGUF that FIRESIDE_BENCH_GUI_MODEL names."""
    choice = os.environ.get("FIRESIDE_BENCH_GUI_MODEL", "bundled")
    if choice == "bundled":
        from models import bundled

        return bundled.chat_model_file()
    if choice == "1.7b":
        from random_gguf import random_gguf

        return random_gguf()
    path = Path(choice).expanduser()
    if not path.is_file():
        raise ValueError(f"FIRESIDE_BENCH_GUI_MODEL: {choice!r} is not bundled, 1.7b or a .gguf file")
    return path


def measure_stalls(model_file: Path, new_tokens: int = 128) -> dict:
    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication, QLabel

    from desktop.background import BackgroundOp

    app = QApplication.instance() or QApplication([])
    label = QLabel()
    label.resize(600, 400)
    label.setWordWrap(True)
    label.show()
    clock = QElapsedTimer()
    gaps: dict[str, list[float]] = {"import": [], "load": [], "generate": []}
    phase = {"name": "import", "last": 0.0, "done": False}
    state: dict = {}

    def beat():
        now = clock.nsecsElapsed() / 1e6
        gaps[phase["name"]].append(now - phase["last"])
        phase["last"] = now

    def import_stack():
        from desktop.main_window import prepare_default_models

        prepare_default_models()  # what the window's start-up does in the background

    def load():
        from models.generation import Generator

        return Generator.load(model_file, name=model_file.name)

    def imported(_):
        phase["name"], phase["last"] = "load", clock.nsecsElapsed() / 1e6
        state["load_op"] = BackgroundOp(load).success(loaded).failure(failed).run_in_background()

    def failed(message):
        state["error"] = message
        phase["done"] = True

    def loaded(generator):
        state["generator"] = generator
        phase["name"], phase["last"] = "generate", clock.nsecsElapsed() / 1e6
        ids = generator.chat_prompt_ids([{"role": "user", "content": "Write a long story about a dragon who bakes bread."}])

        def work(op):
            from models.generation import GenerationSettings

            settings = GenerationSettings(temperature=0, max_new_tokens=new_tokens, repetition_penalty=1.0)
            return generator.generate(ids, settings, on_text=lambda piece: op.progress(0.0, piece))

        def show_piece(_fraction, piece):
            label.setText(label.text() + piece)

        def finished(result):
            state["stats"] = result.stats
            phase["done"] = True

        state["op"] = BackgroundOp(work).on_progress(show_piece).success(finished).failure(failed).run_in_background()

    heartbeat = QTimer()
    heartbeat.setInterval(HEARTBEAT_MS)
    heartbeat.timeout.connect(beat)
    clock.start()
    heartbeat.start()
    state["import_op"] = BackgroundOp(import_stack).success(imported).failure(failed).run_in_background()
    deadline = time.time() + 600
    while not phase["done"] and time.time() < deadline:
        app.processEvents()
        time.sleep(0.001)
    heartbeat.stop()
    if "error" in state:
        raise RuntimeError(state["error"])

    def summary(values):
        late = [v - HEARTBEAT_MS for v in values[1:]] or [0.0]
        return {"beats": len(values), "max_stall_ms": max(late), "p99_stall_ms": sorted(late)[int(0.99 * (len(late) - 1))],
                "median_gap_ms": statistics.median(values[1:] or [0.0]), "stalls_over_50ms": sum(v > 50 for v in late)}

    stats = state["stats"]
    return {"import": summary(gaps["import"]), "load": summary(gaps["load"]), "generate": summary(gaps["generate"]),
            "tokens": stats.new_tokens, "tokens_per_s": stats.tokens_per_s, "backend": state["generator"].backend}


def report() -> str:
    model_file = chat_model_file()
    startup = measure_startup()
    stalls = measure_stalls(model_file)
    lines = [
        f"window shown after {startup['window_shown_s'] * 1000:.0f} ms (best of {len(startup['all_runs_s'])}: "
        + ", ".join(f"{t * 1000:.0f}" for t in startup["all_runs_s"]) + " ms; target < 1000 ms); event loop running after "
        f"{startup['event_loop_s'] * 1000:.0f} ms; torch/transformers imported before the window: "
        f"{'YES' if startup['ml_imported_before_window'] else 'no'}",
    ]
    doing = {"import": "the libraries are imported", "load": f"{model_file.name} loads",
             "generate": f"{model_file.name} generates"}
    for phase in ("import", "load", "generate"):
        s = stalls[phase]
        lines.append(f"GUI heartbeat ({HEARTBEAT_MS} ms) while {doing[phase]}: "
                     f"{s['beats']} beats, longest stall {s['max_stall_ms']:.1f} ms, p99 {s['p99_stall_ms']:.1f} ms, "
                     f"stalls over 50 ms: {s['stalls_over_50ms']}")
    lines.append(f"generation during the test: {stalls['tokens']} tokens at {stalls['tokens_per_s']:.1f} tokens/s "
                 f"({stalls['backend']})")
    return "\n".join(lines)


def test_gui_responsiveness():
    print()
    print(report())


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    print(report())
