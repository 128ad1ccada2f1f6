"""How two columns of the results table are drawn and edited."""
from __future__ import annotations

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QComboBox, QStyle, QStyledItemDelegate

from desktop.classify.results_model import ROW_ROLE

BAR_HIGH, BAR_MID, BAR_LOW = QColor("#3a9d5d"), QColor("#d9a53a"), QColor("#c8553d")


def bar_colour(score: float) -> QColor:
    return BAR_HIGH if score >= 0.7 else BAR_MID if score >= 0.4 else BAR_LOW


class ConfidenceBarDelegate(QStyledItemDelegate):
    """The confidence as a horizontal bar (green sure, amber hesitant, red unsure) with the figure."""

    def paint(self, painter, option, index):
        row = index.data(ROW_ROLE)
        style = option.widget.style() if option.widget else QApplication.style()
        style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, option, painter, option.widget)
        if not row or row.get("score") is None:
            return
        score = max(0.0, min(1.0, float(row["score"])))
        area = option.rect.adjusted(4, 5, -4, -5)
        text_width = option.fontMetrics.horizontalAdvance("100%") + 6
        track = QRect(area.left(), area.top(), max(10, area.width() - text_width), area.height())
        painter.save()
        painter.setRenderHint(painter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(option.palette.color(QPalette.ColorRole.Midlight))
        painter.drawRoundedRect(track, 3, 3)
        filled = QRect(track.left(), track.top(), max(2, round(track.width() * score)), track.height())
        painter.setBrush(bar_colour(score))
        painter.drawRoundedRect(filled, 3, 3)
        selected = option.state & QStyle.StateFlag.State_Selected
        painter.setPen(option.palette.color(
            QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text))
        label_rect = QRect(track.right() + 6, area.top(), text_width, area.height())
        painter.drawText(label_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, f"{score:.0%}")
        painter.restore()

    def sizeHint(self, option, index):
        hint = super().sizeHint(option, index)
        hint.setWidth(max(hint.width(), 150))
        return hint


class LabelDelegate(QStyledItemDelegate):
    """Edits the Label column with a list of the classifier's labels."""

    def __init__(self, labels_source, parent=None):
        super().__init__(parent)
        self._labels = labels_source  # a callable giving the current labels

    def createEditor(self, parent, option, index):
        editor = QComboBox(parent)
        editor.addItems(self._labels())
        return editor

    def setEditorData(self, editor, index):
        current = index.data(Qt.ItemDataRole.EditRole)
        position = editor.findText(current)
        if position >= 0:
            editor.setCurrentIndex(position)

    def setModelData(self, editor, model, index):
        model.setData(index, editor.currentText(), Qt.ItemDataRole.EditRole)
