"""Turning generated token ids into text pieces as they come, and cutting at stop strings.

Decoding one token at a time breaks characters that span tokens (a multi-byte emoji, a word
piece that changes the space before it), so each new piece is the difference between decoding a
short window of recent tokens with and without the newest ones, emitted only once it no longer
ends in an incomplete character.

Stop strings end the reply where they first appear in its text, as transformers' stop strings
do; the stop string itself is not part of the reply. Text that might be the start of a stop
string is held back until it is clear it is not.
"""
from __future__ import annotations

REPLACEMENT = "\ufffd"


class IncrementalDetokenizer:
    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self.prefix = 0  # window start: decoding from here gives a stable left context
        self.read = 0  # tokens up to here have been turned into text

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def add(self, token: int) -> str:
        """The new text that `token` completes ('' while a character is still incomplete)."""
        self.ids.append(token)
        before = self._decode(self.ids[self.prefix:self.read])
        after = self._decode(self.ids[self.prefix:])
        if len(after) > len(before) and not after.endswith(REPLACEMENT):
            self.prefix, self.read = self.read, len(self.ids)
            return after[len(before):]
        return ""

    def flush(self) -> str:
        """Whatever is left undecoded at the end (an incomplete character becomes U+FFFD)."""
        before = self._decode(self.ids[self.prefix:self.read])
        after = self._decode(self.ids[self.prefix:])
        self.prefix = self.read = len(self.ids)
        return after[len(before):] if len(after) > len(before) else ""


class StopStringFilter:
    """Passes text through, ending it before the first stop string."""

    def __init__(self, stop: list[str]):
        self.stop = [s for s in (stop or []) if s]
        self.text = ""  # everything received
        self.sent = 0  # how much of it has been released
        self.stopped = False

    def _holdback(self) -> int:
        """Length of the longest tail of the text that is a proper start of a stop string."""
        longest = 0
        for stop in self.stop:
            for size in range(min(len(stop) - 1, len(self.text)), 0, -1):
                if self.text.endswith(stop[:size]):
                    longest = max(longest, size)
                    break
        return longest

    def feed(self, piece: str) -> str:
        """The part of `piece` that can be shown now."""
        if self.stopped or not piece:
            return ""
        if not self.stop:
            self.text += piece
            self.sent = len(self.text)
            return piece
        search_from = max(0, self.sent - max(len(s) for s in self.stop))
        self.text += piece
        hits = [i for i in (self.text.find(s, search_from) for s in self.stop) if i >= 0]
        if hits:
            end = min(hits)
            self.stopped = True
        else:
            end = len(self.text) - self._holdback()
        released = self.text[self.sent:end] if end > self.sent else ""
        self.sent = max(self.sent, end)
        return released

    def finish(self) -> str:
        """The held-back tail once generation has ended without a stop string."""
        if self.stopped:
            return ""
        released = self.text[self.sent:]
        self.sent = len(self.text)
        return released

    @property
    def reply(self) -> str:
        return self.text[: self.sent]
