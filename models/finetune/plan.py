"""Choosing every hyperparameter from the data, the model and the device, with the reason for each.

`plan_job(...)` is cheap (it loads only the tokenizer) so a page can show the plan while the user
looks at it. Each choice is a `Choice(value, reason)`; anything the user set wins and says so.
The estimates are coarse but honest: time from the training FLOPs (6 x parameters x tokens for full
fine-tuning, 4 x for LoRA, whose frozen weights need no weight gradients) divided by a measured
matrix-multiply speed of the device times an efficiency factor, and peak memory from weights,
gradients, AdamW state and activations (Korthikanti et al. 2022: per layer about
s*b*h*(34 + 5*a*s/h) bytes in 16-bit precision) plus the logits of language models.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from models.finetune.data import JobRefused

RECIPES = ("classifier", "chat", "pretrain")
# Above this many parameters a chat model is trained with LoRA unless told otherwise: full
# fine-tuning with AdamW keeps about 16 bytes per parameter (fp32 weights, gradients and two
# moments), so 500M parameters already need 8 GB before activations, the whole memory of a
# common consumer GPU, while LoRA trains under 1 % of the weights and keeps the rest frozen.
LORA_ABOVE_PARAMETERS = 500_000_000
# A checkpoint every this many seconds of estimated training: a crash then loses at most a few
# minutes, and a short job does not spend its time writing optimizer state to disk.
CHECKPOINT_EVERY_S = 600
# Fraction of peak matmul speed a training step reaches (attention, normalisation, optimizer and
# data movement run slower than a large matmul); measured on this project's CPU runs.
TRAINING_EFFICIENCY = {"cpu": 0.30, "cuda": 0.35, "mps": 0.25}
MEMORY_HEADROOM = 0.85
# A classifier gets about this many optimizer updates, or one pass over the data when that is more:
# a pretrained encoder with a fresh head settles in 15-30 updates of 32 rows at the raised learning
# rate with warm-up (measured on topic and sentiment data); more passes mostly cost time.
MIN_UPDATES = 16


@dataclass
class Choice:
    value: Any
    reason: str


@dataclass
class Plan:
    recipe: str
    base: str
    base_path: str
    base_kind: str
    objective: str              # 'classification', 'causal-lm' or 'masked-lm'
    parameters: int
    device: str
    processes: int
    choices: dict[str, Choice]
    train_rows: int
    eval_rows: int
    labels: list[str]
    steps_per_epoch: int
    total_steps: int
    train_tokens: int
    estimate_seconds: float
    peak_memory_mb: float
    available_memory_mb: float
    fits: bool
    advice: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def value(self, name: str):
        return self.choices[name].value

    def hyperparameters(self) -> dict:
        return {name: choice.value for name, choice in self.choices.items()}

    def to_dict(self) -> dict:
        data = asdict(self)
        data["choices"] = {name: {"value": c.value, "reason": c.reason} for name, c in self.choices.items()}
        return data

    def summary_lines(self) -> list[str]:
        lines = [f"{self.recipe} fine-tuning of {self.base} ({self.parameters / 1e6:.0f}M parameters) "
                 f"on {self.device}" + (f" x{self.processes}" if self.processes > 1 else ""),
                 f"data: {self.train_rows} training rows, {self.eval_rows} validation rows"]
        for name, choice in self.choices.items():
            lines.append(f"  {name} = {choice.value}: {choice.reason}")
        lines.append(f"steps: {self.total_steps} ({self.steps_per_epoch} per epoch)")
        lines.append(f"estimate: about {_duration(self.estimate_seconds)}, peak memory about "
                     f"{self.peak_memory_mb:,.0f} MB of {self.available_memory_mb:,.0f} MB available")
        lines.extend(f"warning: {w}" for w in self.warnings)
        if not self.fits:
            lines.append("this job does not fit in memory:")
        lines.extend(f"advice: {a}" for a in self.advice)
        return lines


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


# -- the base model ----------------------------------------------------------------------------
@dataclass
class BaseModel:
    name: str
    path: Path
    kind: str
    config: dict
    parameters: int
    gguf: bool = False  # its weights are de-quantized from a GGUF file into memory when training starts


def resolve_base(recipe: str, base: str | None, registry=None) -> BaseModel:
    """The base model by registry name (or folder path); the recipe's default when `base` is None."""
    from models.errors import ModelError
    from models.registry import Registry, check_model_folder, kind_from_config, safetensors_parameters

    registry = registry or Registry()
    if base is None:
        entry = registry.default("encoder" if recipe == "classifier" else "chat")
    else:
        try:
            entry = registry.get(base)
        except ModelError:
            entry = None
            folder = Path(base).expanduser()
            if not folder.is_dir():
                raise JobRefused(f"no base model named {base!r}: pick one from `fireside models list` "
                                 "or give a model folder") from None
    if entry is not None:
        try:
            path = registry.local_path(entry)
        except ModelError as exc:
            raise JobRefused(f"the base model {entry.name!r} cannot be used: {exc}") from exc
        name = entry.name
    else:
        path, name = folder.resolve(), folder.name
    from models.generation.loaders import gguf_files

    try:
        model_file, adapter_file = gguf_files(Path(path))
    except ModelError as exc:
        raise JobRefused(f"the base model {name!r} cannot be used: {exc}") from exc
    if adapter_file is not None:
        base_name = entry.base_model if entry is not None else None
        raise JobRefused(f"{name!r} is a LoRA adapter over {base_name or 'another model'}: fine-tune that base "
                         "model instead, with this fine-tune's data and the new data together")
    path = model_file or path
    gguf = model_file is not None
    try:
        config = gguf_config(path) if gguf else check_model_folder(path)
    except ModelError as exc:
        raise JobRefused(f"the base model {name!r} cannot be used: {exc}") from exc
    kind = kind_from_config(config)
    if recipe == "classifier" and kind == "chat":
        raise JobRefused(f"{name!r} is a chat model; a classifier starts from an encoder such as "
                         "all-MiniLM-L6-v2")
    if recipe == "chat" and kind != "chat":
        raise JobRefused(f"{name!r} is an encoder, not a chat model; chat fine-tuning needs a chat model")
    parameters = gguf_parameters(path) if gguf else safetensors_parameters(path)
    return BaseModel(name=name, path=path, kind=kind, config=config, parameters=parameters, gguf=gguf)


