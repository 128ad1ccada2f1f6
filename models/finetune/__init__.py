"""Fine-tuning: one command, sensible by itself, resumable, on one GPU or many.

Recipes
    classifier  a BERT-style encoder plus a classification head, every weight trained.
    chat        a chat model on conversations, loss on the assistant's tokens only (the model's own
                chat template); full fine-tuning, or LoRA (peft) by default above 500M parameters;
                adapters are merged into a standalone model.
    pretrain    continued pre-training on the user's text: masked-LM for encoders, causal-LM for
                chat models.

In-process API (no torch import until called)
    plan_job(recipe, train_rows, eval_rows=None, base=None, device="auto", overrides=None,
             processes=1) -> Plan
        Every hyperparameter as Choice(value, reason), estimates (estimate_seconds,
        peak_memory_mb, available_memory_mb), fits: bool, advice: list[str], warnings.
        Raises JobRefused (a one-line reason) for data or models that cannot be trained.
    prepare_job(job_dir, recipe, train_rows, ...) -> (config, Plan)
        Plans, then writes the job folder: config.json (recipe, base, data paths and their sha256,
        every hyperparameter with its reason) and the frozen data/train.jsonl, data/eval.jsonl.
    launch_command(job_dir, processes=1, device="cpu", resume=False) -> list[str]
        The argv that runs the job: `python -m models.finetune run JOB_DIR [--resume]`, or the
        same under `accelerate launch --num_processes N` (DDP) for several processes.

The job process: `python -m models.finetune run JOB_DIR [--resume]`
    Job folder: config.json, data/, checkpoints/step-N/ (written in checkpoints/.partial, then
    renamed; the newest two are kept), events.jsonl (the same lines as stdout), output/ (the
    final model), error.log (tracebacks of unexpected failures).

    Stdout carries one JSON object per line, each with an "event" key and a "time" (Unix seconds):
      start       job_id, recipe, base, total_steps, epochs, device, processes, pid,
                  resumed_from_step (null on a fresh start), train_rows, eval_rows,
                  plan (estimates and every hyperparameter with its reason)
      status      message (what it is doing before the first step)
      step        step, total_steps, epoch, loss, lr, examples_per_s (classifier) or tokens_per_s
                  (chat, pretrain), elapsed_s, eta_s, memory_mb, grad_norm
      eval        step, epoch, eval_loss, best_step, plus accuracy and macro_f1 (classifier) or
                  perplexity (chat, pretrain)
      checkpoint  step, path
      warning     message (out-of-memory retry, NaN loss ...)
      done        status ('completed' | 'stopped' | 'failed'), message, metrics, output_dir, job_id,
                  and model (the registry name) when completed. Classifier metrics: accuracy,
                  macro_f1, per_label {label: precision, recall, f1, support}, confusion_matrix
                  {labels, matrix (rows = truth)}; chat: eval_loss, perplexity, generations
                  [{prompt, reference, before, after}]; all: train_seconds, steps, total_steps.
    When stdout is a terminal a progress bar replaces the JSON lines there (events.jsonl keeps them).
    Exit codes: 0 completed, 1 failed, 2 refused (bad job folder or input), 3 stopped (SIGTERM/Ctrl-C:
    a checkpoint is saved first; `--resume` continues with the same total number of steps).

    Failures: NaN/inf loss stops at once and keeps the last good checkpoint; CUDA out of memory
    halves the batch, doubles gradient accumulation and resumes by itself; a full disk removes the
    partial checkpoint and stops with a message.

The finished model is registered with models.registry.Registry().register(...) (kind 'classifier',
'chat' or 'encoder') with provenance: base, dataset source, snapshot hash, hyperparameters,
metrics, duration, device.
"""
from __future__ import annotations

from models.finetune.data import JobRefused

EXIT_COMPLETED, EXIT_FAILED, EXIT_REFUSED, EXIT_STOPPED = 0, 1, 2, 3

__all__ = ["JobRefused", "Plan", "Choice", "plan_job", "prepare_job", "launch_command", "read_config",
           "EXIT_COMPLETED", "EXIT_FAILED", "EXIT_REFUSED", "EXIT_STOPPED"]


def __getattr__(name: str):
    if name in ("Plan", "Choice", "plan_job"):
        from models.finetune import plan

        return getattr(plan, name)
    if name in ("prepare_job", "launch_command", "read_config"):
        from models.finetune import job

        return getattr(job, name)
    raise AttributeError(name)
