"""One job, while it runs and after: progress, the live loss plot, the numbers of the moment,
Stop and Resume; when it ends, its metrics (a confusion matrix for classifiers, before/after
generations for chat models) and the ways to use the new model.
"""
from __future__ import annotations

import html
import re
import time
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QAbstractItemView, QFrame, QGridLayout, QHBoxLayout, QHeaderView, QLabel, QProgressBar, QPushButton,
    QSplitter, QTableWidget, QTableWidgetItem, QTabWidget, QTextBrowser, QVBoxLayout, QWidget,
)

from desktop.finetune.events import JobState
from desktop.finetune.jobs_model import STATUS_COLOURS, json_field, job_duration, job_title
from desktop.finetune.plots import ConfusionMatrixView, LossPlot
from desktop.finetune.process import STDERR_FILE
from desktop.format import human_duration

STATUS_TEXT = {
    "queued": "Starting",
    "running": "Training",
    "completed": "Finished",
    "stopped": "Stopped — resume any time",
    "interrupted": "Interrupted — the app or the computer stopped while it trained; resume it",
    "failed": "Failed",
}


def format_number(value) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
        return f"{value:.2e}"
    return f"{value:.4g}"


def scalar_metrics(metrics: dict) -> list[tuple[str, str]]:
    return [(key.replace("_", " "), format_number(value)) for key, value in metrics.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)]


def confusion_of(metrics: dict, labels: list[str]) -> tuple[list[list[float]], list[str]] | None:
    matrix = metrics.get("confusion_matrix")
    if isinstance(matrix, dict):  # {"labels": [...], "matrix": [[...]]}
        labels, matrix = matrix.get("labels") or labels, matrix.get("matrix")
    labels = metrics.get("labels") or labels
    if not matrix or not labels or len(matrix) != len(labels):
        return None
    return matrix, list(labels)


def generations_of(metrics: dict) -> list[dict]:
    samples = metrics.get("generations") or metrics.get("samples") or []
    return [s for s in samples if isinstance(s, dict)]


def per_label_of(metrics: dict) -> dict:
    per_label = metrics.get("per_label") or {}
    return per_label if isinstance(per_label, dict) else {}


