"""The jobs list: every fine-tuning job from the `jobs` table, newest first."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from desktop.format import human_duration
from desktop.widgets.record_table import RecordTableModel

COLUMNS = ("Model", "Status", "Result", "Duration", "Started")
STATUS_COLOURS = {
    "running": "#2f6fb3",
    "queued": "#6b7280",
    "completed": "#1f7a3a",
    "stopped": "#9a6700",
    "interrupted": "#9a6700",
    "failed": "#b00020",
}
TASK_NAMES = {"chat": "chat", "classifier": "classifier", "pretrain": "documents"}


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def job_duration(job: dict, now: datetime | None = None) -> float | None:
    """Seconds from start to finish, or to now while it runs."""
    started = parse_time(job.get("started"))
    if started is None:
        return None
    finished = parse_time(job.get("finished"))
    if finished is None:
        if job.get("status") not in ("running", "queued"):
            return None
        finished = now or datetime.now(timezone.utc)
    return max(0.0, (finished - started).total_seconds())


def json_field(job: dict, key: str) -> dict:
    value = job.get(key)
    if isinstance(value, dict):
        return value
    try:
        parsed = json.loads(value) if value else {}
    except (TypeError, json.JSONDecodeError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def short_time(moment: datetime | None, now: datetime | None = None) -> str:
    """'14:05' today, '22 Nov' this year, '2024-11-22' before."""
    if moment is None:
        return ""
    local, today = moment.astimezone(), (now or datetime.now(timezone.utc)).astimezone()
    if local.date() == today.date():
        return local.strftime("%H:%M")
    return local.strftime("%d %b") if local.year == today.year else local.strftime("%Y-%m-%d")


def job_metrics(job: dict) -> dict:
    return job.get("metrics") or json_field(job, "metrics_json")


def result_text(metrics: dict) -> str:
    """The one number that says how a finished job did."""
    if isinstance(metrics.get("accuracy"), (int, float)):
        return f"acc {metrics['accuracy']:.0%}"
    if isinstance(metrics.get("perplexity"), (int, float)):
        return f"ppl {metrics['perplexity']:.3g}"
    return ""


def job_title(job: dict) -> str:
    return job.get("model_name") or f"job {str(job.get('id', ''))[:8]}"


class JobsTableModel(RecordTableModel):
    """Jobs (rows of the jobs table as dicts), newest first."""

    def __init__(self, parent=None):
        super().__init__(COLUMNS, parent)

    def set_jobs(self, jobs: list[dict]) -> None:
        self.set_records(sorted(jobs, key=lambda job: str(job.get("created") or ""), reverse=True))

    def row_of(self, job_id: str) -> int:
        for row, job in enumerate(self.records):
            if job.get("id") == job_id:
                return row
        return -1

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        job = self.records[index.row()]
        column = COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            if column == "Model":
                return job_title(job)
            if column == "Status":
                return job.get("status") or ""
            if column == "Result":
                return result_text(job_metrics(job))
            if column == "Duration":
                seconds = job_duration(job)
                return human_duration(seconds) if seconds is not None else ""
            if column == "Started":
                return short_time(parse_time(job.get("started") or job.get("created")))
        if role == Qt.ItemDataRole.ForegroundRole and column == "Status":
            colour = STATUS_COLOURS.get(job.get("status"))
            return QColor(colour) if colour else None
        if role == Qt.ItemDataRole.ToolTipRole:
            return job_tooltip(job)
        if role == Qt.ItemDataRole.UserRole:
            return job
        return None


def job_tooltip(job: dict) -> str:
    task = TASK_NAMES.get(job.get("kind"), job.get("kind") or "")
    lines = [f"{job_title(job)}: {task}, {job.get('status')}", f"base: {job.get('base_model') or '?'}"]
    if job.get("snapshot_hash"):
        lines.append(f"data snapshot: {str(job['snapshot_hash'])[:12]}")
    metrics = job_metrics(job)
    shown = [f"{key} {value:.3g}" for key, value in metrics.items() if isinstance(value, (int, float))][:4]
    if shown:
        lines.append(", ".join(shown))
    return "\n".join(lines)
