"""The fine-tuning engine as the page uses it: plan a job, freeze its data into a job folder, and
keep the `jobs` table in step with what the trainer reports.

Everything here is plain Python that may take seconds (tokenising data for the plan, writing the
snapshot): the page calls it through BackgroundOp. The ML lives in models.finetune, the rows in
desktop.store.jobs.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from desktop.finetune import sources
from desktop.finetune.form import JobRequest
from desktop.finetune.jobs_model import json_field
from desktop.finetune.process import trainer_alive
from desktop.format import human_duration, human_size

log = logging.getLogger(__name__)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class PlanView:
    """A plan as the form shows it."""

    rows: list[tuple[str, str, str]]  # (setting, value, why)
    estimate: str
    fits: bool
    advice: list[str] = field(default_factory=list)
    fixes: tuple[str, ...] = ()  # which one-click fixes apply: batch, lora, max_length, cpu
    values: dict = field(default_factory=dict)  # the chosen values by name, for the fixes
    plan: object = None


# -- jobs table --------------------------------------------------------------------------------------
def _jobs_store():
    from desktop.store import jobs

    return jobs


def list_jobs(db) -> list[dict]:
    return [dict(row) for row in _jobs_store().list_jobs(db)]


def get_job(db, job_id: str) -> dict | None:
    if not job_id:
        return None
    row = _jobs_store().get_job(db, job_id)
    return dict(row) if row is not None else None


def mark_running(db, job_id: str, pid: int, resume: bool) -> None:
    changes = {"status": "running", "pid": pid, "finished": None}
    job = get_job(db, job_id) or {}
    if not resume or not job.get("started"):
        changes["started"] = now()
    _jobs_store().update_job(db, job_id, **changes)


def mark_ended(db, job_id: str, status: str, metrics: dict, message: str = "") -> None:
    changes = {"status": status, "finished": now(), "pid": None}
    if metrics:
        changes["metrics_json"] = json.dumps(metrics)
    _jobs_store().update_job(db, job_id, **changes)
    _remember_message(db, job_id, message)


def _remember_message(db, job_id: str, message: str) -> None:
    job = get_job(db, job_id)
    if job and job.get("job_dir"):
        try:
            (Path(job["job_dir"]) / "status-message.txt").write_text(message or "", encoding="utf-8")
        except OSError:
            pass


def job_message(job: dict) -> str:
    folder = job.get("job_dir")
    if not folder:
        return ""
    try:
        return (Path(folder) / "status-message.txt").read_text(encoding="utf-8")
    except OSError:
        return ""


def trainer_running(job: dict) -> bool:
    return trainer_alive(job.get("pid"), Path(job.get("job_dir") or ""))


def read_config(job: dict) -> dict:
    folder = job.get("job_dir")
    if folder:
        try:
            return json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            pass
    return json_field(job, "config_json")


# -- planning ------------------------------------------------------------------------------------------
def plan_view(db, registry, request: JobRequest) -> PlanView:
    raise NotImplementedError


def create_job(db, registry, request: JobRequest) -> dict:
    raise NotImplementedError


# -- using the result ------------------------------------------------------------------------------------
def registered_entry(registry, name: str):
    try:
        return registry.get(name)
    except Exception:
        return None


def compare_pair(registry, job: dict) -> tuple[tuple[str, Path], tuple[str, Path]]:
    tuned = registry.get(job["model_name"])
    base = registry.get(job.get("base_model") or tuned.base_model)
    if tuned.kind != "chat" or base.kind != "chat":
        raise ValueError("Compare with base needs two chat models.")
    return (base.name, registry.local_path(base)), (tuned.name, registry.local_path(tuned))


def estimate_text(seconds: float | None, memory_bytes: float | None, device: str) -> str:
    parts = []
    if seconds is not None:
        parts.append(f"About {human_duration(seconds)} on {device_name(device)}")
    if memory_bytes is not None:
        parts.append(f"peak memory about {human_size(int(memory_bytes))}")
    return " · ".join(parts)


def device_name(device: str) -> str:
    return {"cuda": "the GPU", "mps": "the Apple GPU", "cpu": "the CPU"}.get(device, device or "this machine")


__all__ = ["PlanView", "sources"]