def gguf_config(path: Path) -> dict:
    """The transformers config of a GGUF base, as transformers reads it from the file's metadata."""
    from models.errors import ModelError
    from models.loading import pretrained_source, transformers_class

    source, extra = pretrained_source(path)
    try:
        config = transformers_class("AutoConfig").from_pretrained(source, local_files_only=True, **extra)
    except Exception as exc:  # transformers raises many kinds for an architecture it cannot read
        raise ModelError(f"PyTorch cannot read this GGUF for training ({exc})") from exc
    data = config.to_dict()
    if not data.get("architectures"):
        data["architectures"] = [f"{type(config).__name__.removesuffix('Config')}ForCausalLM"]
    return data


def gguf_parameters(path: Path) -> int:
    from models.gguf_check import read_header

    return read_header(path).parameters()


def context_length(config: dict, tokenizer=None) -> int:
    limit = int(config.get("max_position_embeddings") or config.get("n_positions") or 2048)
    model_max = getattr(tokenizer, "model_max_length", None) if tokenizer is not None else None
    if isinstance(model_max, int) and 0 < model_max < limit:
        limit = model_max
    return limit


# -- token statistics --------------------------------------------------------------------------
def _texts(recipe: str, rows: list[dict], tokenizer) -> list[str]:
    if recipe == "chat":
        from models.finetune.chat_data import render_chat

        return [render_chat(tokenizer, row["messages"]) for row in rows]
    return [row["text"] for row in rows]


def token_lengths(recipe: str, rows: list[dict], tokenizer, limit: int = 20_000) -> list[int]:
    texts = _texts(recipe, rows[:limit], tokenizer)
    lengths = []
    for start in range(0, len(texts), 1000):
        encoded = tokenizer(texts[start:start + 1000], add_special_tokens=recipe != "chat", truncation=False)
        lengths.extend(len(ids) for ids in encoded["input_ids"])
    return lengths


