"""The fine-tuning engine as the page uses it: read the chosen data, plan a job, freeze it into a job
folder with its row in the `jobs` table, and keep that row in step with what the trainer reports.

The functions that read data or plan take seconds (the tokenizer, a speed probe of the device), so
the page calls them through BackgroundOp. The ML lives in models.finetune, the rows in
desktop.store.jobs; this module only joins them.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from desktop.finetune import sources
from desktop.finetune.form import JobRequest
from desktop.format import human_duration, human_size
from desktop.store import jobs

# Overrides the form offers that are not hyperparameters of the plan.
NOT_HYPERPARAMETERS = ("device",)


@dataclass
class PlanView:
    """A plan as the form shows it."""

    rows: list[tuple[str, str, str]]  # (setting, value, why)
    estimate: str
    fits: bool
    advice: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    fixes: tuple[str, ...] = ()  # the one-click fixes that apply: batch, lora, max_length, checkpointing, cpu
    values: dict = field(default_factory=dict)  # the chosen value of each setting, by name


# -- the data --------------------------------------------------------------------------------------
@dataclass
class TrainingData:
    train: list[dict]
    eval: list[dict] | None  # None: the plan holds out its own validation split
    source: dict  # where the rows came from, as the job's config records it


class RowCache:
    """Rows read for a data source, kept while the form is open (re-planning must not re-read files)."""

    def __init__(self):
        self._data: dict[tuple, TrainingData] = {}

    def clear(self) -> None:
        self._data.clear()

    def data(self, db, task: str, source: sources.DataSource) -> TrainingData:
        key = (task, source.kind, source.ref)
        if key not in self._data:
            self._data[key] = read_data(db, task, source)
        return self._data[key]


def as_documents(rows: list[dict]) -> list[dict]:
    """Text rows for continued pre-training from any dataset's rows."""
    return [{"text": row["text"]} if "text" in row else
            {"text": "\n\n".join(m.get("content", "") for m in row.get("messages", []))} for row in rows]


def read_data(db, task: str, source: sources.DataSource) -> TrainingData:
    """The rows of a data source for the recipe. Raises ValueError or JobRefused with the reason."""
    from models.finetune.data import JobRefused, read_documents, read_jsonl, read_labelled_file

    if source.kind == "dataset":
        dataset, train, held = sources.dataset_rows(db, source.ref)
        if task == "pretrain":
            train, held = as_documents(train), (as_documents(held) if held is not None else None)
        return TrainingData(train, held, {"dataset": dataset["name"], "dataset_id": dataset["id"]})
    if source.kind == "classifier":
        return TrainingData(sources.classifier_rows(db, source.ref), None, {"classifier_id": int(source.ref)})
    path = Path(source.ref)
    if source.kind == "folder":
        rows, skipped = read_documents(path)
        return TrainingData(rows, None, {"documents": str(path), "files": len(rows), "skipped": len(skipped)})
    if not path.is_file():
        raise JobRefused(f"{path}: no such file")
    if path.suffix.lower() in (".jsonl", ".json"):
        rows = read_jsonl(path)
    elif task == "classifier":
        rows = read_labelled_file(path)
    elif task == "pretrain":
        rows = [{"text": path.read_text(encoding="utf-8", errors="replace")}]
    else:
        raise JobRefused(f"{path.name}: chat training data is a JSONL file of {{\"messages\": [...]}} lines")
    return TrainingData(rows, None, {"train_file": str(path)})


def plan_arguments(request: JobRequest) -> dict:
    overrides = {k: v for k, v in request.overrides.items() if k not in NOT_HYPERPARAMETERS}
    return {"base": request.base_model, "device": request.overrides.get("device", "auto"),
            "overrides": overrides, "processes": processes_for(request.overrides.get("device", "auto"))}


def processes_for(device: str) -> int:
    """One process per GPU when several are there (data-parallel), else one."""
    if device not in ("auto", "cuda"):
        return 1
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() and torch.cuda.device_count() > 1 else 1


# -- planning --------------------------------------------------------------------------------------
def plan_view(db, registry, request: JobRequest, cache: RowCache | None = None) -> PlanView:
    from models.finetune import plan_job

    data = (cache or RowCache()).data(db, request.task, request.source)
    plan = plan_job(request.task, data.train, data.eval, registry=registry, **plan_arguments(request))
    return view_of(plan)


def view_of(plan) -> PlanView:
    values = {name: choice.value for name, choice in plan.choices.items()}
    rows = [(name.replace("_", " "), shown(choice.value), choice.reason) for name, choice in plan.choices.items()]
    rows.insert(0, ("device", plan.device + (f" × {plan.processes}" if plan.processes > 1 else ""),
                    "chosen automatically" if plan.device != "cpu" else "no GPU was chosen or found"))
    rows.insert(1, ("data", f"{plan.train_rows} training, {plan.eval_rows} validation rows",
                    f"{len(plan.labels)} labels: {', '.join(plan.labels[:8])}" if plan.labels else ""))
    estimate = (f"About {human_duration(plan.estimate_seconds)} on {device_name(plan.device)}, "
                f"{plan.total_steps} steps · peak memory about {megabytes(plan.peak_memory_mb)} of "
                f"{megabytes(plan.available_memory_mb)}")
    fixes = []
    if not plan.fits:
        if int(values.get("batch_size", 1)) > 1:
            fixes.append("batch")
        if plan.recipe == "chat" and not values.get("lora"):
            fixes.append("lora")
        if int(values.get("max_length", 0)) > 64:
            fixes.append("max_length")
        if not values.get("gradient_checkpointing"):
            fixes.append("checkpointing")
        if plan.device != "cpu":
            fixes.append("cpu")
    values["device"] = plan.device
    return PlanView(rows=rows, estimate=estimate, fits=plan.fits, advice=list(plan.advice),
                    warnings=list(plan.warnings), fixes=tuple(fixes), values=values)


