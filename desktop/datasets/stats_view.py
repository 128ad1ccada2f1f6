"""Statistics of a dataset as pictures: label distribution, token-length histogram with the
model's context marked, and how many rows that context would cut short."""
from __future__ import annotations

import html

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSizePolicy, QVBoxLayout, QWidget,
)

from desktop.background import BackgroundOp
from desktop.datasets.operations import TokenizerCache, dataset_statistics
from desktop.store import Database
from desktop.store import datasets as store
from models.datasets.stats import DatasetStats, histogram

BAR_BRUSH = "#4a7ebb"
TRUNCATED_BRUSH = "#d0553f"
MAX_BARS = 40


def _plot(title: str) -> pg.PlotWidget:
    plot = pg.PlotWidget(background="w")
    plot.setTitle(title, color="#333", size="11pt")
    plot.showGrid(x=False, y=True, alpha=0.25)
    plot.setMouseEnabled(x=False, y=False)
    plot.hideButtons()
    plot.setMenuEnabled(False)
    plot.setMinimumHeight(260)
    for side in ("left", "bottom"):
        plot.getAxis(side).setTextPen("#333")
        plot.getAxis(side).setPen("#888")
    return plot


class StatsView(QWidget):
    def __init__(self, db: Database, tokenizers: TokenizerCache, parent=None):
        super().__init__(parent)
        self.db, self.tokenizers = db, tokenizers
        self.dataset: dict | None = None
        self.stats: DatasetStats | None = None
        self.lengths: list[int] = []
        self.op: BackgroundOp | None = None
        self.stale = True

        self.model_combo = QComboBox()
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.model_combo.setToolTip("Tokens are counted with this model's tokenizer and compared with its context")
        self.compute_button = QPushButton("Count")
        self.compute_button.clicked.connect(self.compute)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setMaximumWidth(260)
        self.progress.hide()
        top = QHBoxLayout()
        top.addWidget(QLabel("Count tokens with"))
        top.addWidget(self.model_combo)
        top.addWidget(self.compute_button)
        top.addWidget(self.progress)
        top.addStretch()

        self.summary = QLabel()
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.summary.setWordWrap(True)
        self.summary.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.summary.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.labels_plot = _plot("Rows per label")
        self.tokens_plot = _plot("Token length")
        self.tokens_plot.setLabel("bottom", "tokens per row")
        self.tokens_plot.setLabel("left", "rows")
        plots = QHBoxLayout()
        plots.addWidget(self.labels_plot, 1)
        plots.addWidget(self.tokens_plot, 1)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.summary)
        layout.addLayout(plots, 1)

    def set_dataset(self, dataset: dict | None) -> None:
        kind_changed = self.dataset is None or dataset is None or dataset["kind"] != self.dataset["kind"]
        self.dataset = dataset
        self.stale = True
        if kind_changed and dataset is not None:
            self.model_combo.clear()
            self.model_combo.addItems(self.tokenizers.model_names(dataset["kind"]))
        self.labels_plot.setTitle("Rows per label" if dataset is None or dataset["kind"] == "classification"
                                  else "Messages per row", color="#333", size="11pt")

    def compute(self) -> BackgroundOp | None:
        """Statistics and token lengths, off the GUI thread."""
        if self.dataset is None:
            return None
        if self.op is not None:
            self.op.cancel()
        db, dataset_id, model, tokenizers = self.db, self.dataset["id"], self.model_combo.currentText(), self.tokenizers
        self.stale = False
        self.progress.setValue(0)
        self.progress.show()
        self.compute_button.setEnabled(False)

        def work(op):
            tokenizer = context = None
            if model:
                op.progress(0.0, f"Loading the tokenizer of {model}…")
                tokenizer, context = tokenizers.get(model)
            stats, lengths = dataset_statistics(db, dataset_id, tokenizer, context, op.progress, op.cancelled)
            return dataset_id, model, stats, lengths, store.split_counts(db, dataset_id)

        op = BackgroundOp(work)

        def done(result):
            if op is self.op:
                self.progress.hide()
                self.compute_button.setEnabled(True)
                self.show_stats(*result)

        def failed(message):
            if op is self.op:
                self.progress.hide()
                self.compute_button.setEnabled(True)
                self.summary.setText(f"<span style='color:#b00020'>{html.escape(message)}</span>")

        self.op = op.success(done).failure(failed).on_progress(lambda f, _t: self.progress.setValue(int(f * 100)))
        return op.run_in_background()

    def show_stats(self, dataset_id: int, model: str, stats: DatasetStats, lengths: list[int], splits: dict) -> None:
        if self.dataset is None or dataset_id != self.dataset["id"]:
            return
        self.stats, self.lengths = stats, lengths
        self.summary.setText(self._summary_html(model, stats, splits))
        self._draw_labels(stats)
        self._draw_tokens(stats, lengths)

    def _summary_html(self, model: str, stats: DatasetStats, splits: dict) -> str:
        parts = [f"<b>{stats.rows:,}</b> rows"]
        if set(splits) - {"unsplit"}:
            parts.append(", ".join(f"{n:,} {part}" for part, n in sorted(splits.items())))
        if stats.label_counts:
            parts.append(f"{len(stats.label_counts)} labels")
        if stats.messages_per_row:
            parts.append(f"{stats.messages_per_row.mean:.1f} messages per row on average")
        lines = [" · ".join(parts)]
        lines.append(f"{stats.empty_rows:,} empty, {stats.duplicate_rows:,} exact duplicates"
                     + (f", {stats.conflicting_texts:,} text{'s' if stats.conflicting_texts != 1 else ''} "
                        "with conflicting labels"
                        if stats.kind == "classification" else ""))
        if stats.tokens:
            t = stats.tokens
            lines.append(f"Tokens ({html.escape(model)}): median {t.median:,.0f}, 95% under {t.p95:,.0f}, "
                         f"longest {t.maximum:,}")
        if stats.context_length:
            colour = "#b00020" if stats.truncated else "#2e7d32"
            lines.append(f"Context {stats.context_length:,} tokens: <b style='color:{colour}'>{stats.truncated:,} "
                         f"row{'s' if stats.truncated != 1 else ''} would be truncated</b>")
        return "<br>".join(lines)

    def _draw_labels(self, stats: DatasetStats) -> None:
        plot = self.labels_plot
        plot.clear()
        if stats.kind == "classification":
            items = list(stats.label_counts.items())[:MAX_BARS]
        else:
            items = [(str(n), rows) for n, rows in stats.message_count_rows.items()][:MAX_BARS]
        if not items:
            return
        xs = list(range(len(items)))
        plot.addItem(pg.BarGraphItem(x=xs, height=[n for _, n in items], width=0.7, brush=BAR_BRUSH, pen=None))
        labels = [(x, label if len(label) <= 14 else label[:13] + "…") for x, (label, _) in zip(xs, items)]
        plot.getAxis("bottom").setTicks([labels])
        plot.setXRange(-0.6, len(items) - 0.4, padding=0)
        plot.setYRange(0, max(n for _, n in items) * 1.1, padding=0)

    def _draw_tokens(self, stats: DatasetStats, lengths: list[int]) -> None:
        plot = self.tokens_plot
        plot.clear()
        if not lengths:
            plot.setTitle("Token length (choose a model and count)", color="#333", size="11pt")
            return
        counts, edges = histogram(lengths)
        context = stats.context_length
        brushes = [TRUNCATED_BRUSH if context and left >= context else BAR_BRUSH for left in edges[:-1]]
        centres = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:])]
        widths = [(b - a) * 0.95 for a, b in zip(edges[:-1], edges[1:])]
        plot.addItem(pg.BarGraphItem(x=centres, height=counts, width=widths, brushes=brushes, pen=None))
        right = edges[-1]
        title = "Token length"
        if context and context > 4 * right:
            title += f" (every row fits the context of {context:,})"
            context = None
        plot.setTitle(title, color="#333", size="11pt")
        if context:
            line = pg.InfiniteLine(pos=context, angle=90, pen=pg.mkPen("#b00020", width=2, style=Qt.PenStyle.DashLine),
                                   label=f"context {context:,}: {stats.truncated:,} truncated",
                                   labelOpts={"position": 0.9, "color": "#b00020", "anchors": [(1, 0.5), (1, 0.5)]})
            plot.addItem(line)
            right = max(right, context * 1.02)
        plot.setXRange(0, right, padding=0.02)
        plot.setYRange(0, max(counts) * 1.1, padding=0)
