"""A job folder: its config, frozen data, checkpoints, events and output, and how to start it.

    <jobs>/<job_id>/
        config.json          recipe, base, data paths and sha256, every hyperparameter with its reason
        data/train.jsonl     frozen snapshot of the training rows
        data/eval.jsonl      frozen snapshot of the validation rows
        checkpoints/step-N/  written under checkpoints/.partial, then renamed into place
        events.jsonl         the same JSON lines as stdout
        output/              the final model (registered in the model registry)
"""
from __future__ import annotations

import json
import os
import secrets
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from models.finetune.data import JobRefused, snapshot_hash, write_jsonl
from models.finetune.plan import Plan, make_plan

CONFIG_FILE = "config.json"
EVENTS_FILE = "events.jsonl"


def new_job_id() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def check_writable(folder: Path, what: str) -> None:
    """JobRefused unless a file can be created inside `folder` (created if missing)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise JobRefused(f"cannot write into the {what} {folder}: {exc.strerror or exc}") from exc


def write_config(job_dir: Path, config: dict) -> None:
    fd, tmp = tempfile.mkstemp(dir=job_dir, prefix=".config-")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(config, handle, indent=2)
    os.replace(tmp, job_dir / CONFIG_FILE)


def read_config(job_dir: Path) -> dict:
    path = Path(job_dir) / CONFIG_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise JobRefused(f"{job_dir}: not a fine-tuning job folder (no {CONFIG_FILE})") from None
    except json.JSONDecodeError as exc:
        raise JobRefused(f"{path}: damaged job config ({exc.msg})") from exc


def prepare_job(job_dir: Path, recipe: str, train_rows: list[dict], eval_rows: list[dict] | None = None,
                base: str | None = None, device: str = "auto", overrides: dict | None = None,
                processes: int = 1, output_name: str | None = None, output_dir: Path | None = None,
                source: dict | None = None, registry=None) -> tuple[dict, Plan]:
    """Plan the job and write its folder (config and frozen data). Raises JobRefused with the reason."""
    from models.registry import Registry

    registry = registry or Registry()
    job_dir = Path(job_dir)
    plan, train, held = make_plan(recipe, train_rows, eval_rows, base, device, overrides, processes, registry)
    output_dir = Path(output_dir).expanduser().resolve() if output_dir else job_dir / "output"
    check_writable(job_dir, "job folder")
    check_writable(output_dir.parent, "output folder")
    check_writable(registry.root, "models folder")
    if output_dir.exists() and any(output_dir.iterdir()):
        raise JobRefused(f"the output folder {output_dir} is not empty; choose another")
    job_id = job_dir.name
    name = output_name or f"{plan.base}-{recipe}-{job_id}"
    if any(entry.name == name for entry in registry.list()):
        raise JobRefused(f"a model named {name!r} already exists; choose another --output name")
    write_jsonl(job_dir / "data" / "train.jsonl", train)
    write_jsonl(job_dir / "data" / "eval.jsonl", held)
    config = {
        "job_id": job_id,
        "recipe": recipe,
        "objective": plan.objective,
        "base": {"name": plan.base, "path": plan.base_path, "kind": plan.base_kind, "parameters": plan.parameters},
        "device": plan.device,
        "processes": plan.processes,
        "output_name": name,
        "output_dir": str(output_dir),
        "data": {
            "train": "data/train.jsonl", "eval": "data/eval.jsonl",
            "sha256": snapshot_hash(job_dir / "data" / "train.jsonl", job_dir / "data" / "eval.jsonl"),
            "train_rows": len(train), "eval_rows": len(held), "labels": plan.labels, "source": source or {},
        },
        "hyperparameters": {k: {"value": c.value, "reason": c.reason} for k, c in plan.choices.items()},
        "plan": {"total_steps": plan.total_steps, "steps_per_epoch": plan.steps_per_epoch,
                 "estimate_seconds": plan.estimate_seconds, "peak_memory_mb": plan.peak_memory_mb,
                 "available_memory_mb": plan.available_memory_mb, "fits": plan.fits, "advice": plan.advice},
        "warnings": plan.warnings,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_config(job_dir, config)
    return config, plan


def launch_command(job_dir: Path, processes: int = 1, device: str = "cpu", resume: bool = False) -> list[str]:
    """The command that runs a job: plain Python for one process, `accelerate launch` (DDP) for several."""
    tail = ["-m", "models.finetune", "run", str(job_dir)] + (["--resume"] if resume else [])
    if processes <= 1:
        return [sys.executable, *tail]
    # accelerate's torchrun launcher starts the processes; on CPUs the Trainer (use_cpu) joins them
    # with the gloo backend, on GPUs with NCCL.
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
              "--main_process_port", str(_free_port())]
    return [*launch, *tail]


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
