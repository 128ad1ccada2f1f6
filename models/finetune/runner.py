"""Running a prepared job: the transformers Trainer plus everything that makes it safe to leave alone.

- progress: a TrainerCallback turns the Trainer's logs into the JSON lines of models.finetune.events;
- Stop: SIGTERM (or Ctrl-C) sets a flag; the next step saves a checkpoint and the job ends 'stopped';
- NaN/inf loss: training stops at once, no checkpoint is written after it, the last good one stays;
- CUDA out of memory: the batch is halved, accumulation doubled (same effective batch), and the job
  resumes from its last checkpoint by itself;
- checkpoints: written under checkpoints/.partial and renamed to checkpoints/step-N only when whole;
  a full disk removes the partial folder and stops with a message;
- resume: the newest complete checkpoint restores weights, optimizer, scheduler and RNG state.
"""
from __future__ import annotations

import errno
import gc
import json
import math
import os
import shutil
import signal
import time
import traceback
from pathlib import Path

from models.finetune.data import JobRefused, read_jsonl
from models.finetune.events import EventWriter
from models.finetune.job import CONFIG_FILE, EVENTS_FILE, read_config, write_config

EXIT_COMPLETED, EXIT_FAILED, EXIT_REFUSED, EXIT_STOPPED = 0, 1, 2, 3
KEEP_CHECKPOINTS = 2
GENERATION_PROMPTS = 3


class DiskFull(Exception):
    pass


class TrainingDiverged(Exception):
    pass


def checkpoint_dir(job_dir: Path) -> Path:
    return Path(job_dir) / "checkpoints"


