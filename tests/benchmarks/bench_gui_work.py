"""GUI-thread stalls in the real window while it classifies and while it trains.

    python -m pytest tests/benchmarks/bench_gui_work.py -s

A QTimer heartbeat every 10 ms runs on the GUI thread of the real main window (on a fresh data
home, with the default models) while:

(a) the Classify page classifies a dropped folder of documents, cold (the encoder loads first)
    and again warm;
(b) the Fine-tune page trains a classifier from a CSV it was given in its form, from the Start
    click to the finished job (the trainer is its own process; the window follows its events).

A stall is a heartbeat that comes late; the target is none longer than 50 ms. Generation is
measured in bench_gui.py.
"""
from __future__ import annotations

import csv
import statistics
import threading
import time

from PySide6.QtCore import QElapsedTimer, QTimer

from tests.finetune_helpers import topic_rows
from tests.gui.test_classify_page import drop

HEARTBEAT_MS = 10
DOCUMENTS = 240
TIMEOUT_MS = 900_000


class Heartbeat:
    """Late heartbeats on the GUI thread, and where that thread was during the longest one (a
    watchdog thread looks at its stack whenever a beat is overdue)."""

    def __init__(self):
        self.clock = QElapsedTimer()
        self.timer = QTimer()
        self.timer.setInterval(HEARTBEAT_MS)
        self.timer.timeout.connect(self._beat)
        self.gaps: list[float] = []
        self.stacks: dict[float, str] = {}  # when the stalled beat was due -> the GUI thread's stack

    def _beat(self):
        now = self.clock.nsecsElapsed() / 1e6
        self.gaps.append(now - self.last)
        self.last = now

    def _watch(self):
        import sys
        import traceback

        while not self.stopped.wait(0.02):
            due = self.last
            if self.clock.nsecsElapsed() / 1e6 - due > 50 and due not in self.stacks:
                # The GUI thread's own stack, or, when it only waits for the GIL, the other
                # threads' (one of them held it until just now).
                names = {t.ident: t.name for t in threading.enumerate()}
                self.stacks[due] = "\n".join(
                    f"[{names.get(ident, ident)}]\n" + "".join(traceback.format_stack(frame)[-4:])
                    for ident, frame in sys._current_frames().items() if ident != threading.get_ident()
                )

    def __enter__(self):
        self.gaps, self.stacks = [], {}
        self.clock.start()
        self.last = 0.0
        self.timer.start()
        self.stopped = threading.Event()
        self.watchdog = threading.Thread(target=self._watch, daemon=True)
        self.watchdog.start()
        return self

    def __exit__(self, *exc):
        self.timer.stop()
        self.stopped.set()
        self.watchdog.join()

    def where(self) -> str:
        """The GUI thread's stack during the longest stall, if the watchdog caught it."""
        if not self.gaps:
            return ""
        longest = max(range(len(self.gaps)), key=self.gaps.__getitem__)
        due = sum(self.gaps[:longest])
        nearest = min(self.stacks, key=lambda t: abs(t - due), default=None)
        return self.stacks[nearest] if nearest is not None and abs(nearest - due) < 20 else ""

    def summary(self) -> str:
        late = [gap - HEARTBEAT_MS for gap in self.gaps[1:]] or [0.0]
        return (f"{len(self.gaps)} beats, longest stall {max(late):.1f} ms, "
                f"p99 {sorted(late)[int(0.99 * (len(late) - 1))]:.1f} ms, median gap {statistics.median(self.gaps or [0]):.1f} ms, "
                f"stalls over 50 ms: {sum(v > 50 for v in late)}")


def documents(folder, count: int):
    with open("tests/data/classify_topics.csv", newline="", encoding="utf-8") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)]
    folder.mkdir(parents=True)
    for i in range(count):
        (folder / f"doc-{i:04d}.txt").write_text(f"{texts[i % len(texts)]} (copy {i})\n", encoding="utf-8")
    return folder


def test_gui_stalls_while_classifying_and_training(main_window, qtbot, tmp_path):
    lines, where = [], []
    # As the app does once its window is shown: import the libraries, check the default models.
    with qtbot.waitSignal(main_window.start_background_preparation().signals.succeeded, timeout=TIMEOUT_MS):
        pass
    page = main_window.show_page("Classify")
    for round_name in ("cold (encoder loads)", "warm"):
        folder = documents(tmp_path / f"docs-{len(lines)}", DOCUMENTS)
        started = time.perf_counter()
        with Heartbeat() as beat:
            assert drop(page, [folder])
            qtbot.waitUntil(lambda: not page.busy() and page.job is None, timeout=TIMEOUT_MS)
        lines.append(f"classify {DOCUMENTS} documents, {round_name}, {time.perf_counter() - started:.1f} s: "
                     + beat.summary())
        where.append(beat.where())

    data = tmp_path / "topics.csv"
    with open(data, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(topic_rows(copies=6))
    page = main_window.show_page("Fine-tune")
    page.form.set_task("classifier")
    page.form.pick_path(data, folder=False)
    qtbot.waitUntil(lambda: not page.form.debounce.isActive() and "About" in page.form.estimate_label.text()
                    and page.form.start_button.isEnabled(), timeout=120_000)
    started = time.perf_counter()
    with Heartbeat() as beat:
        page.form.start_button.click()
        qtbot.waitUntil(lambda: page.current_job_id is not None and page.current_job_id in page.followers,
                        timeout=120_000)
        job_id = page.current_job_id
        qtbot.waitUntil(lambda: job_id not in page.followers, timeout=TIMEOUT_MS)
    state = page.states[job_id]
    lines.append(f"train a classifier ({state.step} steps, status {state.status}), "
                 f"{time.perf_counter() - started:.1f} s from Start: " + beat.summary())
    where.append(beat.where())
    print()
    for line, stack in zip(lines, where):
        print(f"GUI heartbeat ({HEARTBEAT_MS} ms) while: {line}")
        if stack:
            print("  the GUI thread during the longest stall:\n    " + stack.strip().replace("\n", "\n    "))
