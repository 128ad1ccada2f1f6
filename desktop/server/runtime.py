"""The models behind the API: each loaded on first use, each with its own queue.

Every model name gets one worker thread, so requests to one model run one after another in the
order they came, while the event loop keeps answering other requests. Loading happens on that
thread too, so the first request to a model waits for it and nothing else does.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

from desktop.server.errors import APIError, model_not_found
from models.errors import ModelError
from models.registry import ModelEntry, Registry

log = logging.getLogger(__name__)
LIGHT_PREFIXES = ("tokenizer:",)


@dataclass
class JobRecord:
    """What one generation did, kept for the request log and for checking that stops stop."""

    model: str
    queued_at: float
    started_at: float
    finished_at: float
    prompt_tokens: int
    new_tokens: int
    stop_reason: str


class ModelPool:
    def __init__(self, registry: Registry, device: str = "auto", max_loaded: int = 2, speculative: bool = False):
        self.registry = registry
        self.device_preference = device
        self.speculative = speculative
        self.max_loaded = max(1, max_loaded)
        self._lock = threading.Lock()
        self._queues: dict[str, ThreadPoolExecutor] = {}
        self._pending: dict[str, int] = {}
        self._loaded: OrderedDict[str, object] = OrderedDict()
        self._load_locks: dict[str, threading.Lock] = {}
        self._active: set[threading.Event] = set()
        self._device: str | None = None
        self.history: deque[JobRecord] = deque(maxlen=200)
        self.closed = False

    # -- which model -------------------------------------------------------------------------
    def resolve(self, name: str, kinds: tuple[str, ...], purpose: str) -> ModelEntry:
        try:
            entry = self.registry.get(name)
        except ModelError:
            raise model_not_found(name) from None
        if entry.kind not in kinds:
            raise APIError(400, f"'{name}' is a {entry.kind} model; {purpose} needs a {' or '.join(kinds)} model.",
                           code="wrong_model_kind", param="model")
        return entry

    def device(self) -> str:
        if self._device is None:
            from models.devices import pick_device

            self._device = pick_device(self.device_preference)
        return self._device

    # -- queues ------------------------------------------------------------------------------
    def submit(self, key: str, fn: Callable, *args) -> Future:
        """Run `fn(*args)` on the queue of `key`, after everything submitted there before."""
        with self._lock:
            if self.closed:
                raise APIError(503, "The server is stopping.", code="server_stopping")
            queue = self._queues.get(key)
            if queue is None:
                queue = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"api-{key[:24]}")
                self._queues[key] = queue
            self._pending[key] = self._pending.get(key, 0) + 1
        future = queue.submit(fn, *args)
        future.add_done_callback(lambda _: self._finished(key))
        return future

    def _finished(self, key: str) -> None:
        with self._lock:
            self._pending[key] -= 1

    def pending(self, key: str) -> int:
        """Requests queued or running for `key`."""
        with self._lock:
            return self._pending.get(key, 0)

    # -- loaded models -----------------------------------------------------------------------
    def loaded(self, key: str, factory: Callable[[], object]) -> object:
        """The object cached under `key`, built by `factory` the first time (on the calling thread)."""
        with self._lock:
            if key in self._loaded:
                self._loaded.move_to_end(key)
                return self._loaded[key]
            load_lock = self._load_locks.setdefault(key, threading.Lock())
        with load_lock:
            with self._lock:
                if key in self._loaded:
                    return self._loaded[key]
            started = time.perf_counter()
            value = factory()
            log.info("local API loaded %s in %.1f s", key, time.perf_counter() - started)
            with self._lock:
                self._loaded[key] = value
                self._evict()
            return value

    def _evict(self) -> None:
        """Keep at most `max_loaded` models in memory, dropping the least recently used.

        Tokenizers are light and never counted. A job still running on a dropped model keeps its
        own reference, so the memory is freed when it finishes.
        """
        heavy = [key for key in self._loaded if not key.startswith(LIGHT_PREFIXES)]
        for key in heavy[:max(0, len(heavy) - self.max_loaded)]:
            del self._loaded[key]
            log.info("local API unloaded %s", key)

    def generator(self, entry: ModelEntry):
        from models.generation import Generator

        def load():
            path = self.registry.local_path(entry)
            return Generator.load(path, name=entry.name, device=self.device(), speculative=self.speculative)

        return self.loaded(f"chat:{entry.name}", load)

    def encoder(self, entry: ModelEntry):
        from models.sentence_embeddings import SentenceEncoder

        def load():
            return SentenceEncoder.load(self.registry.local_path(entry), name=entry.name, device=self.device())

        return self.loaded(f"encoder:{entry.name}", load)

    def loaded_names(self) -> list[str]:
        with self._lock:
            return list(self._loaded)

    # -- stopping ----------------------------------------------------------------------------
    def track(self, stop_event: threading.Event) -> None:
        with self._lock:
            self._active.add(stop_event)

    def untrack(self, stop_event: threading.Event) -> None:
        with self._lock:
            self._active.discard(stop_event)

    def stop_all(self) -> None:
        with self._lock:
            for event in self._active:
                event.set()

    def close(self, wait: bool = True) -> None:
        """Stop every generation, finish the queues and let the models go."""
        with self._lock:
            self.closed = True
            queues = list(self._queues.values())
        self.stop_all()
        for queue in queues:
            queue.shutdown(wait=wait, cancel_futures=True)
        with self._lock:
            self._loaded.clear()