def checkpoints(job_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first (a folder still called .partial is never one)."""
    folder = checkpoint_dir(job_dir)
    found = [p for p in folder.glob("step-*") if p.is_dir() and p.name[5:].isdigit()]
    return sorted(found, key=lambda p: int(p.name[5:]))


def latest_checkpoint(job_dir: Path) -> Path | None:
    found = checkpoints(job_dir)
    return found[-1] if found else None


def _is_oom(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower() and isinstance(
        exc, RuntimeError)


def _memory_mb(device: str) -> float:
    import torch

    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    if device == "mps":
        return torch.mps.current_allocated_memory() / 2**20
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())


class Job:
    """One run of one job folder in this process (one rank of a multi-process run)."""

    def __init__(self, job_dir: Path, resume: bool = False, stream=None):
        self.job_dir = Path(job_dir).resolve()
        self.resume = resume
        self.config = read_config(self.job_dir)
        self.rank = int(os.environ.get("RANK", "0"))
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.main = self.rank == 0
        self.events = EventWriter(self.job_dir / EVENTS_FILE, stream, enabled=self.main)
        self.stop_requested = False
        self.started = time.time()
        self.status = None

    # -- signals ------------------------------------------------------------------------------
    def _on_signal(self, signum, frame) -> None:
        self.stop_requested = True

    def install_signal_handlers(self) -> dict:
        # SIGHUP too: closing the terminal a job runs in saves a checkpoint like Stop does.
        wanted = [signal.SIGTERM, signal.SIGINT] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
        return {sig: signal.signal(sig, self._on_signal) for sig in wanted}

    # -- the run ------------------------------------------------------------------------------
    def run(self) -> int:
        previous = self.install_signal_handlers()
        try:
            return self._run_with_retries()
        except JobRefused as exc:
            self._done("failed", str(exc))
            return EXIT_REFUSED
        except DiskFull as exc:
            self._done("failed", str(exc))
            return EXIT_FAILED
        except TrainingDiverged as exc:
            self._done("failed", str(exc))
            return EXIT_FAILED
        except Exception as exc:  # the job reports every failure; the traceback goes to error.log
            with open(self.job_dir / "error.log", "a", encoding="utf-8") as handle:
                handle.write(traceback.format_exc())
            self._done("failed", f"{type(exc).__name__}: {exc} (details in error.log)")
            return EXIT_FAILED
        finally:
            self.events.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _done(self, status: str, message: str, metrics: dict | None = None, output_dir: str | None = None,
              **extra) -> None:
        self.status = status
        self.events.emit("done", status=status, message=message, metrics=metrics or {}, output_dir=output_dir,
                         job_id=self.config["job_id"], **extra)

    def _hp(self) -> dict:
        return {name: item["value"] for name, item in self.config["hyperparameters"].items()}

    def _run_with_retries(self) -> int:
        resume = self.resume
        while True:
            try:
                return self._train(resume)
            except Exception as exc:
                if not _is_oom(exc):
                    raise
                hp = self._hp()
                batch, accumulation = int(hp["batch_size"]), int(hp["gradient_accumulation"])
                self._free_memory()
                if batch <= 1:
                    raise JobRefused("out of memory even with one row per batch; use LoRA, a shorter maximum "
                                     "length, gradient checkpointing or a smaller model") from exc
                batch, accumulation = batch // 2, accumulation * 2
                reason = "halved after running out of memory; accumulation doubled to keep the effective batch"
                self.config["hyperparameters"]["batch_size"] = {"value": batch, "reason": reason}
                self.config["hyperparameters"]["gradient_accumulation"] = {"value": accumulation, "reason": reason}
                if self.main:
                    write_config(self.job_dir, self.config)
                self.events.emit("warning", message=f"out of memory: retrying with batch size {batch} and "
                                 f"gradient accumulation {accumulation}")
                resume = latest_checkpoint(self.job_dir) is not None

    def _free_memory(self) -> None:
        import torch

        for name in ("trainer", "recipe"):
            if hasattr(self, name):
                delattr(self, name)
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _train(self, resume: bool) -> int:
        from transformers import TrainingArguments, set_seed

        from models.finetune import recipes

        config, hp = self.config, self._hp()
        device = config["device"]
        set_seed(int(hp.get("seed", 42)))
        start_from = latest_checkpoint(self.job_dir) if resume else None
        if self.main:  # a checkpoint cut short by a crash is never used: clear it away
            shutil.rmtree(checkpoint_dir(self.job_dir) / ".partial", ignore_errors=True)
        train_rows = read_jsonl(self.job_dir / config["data"]["train"])
        eval_rows = read_jsonl(self.job_dir / config["data"]["eval"])
        self.events.emit("status", message="loading the model and preparing the data")
        recipe = recipes.build(config, train_rows, eval_rows)
        self.recipe = recipe
        if not len(recipe.train_dataset):
            raise JobRefused("no training example is left after tokenizing the data")
        if hp.get("gradient_checkpointing"):
            recipe.model.gradient_checkpointing_enable()
            if recipe.lora:
                recipe.model.enable_input_require_grads()
        before = self._generations_before(recipe, eval_rows) if config["recipe"] == "chat" else None

        precision = hp.get("precision", "fp32")
        batch = int(hp["batch_size"])
        args = TrainingArguments(
            output_dir=str(checkpoint_dir(self.job_dir) / ".partial"),
            per_device_train_batch_size=batch,
            per_device_eval_batch_size=batch,
            gradient_accumulation_steps=int(hp["gradient_accumulation"]),
            learning_rate=float(hp["learning_rate"]),
            weight_decay=float(hp.get("weight_decay", 0.0)),
            num_train_epochs=float(hp["epochs"]),
            lr_scheduler_type=str(hp.get("lr_scheduler", "linear")),
            warmup_steps=self._warmup_steps(hp, recipe),
            eval_strategy="steps", eval_steps=int(hp["eval_steps"]),
            save_strategy="steps", save_steps=int(hp["save_steps"]),
            logging_strategy="steps", logging_steps=1, logging_nan_inf_filter=False,
            bf16=precision == "bf16", fp16=precision == "fp16", use_cpu=device == "cpu",
            train_sampling_strategy="group_by_length" if config["objective"] != "masked-lm" else "random",
            report_to=[], disable_tqdm=True, seed=int(hp.get("seed", 42)), save_only_model=False,
            include_num_input_tokens_seen="non_padding" if recipe.count_tokens else "no",
            dataloader_num_workers=0, remove_unused_columns=False,
            ddp_find_unused_parameters=False if self.world > 1 else None,
        )
        callback = ProgressCallback(self, recipe)
        trainer = AtomicCheckpointTrainer(
            job=self, model=recipe.model, args=args, train_dataset=recipe.train_dataset,
            eval_dataset=recipe.eval_dataset, data_collator=recipe.collator,
            compute_metrics=recipe.compute_metrics, callbacks=[callback],
        )
        trainer.remove_callback(PrinterCallback)  # our own lines replace its printed dicts
        self.trainer = trainer
        callback.resumed_from = start_from
        if start_from is not None:
            callback.restore(start_from)
        train_started = time.time()
        trainer.train(resume_from_checkpoint=str(start_from) if start_from else None)
        train_seconds = time.time() - train_started + self._previous_train_seconds(start_from)
        if callback.diverged:
            last = latest_checkpoint(self.job_dir)
            kept = f"the last good checkpoint ({last.name}) is kept" if last else "no checkpoint had been saved yet"
            raise TrainingDiverged(
                f"the loss became {callback.diverged} at step {callback.diverged_step}; training stopped and "
                f"{kept}. Lower the learning rate (it is {hp['learning_rate']:g}) and start again")
        if callback.stopped_on_request:
            last = latest_checkpoint(self.job_dir)
            self._done("stopped", f"stopped at step {trainer.state.global_step}; "
                       f"resume with --resume (checkpoint {last.name if last else 'none'})",
                       metrics={"step": trainer.state.global_step})
            return EXIT_STOPPED
        callback.restore_best(trainer.model)
        metrics = self._final_evaluation(trainer, recipe, eval_rows, before)
        metrics["train_seconds"] = round(train_seconds, 2)
        metrics["steps"] = trainer.state.global_step
        metrics["total_steps"] = trainer.state.max_steps
        metrics["early_stopped"] = callback.early_stopped
        output_dir = self._save_output(trainer, recipe)
        entry_name = self._register(output_dir, recipe, metrics) if self.main else None
        metrics["model"] = entry_name
        if self.main:
            self._done("completed", f"saved {entry_name!r} after {metrics['steps']} steps",
                       metrics=metrics, output_dir=str(output_dir), model=entry_name)
        return EXIT_COMPLETED

    def _warmup_steps(self, hp, recipe) -> int:
        steps_per_epoch = math.ceil(math.ceil(len(recipe.train_dataset) / (int(hp["batch_size"]) * self.world))
                                    / int(hp["gradient_accumulation"]))
        total = math.ceil(steps_per_epoch * float(hp["epochs"]))
        return int(math.ceil(float(hp.get("warmup_ratio", 0.0)) * total))

    def _previous_train_seconds(self, checkpoint: Path | None) -> float:
        if checkpoint is None:
            return 0.0
        try:
            return float(json.loads((checkpoint / "fireside_state.json").read_text())["train_seconds"])
        except (OSError, KeyError, ValueError):
            return 0.0

    # -- evaluation and output ----------------------------------------------------------------
    def _generate(self, model, tokenizer, messages: list[dict]) -> str:
        import torch

        ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        if hasattr(ids, "keys"):
            ids = ids["input_ids"]
        device = next(model.parameters()).device
        input_ids = torch.tensor([list(ids)], device=device)
        was_training = model.training
        model.eval()
        with torch.inference_mode():
            output = model.generate(input_ids, attention_mask=torch.ones_like(input_ids), max_new_tokens=48,
                                    do_sample=False, pad_token_id=tokenizer.pad_token_id)
        if was_training:
            model.train()
        return tokenizer.decode(output[0, input_ids.shape[1]:], skip_special_tokens=True).strip()

    def _generations_before(self, recipe, eval_rows) -> list[dict] | None:
        if not self.main:
            return None
        saved = self.job_dir / "generations_before.json"
        if saved.exists():
            return json.loads(saved.read_text(encoding="utf-8"))
        from models.finetune.chat_data import prompt_messages

        results = []
        for row in eval_rows[:GENERATION_PROMPTS]:
            prompt, reference = prompt_messages(row["messages"])
            results.append({"prompt": prompt, "reference": reference,
                            "before": self._generate(recipe.model, recipe.tokenizer, prompt)})
        saved.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
        return results

    def _final_evaluation(self, trainer, recipe, eval_rows, before) -> dict:
        from models.finetune.recipes import classification_scores, perplexity

        if recipe.output_kind == "classifier":
            prediction = trainer.predict(recipe.eval_dataset)
            logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) \
                else prediction.predictions
            metrics = classification_scores(recipe.labels, list(prediction.label_ids), list(logits.argmax(-1)))
            metrics["eval_loss"] = float(prediction.metrics.get("test_loss", float("nan")))
            return metrics
        result = trainer.evaluate()
        metrics = {"eval_loss": float(result["eval_loss"]), "perplexity": perplexity(float(result["eval_loss"]))}
        if before is not None and self.main:
            from models.finetune.chat_data import prompt_messages

            for item, row in zip(before, eval_rows):
                prompt, _ = prompt_messages(row["messages"])
                item["after"] = self._generate(trainer.model, recipe.tokenizer, prompt)
            metrics["generations"] = before
        return metrics

    def _save_output(self, trainer, recipe) -> Path:
        output_dir = Path(self.config["output_dir"])
        if not self.main:
            trainer.accelerator.wait_for_everyone()
            return output_dir
        staging = output_dir.parent / f".{output_dir.name}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        model = trainer.accelerator.unwrap_model(trainer.model)
        base_gguf = self._base_gguf()
        try:
            if recipe.lora:
                model.save_pretrained(str(staging / "adapter"))
                as_gguf = base_gguf is not None and self._as_gguf(self._write_gguf_adapter, staging, base_gguf)
                if not as_gguf and self._hp().get("merge_adapters", True):
                    model = model.merge_and_unload()
                    model.save_pretrained(str(staging))
            else:
                model.save_pretrained(str(staging))
                if base_gguf is not None and recipe.output_kind == "chat":
                    self._as_gguf(self._write_gguf_model, staging, base_gguf)
            recipe.tokenizer.save_pretrained(str(staging))
            if output_dir.exists():
                shutil.rmtree(output_dir)
            staging.rename(output_dir)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            if exc.errno == errno.ENOSPC:
                raise DiskFull("the disk is full: the final model could not be written; free some space and "
                               "resume the job") from exc
            raise
        trainer.accelerator.wait_for_everyone()
        return output_dir

    def _base_gguf(self) -> Path | None:
        base = Path(self.config["base"]["path"])
        return base if base.is_file() and base.suffix.lower() == ".gguf" else None

    def _as_gguf(self, write, staging: Path, base_gguf: Path) -> bool:
        """Write the llama.cpp form; where it cannot be (an architecture the writer does not know),
        say so and keep the PyTorch form, which the chat runs through transformers."""
        from models.convert.atomic import DiskFullError
        from models.errors import ModelError

        try:
            write(staging, base_gguf)
            return True
        except DiskFullError as exc:
            raise DiskFull(str(exc)) from exc
        except ModelError as exc:
            self.events.emit("status", message=f"kept for PyTorch only: {exc}")
            return False

    def _write_gguf_adapter(self, staging: Path, base_gguf: Path) -> None:
        """The LoRA adapter as GGUF, applied by llama.cpp over the unchanged base file."""
        from models.convert.lora_gguf import write_lora_fine_tune

        self.events.emit("status", message="writing the adapter for llama.cpp")
        write_lora_fine_tune(staging, base_gguf)

    def _write_gguf_model(self, staging: Path, base_gguf: Path) -> None:
        """A full fine-tune of a GGUF model becomes a GGUF again (Q8_0), with the base's tokenizer and
        template; the float weights it was written from are removed."""
        from models.convert.model_gguf import write_quantized_model
        from models.generation.loaders import FULL_MODEL_FILE

        self.events.emit("status", message="writing the model as GGUF and quantizing it to Q8_0 with llama.cpp")
        write_quantized_model(staging, staging / FULL_MODEL_FILE, "Q8_0", base_gguf=base_gguf)
        for weights in staging.glob("*.safetensors"):
            weights.unlink()

    def _register(self, output_dir: Path, recipe, metrics: dict) -> str:
        from models.registry import Registry

        config = self.config
        scores = {k: v for k, v in metrics.items() if k not in ("generations",)}
        provenance = {
            "job_id": config["job_id"], "recipe": config["recipe"], "objective": config["objective"],
            "base": config["base"]["name"], "dataset": config["data"].get("source", {}),
            "snapshot_hash": config["data"]["sha256"], "hyperparameters": self._hp(), "metrics": scores,
            "duration_s": round(time.time() - self.started, 1), "device": config["device"],
            "processes": self.world, "lora": bool(self._hp().get("lora")),
        }
        if recipe.lora and not self._hp().get("merge_adapters", True) and self._base_gguf() is None:
            raise JobRefused("unmerged LoRA adapters cannot be registered as a standalone model")
        entry = Registry().register(output_dir, name=config["output_name"], kind=recipe.output_kind,
                                    base_model=config["base"]["name"], provenance=provenance,
                                    labels=recipe.labels)
        return entry.name


from transformers import PrinterCallback, Trainer, TrainerCallback  # noqa: E402  (the runner process always needs them)


class AtomicCheckpointTrainer(Trainer):
    """Trainer whose checkpoints appear as checkpoints/step-N only once completely written."""

    def __init__(self, job: Job, **kwargs):
        super().__init__(**kwargs)
        self.job = job

    def _checkpoint_bytes(self) -> int:
        params = sum(p.numel() for p in self.model.parameters())
        trainable = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        return params * 4 + trainable * 8 + 10 * 2**20

    def _save_checkpoint(self, model, trial) -> None:
        callback = next(c for c in self.callback_handler.callbacks if isinstance(c, ProgressCallback))
        if callback.diverged:
            return  # never save weights that came out of a NaN step
        partial = Path(self.args.output_dir)
        step = self.state.global_step
        written = partial / f"checkpoint-{step}"
        final = checkpoint_dir(self.job.job_dir) / f"step-{step}"
        if self.job.main:
            shutil.rmtree(written, ignore_errors=True)
            partial.mkdir(parents=True, exist_ok=True)
            free = shutil.disk_usage(partial).free
            if free < self._checkpoint_bytes():
                raise DiskFull(f"the disk is full ({free / 2**20:.0f} MB free, a checkpoint needs about "
                               f"{self._checkpoint_bytes() / 2**20:.0f} MB); training stopped at step {step} "
                               f"and the last complete checkpoint is kept")
        self.accelerator.wait_for_everyone()
        try:
            super()._save_checkpoint(model, trial)
            self.accelerator.wait_for_everyone()
            if self.job.main:
                callback.write_state(written)
                _fsync_tree(written)
                if final.exists():
                    shutil.rmtree(final)
                written.rename(final)
                for old in checkpoints(self.job.job_dir)[:-KEEP_CHECKPOINTS]:
                    shutil.rmtree(old, ignore_errors=True)
        except OSError as exc:
            shutil.rmtree(written, ignore_errors=True)
            if exc.errno == errno.ENOSPC:
                raise DiskFull(f"the disk is full: the checkpoint at step {step} could not be written and was "
                               "removed; the last complete checkpoint is kept. Free some space and resume") from exc
            raise
        self.accelerator.wait_for_everyone()


class ProgressCallback(TrainerCallback):
    """JSON progress lines, Stop, NaN detection, and early stopping with the best weights kept."""

    def __init__(self, job: Job, recipe):
        self.job = job
        self.recipe = recipe
        self.diverged = None
        self.diverged_step = None
        self.early_stopped = False
        self.stopped_on_request = False
        self.best_metric = None
        self.best_step = None
        self.bad_evals = 0
        self.best_weights = None
        self.resumed_from = None
        self.session_start = None
        self.session_first_step = 0
        self.last_log_time = None
        self.last_log_step = 0
        self.last_tokens = 0
        self.train_seconds_before = 0.0
        hp = job._hp()
        self.patience = int(hp.get("early_stopping_patience", 0) or 0)
        self.metric = "eval_macro_f1" if recipe.output_kind == "classifier" else "eval_loss"
        self.greater_is_better = recipe.output_kind == "classifier"

    # state carried in each checkpoint, for resume
    def write_state(self, folder: Path) -> None:
        state = {"best_metric": self.best_metric, "best_step": self.best_step, "bad_evals": self.bad_evals,
                 "train_seconds": self.train_seconds_before + (time.time() - (self.session_start or time.time()))}
        (folder / "fireside_state.json").write_text(json.dumps(state))

    def restore(self, folder: Path) -> None:
        try:
            state = json.loads((folder / "fireside_state.json").read_text())
        except (OSError, ValueError):
            return
        self.best_metric, self.best_step = state.get("best_metric"), state.get("best_step")
        self.bad_evals = int(state.get("bad_evals", 0))
        self.train_seconds_before = float(state.get("train_seconds", 0.0))

    def on_train_begin(self, args, state, control, **kwargs):
        self.session_start = self.last_log_time = time.time()
        self.session_first_step = self.last_log_step = state.global_step
        config = self.job.config
        self.job.events.emit(
            "start", job_id=config["job_id"], recipe=config["recipe"], base=config["base"]["name"],
            total_steps=state.max_steps, epochs=args.num_train_epochs, device=config["device"],
            processes=self.job.world, pid=os.getpid(), resumed_from_step=state.global_step or None,
            train_rows=len(self.recipe.train_dataset), eval_rows=len(self.recipe.eval_dataset),
            plan={**config.get("plan", {}), "hyperparameters": config["hyperparameters"]})

    def on_step_end(self, args, state, control, **kwargs):
        stop = self.job.stop_requested
        if self.job.world > 1:
            import torch
            import torch.distributed as dist

            flag = torch.tensor([1.0 if stop else 0.0], device=args.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            stop = bool(flag.item())
            self.job.stop_requested = stop
        if stop:
            control.should_save = True
            control.should_training_stop = True
            self.stopped_on_request = True
        elif state.global_step >= state.max_steps:
            control.should_save = False  # the final model is written to output/ anyway
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "loss" in logs:
            loss = float(logs["loss"])
            if not math.isfinite(loss):
                self.diverged, self.diverged_step = str(loss), state.global_step
                control.should_training_stop = True
                control.should_save = False
                control.should_evaluate = False
                self.job.events.emit("step", step=state.global_step, total_steps=state.max_steps,
                                     epoch=round(state.epoch or 0, 4), loss=loss)
                self.job.events.emit("warning", message=f"loss is {loss} at step {state.global_step}")
                return control
            now = time.time()
            steps = max(1, state.global_step - self.last_log_step)
            seconds = max(1e-6, now - self.last_log_time)
            done = max(1, state.global_step - self.session_first_step)
            elapsed = self.train_seconds_before + now - self.session_start
            eta = (state.max_steps - state.global_step) * (now - self.session_start) / done
            fields = dict(step=state.global_step, total_steps=state.max_steps, epoch=round(state.epoch or 0, 4),
                          loss=loss, lr=float(logs.get("learning_rate", 0.0)), elapsed_s=round(elapsed, 2),
                          eta_s=round(eta, 2), memory_mb=round(_memory_mb(self.job.config["device"]), 1))
            if self.recipe.count_tokens:
                tokens = int(getattr(state, "num_input_tokens_seen", 0) or 0)
                fields["tokens_per_s"] = round((tokens - self.last_tokens) / seconds, 1)
                self.last_tokens = tokens
            else:
                per_step = args.per_device_train_batch_size * args.gradient_accumulation_steps * self.job.world
                fields["examples_per_s"] = round(steps * per_step / seconds, 2)
            if "grad_norm" in logs:
                fields["grad_norm"] = float(logs["grad_norm"])
            self.job.events.emit("step", **fields)
            self.last_log_time, self.last_log_step = now, state.global_step
        return control

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        from models.finetune.recipes import perplexity

        metrics = metrics or {}
        fields = {"step": state.global_step, "epoch": round(state.epoch or 0, 4)}
        for key, value in metrics.items():
            if key.startswith("eval_") and key not in ("eval_runtime", "eval_samples_per_second",
                                                        "eval_steps_per_second"):
                fields[key[5:] if key != "eval_loss" else "eval_loss"] = float(value)
        if self.recipe.output_kind != "classifier" and "eval_loss" in metrics:
            fields["perplexity"] = perplexity(float(metrics["eval_loss"]))
        value = metrics.get(self.metric)
        if value is not None:
            better = self.best_metric is None or (
                value > self.best_metric if self.greater_is_better else value < self.best_metric)
            if better:
                self.best_metric, self.best_step, self.bad_evals = float(value), state.global_step, 0
                self._keep_best(kwargs.get("model"))
            else:
                self.bad_evals += 1
                if self.patience and self.bad_evals >= self.patience:
                    self.early_stopped = True
                    control.should_training_stop = True
        fields["best_step"] = self.best_step
        self.job.events.emit("eval", **fields)
        return control

    def _keep_best(self, model) -> None:
        if model is None:
            return
        trainable = {k: v.detach().to("cpu", copy=True) for k, v in model.named_parameters() if v.requires_grad}
        if sum(v.numel() for v in trainable.values()) <= 2_000_000_000:
            self.best_weights = trainable

    def restore_best(self, model) -> None:
        """Put back the weights of the best validation if training went on past it."""
        if self.best_weights is None or self.best_step == self.job.trainer.state.global_step:
            return
        import torch

        model = self.job.trainer.accelerator.unwrap_model(model)
        with torch.no_grad():
            for name, param in model.named_parameters():
                key = name if name in self.best_weights else f"module.{name}"
                if key in self.best_weights:
                    param.copy_(self.best_weights[key].to(param.device))

    def on_save(self, args, state, control, **kwargs):
        path = checkpoint_dir(self.job.job_dir) / f"step-{state.global_step}"
        if path.exists():
            self.job.events.emit("checkpoint", step=state.global_step, path=str(path))
        return control


def run_job(job_dir: Path, resume: bool = False, stream=None) -> int:
    """Run (or resume) the job in `job_dir` in this process; returns the exit code."""
    job_dir = Path(job_dir)
    if not (job_dir / CONFIG_FILE).exists():
        print(json.dumps({"event": "done", "status": "failed", "message": f"{job_dir}: not a job folder",
                          "metrics": {}, "output_dir": None}), flush=True)
        return EXIT_REFUSED
    return Job(job_dir, resume=resume, stream=stream).run()
