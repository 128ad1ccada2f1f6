"""The job's progress: one JSON object per line on stdout and in events.jsonl, a bar on a terminal.

When stdout is a terminal a person is watching, so they get a progress bar and readable lines
instead of JSON; events.jsonl always gets the JSON lines. A closed stdout (the reader went away)
never stops the job: the lines still go to events.jsonl.
"""
from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path


def _clean(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(max(0, seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class ProgressBar:
    """A one-line progress bar redrawn in place, fed with the same events as the JSON lines."""

    def __init__(self, stream):
        self.stream = stream
        self.total = 0

    def show(self, event: dict) -> None:
        kind = event.get("event")
        if kind == "start":
            self.total = int(event.get("total_steps") or 0)
            self._line(f"training on {event.get('device')}: {self.total} steps, {event.get('epochs')} epochs")
        elif kind == "step":
            step, total = int(event["step"]), max(1, self.total)
            width = 30
            filled = int(width * step / total)
            rate = event.get("examples_per_s") or event.get("tokens_per_s") or 0
            unit = "ex/s" if "examples_per_s" in event else "tok/s"
            text = (f"\r[{'#' * filled}{'.' * (width - filled)}] {step}/{total} loss {event.get('loss', 0):.4f} "
                    f"{rate:.1f} {unit} elapsed {format_duration(event.get('elapsed_s'))} "
                    f"eta {format_duration(event.get('eta_s'))}")
            self.stream.write(text.ljust(100))
            self.stream.flush()
        elif kind == "eval":
            scores = ", ".join(f"{k} {v:.4f}" for k, v in event.items()
                               if isinstance(v, float) and k not in ("epoch",))
            self._line(f"validation at step {event.get('step')}: {scores}")
        elif kind == "checkpoint":
            self._line(f"checkpoint saved at step {event.get('step')}")
        elif kind == "warning":
            self._line(f"warning: {event.get('message')}")
        elif kind == "done":
            self._line(f"{event.get('status')}: {event.get('message')}")

    def _line(self, text: str) -> None:
        self.stream.write("\r" + text.ljust(100) + "\n")
        self.stream.flush()


class EventWriter:
    def __init__(self, log_path: Path | None, stream=None, enabled: bool = True):
        self.stream = stream if stream is not None else sys.stdout
        self.enabled = enabled  # only the main process of a multi-process run speaks
        self.log = open(log_path, "a", encoding="utf-8") if (log_path and enabled) else None
        try:
            interactive = self.stream.isatty()
        except (AttributeError, ValueError):
            interactive = False
        self.bar = ProgressBar(self.stream) if interactive else None
        self.stream_open = True
        self.started = time.time()

    def emit(self, event: str, **fields) -> dict:
        record = _clean({"event": event, "time": round(time.time(), 3), **fields})
        if not self.enabled:
            return record
        line = json.dumps(record, ensure_ascii=False)
        if self.log is not None:
            self.log.write(line + "\n")
            self.log.flush()
        if self.stream_open:
            try:
                if self.bar is not None:
                    self.bar.show(record)
                else:
                    self.stream.write(line + "\n")
                    self.stream.flush()
            except (BrokenPipeError, OSError, ValueError):
                self.stream_open = False
        return record

    def close(self) -> None:
        if self.log is not None:
            self.log.close()
            self.log = None


def read_events(path: Path) -> list[dict]:
    """The events of a job so far (a torn last line after a crash is skipped)."""
    events = []
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                try:
                    events.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
    except FileNotFoundError:
        pass
    return events
