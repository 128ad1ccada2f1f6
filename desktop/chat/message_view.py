"""The transcript: one bubble widget per row of the TranscriptModel, in a scroll area.

The view listens to the model: a reset rebuilds the bubbles, inserted rows add bubbles, and
`dataChanged` re-renders only the bubbles of the rows it names (one, while a reply streams).
"""
from __future__ import annotations

import math
import time

from PySide6.QtCore import QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QFrame, QHBoxLayout, QLabel, QScrollArea, QSizePolicy, QTextBrowser, QToolButton, QVBoxLayout, QWidget,
)

from desktop.chat.icons import icon
from desktop.chat.markdown_render import COPY_SCHEME, render_markdown, render_plain
from desktop.chat.transcript_model import MessageRole, TranscriptModel

USER_SHARE = 0.78
RENDER_COST_FACTOR = 4  # a streaming reply spends at most about 1/4 of the GUI thread on rendering  # a user bubble is at most this share of the transcript's width
STATUS_TEXT = {
    "stopped": "Stopped",
    "interrupted": "Interrupted: the app closed while this reply was being written",
    "error": "Failed",
}


def stats_line(message: dict) -> tuple[str, str]:
    """(short line under a reply, the full details for its tooltip)."""
    stats = message.get("stats") or {}
    if not stats:
        return "", ""
    short = (f"{stats.get('new_tokens', 0)} tokens · {stats.get('tokens_per_s', 0):.1f} tok/s · "
             f"{stats.get('ttft_s', 0):.2f} s to first token · prompt {stats.get('prompt_tokens', 0)} tokens")
    full = (f"Model: {stats.get('model') or message.get('model') or '?'}\n"
            f"Prompt: {stats.get('prompt_tokens', 0)} tokens\nReply: {stats.get('new_tokens', 0)} tokens\n"
            f"Time to first token: {stats.get('ttft_s', 0):.2f} s\nSpeed: {stats.get('tokens_per_s', 0):.1f} tokens/s\n"
            f"Ended by: {stats.get('stop_reason') or '?'}")
    return short, full


class MessageBrowser(QTextBrowser):
    """A QTextBrowser as tall as its text: the transcript scrolls, not each message."""

    copy_requested = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.viewport().setAutoFillBackground(False)
        self.setStyleSheet("QTextBrowser { background: transparent; }")
        self.document().setDocumentMargin(2)
        self.document().setDefaultStyleSheet(
            "p { margin-top: 0px; margin-bottom: 8px; } pre { font-family: 'DejaVu Sans Mono', monospace; }"
            "code { font-family: 'DejaVu Sans Mono', monospace; background-color: #eff1f3; }"
            "th { background-color: #f0f2f4; } h1, h2, h3 { margin-top: 6px; }")
        self.document().contentsChanged.connect(self.fit_height)
        self.anchorClicked.connect(self._link)

    def loadResource(self, kind, url):  # a reply's images are never fetched
        return None

    def _link(self, url: QUrl) -> None:
        if url.scheme() == COPY_SCHEME:
            self.copy_requested.emit(int(url.path() or 0))
        elif url.scheme() in ("http", "https"):
            QDesktopServices.openUrl(url)  # the user clicked it: their browser, their choice

    def fit_height(self) -> None:
        document = self.document()
        document.setTextWidth(self.viewport().width())
        height = math.ceil(document.size().height()) + 4
        if self.height() != height:
            self.setFixedHeight(height)

    def resizeEvent(self, event):
        super().resizeEvent(event)
        self.fit_height()

    def sizeHint(self):
        return QSize(super().sizeHint().width(), self.height())


def _tool(name: str, tip: str) -> QToolButton:
    button = QToolButton()
    button.setIcon(icon(name))
    button.setIconSize(QSize(16, 16))
    button.setToolTip(tip)
    button.setAutoRaise(True)
    button.setObjectName(f"msg-{name}")
    return button