def shown(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2e}" if value and abs(value) < 1e-3 else f"{value:g}"
    return str(value)


def megabytes(mb: float) -> str:
    return human_size(int(mb * 2**20))


def device_name(device: str) -> str:
    return {"cuda": "the GPU", "mps": "the Apple GPU", "cpu": "the CPU"}.get(device, device or "this machine")


# -- creating a job ----------------------------------------------------------------------------------
def create_job(db, registry, request: JobRequest) -> dict:
    """Plan, freeze the data into a new job folder and add its row (status 'queued'). Raises JobRefused.

    The data is read afresh (not from the form's cache), so the job trains on what is stored now."""
    from models.finetune import JobRefused, prepare_job
    from models.finetune.job import new_job_id
    from models.home import jobs_dir

    data = read_data(db, request.task, request.source)
    job_id = new_job_id()
    job_dir = jobs_dir() / job_id
    try:
        config, plan = prepare_job(job_dir, request.task, data.train, data.eval, registry=registry,
                                   source=data.source, output_name=request.output_name or None,
                                   **plan_arguments(request))
        if not plan.fits:
            raise JobRefused("the job does not fit in memory: " + "; ".join(plan.advice))
    except BaseException:
        shutil.rmtree(job_dir, ignore_errors=True)
        raise
    snapshot = config["data"]["sha256"]
    dataset_id = data.source.get("dataset_id")
    if dataset_id is not None:
        # The dataset lists the models trained on each of its versions by this hash.
        snapshot = sources.freeze_dataset(db, dataset_id, f"fine-tuning job {job_id}") or snapshot
    return jobs.create_job(db, job_id, request.task, job_dir, base_model=plan.base, dataset_id=dataset_id,
                           snapshot_hash=snapshot, model_name=config["output_name"], config=config)


def unique_model_name(registry, name: str) -> str:
    taken = {entry.name for entry in registry.list()}
    if name not in taken:
        return name
    number = 2
    while f"{name}-{number}" in taken:
        number += 1
    return f"{name}-{number}"


# -- the jobs table ---------------------------------------------------------------------------------
def list_jobs(db) -> list[dict]:
    return jobs.list_jobs(db)


def get_job(db, job_id: str | None) -> dict | None:
    return jobs.get_job(db, job_id) if job_id else None


def mark_running(db, job_id: str, pid: int, resume: bool) -> dict:
    """The trainer was started: running, with its pid; a resumed job keeps its first start time."""
    job = get_job(db, job_id) or {}
    changes = {"status": "running", "pid": pid, "finished": None, "message": None}
    if not resume or not job.get("started"):
        changes["started"] = jobs.now()
    return jobs.update_job(db, job_id, **changes)


def record(db, job_id: str, event: dict) -> None:
    """Keep the row in step with a trainer line (the start's pid, the result of `done`)."""
    kind = event.get("event")
    if kind == "start" and event.get("pid"):
        jobs.update_job(db, job_id, pid=int(event["pid"]))
    elif kind == "done":
        jobs.record_event(db, job_id, event)


def mark_ended(db, job_id: str, status: str, message: str) -> dict:
    """The trainer ended without a `done` line (killed, crashed): say so in the row."""
    return jobs.update_job(db, job_id, status=status, message=message, pid=None, finished=jobs.now())


def settle(db, job: dict) -> dict:
    """A job marked running whose process is gone: finished unseen, or interrupted."""
    return jobs.refresh_job(db, job)


def trainer_running(job: dict) -> bool:
    from desktop.finetune.process import trainer_alive

    return job.get("status") in jobs.ACTIVE and trainer_alive(job.get("pid"), Path(job.get("job_dir") or ""))


def read_config(job: dict) -> dict:
    folder = job.get("job_dir")
    if folder:
        try:
            return json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            pass
    return job.get("config") or {}


# -- using the result ---------------------------------------------------------------------------------
def registered_entry(registry, name: str | None):
    from models.errors import ModelError

    if not name:
        return None
    try:
        return registry.get(name)
    except ModelError:
        return None


def use_for_classifier(db, job: dict, entry) -> dict | None:
    """Set the tuned model as the 'fine-tuned' method of a classifier: the one whose examples it learned
    from, else the one with exactly its labels. None when this build has no classifiers or none fits."""
    module = sources.store_module("classifiers")
    if module is None or not hasattr(module, "set_method"):
        return None
    source = ((job.get("config") or {}).get("data") or {}).get("source") or {}
    candidates = sources.list_classifiers(db)
    target = next((c for c in candidates if c["id"] == source.get("classifier_id")), None)
    if target is None:
        target = next((c for c in candidates if sorted(c.get("labels") or []) == sorted(entry.labels)), None)
    if target is None:
        return None
    module.set_method(db, target["id"], "fine-tuned", entry.name)
    return target


def compare_pair(registry, job: dict) -> tuple[tuple[str, Path], tuple[str, Path]]:
    """((base name, folder), (tuned name, folder)) of a finished chat job. Raises ModelError."""
    from models.errors import ModelError

    tuned = registry.get(job["model_name"])
    base = registry.get(job.get("base_model") or tuned.base_model or "")
    if tuned.kind != "chat" or base.kind != "chat":
        raise ModelError("Compare with base answers a prompt with two chat models; this job made a "
                         f"{tuned.kind}.")
    return (base.name, registry.local_path(base)), (tuned.name, registry.local_path(tuned))
