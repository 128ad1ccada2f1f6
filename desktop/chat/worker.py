"""The generation worker: one QObject per window, living on its own QThread, holding one model.

The controller speaks to it through queued signals only (`load` and `generate` run on the worker's
thread, in the order they were asked). Stopping does not go through the queue, since the queue is
blocked while a reply is being generated: each request carries a threading.Event that the GUI
thread sets directly, and the model checks it on every token.
"""
from __future__ import annotations

import logging
import threading
import time
import traceback
from dataclasses import asdict

from PySide6.QtCore import QObject, Signal, Slot

log = logging.getLogger(__name__)
BATCH_S = 0.03  # text pieces are sent to the GUI at most this often


class GenerationWorker(QObject):
    # model loading
    loading = Signal(str)  # model name
    load_progress = Signal(float, str)
    loaded = Signal(str, str)  # model name, how its weights are held ("4-bit", ...)
    load_failed = Signal(str, str)  # model name, message
    # one reply; every signal carries the request id it belongs to
    notice = Signal(int, str)
    pieces = Signal(int, str)
    finished = Signal(int, object)  # dict: text, stats, notices, stopped
    failed = Signal(int, str)

    def __init__(self, registry, device: str = "auto"):
        super().__init__()
        from models.chat.model_slot import ModelSlot

        self.slot = ModelSlot(registry, device)

    # -- model -------------------------------------------------------------------------------
    def _ensure_model(self, name: str):
        if self.slot.holds(name):
            return self.slot.generator
        self.loading.emit(name)
        generator = self.slot.load(name, progress=lambda f, text: self.load_progress.emit(float(f), text))
        self.loaded.emit(name, f"{generator.precision}, {generator.engine}")
        return generator

    @Slot(str)
    def load(self, name: str) -> None:
        try:
            self._ensure_model(name)
        except Exception as exc:  # noqa: BLE001 - reported, never raised on the worker thread
            log.error("loading %s failed:\n%s", name, traceback.format_exc())
            self.slot.unload()
            self.load_failed.emit(name, str(exc) or exc.__class__.__name__)

    @Slot()
    def unload(self) -> None:
        self.slot.unload()

    # -- replies -----------------------------------------------------------------------------
    @Slot(int, str, object, object, object)
    def generate(self, request_id: int, model: str, messages: list, settings, stop_event: threading.Event) -> None:
        from models.chat import respond

        buffer: list[str] = []
        last_flush = time.monotonic()

        def flush() -> None:
            nonlocal last_flush
            if buffer:
                self.pieces.emit(request_id, "".join(buffer))
                buffer.clear()
            last_flush = time.monotonic()

        def on_text(text: str) -> None:
            buffer.append(text)
            if time.monotonic() - last_flush >= BATCH_S:
                flush()

        try:
            if stop_event.is_set():
                self.finished.emit(request_id, {"text": "", "stats": None, "notices": [], "stopped": True})
                return
            try:
                generator = self._ensure_model(model)
            except Exception as exc:  # noqa: BLE001
                log.error("loading %s failed:\n%s", model, traceback.format_exc())
                self.slot.unload()
                self.load_failed.emit(model, str(exc) or exc.__class__.__name__)
                self.failed.emit(request_id, f"The model {model} could not be loaded: {exc}")
                return
            reply = respond(generator, messages, settings, on_text=on_text, stop_event=stop_event,
                            on_notice=lambda text: self.notice.emit(request_id, text))
            flush()
            self.finished.emit(request_id, {"text": reply.text, "stats": asdict(reply.stats),
                                            "notices": reply.notices, "stopped": reply.stopped})
        except Exception as exc:  # noqa: BLE001
            log.error("generation failed:\n%s", traceback.format_exc())
            flush()
            self.failed.emit(request_id, f"The reply failed: {exc}")