class MessageBubble(QWidget):
    """One message. `action(kind, message_id, arg)` asks the page to act on it."""

    action = Signal(str, int, object)

    def __init__(self, message: dict, parent=None):
        super().__init__(parent)
        self.message = message
        self.code_blocks: list[str] = []
        self._last_render: tuple | None = None
        # While a long reply streams, re-rendering all of its Markdown on every batch of pieces
        # would take the GUI thread's time from the model: render at most every few render costs.
        self._rendered_at = 0.0
        self._render_cost = 0.0
        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.timeout.connect(lambda: self._render_reply(self.message))
        is_user = message["role"] == "user"

        self.header = QLabel()
        self.header.setObjectName("bubbleHeader")
        self.notices = QLabel()
        self.notices.setObjectName("bubbleNotices")
        self.notices.setWordWrap(True)
        self.body = MessageBrowser()
        self.body.copy_requested.connect(self.copy_code)
        self.stats = QLabel()
        self.stats.setObjectName("bubbleStats")
        self.stats.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.ideal = QLabel()
        self.ideal.setObjectName("bubbleIdeal")
        self.ideal.setWordWrap(True)

        self.previous = _tool("chevron-left", "Previous version")
        self.next = _tool("chevron-right", "Next version")
        self.position = QLabel()
        self.position.setObjectName("bubbleStats")
        self.previous.clicked.connect(lambda: self.action.emit("alternative", self.message["id"], -1))
        self.next.clicked.connect(lambda: self.action.emit("alternative", self.message["id"], 1))
        self.copy = _tool("copy", "Copy the message")
        self.copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.message["content"]))
        self.buttons: list[QToolButton] = []
        if is_user:
            self.edit = _tool("edit", "Edit and resend (the current reply stays as an alternative)")
            self.edit.clicked.connect(lambda: self.action.emit("edit", self.message["id"], None))
            self.buttons = [self.edit]
        else:
            self.thumbs_up = _tool("thumbs-up", "Good reply")
            self.thumbs_down = _tool("thumbs-down", "Bad reply")
            self.ideal_button = _tool("star", "Edit into the ideal answer (used as training data)")
            self.regenerate = _tool("refresh", "Regenerate (this reply stays as an alternative)")
            for button in (self.thumbs_up, self.thumbs_down):
                button.setCheckable(True)
            self.thumbs_up.clicked.connect(lambda: self.action.emit("rate", self.message["id"], 1))
            self.thumbs_down.clicked.connect(lambda: self.action.emit("rate", self.message["id"], -1))
            self.ideal_button.clicked.connect(lambda: self.action.emit("ideal", self.message["id"], None))
            self.regenerate.clicked.connect(lambda: self.action.emit("regenerate", self.message["id"], None))
            self.buttons = [self.thumbs_up, self.thumbs_down, self.ideal_button, self.regenerate]

        footer = QHBoxLayout()
        footer.setContentsMargins(0, 0, 0, 0)
        footer.setSpacing(2)
        if is_user:
            footer.addStretch()
        for widget in (self.previous, self.position, self.next):
            footer.addWidget(widget)
        for button in [self.copy] + self.buttons:
            footer.addWidget(button)
        if not is_user:
            footer.addSpacing(8)
            footer.addWidget(self.stats, 1)

        # The frame is the bubble (coloured for the user); the buttons sit under it.
        self.frame = QFrame()
        self.frame.setObjectName("userBubble" if is_user else "replyBubble")
        inner = QVBoxLayout(self.frame)
        inner.setContentsMargins(14, 8, 14, 8) if is_user else inner.setContentsMargins(2, 2, 2, 2)
        inner.setSpacing(4)
        inner.addWidget(self.header)
        inner.addWidget(self.notices)
        inner.addWidget(self.body)
        inner.addWidget(self.ideal)
        line = QHBoxLayout()
        line.setContentsMargins(0, 0, 0, 0)
        if is_user:
            line.addStretch(1)
        line.addWidget(self.frame)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(line)
        layout.addLayout(footer)
        self.header.setVisible(not is_user)
        self.ideal.setVisible(False)
        self.update_message(message)

    def update_message(self, message: dict) -> None:
        self.message = message
        content, status = message["content"], message.get("status", "complete")
        if message["role"] == "user":
            key = ("user", content)
            if key != self._last_render:
                self.body.setHtml(render_plain(content))
        else:
            key = ("reply", content, status)
            if key != self._last_render:
                wait = RENDER_COST_FACTOR * self._render_cost - (time.perf_counter() - self._rendered_at)
                if status == "streaming" and content and wait > 0:
                    if not self._render_timer.isActive():
                        self._render_timer.start(max(1, int(wait * 1000)))
                else:
                    self._render_reply(message)
            self.header.setText(self._header_text(message))
            short, full = stats_line(message) if status != "streaming" else ("", "")
            self.stats.setText(short)
            self.stats.setToolTip(full)
            self.thumbs_up.setChecked(message.get("rating") == 1)
            self.thumbs_down.setChecked(message.get("rating") == -1)
            self.thumbs_up.setIcon(icon("thumbs-up", "#1a7f37" if message.get("rating") == 1 else "#57606a"))
            self.thumbs_down.setIcon(icon("thumbs-down", "#cf222e" if message.get("rating") == -1 else "#57606a"))
            ideal = message.get("ideal_content")
            self.ideal.setText(f"★ Ideal answer saved ({len(ideal):,} characters)" if ideal else "")
            self.ideal.setToolTip(ideal or "")
            self.ideal.setVisible(bool(ideal))
        self._last_render = key
        notices = message.get("notices") or []
        self.notices.setText("<br>".join(f"<b>Note:</b> {n}" for n in notices))
        self.notices.setVisible(bool(notices))
        count, position = message.get("alternatives", 1), message.get("alternative", 1)
        for widget in (self.previous, self.position, self.next):
            widget.setVisible(count > 1)
        self.position.setText(f"{position} / {count}")
        self.previous.setEnabled(position > 1)
        self.next.setEnabled(position < count)
        streaming = status == "streaming"
        for button in [self.copy] + self.buttons:
            button.setVisible(not streaming)

    def _render_reply(self, message: dict) -> None:
        self._render_timer.stop()
        started = time.perf_counter()
        if not message["content"] and message.get("status") == "streaming":
            self.body.setHtml('<p style="color:#8c959f;"><i>Thinking…</i></p>')
            self.code_blocks = []
        else:
            rendered = render_markdown(message["content"])
            self.code_blocks = rendered.code_blocks
            self.body.setHtml(rendered.html)
        self._rendered_at = time.perf_counter()
        self._render_cost = self._rendered_at - started

    def _header_text(self, message: dict) -> str:
        status = message.get("status", "complete")
        name = message.get("model") or "Assistant"
        text = f"<b>{name}</b>"
        if status == "streaming":
            text += ' <span style="color:#8c959f;">writing…</span>'
        elif status in STATUS_TEXT:
            color = "#cf222e" if status == "error" else "#9a6700"
            text += f' <span style="color:{color};">· {STATUS_TEXT[status]}</span>'
        return text

    def set_actions_enabled(self, enabled: bool) -> None:
        for button in self.buttons + [self.previous, self.next]:
            button.setEnabled(enabled)
        if enabled:
            count, position = self.message.get("alternatives", 1), self.message.get("alternative", 1)
            self.previous.setEnabled(position > 1)
            self.next.setEnabled(position < count)

    def copy_code(self, index: int) -> None:
        if 0 <= index < len(self.code_blocks):
            QGuiApplication.clipboard().setText(self.code_blocks[index])

    def fit_width(self, available: int) -> None:
        """User bubbles hug their text up to a share of the width; replies use the full width."""
        if self.message["role"] != "user":
            return
        document = self.body.document().clone()
        document.setTextWidth(-1)
        ideal = math.ceil(document.idealWidth()) + 40
        self.frame.setMaximumWidth(max(120, min(ideal, int(available * USER_SHARE))))


