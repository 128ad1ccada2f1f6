"""The Chat page: conversations on the left, the transcript and the message box in the middle,
the conversation's settings on the right (shown on demand)."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox, QFileDialog, QFrame, QHBoxLayout, QInputDialog, QLabel, QLineEdit, QListView, QMenu,
    QMessageBox, QProgressBar, QPushButton, QSizePolicy, QSplitter, QToolButton, QVBoxLayout, QWidget,
)

from desktop.chat.controller import ChatController
from desktop.chat.conversation_list import ConversationDelegate
from desktop.chat.conversation_model import IdRole
from desktop.chat.icons import icon
from desktop.chat.message_view import TranscriptView
from desktop.chat.prompt_input import PromptEdit
from desktop.chat.settings_panel import SettingsPanel
from desktop.context import AppContext
from desktop.store import StoreError
from desktop.store.conversations import NEW_TITLE

STYLE = """
#chatSidebar { background: #f6f7f9; border-right: 1px solid #e3e6ea; }
#chatSidebar QListView { background: transparent; border: none; }
#chatSearch { border: 1px solid #d5d9de; border-radius: 8px; padding: 6px 8px; background: white; }
#newChat { background: #e8743b; color: white; border: none; border-radius: 8px; padding: 8px 12px; font-weight: 600; }
#newChat:hover { background: #d4652f; }
#transcript { background: white; }
#chatTop { border-bottom: 1px solid #eceef1; }
#chatTitle { font-size: 13pt; font-weight: 600; color: #24292f; }
#composer { border: 1px solid #d0d7de; border-radius: 14px; background: white; }
#promptEdit { background: transparent; }
#sendButton { background: #e8743b; border: none; border-radius: 16px; }
#sendButton:disabled { background: #f3c8b2; }
#stopButton { background: #24292f; border: none; border-radius: 16px; }
#userBubble { background: #fdf0e8; border-radius: 14px; }
#bubbleHeader { color: #57606a; }
#bubbleStats { color: #8c959f; font-size: 8pt; }
#bubbleNotices { color: #6e5600; background: #fff8e1; border-radius: 6px; padding: 6px 8px; }
#bubbleIdeal { color: #1a7f37; font-size: 8pt; }
#chatError { color: #82071e; background: #ffebe9; border: 1px solid #ffcecb; border-radius: 8px; padding: 6px 10px; }
#chatStatus { color: #6e7781; }
#settingsPanel { background: #f6f7f9; border-left: 1px solid #e3e6ea; }
#hint { color: #6e7781; }
"""


class ElidedLabel(QLabel):
    """A one-line label that ends in "…" when its text is wider than the room it gets."""

    def __init__(self, text: str = "", parent=None):
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._full = ""
        self.set_full_text(text)

    def set_full_text(self, text: str) -> None:
        self._full = text
        self.setToolTip(text)
        self._elide()

    def full_text(self) -> str:
        return self._full

    def _elide(self) -> None:
        self.setText(self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, max(self.width(), 40)))

    def resizeEvent(self, event):
        super().resizeEvent(event)
        self._elide()


class ChatPage(QWidget):
    title = "Chat"

    def __init__(self, context: AppContext, parent=None):
        super().__init__(parent)
        self.context = context
        self.setObjectName("chatPage")
        self.setStyleSheet(STYLE)
        self.controller = ChatController(context, self)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self._build_sidebar())
        self.splitter.addWidget(self._build_center())
        self.settings_panel = SettingsPanel()
        self.settings_panel.hide()
        self.splitter.addWidget(self.settings_panel)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([260, 800, 300])
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)

        c = self.controller
        c.busy_changed.connect(self._busy_changed)
        c.current_changed.connect(self._current_changed)
        c.model_state.connect(self._model_state)
        c.load_progress.connect(self._load_progress)
        c.error.connect(self.show_error)
        c.conversations.modelReset.connect(self._select_current_in_list)
        self.settings_panel.changed.connect(c.apply_settings)
        self.transcript.action.connect(self._message_action)
        QShortcut(QKeySequence("Ctrl+N"), self, self.new_conversation)
        QShortcut(QKeySequence("Ctrl+F"), self, self.search_box.setFocus)
        QShortcut(QKeySequence("Escape"), self, self.controller.stop)
        self.refresh_models()
        self._current_changed()

    # -- building --------------------------------------------------------------------------------
    def _build_sidebar(self) -> QWidget:
        sidebar = QFrame()
        sidebar.setObjectName("chatSidebar")
        sidebar.setMinimumWidth(220)
        self.new_button = QPushButton(icon("plus", "#ffffff"), "  New chat")
        self.new_button.setObjectName("newChat")
        self.new_button.clicked.connect(self.new_conversation)
        self.import_button = QToolButton()
        self.import_button.setIcon(icon("upload"))
        self.import_button.setToolTip("Import a conversation (JSON)")
        self.import_button.setAutoRaise(True)
        self.import_button.clicked.connect(self.choose_import)
        top = QHBoxLayout()
        top.addWidget(self.new_button, 1)
        top.addWidget(self.import_button)
        self.search_box = QLineEdit()
        self.search_box.setObjectName("chatSearch")
        self.search_box.setPlaceholderText("Search all conversations")
        self.search_box.setClearButtonEnabled(True)
        self.search_box.addAction(icon("search"), QLineEdit.ActionPosition.LeadingPosition)
        self.search_box.textChanged.connect(self.controller.search)
        self.conversation_list = QListView()
        self.conversation_list.setModel(self.controller.conversations)
        self.conversation_list.setItemDelegate(ConversationDelegate(self.conversation_list))
        self.conversation_list.setMouseTracking(True)
        self.conversation_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.conversation_list.setUniformItemSizes(True)
        self.conversation_list.setEditTriggers(QListView.EditTrigger.EditKeyPressed | QListView.EditTrigger.DoubleClicked)
        self.conversation_list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.conversation_list.customContextMenuRequested.connect(self._list_menu)
        self.conversation_list.clicked.connect(lambda index: self.open_conversation(index.data(IdRole)))
        layout = QVBoxLayout(sidebar)
        layout.setContentsMargins(10, 12, 10, 10)
        layout.addLayout(top)
        layout.addWidget(self.search_box)
        layout.addWidget(self.conversation_list, 1)
        return sidebar

    def _build_center(self) -> QWidget:
        center = QWidget()
        top = QFrame()
        top.setObjectName("chatTop")
        self.title_label = ElidedLabel(NEW_TITLE)
        self.title_label.setObjectName("chatTitle")
        self.model_box = QComboBox()
        self.model_box.setMinimumWidth(180)
        self.model_box.setMaximumWidth(280)
        self.model_box.setToolTip("The model that answers; switching frees the one loaded before")
        self.model_box.activated.connect(lambda _: self.controller.set_model(self.model_box.currentText()))
        self.export_button = QToolButton()
        self.export_button.setIcon(icon("download"))
        self.export_button.setToolTip("Export this conversation")
        self.export_button.setAutoRaise(True)
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        export_menu = QMenu(self.export_button)
        export_menu.addAction("As Markdown…", lambda: self.choose_export("md"))
        export_menu.addAction("As JSON (OpenAI messages)…", lambda: self.choose_export("json"))
        self.export_button.setMenu(export_menu)
        self.settings_button = QToolButton()
        self.settings_button.setIcon(icon("sliders"))
        self.settings_button.setToolTip("Conversation settings: presets, system prompt, sampling")
        self.settings_button.setCheckable(True)
        self.settings_button.setAutoRaise(True)
        self.settings_button.toggled.connect(self.settings_panel_visible)
        bar = QHBoxLayout(top)
        bar.setContentsMargins(20, 10, 12, 10)
        bar.addWidget(self.title_label, 1)
        bar.addWidget(self.model_box)
        bar.addWidget(self.export_button)
        bar.addWidget(self.settings_button)

        self.transcript = TranscriptView(self.controller.transcript)

        self.error_label = QLabel()
        self.error_label.setObjectName("chatError")
        self.error_label.setWordWrap(True)
        self.error_label.hide()

        composer = QFrame()
        composer.setObjectName("composer")
        self.prompt = PromptEdit()
        self.prompt.submitted.connect(self.send)
        self.send_button = QToolButton()
        self.send_button.setObjectName("sendButton")
        self.send_button.setIcon(icon("send", "#ffffff"))
        self.send_button.setIconSize(QSize(16, 16))
        self.send_button.setFixedSize(32, 32)
        self.send_button.setToolTip("Send (Enter)")
        self.send_button.clicked.connect(self.send)
        self.stop_button = QToolButton()
        self.stop_button.setObjectName("stopButton")
        self.stop_button.setIcon(icon("square", "#ffffff", filled=True))
        self.stop_button.setIconSize(QSize(14, 14))
        self.stop_button.setFixedSize(32, 32)
        self.stop_button.setToolTip("Stop (Esc)")
        self.stop_button.clicked.connect(self.controller.stop)
        self.stop_button.hide()
        box = QHBoxLayout(composer)
        box.setContentsMargins(12, 6, 8, 6)
        box.addWidget(self.prompt, 1)
        box.addWidget(self.send_button, 0, Qt.AlignmentFlag.AlignBottom)
        box.addWidget(self.stop_button, 0, Qt.AlignmentFlag.AlignBottom)
        self.prompt.textChanged.connect(self._update_send_enabled)

        self.status_label = QLabel()
        self.status_label.setObjectName("chatStatus")
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setMaximumHeight(6)
        self.progress.setTextVisible(False)
        self.progress.hide()
        status = QHBoxLayout()
        status.addWidget(self.status_label, 1)
        status.addWidget(self.progress)

        bottom = QVBoxLayout()
        bottom.setContentsMargins(24, 6, 24, 10)
        bottom.addWidget(self.error_label)
        bottom.addWidget(composer)
        bottom.addLayout(status)

        layout = QVBoxLayout(center)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(top)
        layout.addWidget(self.transcript, 1)
        layout.addLayout(bottom)
        self._update_send_enabled()
        return center

    # -- actions ---------------------------------------------------------------------------------
    def send(self) -> bool:
        """Send the text of the message box. The box is emptied only once the message is saved."""
        text = self.prompt.toPlainText()
        if not text.strip() or self.controller.busy:
            return False
        self.settings_panel.flush()
        self.hide_error()
        if not self.controller.send(text):
            return False
        self.prompt.clear()
        return True

    def new_conversation(self) -> None:
        self.controller.new_conversation()
        self.conversation_list.clearSelection()
        self.prompt.setFocus()

    def open_conversation(self, conversation_id: int) -> None:
        self.hide_error()
        self.controller.open_conversation(conversation_id)

    def settings_panel_visible(self, visible: bool) -> None:
        self.settings_panel.setVisible(visible)
        if self.settings_button.isChecked() != visible:
            self.settings_button.setChecked(visible)

    def refresh_models(self) -> None:
        names = self.controller.chat_models()
        current = self.controller.model_name
        if current and current not in names:
            names.append(current)  # a removed model stays visible so the user sees why loading fails
        self.model_box.blockSignals(True)
        self.model_box.clear()
        self.model_box.addItems(names)
        self.model_box.setCurrentText(current)
        self.model_box.blockSignals(False)

    def choose_export(self, fmt: str, conversation_id: int | None = None) -> None:
        conversation_id = conversation_id or self.controller.conversation_id
        if conversation_id is None:
            self.show_error("Nothing to export yet: this conversation has no messages.")
            return
        suffix = {"md": "Markdown (*.md)", "json": "JSON (*.json)"}[fmt]
        path, _ = QFileDialog.getSaveFileName(self, "Export conversation", f"conversation-{conversation_id}.{fmt}", suffix)
        if path:
            self.export_to(conversation_id, fmt, Path(path))

    def export_to(self, conversation_id: int, fmt: str, path: Path) -> bool:
        try:
            self.controller.export(conversation_id, fmt, path)
        except (OSError, ValueError, StoreError) as exc:
            self.show_error(f"Not exported: {exc}")
            return False
        self.status_label.setText(f"Exported to {path}")
        return True

    def choose_import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import a conversation", "", "JSON (*.json)")
        if path:
            self.import_from(Path(path))

    def import_from(self, path: Path) -> int | None:
        try:
            conversation_id = self.controller.import_file(path)
        except (OSError, UnicodeDecodeError, ValueError, StoreError) as exc:
            self.show_error(f"{Path(path).name} was not imported: {exc}")
            return None
        self.status_label.setText(f"Imported {Path(path).name}")
        return conversation_id

    def edit_message(self, message_id: int) -> None:
        row = self.controller.transcript.row_of(message_id)
        if row is None:
            return
        text, ok = QInputDialog.getMultiLineText(self, "Edit and resend",
                                                 "Your message (the current reply stays as an alternative):",
                                                 self.controller.transcript.message(row)["content"])
        if ok and text.strip():
            self.controller.edit_and_resend(message_id, text)

    def edit_ideal(self, message_id: int) -> None:
        row = self.controller.transcript.row_of(message_id)
        if row is None:
            return
        message = self.controller.transcript.message(row)
        text, ok = QInputDialog.getMultiLineText(
            self, "Ideal answer", "Edit the reply into the answer you wanted (used as training data):",
            message.get("ideal_content") or message["content"])
        if ok:
            self.controller.set_ideal(message_id, text)

    def _message_action(self, kind: str, message_id: int, arg) -> None:
        if kind == "edit":
            self.edit_message(message_id)
        elif kind == "ideal":
            self.edit_ideal(message_id)
        elif kind == "rate":
            self.controller.rate(message_id, arg)
        elif kind == "regenerate":
            self.controller.regenerate(message_id)
        elif kind == "alternative":
            self.controller.show_alternative(message_id, arg)

    def _list_menu(self, position) -> None:
        index = self.conversation_list.indexAt(position)
        if not index.isValid():
            return
        conversation_id = index.data(IdRole)
        menu = QMenu(self)
        menu.addAction("Rename", lambda: self.conversation_list.edit(index))
        menu.addAction("Export as Markdown…", lambda: self.choose_export("md", conversation_id))
        menu.addAction("Export as JSON…", lambda: self.choose_export("json", conversation_id))
        menu.addSeparator()
        menu.addAction("Delete…", lambda: self.confirm_delete(conversation_id, index.data()))
        menu.exec(self.conversation_list.viewport().mapToGlobal(position))

    def confirm_delete(self, conversation_id: int, title: str) -> None:
        answer = QMessageBox.question(self, "Delete conversation", f"Delete “{title}” and all its messages?")
        if answer == QMessageBox.StandardButton.Yes:
            self.controller.delete(conversation_id)

    # -- reacting ---------------------------------------------------------------------------------
    def show_error(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.show()

    def hide_error(self) -> None:
        self.error_label.hide()
        self.error_label.clear()

    def _update_send_enabled(self) -> None:
        self.send_button.setEnabled(bool(self.prompt.toPlainText().strip()) and not self.controller.busy)

    def _busy_changed(self, busy: bool) -> None:
        self.send_button.setVisible(not busy)
        self.stop_button.setVisible(busy)
        self.transcript.set_busy(busy)
        self.model_box.setEnabled(not busy)
        self._update_send_enabled()
        if not busy and self.controller.loaded_model:
            self.status_label.setText(self.controller.loaded_text())

    def _current_changed(self) -> None:
        c = self.controller
        title = NEW_TITLE
        if c.conversation_id is not None:
            row = c.conversations.row_of(c.conversation_id)
            if row is not None:
                title = c.conversations.index(row, 0).data()
        self.title_label.set_full_text(title)
        self.settings_panel.load(c.settings, c.system_prompt)
        self.refresh_models()
        self._select_current_in_list()

    def _select_current_in_list(self) -> None:
        c = self.controller
        row = c.conversations.row_of(c.conversation_id) if c.conversation_id is not None else None
        if row is None:
            self.conversation_list.clearSelection()
        else:
            self.conversation_list.setCurrentIndex(c.conversations.index(row, 0))
            self.title_label.set_full_text(c.conversations.index(row, 0).data())

    def _model_state(self, state: str, text: str) -> None:
        self.status_label.setText(text)
        if state == "loading":
            self.progress.setRange(0, 0)  # busy until the loader reports how far it is
            self.progress.show()
        else:
            self.progress.hide()

    def _load_progress(self, fraction: float, text: str) -> None:
        self.progress.setRange(0, 100)
        self.progress.show()
        self.progress.setValue(int(fraction * 100))
        if text:
            self.status_label.setText(text)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.refresh_models()  # models imported on the Models page appear here

    def shutdown(self) -> None:
        self.settings_panel.flush()
        self.controller.shutdown()
