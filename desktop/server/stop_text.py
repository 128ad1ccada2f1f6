"""Stop sequences the OpenAI way: the reply ends before the first one, which is never shown."""
from __future__ import annotations


class StopTrimmer:
    """Feed streamed pieces; get back only text that cannot belong to a stop sequence.

    A tail that might be the start of a stop sequence is held back until the next piece shows
    whether it is one. `hit` turns true at the first complete stop sequence.
    """

    def __init__(self, stops: list[str]):
        self.stops = [s for s in stops if s]
        self.buffer = ""
        self.hit = False

    def feed(self, piece: str) -> str:
        if self.hit:
            return ""
        if not self.stops:
            return piece
        self.buffer += piece
        found = [self.buffer.find(stop) for stop in self.stops if stop in self.buffer]
        if found:
            out, self.buffer, self.hit = self.buffer[:min(found)], "", True
            return out
        hold = self._partial_stop_length()
        out = self.buffer[:len(self.buffer) - hold]
        self.buffer = self.buffer[len(self.buffer) - hold:]
        return out

    def flush(self) -> str:
        out, self.buffer = ("" if self.hit else self.buffer), ""
        return out

    def _partial_stop_length(self) -> int:
        longest = max(len(stop) for stop in self.stops) - 1
        for size in range(min(longest, len(self.buffer)), 0, -1):
            tail = self.buffer[-size:]
            if any(stop.startswith(tail) for stop in self.stops):
                return size
        return 0


def trim_at_stop(text: str, stops: list[str]) -> tuple[str, bool]:
    trimmer = StopTrimmer(stops)
    out = trimmer.feed(text)
    return out + trimmer.flush(), trimmer.hit
