"""The requests the server handled, newest last, for the Models page and `fireside serve`."""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class RequestRecord:
    number: int
    method: str
    path: str
    status: int
    duration_s: float
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    outcome: str = ""
    client: str = ""
    time: float = field(default_factory=time.time)

    def line(self) -> str:
        tokens = f"  {self.prompt_tokens}+{self.completion_tokens} tokens" if self.prompt_tokens else ""
        model = f"  {self.model}" if self.model else ""
        outcome = f"  ({self.outcome})" if self.outcome else ""
        return f"{self.method} {self.path} {self.status}{model}  {self.duration_s:.2f}s{tokens}{outcome}"


class RequestLog:
    """Thread-safe; listeners are called on the server's thread with each new record."""

    def __init__(self, keep: int = 500):
        self._records: deque[RequestRecord] = deque(maxlen=keep)
        self._lock = threading.Lock()
        self._listeners: list[Callable[[RequestRecord], None]] = []
        self.total = 0

    def next_number(self) -> int:
        with self._lock:
            self.total += 1
            return self.total

    def add(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)
            listeners = list(self._listeners)
        for listener in listeners:
            listener(record)

    def records(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def subscribe(self, listener: Callable[[RequestRecord], None]) -> None:
        with self._lock:
            self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[RequestRecord], None]) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)