class Stat(QFrame):
    """A small caption over a big number."""

    def __init__(self, caption: str, parent=None):
        super().__init__(parent)
        self.setObjectName("stat")
        self.setStyleSheet("QFrame#stat { background: #f6f6f8; border-radius: 6px; }")
        self.caption = QLabel(caption)
        self.caption.setStyleSheet("color: #6b7280; font-size: 11px;")
        self.value = QLabel("—")
        self.value.setStyleSheet("font-size: 16px; font-weight: 600;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.addWidget(self.caption)
        layout.addWidget(self.value)

    def set(self, text: str) -> None:
        self.value.setText(text)


class JobView(QWidget):
    stop_clicked = Signal()
    resume_clicked = Signal()
    chat_clicked = Signal()
    use_classifier_clicked = Signal()
    compare_clicked = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.job: dict = {}
        self.config: dict = {}
        self.state = JobState()

        self.title = QLabel()
        self.title.setStyleSheet("font-size: 18px; font-weight: 600;")
        self.status = QLabel()
        self.status.setStyleSheet("font-size: 13px; font-weight: 600;")
        self.subtitle = QLabel()
        self.subtitle.setStyleSheet("color: #6b7280;")
        self.subtitle.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.subtitle.setWordWrap(True)

        self.stop_button = QPushButton("Stop")
        self.resume_button = QPushButton("Resume")
        self.chat_button = QPushButton("Chat with it")
        self.classifier_button = QPushButton("Use for this classifier")
        self.compare_button = QPushButton("Compare with base")
        self.stop_button.clicked.connect(self.stop_clicked)
        self.resume_button.clicked.connect(self.resume_clicked)
        self.chat_button.clicked.connect(self.chat_clicked)
        self.classifier_button.clicked.connect(self.use_classifier_clicked)
        self.compare_button.clicked.connect(self.compare_clicked)
        buttons = QHBoxLayout()
        for button in (self.stop_button, self.resume_button, self.chat_button, self.classifier_button,
                       self.compare_button):
            buttons.addWidget(button)
        buttons.addStretch()

        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.setFormat("%p%")
        self.progress_text = QLabel()
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.stats = {
            "lr": Stat("Learning rate"),
            "throughput": Stat("Throughput"),
            "memory": Stat("Device memory"),
            "loss": Stat("Training loss"),
            "eval": Stat("Validation"),
        }
        stats_row = QHBoxLayout()
        for stat in self.stats.values():
            stats_row.addWidget(stat)

        # -- tabs: training curves, results, settings -----------------------------------------
        self.plot = LossPlot()
        self.metrics_table = self._table(["Metric", "Value"])
        self.per_label_table = self._table(["Label", "Precision", "Recall", "F1", "Examples"])
        self.confusion = ConfusionMatrixView()
        self.generations = QTextBrowser()
        self.generations.setOpenExternalLinks(False)
        self.results_hint = QLabel()
        self.results_hint.setWordWrap(True)
        numbers = QWidget()
        numbers_layout = QVBoxLayout(numbers)
        numbers_layout.setContentsMargins(0, 0, 0, 0)
        numbers_layout.addWidget(self.metrics_table, 1)
        numbers_layout.addWidget(self.per_label_table, 1)
        self.results_split = QSplitter()
        self.results_split.addWidget(numbers)
        self.results_split.addWidget(self.confusion)
        self.results_split.addWidget(self.generations)
        self.results_split.setStretchFactor(0, 2)
        self.results_split.setStretchFactor(1, 3)
        self.results_split.setStretchFactor(2, 3)
        numbers.setMinimumWidth(330)
        results = QWidget()
        results_layout = QVBoxLayout(results)
        results_layout.addWidget(self.results_hint)
        results_layout.addWidget(self.results_split, 1)

        self.settings_table = self._table(["Setting", "Value", "Why"])
        self.settings_table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        self.settings_table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.settings_table.setWordWrap(True)
        self.log_view = QTextBrowser()
        self.log_view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))

        self.tabs = QTabWidget()
        self.tabs.addTab(self.plot, "Training")
        self.tabs.addTab(results, "Results")
        self.tabs.addTab(self.settings_table, "Settings and data")
        self.tabs.addTab(self.log_view, "Log")
        self.tabs.currentChanged.connect(self._tab_changed)

        header = QGridLayout()
        header.addWidget(self.title, 0, 0)
        header.addWidget(self.status, 0, 1, Qt.AlignmentFlag.AlignRight)
        header.addWidget(self.subtitle, 1, 0, 1, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.progress_text)
        layout.addWidget(self.message)
        layout.addLayout(stats_row)
        layout.addWidget(self.tabs, 1)

    @staticmethod
    def _table(headers: list[str]) -> QTableWidget:
        table = QTableWidget(0, len(headers))
        table.setHorizontalHeaderLabels(headers)
        table.verticalHeader().hide()
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        table.horizontalHeader().setStretchLastSection(True)
        return table

    @staticmethod
    def _fill(table: QTableWidget, rows: list[tuple]) -> None:
        table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                item = QTableWidgetItem(str(text))
                item.setToolTip(str(text))
                if c == 2 and table.columnCount() == 3:
                    item.setForeground(Qt.GlobalColor.darkGray)
                table.setItem(r, c, item)
        if table.columnCount() == 3:  # a long value (a hash, a path) must not squeeze out the reasons
            table.resizeColumnToContents(1)
            table.setColumnWidth(1, min(table.columnWidth(1), 240))
        table.resizeRowsToContents()

    # -- showing a job -------------------------------------------------------------------------
    def show_job(self, job: dict, state: JobState, config: dict | None = None) -> None:
        """A job from the jobs table, with its events so far and its config.json."""
        self.job = dict(job)
        self.config = config or {}
        self.state = state
        self.title.setText(job_title(self.job))
        details = [f"base {self.job.get('base_model') or '?'}"]
        if self.job.get("snapshot_hash"):
            details.append(f"data snapshot {str(self.job['snapshot_hash'])[:12]}")
        if self.job.get("job_dir"):
            details.append(f"folder {self.job['job_dir']}")
        self.subtitle.setText(" · ".join(details))
        self._fill(self.settings_table, settings_rows(self.config, self.job))
        self.message.clear()
        self.update_state(state)

    def set_status(self, status: str, message: str = "") -> None:
        self.job["status"] = status
        self.status.setText(STATUS_TEXT.get(status, status))
        self.status.setStyleSheet(
            f"font-size: 13px; font-weight: 600; color: {STATUS_COLOURS.get(status, '#333')};"
        )
        running = status in ("running", "queued")
        self.stop_button.setVisible(running)
        self.stop_button.setEnabled(running)
        self.resume_button.setVisible(status in ("stopped", "interrupted", "failed") and self.resumable())
        finished = status == "completed"
        kind = self.job.get("kind")
        model_kind = self.model_kind()
        self.chat_button.setVisible(finished and model_kind == "chat")
        self.compare_button.setVisible(finished and model_kind == "chat")
        self.classifier_button.setVisible(finished and model_kind == "classifier")
        message = status_message(status, message, self.state)
        colour = "#b00020" if status == "failed" else "#333333"
        self.message.setStyleSheet(f"color: {colour};")
        self.message.setText(message)
        if finished and kind:
            self.tabs.setCurrentIndex(1)

    def resumable(self) -> bool:
        return bool(self.state.checkpoints) or self.job.get("status") in ("stopped", "interrupted")

    def model_kind(self) -> str:
        """What the new model is: 'chat', 'classifier' or 'encoder' (continued pre-training of one)."""
        kind = self.job.get("kind")
        if kind in ("chat", "classifier"):
            return kind
        objective = self.config.get("objective") or (self.job.get("config") or {}).get("objective")
        return "chat" if objective == "causal-lm" else "encoder"

    def update_state(self, state: JobState) -> None:
        """Everything from the job's events so far (called when new lines arrive)."""
        self.state = state
        self.update_progress()
        step = state.last_step
        self.stats["lr"].set(format_number(step["lr"]) if step.get("lr") is not None else "—")
        throughput = state.throughput
        self.stats["throughput"].set(f"{throughput[0]:,.1f} {throughput[1]}" if throughput else "—")
        memory = step.get("memory_mb")
        device = state.device.upper() if state.device else ""
        self.stats["memory"].set(f"{float(memory):,.0f} MB {device}".strip() if memory is not None else device or "—")
        self.stats["loss"].set(format_number(step["loss"]) if step.get("loss") is not None else "—")
        self.stats["eval"].set(eval_summary(state.last_eval))
        self.plot.show_state(state)
        self.show_results(state.metrics or self.job.get("metrics") or json_field(self.job, "metrics_json"))
        if self.tabs.currentWidget() is self.log_view:
            self.show_log()

    def update_progress(self) -> None:
        """The bar and the line under it; the clock moves on between the trainer's lines."""
        state, step = self.state, self.state.last_step
        running = state.status is None and self.job.get("status") == "running"
        finished = self.job.get("status") == "completed" or state.status == "completed"
        waiting = self.job.get("status") in ("running", "queued") and not state.step and state.status is None
        self.progress.setRange(0, 0 if waiting else 1000)  # busy until the first step: loading takes a while
        self.progress.setValue(1000 if finished else int(state.fraction * 1000))
        since = max(0.0, time.time() - float(step["time"])) if running and step.get("time") else 0.0
        parts = []
        if state.total_steps:
            parts.append(f"Step {state.step} of {state.total_steps}")
        if step.get("epoch") is not None:
            epochs = f" of {format_number(state.epochs)}" if state.epochs else ""
            parts.append(f"epoch {float(step['epoch']):.2f}{epochs}")
        elapsed = float(step["elapsed_s"]) + since if step.get("elapsed_s") is not None else job_duration(self.job)
        if elapsed is not None:
            parts.append(f"{human_duration(elapsed)} elapsed")
        if running and step.get("eta_s") is not None:
            parts.append(f"about {human_duration(max(0.0, float(step['eta_s']) - since))} left")
        if state.status_message and running:
            parts.append(state.status_message[:1].upper() + state.status_message[1:] + "…")
        elif not parts and self.job.get("status") in ("running", "queued"):
            parts.append("Starting the trainer…")
        if state.warnings:
            parts.append(f"⚠ {state.warnings[-1]}")
        self.progress_text.setText(" · ".join(parts))

    def _tab_changed(self, _index: int) -> None:
        if self.tabs.currentWidget() is self.log_view:
            self.show_log()

    def show_log(self) -> None:
        self.log_view.setPlainText(self.log_text())

    def show_results(self, metrics: dict) -> None:
        self._fill(self.metrics_table, scalar_metrics(metrics))
        per_label = per_label_of(metrics)
        self._fill(self.per_label_table, [
            (label, *(format_number(values.get(key, "")) for key in ("precision", "recall", "f1", "support")))
            for label, values in per_label.items() if isinstance(values, dict)
        ])
        self.per_label_table.setVisible(bool(per_label))
        confusion = confusion_of(metrics, self.labels())
        self.confusion.setVisible(confusion is not None)
        if confusion is not None:
            self.confusion.show_matrix(*confusion)
        samples = generations_of(metrics)
        self.generations.setVisible(bool(samples))
        self.generations.setHtml(generations_html(samples))
        if not metrics:
            self.results_hint.setText("The results appear here when the job finishes.")
        else:
            self.results_hint.setText("Measured on the validation split, which the model never trained on.")

    def labels(self) -> list[str]:
        return list((self.config.get("data") or {}).get("labels") or [])

    def log_text(self) -> str:
        """The trainer's own error log and whatever it printed on stderr, last part first."""
        folder = self.job.get("job_dir")
        if not folder:
            return ""
        parts = []
        for name in ("error.log", STDERR_FILE):
            try:
                text = (Path(folder) / name).read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            if text.strip():
                parts.append(f"── {name} ──\n{text[-20_000:]}")
        return "\n\n".join(parts) or "Nothing was logged."