class TranscriptView(QScrollArea):
    action = Signal(str, int, object)

    def __init__(self, model: TranscriptModel, parent=None):
        super().__init__(parent)
        self.model = model
        self.bubbles: list[MessageBubble] = []
        self._holders: list[QWidget] = []
        self._busy = False
        self._stick_to_bottom = True
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        container = QWidget()
        container.setObjectName("transcript")
        outer = QVBoxLayout(container)
        outer.setContentsMargins(24, 16, 24, 16)
        self.rows = QVBoxLayout()
        self.rows.setSpacing(14)
        outer.addLayout(self.rows)
        self.empty = QLabel(
            "<div style='font-size:17pt; color:#24292f;'>What would you like to talk about?</div>"
            "<p style='color:#6e7781;'>The model runs on this computer. Every conversation is saved as it "
            "happens and never leaves it.</p>")
        self.empty.setObjectName("emptyTranscript")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        outer.addWidget(self.empty, 1)
        outer.addStretch(0)
        self.setWidget(container)
        model.modelReset.connect(self.rebuild)
        model.rowsInserted.connect(self.rebuild)
        model.rowsRemoved.connect(self.rebuild)
        model.dataChanged.connect(self._changed)
        self.verticalScrollBar().rangeChanged.connect(self._follow)
        self.verticalScrollBar().valueChanged.connect(self._scrolled)
        self.rebuild()

    def _scrolled(self, value: int) -> None:
        self._stick_to_bottom = value >= self.verticalScrollBar().maximum() - 24

    def _follow(self, minimum: int, maximum: int) -> None:
        if self._stick_to_bottom:
            self.verticalScrollBar().setValue(maximum)

    def rebuild(self, *args) -> None:
        for holder in self._holders:
            self.rows.removeWidget(holder)
            holder.hide()
            holder.deleteLater()
        self.bubbles, self._holders = [], []
        count = self.model.rowCount()
        self.empty.setVisible(count == 0)
        for row in range(count):
            bubble = MessageBubble(self.model.index(row, 0).data(MessageRole))
            bubble.action.connect(self.action)
            bubble.set_actions_enabled(not self._busy)
            self.rows.addWidget(bubble)
            self.bubbles.append(bubble)
            self._holders.append(bubble)
        self._stick_to_bottom = True
        self._fit_widths()

    def _changed(self, top, bottom, roles=()) -> None:
        for row in range(top.row(), bottom.row() + 1):
            if row < len(self.bubbles):
                self.bubbles[row].update_message(self.model.index(row, 0).data(MessageRole))

    def set_busy(self, busy: bool) -> None:
        self._busy = busy
        for bubble in self.bubbles:
            bubble.set_actions_enabled(not busy)

    def bubble_for(self, message_id: int) -> MessageBubble | None:
        return next((b for b in self.bubbles if b.message["id"] == message_id), None)

    def _fit_widths(self) -> None:
        width = self.viewport().width() - 48
        for bubble in self.bubbles:
            bubble.fit_width(width)

    def resizeEvent(self, event):
        super().resizeEvent(event)
        self._fit_widths()
