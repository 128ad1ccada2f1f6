"""A training job's event stream (`events.jsonl`, one JSON object per line) and what it adds up to.

The trainer writes `start`, `step`, `eval`, `checkpoint` and `done` lines. `JobState` folds them into
what the page shows: the last step, the loss and validation curves, the final status. `EventTail`
reads the lines a running trainer appends, from where it stopped last time; no Qt here.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

EVENTS_FILE = "events.jsonl"
FINAL_STATUSES = ("completed", "stopped", "failed")


def parse_line(line: str) -> dict | None:
    """The event on one line, or None for a blank, partial or foreign line."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return None
    return event if isinstance(event, dict) and "event" in event else None


@dataclass
class JobState:
    """Everything the events of one job say so far."""

    total_steps: int = 0
    epochs: float = 0
    device: str = ""
    plan: dict = field(default_factory=dict)
    last_step: dict = field(default_factory=dict)
    train_steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    learning_rates: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    eval_loss: list[float] = field(default_factory=list)
    last_eval: dict = field(default_factory=dict)
    checkpoints: list[dict] = field(default_factory=list)
    done: dict | None = None
    starts: int = 0
    status_message: str = ""  # what the trainer is doing before its first step
    warnings: list[str] = field(default_factory=list)

    # -- folding events ------------------------------------------------------------------------
    def apply(self, event: dict) -> None:
        kind = event.get("event")
        handler = getattr(self, f"_on_{kind}", None)
        if handler is not None:
            handler(event)

    def apply_all(self, events) -> "JobState":
        for event in events:
            self.apply(event)
        return self

    def _on_start(self, event: dict) -> None:
        self.starts += 1
        self.total_steps = int(event.get("total_steps") or self.total_steps)
        self.epochs = event.get("epochs") or self.epochs
        self.device = event.get("device") or self.device
        self.plan = event.get("plan") or self.plan
        self.done = None  # a resumed run starts over after a stop
        self.status_message = ""

    def _on_step(self, event: dict) -> None:
        step = int(event.get("step", 0))
        # A resumed run repeats the steps after its checkpoint: forget the ones it will redo.
        self._forget_after(step - 1)
        self.last_step = event
        self.status_message = ""
        if event.get("total_steps"):
            self.total_steps = int(event["total_steps"])
        if event.get("loss") is not None:
            self.train_steps.append(step)
            self.train_loss.append(float(event["loss"]))
            self.learning_rates.append(float(event.get("lr") or 0.0))

    def _on_eval(self, event: dict) -> None:
        step = int(event.get("step", 0))
        while self.eval_steps and self.eval_steps[-1] >= step:
            self.eval_steps.pop()
            self.eval_loss.pop()
        self.last_eval = event
        if event.get("eval_loss") is not None:
            self.eval_steps.append(step)
            self.eval_loss.append(float(event["eval_loss"]))

    def _on_status(self, event: dict) -> None:
        self.status_message = str(event.get("message") or "")

    def _on_warning(self, event: dict) -> None:
        self.warnings.append(str(event.get("message") or ""))

    def _on_checkpoint(self, event: dict) -> None:
        self.checkpoints.append(event)

    def _on_done(self, event: dict) -> None:
        self.done = event

    def _forget_after(self, step: int) -> None:
        while self.train_steps and self.train_steps[-1] > step:
            self.train_steps.pop()
            self.train_loss.pop()
            self.learning_rates.pop()
        while self.eval_steps and self.eval_steps[-1] > step:
            self.eval_steps.pop()
            self.eval_loss.pop()

    # -- reading it ----------------------------------------------------------------------------
    @property
    def started(self) -> bool:
        return self.starts > 0

    @property
    def step(self) -> int:
        return int(self.last_step.get("step", 0))

    @property
    def fraction(self) -> float:
        return min(1.0, self.step / self.total_steps) if self.total_steps else 0.0

    @property
    def status(self) -> str | None:
        """The final status the trainer reported, or None while it has not ended."""
        return self.done.get("status") if self.done else None

    @property
    def metrics(self) -> dict:
        return (self.done or {}).get("metrics") or {}

    @property
    def throughput(self) -> tuple[float, str] | None:
        for key, unit in (("tokens_per_s", "tok/s"), ("examples_per_s", "ex/s")):
            if self.last_step.get(key) is not None:
                return float(self.last_step[key]), unit
        return None


class EventTail:
    """Reads the complete lines appended to an events file since the last call."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.offset = 0
        self._partial = b""

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def read_new(self, final: bool = False, limit: int | None = None) -> tuple[list[dict], bool]:
        """(new events, restarted): restarted is True when the file was replaced or truncated.

        `final`: the writer has ended, so a last line without its newline counts too.
        `limit`: read no further than this many bytes from the start of the file.
        """
        try:
            size = self.path.stat().st_size
        except OSError:
            return [], False
        if limit is not None:
            size = min(size, limit)
        restarted = size < self.offset and limit is None
        if restarted:
            self.offset, self._partial = 0, b""
        if size == self.offset and not (final and self._partial):
            return [], restarted
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            data = handle.read(size - self.offset)
        self.offset += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()  # the trainer may be half-way through a line
        if final and self._partial:
            lines.append(self._partial)
            self._partial = b""
        events = []
        for raw in lines:
            event = parse_line(raw.decode("utf-8", errors="replace"))
            if event is not None:
                events.append(event)
        return events, restarted


def read_state(job_dir: Path) -> JobState:
    """The state of a job from its whole events file (empty when it has none yet)."""
    events, _ = EventTail(Path(job_dir) / EVENTS_FILE).read_new(final=True)
    return JobState().apply_all(events)
