"""Keep Python's garbage collector from freezing every thread while libraries and models load.

A full collection walks every object the process holds and keeps the GIL while it does: with torch
and transformers imported that is millions of objects and 0.1-0.3 s, which the window shows as a
freeze. Importing and loading create objects by the hundred thousand and so set off several such
collections each. While they run, automatic collection is paused; the objects of the imports are
then frozen (kept out of every later collection: modules live as long as the process anyway).
"""
from __future__ import annotations

import gc
import threading
from contextlib import contextmanager

_lock = threading.Lock()
_paused = 0
_was_enabled = True


@contextmanager
def collector_paused(freeze: bool = False):
    """No automatic collection inside; with `freeze`, what exists on leaving is frozen."""
    global _paused, _was_enabled
    with _lock:
        if _paused == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _paused += 1
    try:
        yield
    finally:
        with _lock:
            _paused -= 1
            if freeze:
                gc.freeze()
            if _paused == 0 and _was_enabled:
                gc.enable()
