"""The conversation list's look: title on one line, time or search snippet below it."""
from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QStyle, QStyledItemDelegate

from desktop.chat.conversation_model import SubtitleRole

PADDING = 10


class ConversationDelegate(QStyledItemDelegate):
    def sizeHint(self, option, index):
        metrics = option.fontMetrics
        return QSize(120, metrics.height() * 2 + PADDING * 2 + 2)

    def paint(self, painter, option, index):
        painter.save()
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        hovered = bool(option.state & QStyle.StateFlag.State_MouseOver)
        rect = option.rect.adjusted(6, 2, -6, -2)
        if selected or hovered:
            painter.setRenderHint(painter.RenderHint.Antialiasing)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor("#fbe1d3") if selected else QColor("#eceef1"))
            painter.drawRoundedRect(rect, 8, 8)
        text_rect = rect.adjusted(PADDING, PADDING - 2, -PADDING, -PADDING + 2)
        title_font = QFont(option.font)
        title_font.setWeight(QFont.Weight.DemiBold)
        painter.setFont(title_font)
        painter.setPen(option.palette.color(QPalette.ColorRole.Text))
        line = option.fontMetrics.height()
        title = painter.fontMetrics().elidedText(index.data() or "", Qt.TextElideMode.ElideRight, text_rect.width())
        painter.drawText(QRect(text_rect.left(), text_rect.top(), text_rect.width(), line), Qt.AlignmentFlag.AlignLeft, title)
        painter.setFont(option.font)
        painter.setPen(QColor("#6e7781"))
        subtitle = " ".join(str(index.data(SubtitleRole) or "").split())
        subtitle = option.fontMetrics.elidedText(subtitle, Qt.TextElideMode.ElideRight, text_rect.width())
        painter.drawText(QRect(text_rect.left(), text_rect.top() + line + 2, text_rect.width(), line),
                         Qt.AlignmentFlag.AlignLeft, subtitle)
        painter.restore()
