"""The one way Fireside does work off the GUI thread.

* `BackgroundOp` — one-shot work (load a model, read files, import a dataset). The function runs
  in Qt's thread pool; `success`, `failure` and `progress` callbacks run on the GUI thread.
      BackgroundOp(load, path).success(show).failure(report).run()
  The function may accept a keyword `op` to report progress (`op.progress(fraction, text)`) and to
  see whether the user cancelled (`op.cancelled()`).
* `start_worker` / `stop_worker` — a long-lived QObject (one per loaded model) moved to its own
  QThread and spoken to only through queued signals (chat generation).

Exceptions never escape: they reach `failure(message)` and the log.
"""
from __future__ import annotations

import inspect
import logging
import threading
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThread, QThreadPool, Signal

log = logging.getLogger(__name__)
_running: set["BackgroundOp"] = set()


class _Signals(QObject):
    succeeded = Signal(object)
    failed = Signal(str)
    progressed = Signal(float, str)


class BackgroundOp(QRunnable):
    def __init__(self, fn: Callable[..., Any], *args, **kwargs):
        super().__init__()
        self.setAutoDelete(False)
        self._fn, self._args, self._kwargs = fn, args, kwargs
        self._cancel = threading.Event()
        self.signals = _Signals()
        self.signals.succeeded.connect(self._done)
        self.signals.failed.connect(self._done)
        try:
            self._wants_op = "op" in inspect.signature(fn).parameters
        except (TypeError, ValueError):
            self._wants_op = False

    def success(self, callback: Callable[[Any], None]) -> "BackgroundOp":
        self.signals.succeeded.connect(callback)
        return self

    def failure(self, callback: Callable[[str], None]) -> "BackgroundOp":
        self.signals.failed.connect(callback)
        return self

    def on_progress(self, callback: Callable[[float, str], None]) -> "BackgroundOp":
        self.signals.progressed.connect(callback)
        return self

    def run_in_background(self, pool: QThreadPool | None = None) -> "BackgroundOp":
        _running.add(self)
        (pool or QThreadPool.globalInstance()).start(self)
        return self

    # called from the worker thread
    def progress(self, fraction: float, text: str = "") -> None:
        self.signals.progressed.emit(float(fraction), text)

    def cancel(self) -> None:
        self._cancel.set()

    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> None:  # QRunnable entry point, on a pool thread
        try:
            kwargs = dict(self._kwargs, op=self) if self._wants_op else self._kwargs
            result = self._fn(*self._args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - a worker reports every failure, never raises
            log.error("background work failed:\n%s", traceback.format_exc())
            self._emit(self.signals.failed, str(exc) or exc.__class__.__name__)
        else:
            self._emit(self.signals.succeeded, result)

    def _emit(self, signal, value) -> None:
        try:
            signal.emit(value)
        except RuntimeError:  # the app quit while this ran; nobody is left to tell
            _running.discard(self)

    def _done(self, *_):
        _running.discard(self)


def start_worker(worker: QObject, name: str) -> QThread:
    thread = QThread()
    thread.setObjectName(name)
    worker.moveToThread(thread)
    thread.start()
    return thread


def stop_worker(thread: QThread, timeout_ms: int = 5000) -> None:
    thread.quit()
    thread.wait(timeout_ms)
