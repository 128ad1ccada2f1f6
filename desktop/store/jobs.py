"""Fine-tuning jobs in the database: one row per job, its folder on disk holds config, data and log.

The job process itself never touches the database (models/ has no SQL); whoever starts it (the CLI,
the fine-tune page) records what the process reports. `refresh_job` settles a row whose process is
gone: from the job's events.jsonl when it finished, as 'interrupted' when it died mid-way.
"""
from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

STATUSES = ("queued", "running", "completed", "stopped", "failed", "interrupted")
ACTIVE = ("queued", "running")
_COLUMNS = ("kind", "status", "base_model", "dataset_id", "snapshot_hash", "model_name", "config_json",
            "metrics_json", "message", "pid", "job_dir", "started", "finished")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _row(row) -> dict | None:
    if row is None:
        return None
    job = dict(row)
    job["config"] = json.loads(job.get("config_json") or "{}")
    job["metrics"] = json.loads(job.get("metrics_json") or "{}")
    return job


def create_job(db, job_id: str, kind: str, job_dir: str | Path, base_model: str | None = None,
               dataset_id: int | None = None, snapshot_hash: str | None = None, model_name: str | None = None,
               config: dict | None = None, status: str = "queued") -> dict:
    with db.transaction():
        db.execute(
            "INSERT INTO jobs (id, kind, status, base_model, dataset_id, snapshot_hash, model_name, config_json,"
            " job_dir, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (job_id, kind, status, base_model, dataset_id, snapshot_hash, model_name,
             json.dumps(config or {}), str(job_dir), now()))
    return get_job(db, job_id)


def update_job(db, job_id: str, **fields) -> dict:
    """Change columns of a job; `config` and `metrics` may be given as dicts."""
    if "config" in fields:
        fields["config_json"] = json.dumps(fields.pop("config"))
    if "metrics" in fields:
        fields["metrics_json"] = json.dumps(fields.pop("metrics"))
    unknown = set(fields) - set(_COLUMNS)
    if unknown:
        raise ValueError(f"unknown job fields: {', '.join(sorted(unknown))}")
    if "status" in fields and fields["status"] not in STATUSES:
        raise ValueError(f"unknown job status {fields['status']!r}")
    if fields:
        assignments = ", ".join(f"{name} = ?" for name in fields)
        with db.transaction():
            db.execute(f"UPDATE jobs SET {assignments} WHERE id = ?", (*fields.values(), job_id))
    return get_job(db, job_id)


def get_job(db, job_id: str) -> dict | None:
    """The job with this id, or the only job whose id starts with it."""
    row = db.one("SELECT * FROM jobs WHERE id = ?", (job_id,))
    if row is None:
        rows = db.query("SELECT * FROM jobs WHERE id LIKE ? ORDER BY created", (job_id + "%",))
        row = rows[0] if len(rows) == 1 else None
    return _row(row)


def list_jobs(db, dataset_id: int | None = None) -> list[dict]:
    if dataset_id is None:
        rows = db.query("SELECT * FROM jobs ORDER BY created DESC, id DESC")
    else:
        rows = db.query("SELECT * FROM jobs WHERE dataset_id = ? ORDER BY created DESC, id DESC", (dataset_id,))
    return [_row(r) for r in rows]


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        import psutil

        process = psutil.Process(int(pid))
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except Exception:  # psutil.NoSuchProcess, AccessDenied, ValueError
        return False


def last_done_event(job_dir: str | Path) -> dict | None:
    path = Path(job_dir) / "events.jsonl"
    done = None
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if '"done"' in line:
                    try:
                        event = json.loads(line)
                    except json.JSONDecodeError:
                        continue
                    if event.get("event") == "done":
                        done = event
    except OSError:
        return None
    return done


def refresh_job(db, job: dict) -> dict:
    """Settle a job marked running whose process is gone (finished unseen, or killed)."""
    if job["status"] not in ACTIVE or pid_alive(job.get("pid")):
        return job
    if job["status"] == "queued" and not job.get("pid"):
        return job
    done = last_done_event(job["job_dir"])
    if done is not None and (not job.get("started") or done.get("time", 0) >= _timestamp(job["started"])):
        return update_job(db, job["id"], status=done["status"], message=done.get("message"),
                          metrics=done.get("metrics") or {}, model_name=done.get("model") or job.get("model_name"),
                          finished=now(), pid=None)
    return update_job(db, job["id"], status="interrupted", pid=None, finished=now(),
                      message="the job's process ended without finishing; resume it to continue")


def _timestamp(iso: str) -> float:
    try:
        return datetime.fromisoformat(iso).timestamp() - 1
    except ValueError:
        return 0.0


def record_event(db, job_id: str, event: dict) -> None:
    """Update the job row from one line of the job process."""
    kind = event.get("event")
    if kind == "start":
        update_job(db, job_id, status="running", pid=event.get("pid"), started=now())
    elif kind == "done":
        fields = dict(status=event.get("status", "failed"), message=event.get("message"),
                      metrics=event.get("metrics") or {}, finished=now(), pid=None)
        if event.get("model"):
            fields["model_name"] = event["model"]
        update_job(db, job_id, **fields)


def job_is_running(job: dict) -> bool:
    return job["status"] in ACTIVE and pid_alive(job.get("pid")) and job.get("pid") != os.getpid()
