"""`fireside finetune classifier|chat|pretrain ...`, `fireside finetune --resume JOB` and `fireside jobs ...`.

The command plans the job, writes its folder and its row in the database, then runs the job
process (`python -m models.finetune run JOB_DIR`, or `accelerate launch` for several processes)
and records what it reports. Its stdout carries the job's JSON lines, or a progress bar on a
terminal; the last line is always one JSON object with the result.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

RECIPES = ("classifier", "chat", "pretrain")


def register(subparsers) -> None:
    parser = subparsers.add_parser("finetune", help="fine-tune a classifier or chat model on your data")
    parser.add_argument("--resume", metavar="JOB", help="continue a stopped or crashed job from its last checkpoint")
    recipes = parser.add_subparsers(dest="recipe", metavar="RECIPE")
    helps = {"classifier": "an encoder plus a classification head on labelled texts",
             "chat": "the chat model on conversations (loss on the assistant's replies)",
             "pretrain": "continued pre-training on your documents (masked-LM or causal-LM)"}
    for recipe in RECIPES:
        sub = recipes.add_parser(recipe, help=helps[recipe])
        sub.add_argument("--dataset", metavar="NAME", help="a dataset stored in Fireside")
        if recipe == "pretrain":
            sub.add_argument("--documents", type=Path, metavar="DIR", help="a folder of documents")
        else:
            sub.add_argument("--train", type=Path, metavar="FILE",
                             help="training data: CSV text,label / TSV sentence,label" if recipe == "classifier"
                             else "training data: JSONL, one {\"messages\": [...]} per line")
            sub.add_argument("--eval", type=Path, metavar="FILE", help="validation data (same format)")
        if recipe == "chat":
            mode = sub.add_mutually_exclusive_group()
            mode.add_argument("--lora", dest="lora", action="store_true", default=None, help="train LoRA adapters")
            mode.add_argument("--full", dest="lora", action="store_false", help="train every weight")
        sub.add_argument("--base", metavar="MODEL", help="base model: a registry name or a model folder")
        sub.add_argument("--epochs", type=float)
        sub.add_argument("--lr", type=float, dest="learning_rate", metavar="RATE")
        sub.add_argument("--batch-size", type=int)
        sub.add_argument("--grad-accum", type=int, dest="gradient_accumulation", metavar="N")
        sub.add_argument("--max-length", type=int)
        sub.add_argument("--eval-steps", type=int)
        sub.add_argument("--save-steps", type=int)
        sub.add_argument("--warmup-ratio", type=float)
        sub.add_argument("--patience", type=int, dest="early_stopping_patience", metavar="N",
                         help="early stopping patience in validations (0: never stop early)")
        sub.add_argument("--seed", type=int)
        sub.add_argument("--device", default="auto", choices=("auto", "cuda", "mps", "cpu"))
        sub.add_argument("--processes", type=int, default=None,
                         help="processes for data-parallel training (default: one per GPU)")
        sub.add_argument("--output", metavar="NAME", help="name of the new model in Fireside")
        sub.add_argument("--output-dir", type=Path, metavar="DIR", help="where the model is written "
                         "(default: the job folder's output/)")
        sub.add_argument("--estimate", action="store_true", help="print the plan and estimates only")
        sub.add_argument("--json", action="store_true", help="with --estimate: the plan as JSON")
        sub.set_defaults(func=finetune)
    parser.set_defaults(func=finetune, recipe=None)

    jobs = subparsers.add_parser("jobs", help="list, show or stop fine-tuning jobs")
    actions = jobs.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="every job, newest first")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=list_jobs)
    show = actions.add_parser("show", help="a job's settings, progress and scores")
    show.add_argument("job")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=show_job)
    stop = actions.add_parser("stop", help="stop a running job (it saves a checkpoint first)")
    stop.add_argument("job")
    stop.set_defaults(func=stop_job)


# -- data ---------------------------------------------------------------------------------------
def _dataset_rows(db, name: str, recipe: str, job_dir: Path,
                  freeze: bool = True) -> tuple[list[dict], list[dict] | None, dict]:
    """(train rows, validation rows or None, source) of a stored dataset, frozen into the job folder.

    The whole dataset is snapshotted through the datasets store, so the dataset's versions list
    this job; a dataset split into train and validation parts keeps that split.
    """
    try:
        from desktop.store import datasets
    except ImportError:
        raise ValueError("stored datasets are not available in this version; use --train/--eval files") from None
    dataset = datasets.get_dataset(db, name)
    if dataset is None:
        raise ValueError(f"no dataset named {name!r} (see `fireside dataset list`)")
    kind = dataset.get("kind")
    if recipe == "classifier" and kind != "classification":
        raise ValueError(f"dataset {name!r} holds {kind} rows; a classifier needs a classification dataset")
    if recipe == "chat" and kind != "chat":
        raise ValueError(f"dataset {name!r} holds {kind} rows; chat fine-tuning needs a chat dataset")
    source = {"dataset": dataset["name"], "dataset_id": dataset["id"]}
    if freeze and hasattr(datasets, "snapshot_dataset"):
        sha256, path, count = datasets.snapshot_dataset(db, dataset["id"], job_dir / "data",
                                                        filename="dataset.jsonl", note=f"fine-tuning job {job_dir.name}")
        source["snapshot_hash"] = sha256
    parts = datasets.split_counts(db, dataset["id"]) if hasattr(datasets, "split_counts") else {}
    if parts.get("train") and parts.get("validation") and recipe != "pretrain":
        train = list(datasets.iter_rows(db, dataset["id"], "train"))
        held = list(datasets.iter_rows(db, dataset["id"], "validation"))
        source["split"] = "the dataset's own train/validation split"
    else:
        train, held = list(datasets.iter_rows(db, dataset["id"])), None
    if recipe == "pretrain":
        train = [{"text": row["text"]} if "text" in row else
                 {"text": "\n\n".join(m.get("content", "") for m in row.get("messages", []))} for row in train]
    return train, held, source


def _file_rows(path: Path, recipe: str) -> list[dict]:
    from models.finetune.data import read_jsonl, read_labelled_file

    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix.lower() in (".jsonl", ".json"):
        return read_jsonl(path)
    if recipe == "classifier":
        return read_labelled_file(path)
    if recipe == "pretrain":
        return [{"text": path.read_text(encoding="utf-8", errors="replace")}]
    raise ValueError(f"{path}: chat training data must be a JSONL file of {{\"messages\": [...]}} lines")


def _gather(args, db, job_dir: Path, freeze: bool = True) -> tuple[list[dict], list[dict] | None, dict]:
    recipe = args.recipe
    if args.dataset:
        return _dataset_rows(db, args.dataset, recipe, job_dir, freeze)
    if recipe == "pretrain":
        if not args.documents:
            raise ValueError("give --documents DIR or --dataset NAME")
        from models.finetune.data import read_documents

        rows, skipped = read_documents(args.documents)
        if skipped:
            print(f"fireside: skipped {len(skipped)} unreadable or empty files", file=sys.stderr)
        return rows, None, {"documents": str(args.documents.resolve()), "files": len(rows)}
    if not args.train:
        raise ValueError("give --dataset NAME, or --train FILE (and optionally --eval FILE)")
    train = _file_rows(args.train, recipe)
    held = _file_rows(args.eval, recipe) if args.eval else None
    source = {"train_file": str(args.train.resolve())}
    if args.eval:
        source["eval_file"] = str(args.eval.resolve())
    return train, held, source


def _overrides(args) -> dict:
    names = ("epochs", "learning_rate", "batch_size", "gradient_accumulation", "max_length", "eval_steps",
             "save_steps", "warmup_ratio", "early_stopping_patience", "seed")
    overrides = {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}
    if getattr(args, "lora", None) is not None:
        overrides["lora"] = args.lora
    return overrides


def _processes(args) -> int:
    if args.processes:
        return max(1, args.processes)
    if args.device in ("auto", "cuda"):
        import torch

        if torch.cuda.is_available() and torch.cuda.device_count() > 1:
            return torch.cuda.device_count()
    return 1


# -- running ------------------------------------------------------------------------------------
def finetune(args) -> int:
    from desktop.store import open_database

    if args.resume:
        return resume(args)
    if args.recipe is None:
        print("fireside finetune: name a recipe (classifier, chat or pretrain) or give --resume JOB",
              file=sys.stderr)
        return 2
    from models.finetune import JobRefused
    from models.finetune.job import new_job_id, prepare_job
    from models.finetune.plan import plan_job
    from models.home import jobs_dir

    db = open_database()
    job_id = new_job_id()
    job_dir = jobs_dir() / job_id
    try:
        train, held, source = _gather(args, db, job_dir, freeze=not args.estimate)
        processes = _processes(args)
        if args.estimate:
            shutil.rmtree(job_dir, ignore_errors=True)
            plan = plan_job(args.recipe, train, held, base=args.base, device=args.device,
                            overrides=_overrides(args), processes=processes)
            print(json.dumps(plan.to_dict(), indent=2) if args.json else "\n".join(plan.summary_lines()))
            return 0
        config, plan = prepare_job(job_dir, args.recipe, train, held, base=args.base, device=args.device,
                                   overrides=_overrides(args), processes=processes, output_name=args.output,
                                   output_dir=args.output_dir, source=source)
    except JobRefused as exc:
        shutil.rmtree(job_dir, ignore_errors=True)
        print(f"fireside: refused: {exc}", file=sys.stderr)
        return 2
    except BaseException:
        shutil.rmtree(job_dir, ignore_errors=True)
        raise
    for warning in plan.warnings:
        print(f"fireside: warning: {warning}", file=sys.stderr)
    if not plan.fits:
        shutil.rmtree(job_dir, ignore_errors=True)
        print("fireside: refused: the job does not fit in memory", file=sys.stderr)
        for advice in plan.advice:
            print(f"  - {advice}", file=sys.stderr)
        return 2
    from desktop.store import jobs

    jobs.create_job(db, job_id, args.recipe, job_dir, base_model=plan.base, dataset_id=source.get("dataset_id"),
                    snapshot_hash=source.get("snapshot_hash") or config["data"]["sha256"],
                    model_name=config["output_name"], config=config)
    return run_process(db, job_id, job_dir, config, resume=False)


def resume(args) -> int:
    from desktop.store import jobs, open_database
    from models.finetune.job import read_config
    from models.home import jobs_dir

    db = open_database()
    job = jobs.get_job(db, args.resume)
    if job is None:
        folder = Path(args.resume)
        folder = folder if folder.is_dir() else jobs_dir() / args.resume
        if not (folder / "config.json").exists():
            raise ValueError(f"no job {args.resume!r} (see `fireside jobs list`)")
        config = read_config(folder)
        job = jobs.create_job(db, config["job_id"], config["recipe"], folder, base_model=config["base"]["name"],
                              snapshot_hash=config["data"]["sha256"], model_name=config["output_name"],
                              config=config)
    job = jobs.refresh_job(db, job)
    if jobs.job_is_running(job):
        raise ValueError(f"job {job['id']} is still running (pid {job['pid']}); stop it first")
    if job["status"] == "completed":
        raise ValueError(f"job {job['id']} has already completed (model {job['model_name']!r})")
    config = read_config(Path(job["job_dir"]))
    return run_process(db, job["id"], Path(job["job_dir"]), config, resume=True)


def run_process(db, job_id: str, job_dir: Path, config: dict, resume: bool) -> int:
    """Run the job process, relay its lines (or draw a bar) and keep the job row up to date."""
    from desktop.store import jobs
    from models.finetune.events import ProgressBar
    from models.finetune.job import launch_command

    command = launch_command(job_dir, processes=int(config.get("processes", 1)), device=config["device"],
                             resume=resume)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[2]),
                                                      env.get("PYTHONPATH")]))
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env, bufsize=1)
    jobs.update_job(db, job_id, status="running", pid=process.pid, started=jobs.now(), finished=None)

    def forward(signum, frame):
        try:
            process.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    bar = ProgressBar(sys.stdout) if sys.stdout.isatty() else None
    done = None
    try:
        for line in process.stdout:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                print(line, end="", file=sys.stderr)  # not a protocol line: a library's chatter
                continue
            jobs.record_event(db, job_id, event)
            if event.get("event") == "done":
                done = event
            if bar is not None:
                bar.show(event)
            else:
                print(line, end="", flush=True)
        code = process.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if done is None:
        jobs.update_job(db, job_id, status="failed" if code else "interrupted", pid=None, finished=jobs.now(),
                        message=f"the job process ended with code {code} before reporting a result")
        done = {"status": "failed", "message": f"the job process ended with code {code}", "metrics": {}}
        code = code or 1
    result = {"job_id": job_id, "status": done.get("status"), "message": done.get("message"),
              "model": done.get("model"), "output_dir": done.get("output_dir")}
    result.update({k: v for k, v in (done.get("metrics") or {}).items() if k != "model"})
    print(json.dumps(result), flush=True)
    return code


# -- jobs ---------------------------------------------------------------------------------------
def _find(db, ref: str) -> dict:
    from desktop.store import jobs

    job = jobs.get_job(db, ref)
    if job is None:
        raise ValueError(f"no job {ref!r} (see `fireside jobs list`)")
    return jobs.refresh_job(db, job)


def list_jobs(args) -> int:
    from desktop.store import jobs, open_database

    db = open_database()
    rows = [jobs.refresh_job(db, job) for job in jobs.list_jobs(db)]
    if args.json:
        print(json.dumps([{k: v for k, v in job.items() if not k.endswith("_json") and k != "config"}
                          for job in rows], indent=2))
        return 0
    print(f"{'JOB':22} {'RECIPE':10} {'STATUS':11} {'BASE':24} {'SCORE':>8}  MODEL")
    for job in rows:
        metrics = job["metrics"]
        score = metrics.get("accuracy", metrics.get("perplexity"))
        score_text = f"{score:.3f}" if isinstance(score, (int, float)) else ""
        print(f"{job['id']:22} {job['kind']:10} {job['status']:11} {str(job['base_model'] or '')[:24]:24} "
              f"{score_text:>8}  {job['model_name'] or ''}")
    return 0


def show_job(args) -> int:
    from desktop.store import open_database
    from models.finetune.events import read_events

    db = open_database()
    job = _find(db, args.job)
    events = read_events(Path(job["job_dir"]) / "events.jsonl")
    steps = [e for e in events if e.get("event") == "step"]
    if args.json:
        data = {k: v for k, v in job.items() if not k.endswith("_json")}
        data["last_step"] = steps[-1] if steps else None
        data["evals"] = [e for e in events if e.get("event") == "eval"]
        print(json.dumps(data, indent=2))
        return 0
    print(f"job {job['id']}: {job['kind']} on {job['base_model']}, {job['status']}")
    if job.get("message"):
        print(f"  {job['message']}")
    print(f"  folder: {job['job_dir']}")
    if steps:
        last = steps[-1]
        print(f"  step {last['step']}/{last.get('total_steps')}, loss {last.get('loss'):.4f}")
    for name, item in (job["config"].get("hyperparameters") or {}).items():
        print(f"  {name} = {item['value']}: {item['reason']}")
    for key, value in job["metrics"].items():
        if isinstance(value, (int, float)):
            print(f"  {key}: {value:.4f}" if isinstance(value, float) else f"  {key}: {value}")
    return 0


def stop_job(args) -> int:
    from desktop.store import jobs, open_database

    db = open_database()
    job = _find(db, args.job)
    if not jobs.job_is_running(job):
        print(f"job {job['id']} is not running ({job['status']})")
        return 0
    os.kill(int(job["pid"]), signal.SIGTERM)
    print(f"stopping job {job['id']}: it saves a checkpoint, then ends as stopped")
    return 0
