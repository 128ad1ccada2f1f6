"""The chat controller: between the page, the store and the generation worker.

Send: the user message and an empty reply (status 'streaming') are committed together -> the
worker streams pieces -> they grow one row of the transcript model and are saved at least once a
second -> the reply is closed as complete, stopped or error. Nothing the user typed or the model
wrote is dropped when the database refuses a write: the text stays in the input box, or the save
is retried.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal

from desktop.background import start_worker, stop_worker
from desktop.chat.conversation_model import ConversationListModel
from desktop.chat.transcript_model import TranscriptModel
from desktop.chat.worker import GenerationWorker
from desktop.context import AppContext
from desktop.store import StoreError
from desktop.store import conversation_export
from desktop.store import conversations as store
from desktop.store.settings import get_setting, prompt_lookup, set_setting
from models.chat.settings import ChatSettings
from models.errors import ModelError

log = logging.getLogger(__name__)
SAVE_INTERVAL_MS = 500  # a growing reply is written at least this often (the promise is once a second)
LAST_MODEL_KEY = "chat.model"
LAST_SETTINGS_KEY = "chat.settings"
LAST_SYSTEM_KEY = "chat.system_prompt"


@dataclass
class _Stream:
    request_id: int
    message_id: int
    conversation_id: int
    stop_event: threading.Event = field(default_factory=threading.Event)
    text: str = ""
    dirty: bool = False


class ChatController(QObject):
    busy_changed = Signal(bool)
    current_changed = Signal()  # another conversation (or a new one) is shown; settings may differ
    model_state = Signal(str, str)  # "loading" | "ready" | "failed", text for the status line
    load_progress = Signal(float, str)
    error = Signal(str)  # a one-line problem to show (the database refused a write, ...)
    reply_finished = Signal(int, str)  # message id, status

    request_generate = Signal(int, str, object, object, object)
    request_load = Signal(str)

    def __init__(self, context: AppContext, parent=None):
        super().__init__(parent)
        self.db = context.db
        self.registry = context.registry
        self.transcript = TranscriptModel(self)
        self.conversations = ConversationListModel(self.rename, self)
        self.conversation_id: int | None = None
        self.search_text = ""
        self.model_name = get_setting(self.db, LAST_MODEL_KEY) or self._default_model()
        self.settings = ChatSettings.from_dict(get_setting(self.db, LAST_SETTINGS_KEY))
        self.system_prompt = get_setting(self.db, LAST_SYSTEM_KEY, "")
        self.loaded_model: str | None = None
        self.loaded_precision = ""
        self._stream: _Stream | None = None
        self._requests = 0
        self._unsaved: list[tuple] = []  # writes the database refused, retried by the timer
        self.worker: GenerationWorker | None = None
        self.thread = None
        self._save_timer = QTimer(self)
        self._save_timer.setInterval(SAVE_INTERVAL_MS)
        self._save_timer.timeout.connect(self._save_tick)
        try:
            store.recover_interrupted(self.db)
        except StoreError as exc:
            log.warning("could not mark interrupted replies: %s", exc)
        self.refresh_conversations()

    def _default_model(self) -> str:
        try:
            return self.registry.default("chat").name
        except ModelError:
            chats = self.registry.list("chat")
            return chats[0].name if chats else ""

    # -- the worker ----------------------------------------------------------------------------
    def _ensure_worker(self) -> None:
        """The worker thread starts on first use, so a window that never chats has none."""
        if self.worker is not None:
            return
        self.worker = GenerationWorker(self.registry)
        self.request_generate.connect(self.worker.generate)
        self.request_load.connect(self.worker.load)
        self.worker.pieces.connect(self._on_pieces)
        self.worker.notice.connect(self._on_notice)
        self.worker.finished.connect(self._on_finished)
        self.worker.failed.connect(self._on_failed)
        self.worker.loading.connect(self._on_loading)
        self.worker.loaded.connect(self._on_loaded)
        self.worker.load_failed.connect(self._on_load_failed)
        self.worker.load_progress.connect(self.load_progress)
        self.thread = start_worker(self.worker, "chat-generation")
        QCoreApplication.instance().aboutToQuit.connect(self.shutdown)

    def _on_loading(self, name: str) -> None:
        self.model_state.emit("loading", f"Loading {name}…")

    def _on_loaded(self, name: str, precision: str) -> None:
        self.loaded_model = name
        self.loaded_precision = precision
        self.model_state.emit("ready", self.loaded_text())

    def loaded_text(self) -> str:
        return f"{self.loaded_model} is loaded ({self.loaded_precision})"

    def _on_load_failed(self, name: str, message: str) -> None:
        self.loaded_model = None
        self.model_state.emit("failed", f"{name} could not be loaded: {message}")

    @property
    def busy(self) -> bool:
        return self._stream is not None

    # -- conversations ---------------------------------------------------------------------------
    def refresh_conversations(self) -> None:
        try:
            rows = (store.search_conversations(self.db, self.search_text) if self.search_text.strip()
                    else store.list_conversations(self.db))
        except StoreError as exc:
            self.error.emit(f"The conversation list could not be read: {exc}")
            return
        self.conversations.set_rows(rows)

    def search(self, text: str) -> None:
        self.search_text = text
        self.refresh_conversations()

    def new_conversation(self) -> None:
        """An empty transcript; the conversation is created with its first message."""
        self.conversation_id = None
        self.settings = ChatSettings.from_dict(get_setting(self.db, LAST_SETTINGS_KEY))
        self.system_prompt = get_setting(self.db, LAST_SYSTEM_KEY, "")
        self.transcript.set_messages([])
        self.current_changed.emit()

    def open_conversation(self, conversation_id: int) -> None:
        conversation = store.get_conversation(self.db, conversation_id)
        if conversation is None:
            self.error.emit("That conversation no longer exists.")
            self.refresh_conversations()
            return
        self.conversation_id = conversation_id
        self.settings = ChatSettings.from_dict(conversation["settings"])
        self.system_prompt = conversation["system_prompt"]
        if conversation["model"]:
            self.model_name = conversation["model"]
        self.reload_transcript()
        self.current_changed.emit()

    def reload_transcript(self) -> None:
        if self.conversation_id is None:
            self.transcript.set_messages([])
            return
        messages = store.transcript(self.db, self.conversation_id)
        stream = self._stream
        for message in messages:  # a reply still streaming shows what arrived since its last save
            if stream and message["id"] == stream.message_id:
                message["content"] = stream.text
        self.transcript.set_messages(messages)

    def rename(self, conversation_id: int, title: str) -> bool:
        try:
            store.rename_conversation(self.db, conversation_id, title)
        except (ValueError, StoreError) as exc:
            self.error.emit(f"Not renamed: {exc}")
            return False
        self.refresh_conversations()
        return True

    def delete(self, conversation_id: int) -> None:
        if self._stream and self._stream.conversation_id == conversation_id:
            self.stop()
            self.error.emit("Its reply was still being written and is now stopping; delete the conversation "
                            "again once it has stopped.")
            return
        try:
            store.delete_conversation(self.db, conversation_id)
        except StoreError as exc:
            self.error.emit(f"Not deleted: {exc}")
            return
        if conversation_id == self.conversation_id:
            self.new_conversation()
        self.refresh_conversations()

    def export(self, conversation_id: int, fmt: str, path: Path) -> None:
        Path(path).write_text(conversation_export.export(self.db, conversation_id, fmt), encoding="utf-8")

    def import_file(self, path: Path) -> int:
        conversation_id = conversation_export.import_json(self.db, Path(path).read_text(encoding="utf-8"))
        self.refresh_conversations()
        self.open_conversation(conversation_id)
        return conversation_id

    # -- settings and model --------------------------------------------------------------------
    def apply_settings(self, settings: ChatSettings, system_prompt: str) -> None:
        self.settings, self.system_prompt = settings, system_prompt
        try:
            set_setting(self.db, LAST_SETTINGS_KEY, settings.to_dict())
            set_setting(self.db, LAST_SYSTEM_KEY, system_prompt)
            if self.conversation_id is not None:
                store.update_conversation(self.db, self.conversation_id, system_prompt=system_prompt,
                                          settings=settings.to_dict())
        except StoreError as exc:
            self.error.emit(f"Settings not saved: {exc}")

    def chat_models(self) -> list[str]:
        return [entry.name for entry in self.registry.list("chat")]

    def set_model(self, name: str, load_now: bool = True) -> None:
        """Use model `name` from now on; loading it frees the one loaded before."""
        if not name:
            return
        self.model_name = name
        try:
            set_setting(self.db, LAST_MODEL_KEY, name)
            if self.conversation_id is not None:
                store.update_conversation(self.db, self.conversation_id, model=name)
        except StoreError as exc:
            self.error.emit(f"Model choice not saved: {exc}")
        if load_now and name != self.loaded_model:
            self._ensure_worker()
            self.worker.slot.speculative = prompt_lookup(self.db)
            self.request_load.emit(name)

    # -- sending -------------------------------------------------------------------------------
    def send(self, text: str) -> bool:
        """Commit `text` as the next user message and start the reply. False (and the caller keeps
        the text) when nothing was sent: empty text, a reply still running, or a database error."""
        if not text.strip() or self.busy:
            return False
        conversation_id = self.conversation_id
        try:
            with self.db.transaction():
                if conversation_id is None:
                    conversation_id = store.create_conversation(
                        self.db, system_prompt=self.system_prompt, model=self.model_name,
                        settings=self.settings.to_dict())
                question = store.add_user_message(self.db, conversation_id, text)
                reply = store.start_reply(self.db, conversation_id, question, self.model_name)
        except StoreError as exc:
            self.error.emit(f"Your message was not sent: {exc}. It is still in the input box.")
            return False
        self.conversation_id = conversation_id
        self._start(reply)
        return True

    def regenerate(self, message_id: int | None = None) -> bool:
        """A new reply beside `message_id` (default: the last reply); the old one stays as an alternative."""
        if self.busy or self.conversation_id is None:
            return False
        chain = self.transcript.messages()
        if message_id is None:
            target = chain[-1] if chain else None
        else:
            target = next((m for m in chain if m["id"] == message_id), None)
        if target is None:
            return False
        parent = target["parent_id"] if target["role"] == "assistant" else target["id"]
        return self._reply_under(parent)

    def edit_and_resend(self, message_id: int, text: str) -> bool:
        """Replace user message `message_id` and everything after it by `text` and a new reply; the
        old branch stays as an alternative."""
        if self.busy or not text.strip():
            return False
        try:
            with self.db.transaction():
                edited = store.edit_user_message(self.db, message_id, text)
                reply = store.start_reply(self.db, self.conversation_id, edited, self.model_name)
        except (StoreError, ValueError) as exc:
            self.error.emit(f"Not sent: {exc}")
            return False
        self._start(reply)
        return True

    def _reply_under(self, parent_id: int) -> bool:
        try:
            reply = store.start_reply(self.db, self.conversation_id, parent_id, self.model_name)
        except StoreError as exc:
            self.error.emit(f"Not started: {exc}")
            return False
        self._start(reply)
        return True

    def _start(self, reply_id: int) -> None:
        self._ensure_worker()
        self._requests += 1
        self._stream = _Stream(self._requests, reply_id, self.conversation_id)
        messages = store.prompt_messages(self.db, self.conversation_id, reply_id)
        self.reload_transcript()
        self.refresh_conversations()
        self._save_timer.start()
        self.busy_changed.emit(True)
        if self.model_name != self.loaded_model:
            self.model_state.emit("loading", f"Loading {self.model_name}…")
        self.worker.slot.speculative = prompt_lookup(self.db)  # a new choice applies from this reply on
        self.request_generate.emit(self._stream.request_id, self.model_name, messages, self.settings,
                                   self._stream.stop_event)

    def stop(self) -> None:
        """Ask the running reply to stop; it ends as 'stopped' with the text written so far."""
        if self._stream:
            self._stream.stop_event.set()

    # -- the worker's answers ----------------------------------------------------------------------
    def _current(self, request_id: int) -> _Stream | None:
        stream = self._stream
        return stream if stream and stream.request_id == request_id else None

    def _shown_row(self, stream: _Stream) -> int | None:
        if stream.conversation_id != self.conversation_id:
            return None
        return self.transcript.row_of(stream.message_id)

    def _on_pieces(self, request_id: int, text: str) -> None:
        stream = self._current(request_id)
        if stream is None:
            return
        stream.text += text
        stream.dirty = True
        row = self._shown_row(stream)
        if row is not None:
            self.transcript.append_text(row, text)

    def _on_notice(self, request_id: int, text: str) -> None:
        stream = self._current(request_id)
        if stream is None:
            return
        self._write(store.add_notice, stream.message_id, text)
        row = self._shown_row(stream)
        if row is not None:
            self.transcript.add_notice(row, text)

    def _on_finished(self, request_id: int, result: dict) -> None:
        stream = self._current(request_id)
        if stream is None:
            return
        text = result["text"] or stream.text
        status = "stopped" if result["stopped"] else "complete"
        self._close(stream, text, status, result["stats"])

    def _on_failed(self, request_id: int, message: str) -> None:
        stream = self._current(request_id)
        if stream is None:
            return
        self._write(store.add_notice, stream.message_id, message)
        row = self._shown_row(stream)
        if row is not None:
            self.transcript.add_notice(row, message)
        self._close(stream, stream.text, "error", None)

    def _close(self, stream: _Stream, text: str, status: str, stats: dict | None) -> None:
        self._stream = None
        self._write(store.finish_reply, stream.message_id, text, status, stats)
        row = self._shown_row(stream)
        if row is not None:
            self.transcript.update(row, content=text, status=status, stats=stats)
        if not self._unsaved:
            self._save_timer.stop()
        self.refresh_conversations()
        self.busy_changed.emit(False)
        self.reply_finished.emit(stream.message_id, status)

    # -- saving ------------------------------------------------------------------------------------
    def _write(self, fn, *args) -> bool:
        """Run a store write; when the database refuses, keep it and retry on the save timer."""
        try:
            self._flush_unsaved()
            fn(self.db, *args)
            return True
        except StoreError as exc:
            self._unsaved.append((fn, args))
            self._save_timer.start()
            self.error.emit(f"Could not save to the database: {exc}. Fireside keeps trying.")
            return False

    def _flush_unsaved(self) -> None:
        while self._unsaved:
            fn, args = self._unsaved[0]
            fn(self.db, *args)
            self._unsaved.pop(0)

    def _save_tick(self) -> None:
        try:
            self._flush_unsaved()
            stream = self._stream
            if stream and stream.dirty:
                store.save_partial(self.db, stream.message_id, stream.text)
                stream.dirty = False
        except StoreError as exc:
            log.warning("saving the reply failed, retrying: %s", exc)
            return
        if self._stream is None and not self._unsaved:
            self._save_timer.stop()

    # -- feedback and alternatives -------------------------------------------------------------
    def rate(self, message_id: int, rating: int) -> None:
        """Thumbs up (1) or down (-1); the same rating again clears it."""
        row = self.transcript.row_of(message_id)
        if row is None:
            return
        new = 0 if self.transcript.message(row)["rating"] == rating else rating
        if self._write(store.set_rating, message_id, new):
            self.transcript.update(row, rating=new)

    def set_ideal(self, message_id: int, text: str) -> None:
        row = self.transcript.row_of(message_id)
        if row is not None and self._write(store.set_ideal_content, message_id, text):
            self.transcript.update(row, ideal_content=text if text.strip() else None)

    def show_alternative(self, message_id: int, step: int) -> None:
        """Flip to the previous (-1) or next (+1) version of a message."""
        if self.busy:
            return
        ids = store.sibling_ids(self.db, message_id)
        if message_id not in ids:
            return
        index = ids.index(message_id) + step
        if 0 <= index < len(ids):
            try:
                store.select_alternative(self.db, ids[index])
            except StoreError as exc:
                self.error.emit(str(exc))
                return
            self.reload_transcript()

    # -- closing -----------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop any reply, save it, stop the worker thread and free the model."""
        if self._stream:
            self._stream.stop_event.set()
        if self.thread is not None:
            stop_worker(self.thread, timeout_ms=60_000)
            QCoreApplication.sendPostedEvents(self)  # deliver the worker's last pieces and its answer
            self.thread = None
        if self._stream:  # the worker never answered: keep what arrived
            self._close(self._stream, self._stream.text, "stopped", None)
        self._save_tick()
        if self.worker is not None:
            self.worker.slot.unload()
            self.worker = None

