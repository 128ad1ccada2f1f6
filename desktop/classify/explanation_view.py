"""The selected document's text, its evidence window marked, and the words that mattered coloured."""
from __future__ import annotations

import html

from PySide6.QtWidgets import QLabel, QTextBrowser, QVBoxLayout, QWidget

CONTEXT_CHARS = 1500     # text shown around the evidence window
MIN_WEIGHT = 0.12        # weaker words stay plain, so the strong ones stand out


def _colour(weight: float) -> str:
    alpha = 0.18 + 0.62 * min(1.0, abs(weight))
    return f"rgba(58, 157, 93, {alpha:.2f})" if weight > 0 else f"rgba(200, 85, 61, {alpha:.2f})"


def highlighted_html(text: str, spans: list[tuple[int, int, float]]) -> str:
    """HTML of `text` with each span's background coloured by its weight."""
    parts, position = [], 0
    for start, end, weight in sorted(spans):
        if start < position or abs(weight) < MIN_WEIGHT:
            continue
        parts.append(html.escape(text[position:start]))
        direction = "toward" if weight > 0 else "away from"
        parts.append(f'<span style="background-color: {_colour(weight)};" title="pushed {direction} the label '
                     f'({weight:+.2f})">{html.escape(text[start:end])}</span>')
        position = end
    parts.append(html.escape(text[position:]))
    return "".join(parts).replace("\n", "<br>")


class ExplanationView(QWidget):
    """A header (document, label, confidence) over a QTextBrowser with the highlighted text."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.header = QLabel("Select a row to see its text and the words that decided its label.")
        self.header.setWordWrap(True)
        self.legend = QLabel()
        self.legend.setWordWrap(True)
        self.browser = QTextBrowser()
        self.browser.setOpenLinks(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.header)
        layout.addWidget(self.legend)
        layout.addWidget(self.browser, 1)
        self.document_id: int | None = None
        self._text = ""
        self._window = (0, 0)

    def clear(self) -> None:
        self.document_id = None
        self.header.setText("Select a row to see its text and the words that decided its label.")
        self.legend.clear()
        self.browser.clear()

    def show_row(self, row: dict, text: str | None, label: str) -> None:
        """Show the text at once (evidence window in bold context); highlights follow from show_weights."""
        self.document_id = row["document_id"]
        title = f"<b>{html.escape(row['name'])}</b>"
        if row["status"] == "error":
            self.header.setText(f"{title}: <span style='color:#b00020'>{html.escape(row['error'] or '')}</span>")
            self.legend.clear()
            self.browser.clear()
            return
        runner = f" · runner-up {html.escape(row['runner_up'])} {row['runner_up_score']:.0%}" if row["runner_up"] else ""
        corrected = " (your correction)" if row.get("corrected_label") else ""
        self.header.setText(f"{title} — <b>{html.escape(label)}</b>{corrected} · confidence "
                            f"{row['score']:.0%}{runner}")
        text = text or ""
        start, end = row.get("evidence_start"), row.get("evidence_end")
        if start is None or end is None or end <= start or end > len(text):
            start, end = 0, min(len(text), 4000)
        self._text, self._window = text, (start, end)
        where = ""
        if (row.get("windows") or 1) > 1:
            where = (f" The document was read in {row['windows']} windows; shown is the one that weighed most "
                     f"(characters {start:,}–{end:,} of {len(text):,}).")
        self.legend.setText("Working out which words mattered…" + where)
        self._render([])

    def show_weights(self, document_id: int, spans: list[tuple[int, int, float]], label: str,
                     top_words: list[tuple[str, float]]) -> None:
        if document_id != self.document_id:
            return  # the user has moved on to another row
        self._render(spans)
        words = ", ".join(html.escape(w) for w, _ in top_words) or "none stood out"
        self.legend.setText(
            f"<span style='background-color:{_colour(0.8)}'>&nbsp;green&nbsp;</span> pushed toward "
            f"<b>{html.escape(label)}</b>, <span style='background-color:{_colour(-0.8)}'>&nbsp;red&nbsp;</span> "
            f"pushed away (each word left out in turn). Strongest: {words}."
        )

    def show_failure(self, document_id: int, message: str) -> None:
        if document_id == self.document_id:
            self.legend.setText(f"The explanation could not be made: {html.escape(message)}")

    def _render(self, spans: list[tuple[int, int, float]]) -> None:
        """spans: character offsets within the evidence window."""
        text, (start, end) = self._text, self._window
        before_from = max(0, start - CONTEXT_CHARS)
        after_to = min(len(text), end + CONTEXT_CHARS)
        grey = "color: #777777;"
        body = (
            ("…" if before_from > 0 else "")
            + f"<span style='{grey}'>{html.escape(text[before_from:start]).replace(chr(10), '<br>')}</span>"
            + highlighted_html(text[start:end], spans)
            + f"<span style='{grey}'>{html.escape(text[end:after_to]).replace(chr(10), '<br>')}</span>"
            + ("…" if after_to < len(text) else "")
        )
        self.browser.setHtml(f"<div style='line-height: 140%; font-size: 11pt;'>{body}</div>")