def status_message(status: str, message: str, state: JobState) -> str:
    """The trainer's last word on the job, in the window's terms (Resume, not `--resume`)."""
    if status == "stopped":
        if state.checkpoints:
            return (f"Stopped at step {state.step}: its checkpoint at step {state.checkpoints[-1]['step']} is kept, "
                    "and Resume continues from there.")
        if state.step:
            return f"Stopped at step {state.step}; Resume continues from the last checkpoint."
        return "Stopped before training began; Resume starts it."
    if status == "interrupted":
        return "The trainer ended before finishing (the app or the computer stopped); Resume continues from " \
               "the last checkpoint."
    message = re.sub(r"\s*\(--[^)]*\)|\s+with\s+--[\w-]+", "", message or "").strip()
    return message[:1].upper() + message[1:]


def eval_summary(event: dict) -> str:
    """The validation score that matters most: accuracy for a classifier, else perplexity or loss."""
    if not event:
        return "—"
    if event.get("accuracy") is not None:
        return f"accuracy {float(event['accuracy']):.0%}"
    for key, label in (("perplexity", "perplexity"), ("eval_loss", "loss")):
        if event.get(key) is not None:
            return f"{label} {format_number(float(event[key]))}"
    return "—"


def settings_rows(config: dict, job: dict) -> list[tuple[str, str, str]]:
    """(setting, value, why) rows from a job's config.json: every hyperparameter, then the data."""
    rows = []
    base = config.get("base") or {}
    if base:
        rows.append(("base model", str(base.get("name", "")), f"{base.get('kind', '')}, "
                     f"{format_number(base.get('parameters', 0))} parameters"))
    if config.get("device"):
        processes = int(config.get("processes") or 1)
        rows.append(("device", config["device"] + (f" × {processes}" if processes > 1 else ""), ""))
    for name, choice in (config.get("hyperparameters") or {}).items():
        if isinstance(choice, dict) and "value" in choice:
            rows.append((name.replace("_", " "), shown_value(choice["value"]), str(choice.get("reason", ""))))
    data = config.get("data") or {}
    if data:
        rows.append(("training rows", format_number(data.get("train_rows", "")), "frozen in data/train.jsonl"))
        rows.append(("validation rows", format_number(data.get("eval_rows", "")), "frozen in data/eval.jsonl"))
        if data.get("labels"):
            rows.append(("labels", ", ".join(data["labels"]), ""))
        source = data.get("source") or {}
        if source:
            rows.append(("data source", ", ".join(f"{k} {v}" for k, v in source.items()), ""))
    snapshot = data.get("sha256") or job.get("snapshot_hash")
    if snapshot:
        rows.append(("data snapshot (sha256)", str(snapshot), "the exact rows this job trained on"))
    for warning in config.get("warnings") or []:
        rows.append(("warning", "", warning))
    return rows


def shown_value(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return format_number(value)


def generations_html(samples: list[dict]) -> str:
    parts = ["<h3>Before and after</h3>"]
    for sample in samples:
        prompt = html.escape(prompt_text(sample.get("prompt", "")))
        before = html.escape(str(sample.get("before", ""))).replace("\n", "<br>")
        after = html.escape(str(sample.get("after", ""))).replace("\n", "<br>")
        reference = html.escape(str(sample.get("reference") or "")).replace("\n", "<br>")
        expected = f"<p style='color:#6b7280'><b>Expected:</b> {reference}</p>" if reference else ""
        parts.append(
            f"<p><b>Prompt:</b> {prompt}</p>{expected}"
            "<table width='100%' cellspacing='6'><tr>"
            f"<td width='50%' style='background:#f4f4f6;padding:6px'><b>Before</b><br>{before}</td>"
            f"<td width='50%' style='background:#fdf1ea;padding:6px'><b>After</b><br>{after}</td>"
            "</tr></table>"
        )
    return "".join(parts)


def prompt_text(prompt) -> str:
    """The last user turn of a held-out conversation (or the prompt itself when it is text)."""
    if isinstance(prompt, list):
        users = [m.get("content", "") for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
        return users[-1] if users else ""
    return str(prompt)