def _round_up(value: float, multiple: int) -> int:
    return int(math.ceil(value / multiple) * multiple)


def percentile(values: list[int], fraction: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


# -- the device --------------------------------------------------------------------------------
_SPEED_CACHE: dict[str, float] = {}


def device_matmul_flops(device: str) -> float:
    """Measured float32 (CPU) or bf16 (GPU) matrix-multiply speed of `device`, in FLOP/s."""
    if device in _SPEED_CACHE:
        return _SPEED_CACHE[device]
    import torch

    size = 1024 if device == "cpu" else 4096
    dtype = torch.float32 if device == "cpu" else torch.bfloat16
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(3):
        if device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        a @ b
        if device == "cuda":
            torch.cuda.synchronize()
        elif device == "mps":
            torch.mps.synchronize()
        best = min(best, time.perf_counter() - started)
    _SPEED_CACHE[device] = 2 * size ** 3 / max(best, 1e-9)
    return _SPEED_CACHE[device]


def available_memory_mb(device: str) -> float:
    import psutil

    if device == "cuda":
        import torch

        free, _total = torch.cuda.mem_get_info()
        return free / 2**20
    return psutil.virtual_memory().available / 2**20


def precision_for(device: str) -> Choice:
    if device == "cuda":
        import torch

        if torch.cuda.is_bf16_supported():
            return Choice("bf16", "this GPU computes in bfloat16: twice the speed of float32, no loss scaling needed")
        return Choice("fp16", "this GPU has no bfloat16; float16 with dynamic loss scaling keeps small gradients")
    if device == "mps":
        return Choice("fp32", "mixed precision on Apple GPUs is not reliable for training yet; float32 is safe")
    return Choice("fp32", "CPUs train fastest and safest in float32")


# -- memory ------------------------------------------------------------------------------------
def peak_memory_bytes(base: BaseModel, objective: str, lora: bool, batch: int, length: int,
                      precision: str, gradient_checkpointing: bool, device: str) -> float:
    cfg = base.config
    params = base.parameters
    hidden = int(cfg.get("hidden_size") or cfg.get("n_embd") or 768)
    layers = int(cfg.get("num_hidden_layers") or cfg.get("n_layer") or 12)
    heads = int(cfg.get("num_attention_heads") or cfg.get("n_head") or 12)
    vocab = int(cfg.get("vocab_size") or 32000)
    half = precision in ("bf16", "fp16")
    if lora:
        states = params * 4 + 0.01 * params * 16
    else:
        states = params * 16  # fp32 weights + gradients + AdamW moments (autocast keeps fp32 masters)
    per_layer = batch * length * hidden * (34 + 5 * heads * length / hidden) * (1 if half else 2)
    activations = per_layer * (math.sqrt(layers) if gradient_checkpointing else layers)
    logits = batch * length * vocab * 4 * 3 if objective in ("causal-lm", "masked-lm") else 0
    runtime = 600 * 2**20 if device == "cuda" else 1200 * 2**20  # CUDA context / torch and libraries
    # A GGUF base is de-quantized to float32 into memory, then copied into the model: two float32
    # copies at once while it loads.
    loading = params * 8 if base.gguf else 0
    return max(states + activations + logits, loading) + runtime


def _epochs(recipe: str, items: int, steps_per_epoch: int) -> tuple[int, str]:
    """Enough passes for about MIN_UPDATES optimizer updates, fewer passes over big data."""
    if recipe == "classifier":
        if items >= 20_000:
            return 1, f"{items} rows: one pass over this much data is enough; more mostly overfits"
        epochs = min(10, max(1, round(MIN_UPDATES / steps_per_epoch)))
        return epochs, (f"{epochs} pass{'es' if epochs > 1 else ''} give{'' if epochs > 1 else 's'} "
                        f"{epochs * steps_per_epoch} updates: with the raised learning rate and warm-up a "
                        f"pretrained encoder and its fresh head settle in about {MIN_UPDATES}, and more passes "
                        "mostly cost time; early stopping ends sooner when validation stops improving")
    if recipe == "chat":
        epochs = 3 if items < 1000 else 2 if items < 10_000 else 1
        return epochs, (f"{items} conversations: {epochs} passes teach the style without memorising the "
                        "answers; early stopping watches the validation loss")
    epochs = 3 if items < 2000 else 1
    return epochs, f"{items} blocks of text: {epochs} pass(es) over your documents"


# -- the plan ----------------------------------------------------------------------------------
def _choice(overrides: dict, name: str, value, reason: str) -> Choice:
    if name in overrides and overrides[name] is not None:
        return Choice(overrides[name], "set by you")
    return Choice(value, reason)


def plan_job(recipe: str, train_rows: list[dict], eval_rows: list[dict] | None = None, base: str | None = None,
             device: str = "auto", overrides: dict | None = None, processes: int = 1, registry=None) -> Plan:
    """Every choice with its reason, the estimates, and whether the job fits. Raises JobRefused."""
    return make_plan(recipe, train_rows, eval_rows, base, device, overrides, processes, registry)[0]


def make_plan(recipe, train_rows, eval_rows=None, base=None, device="auto", overrides=None, processes=1,
              registry=None):
    """(plan, train rows, eval rows): `plan_job` plus the split it chose, for writing the job."""
    from models.devices import pick_device
    from models.finetune.data import check_rows, split_rows
    from models.loading import load_tokenizer

    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    if recipe not in RECIPES:
        raise JobRefused(f"unknown recipe {recipe!r} (classifier, chat or pretrain)")
    device = pick_device(device or "auto")
    if device not in ("cpu", "cuda", "mps"):
        raise JobRefused(f"unknown device {device!r} (auto, cpu, cuda or mps)")
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise JobRefused("no CUDA GPU is available here; use --device cpu")
    train_rows = check_rows(recipe, list(train_rows))
    base_model = resolve_base(recipe, base, registry)
    objective = {"classifier": "classification", "chat": "causal-lm"}.get(
        recipe, "masked-lm" if base_model.kind != "chat" else "causal-lm")
    tokenizer = load_tokenizer(base_model.path)
    if recipe == "chat" and not getattr(tokenizer, "chat_template", None):
        raise JobRefused(f"{base_model.name!r} has no chat template, so its conversations cannot be formatted; "
                         "use continued pre-training (pretrain) for this model")
    context = context_length(base_model.config, tokenizer)
    choices: dict[str, Choice] = {}
    warnings: list[str] = []

    # validation split
    if eval_rows is not None:
        eval_rows = check_rows(recipe, list(eval_rows), what="validation data")
        choices["validation_split"] = Choice(0.0, "you gave separate validation data")
    else:
        n = len(train_rows)
        fraction = 0.1 if n >= 200 else 0.2
        if n >= 20_000:
            fraction = round(2000 / n, 4)
        choices["validation_split"] = _choice(
            overrides, "validation_split", fraction,
            "10 % held out to measure progress" if n >= 200 and n < 20_000 else
            "2000 rows are enough to measure progress on a large dataset" if n >= 20_000 else
            "a small dataset: 20 % held out so the validation score means something")
        if len(train_rows) < 5:
            raise JobRefused(f"only {len(train_rows)} usable rows; give at least 5 (better 50 or more)")
        train_rows, eval_rows = split_rows(recipe, train_rows, float(choices["validation_split"].value))
    if recipe == "classifier":
        labels = sorted({r["label"] for r in train_rows})
        unknown = sorted({r["label"] for r in eval_rows} - set(labels))
        if unknown:
            raise JobRefused(f"the validation data has labels the training data lacks: {', '.join(unknown[:5])}")
    else:
        labels = []

    # lengths
    lengths = token_lengths(recipe, train_rows, tokenizer)
    if recipe == "classifier":
        p95 = percentile(lengths, 0.95)
        max_len = min(context, max(16, _round_up(p95, 8)))
        choices["max_length"] = _choice(
            overrides, "max_length", max_len,
            f"95 % of the training texts fit in {p95} tokens (longest {max(lengths)}); longer ones are cut, "
            "keeping their beginning, which saves padding work on every batch")
        over = sum(1 for n in lengths if n > int(choices["max_length"].value))
        if over:
            warnings.append(f"{over} of {len(lengths)} training texts are longer than "
                            f"{choices['max_length'].value} tokens and are truncated (the beginning is kept)")
    elif recipe == "chat":
        too_long = sum(1 for n in lengths if n > context)
        if too_long:
            raise JobRefused(
                f"{too_long} of {len(lengths)} conversations are longer than the model's context ({context} "
                "tokens); cutting them would drop the end of the assistant's replies, which is what is learned. "
                "Shorten or split those conversations")
        longest = max(lengths)
        max_len = min(context, _round_up(longest, 64))
        choices["max_length"] = _choice(
            overrides, "max_length", max_len,
            f"the longest conversation has {longest} tokens, so no reply is cut (batches are padded only to "
            "their own longest row)")
    else:
        total = sum(lengths)
        block = min(context, 512 if objective == "causal-lm" else 256, _round_up(max(64, total // 8 or 64), 64))
        choices["max_length"] = _choice(
            overrides, "max_length", block,
            f"documents are joined and cut into blocks of {block} tokens (the {total} tokens of text make "
            f"about {max(1, total // block)} blocks; longer blocks teach longer-range context but cost "
            "quadratic attention time)")
    max_len = int(choices["max_length"].value)
    if max_len > context:
        raise JobRefused(f"max length {max_len} is longer than the model's context ({context} tokens)")
    if recipe == "pretrain":
        total_tokens = sum(lengths)
        items = max(1, total_tokens // max_len)
        if total_tokens < max_len:
            items = 1
        train_tokens_epoch = items * max_len
    else:
        items = len(train_rows)
        train_tokens_epoch = sum(min(n, max_len) for n in lengths) * len(train_rows) / max(1, len(lengths))

    # LoRA or full
    if recipe == "chat":
        large = base_model.parameters > LORA_ABOVE_PARAMETERS
        choices["lora"] = _choice(
            overrides, "lora", large,
            f"{base_model.parameters / 1e6:.0f}M parameters is above {LORA_ABOVE_PARAMETERS / 1e6:.0f}M: "
            "LoRA trains under 1 % of the weights and needs a fraction of the memory" if large else
            f"{base_model.parameters / 1e6:.0f}M parameters is small enough (at most "
            f"{LORA_ABOVE_PARAMETERS / 1e6:.0f}M) to train every weight, which learns most")
    else:
        choices["lora"] = _choice(overrides, "lora", False, "small encoders and continued pre-training learn "
                                  "best with every weight trained")
    lora = bool(choices["lora"].value)
    if lora:
        choices["lora_r"] = _choice(overrides, "lora_r", 16, "rank 16 adapters on every linear layer: "
                                    "close to full fine-tuning quality on instruction data at ~1 % of the weights")
        choices["lora_alpha"] = _choice(overrides, "lora_alpha", 32, "alpha = 2 x rank, the usual scale")
        choices["lora_dropout"] = _choice(overrides, "lora_dropout", 0.05, "light dropout against overfitting "
                                          "small chat datasets")
        choices["merge_adapters"] = _choice(overrides, "merge_adapters", True, "the adapters are merged into a "
                                            "standalone model that chat loads like any other (they are also "
                                            "kept in output/adapter)")

    # learning rate
    millions = base_model.parameters / 1e6
    if recipe == "classifier":
        lr = 2e-4 if millions < 50 else 5e-5 if millions < 200 else 2e-5
        reason = (f"a {millions:.0f}M-parameter encoder with a fresh classification head tolerates a high rate; "
                  "the warm-up keeps the first steps stable" if millions < 50 else
                  f"the usual rate for a {millions:.0f}M-parameter encoder")
    elif lora:
        lr, reason = 2e-4, "LoRA adapters start at zero and need a rate about 10x that of full fine-tuning"
    else:
        lr = 5e-5 if millions < 1000 else 1e-5
        reason = (f"full fine-tuning of a {millions:.0f}M-parameter model: small enough steps that it keeps "
                  "what it knows")
    choices["learning_rate"] = _choice(overrides, "learning_rate", lr, reason)
    choices["lr_scheduler"] = _choice(
        overrides, "lr_scheduler", "linear" if recipe == "classifier" else "cosine",
        "linear decay to zero after warm-up, the standard for encoder fine-tuning" if recipe == "classifier" else
        "cosine decay after warm-up: a gentle end for language-model training")
    choices["weight_decay"] = _choice(overrides, "weight_decay", 0.01 if not lora else 0.0,
                                      "light decoupled weight decay (AdamW)" if not lora else
                                      "no weight decay on LoRA adapters (they start at zero)")

    # batch size (per step, across processes) and epochs
    preferred = {"classifier": 32, "chat": 8, "pretrain": 8}[recipe]
    if device == "cpu" and recipe != "classifier":
        preferred = 4
    precision = precision_for(device) if "precision" not in overrides else Choice(overrides["precision"], "set by you")
    choices["precision"] = precision
    batch_explicit = "batch_size" in overrides
    effective = int(overrides.get("batch_size", preferred)) * int(overrides.get("gradient_accumulation", 1))

    # fit the batch into memory: halve it and double accumulation until it fits
    grad_ckpt = bool(overrides.get("gradient_checkpointing", False))
    available = available_memory_mb(device) * MEMORY_HEADROOM
    batch = int(overrides.get("batch_size", preferred))
    accumulation = int(overrides.get("gradient_accumulation", 1))
    if processes > 1:
        batch = max(1, batch // processes) if not batch_explicit else batch

    def peak(b, ckpt):
        return peak_memory_bytes(base_model, objective, lora, b, max_len, str(precision.value), ckpt, device) / 2**20

    memory_reason = ""
    while peak(batch, grad_ckpt) > available and not batch_explicit:
        if batch > 1:
            batch //= 2
            accumulation *= 2
            memory_reason = " (halved to fit in memory; gradient accumulation keeps the effective batch)"
        elif not grad_ckpt and "gradient_checkpointing" not in overrides:
            grad_ckpt = True
        else:
            break
    choices["batch_size"] = _choice(
        overrides, "batch_size", batch,
        (f"{effective} rows per update: the cost per row falls steeply with the batch size (a batch of 32 "
         "costs about half as much per token as one of 8 on a CPU), and the raised learning rate makes up "
         "for the fewer updates" if recipe == "classifier" else
         f"{effective} sequences per update, the usual batch for fine-tuning language models")
        + (f", split over {processes} processes" if processes > 1 else "") + memory_reason)
    choices["gradient_accumulation"] = _choice(
        overrides, "gradient_accumulation", accumulation,
        "none needed: the whole batch fits at once" if accumulation == 1 else
        f"{accumulation} batches are summed before each update, so the effective batch stays {effective}")
    choices["gradient_checkpointing"] = _choice(
        overrides, "gradient_checkpointing", grad_ckpt,
        "activations are recomputed in the backward pass to fit in memory (about 30 % slower)" if grad_ckpt else
        "not needed: activations fit in memory")
    batch = int(choices["batch_size"].value)
    accumulation = int(choices["gradient_accumulation"].value)
    grad_ckpt = bool(choices["gradient_checkpointing"].value)
    steps_per_epoch = max(1, math.ceil(math.ceil(items / (batch * max(1, processes))) / accumulation))
    choices["epochs"] = _choice(overrides, "epochs", *_epochs(recipe, items, steps_per_epoch))
    epochs_value = float(choices["epochs"].value)

    total_steps = max(1, math.ceil(steps_per_epoch * epochs_value))
    choices["warmup_ratio"] = _choice(overrides, "warmup_ratio", 0.1 if recipe == "classifier" else 0.05,
                                      "the rate climbs over the first 10 % of the steps, so the fresh head does "
                                      "not wreck the pretrained weights" if recipe == "classifier" else
                                      "a short warm-up (5 % of the steps) steadies the first updates")

    # cadence
    evals_per_epoch = 2 if steps_per_epoch >= 40 else 1
    if recipe == "pretrain" and steps_per_epoch < 40:
        evals_per_epoch = 1
    eval_steps = max(1, steps_per_epoch // evals_per_epoch)
    choices["eval_steps"] = _choice(
        overrides, "eval_steps", eval_steps,
        "validation twice an epoch: often enough to stop early, rare enough to cost little" if evals_per_epoch == 2
        else "validation once an epoch (short epochs)")
    flops_per_token = (4 if lora else 6) * base_model.parameters
    eval_flops = 2 * base_model.parameters * (train_tokens_epoch * len(eval_rows) / max(1, items)) \
        * (total_steps / max(1, int(choices["eval_steps"].value)))
    speed = device_matmul_flops(device) * TRAINING_EFFICIENCY.get(device, 0.3) * max(1, processes)
    train_flops = flops_per_token * train_tokens_epoch * epochs_value * (1.3 if grad_ckpt else 1.0)
    estimate = (train_flops + eval_flops) / speed + 8.0  # + loading and saving
    seconds_per_step = max(1e-3, (estimate - 8.0) / total_steps)
    save_steps = max(int(choices["eval_steps"].value), int(CHECKPOINT_EVERY_S / seconds_per_step))
    save_steps = _round_up(save_steps, int(choices["eval_steps"].value))
    choices["save_steps"] = _choice(
        overrides, "save_steps", save_steps,
        f"a checkpoint about every {CHECKPOINT_EVERY_S // 60} minutes of training (each holds the weights and "
        "optimizer state); Stop and Ctrl-C always save one" if save_steps < total_steps else
        f"the whole job takes less than {CHECKPOINT_EVERY_S // 60} minutes: no periodic checkpoint (Stop still "
        "saves one)")
    metric = "macro_f1" if recipe == "classifier" else "eval_loss"
    choices["early_stopping_patience"] = _choice(
        overrides, "early_stopping_patience", 2,
        f"stop when {metric} has not improved for 2 validations in a row; the best weights are kept")
    choices["seed"] = _choice(overrides, "seed", 42, "a fixed seed makes a run repeatable")

    peak_mb = peak(batch, grad_ckpt)
    fits = peak_mb <= available
    advice = []
    if not fits:
        advice.append(f"it needs about {peak_mb:,.0f} MB and about {available:,.0f} MB can be used on {device}")
        if recipe == "chat" and not lora:
            advice.append("use LoRA (--lora): it keeps the base weights frozen and needs far less memory")
        if max_len > 128:
            advice.append(f"lower the maximum length (--max-length {max(64, max_len // 2)})")
        if not grad_ckpt:
            advice.append("turn on gradient checkpointing")
        advice.append("use a smaller base model, or a device with more memory")
    if len(train_rows) < 20 and recipe == "classifier":
        warnings.append(f"only {len(train_rows)} training rows: expect a rough classifier; 50 or more per "
                        "label work much better")
    if eval_rows and recipe == "classifier" and len(eval_rows) < 10:
        warnings.append(f"only {len(eval_rows)} validation rows: the scores will be noisy")
    plan = Plan(
        recipe=recipe, base=base_model.name, base_path=str(base_model.path), base_kind=base_model.kind,
        objective=objective, parameters=base_model.parameters, device=device, processes=max(1, processes),
        choices=choices, train_rows=len(train_rows), eval_rows=len(eval_rows), labels=labels,
        steps_per_epoch=steps_per_epoch, total_steps=total_steps, train_tokens=int(train_tokens_epoch),
        estimate_seconds=round(estimate, 1), peak_memory_mb=round(peak_mb, 1),
        available_memory_mb=round(available / MEMORY_HEADROOM, 1), fits=fits, advice=advice, warnings=warnings,
    )
    return plan, train_rows, eval_rows
