"""The three recipes: what model to build, how to turn rows into tensors, and how to score it.

- classifier: AutoModelForSequenceClassification (the encoder plus a fresh head), full fine-tune.
- chat: AutoModelForCausalLM, loss on the assistant's tokens only, full or LoRA (peft).
- pretrain: masked-LM (encoders) or causal-LM (chat models) on blocks of the user's text.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from models.home import force_offline
from models.quiet import quiet_libraries


class RowsDataset:
    """A list of already tokenized examples, as torch's Dataset protocol wants it."""

    def __init__(self, items: list[dict]):
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        return self.items[index]


@dataclass
class Recipe:
    model: Any
    tokenizer: Any
    train_dataset: RowsDataset
    eval_dataset: RowsDataset
    collator: Callable
    compute_metrics: Callable | None
    output_kind: str                     # registry kind of the result
    labels: list[str] = field(default_factory=list)
    count_tokens: bool = False           # report tokens/s rather than examples/s
    lora: bool = False


def _torch_dtype(precision: str, device: str):
    import torch

    # Weights stay float32 for full training (autocast computes in half precision); frozen LoRA
    # bases are loaded in half precision on GPUs to halve their memory.
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32) if device == "cuda" \
        else torch.float32


def build(config: dict, train_rows: list[dict], eval_rows: list[dict]) -> Recipe:
    force_offline()
    quiet_libraries()
    from models.loading import load_tokenizer

    hp = {name: item["value"] for name, item in config["hyperparameters"].items()}
    base_path = Path(config["base"]["path"])
    tokenizer = load_tokenizer(base_path)
    objective = config["objective"]
    max_length = int(hp["max_length"])
    if objective == "classification":
        return _classifier(config, hp, tokenizer, base_path, train_rows, eval_rows, max_length)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    if config["recipe"] == "chat":
        return _chat(config, hp, tokenizer, base_path, train_rows, eval_rows, max_length)
    return _pretrain(config, hp, tokenizer, base_path, train_rows, eval_rows, max_length, objective)


# -- classifier -----------------------------------------------------------------------------------
def classification_scores(labels: list[str], truth: list[int], predicted: list[int]) -> dict:
    """Accuracy, macro-F1, per-label precision/recall/F1 and the confusion matrix (rows = truth)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    indices = list(range(len(labels)))
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=indices, zero_division=0)
    return {
        "accuracy": float(accuracy_score(truth, predicted)),
        "macro_f1": float(f1_score(truth, predicted, labels=indices, average="macro", zero_division=0)),
        "per_label": {label: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                              "support": int(support[i])} for i, label in enumerate(labels)},
        "confusion_matrix": {"labels": labels,
                             "matrix": confusion_matrix(truth, predicted, labels=indices).tolist()},
    }


def _classifier(config, hp, tokenizer, base_path, train_rows, eval_rows, max_length) -> Recipe:
    from transformers import AutoModelForSequenceClassification, DataCollatorWithPadding

    labels = list(config["data"]["labels"])
    index = {label: i for i, label in enumerate(labels)}

    def encode(rows):
        encoded = tokenizer([r["text"] for r in rows], truncation=True, max_length=max_length)
        return [{**{k: encoded[k][i] for k in encoded.keys()}, "labels": index[r["label"]]}
                for i, r in enumerate(rows)]

    model = AutoModelForSequenceClassification.from_pretrained(
        str(base_path), num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=index,
        local_files_only=True, ignore_mismatched_sizes=True,
        use_safetensors=any(base_path.glob("*.safetensors")))

    def compute_metrics(prediction):
        logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        scores = classification_scores(labels, list(prediction.label_ids), list(logits.argmax(-1)))
        return {"accuracy": scores["accuracy"], "macro_f1": scores["macro_f1"]}

    return Recipe(model=model, tokenizer=tokenizer, train_dataset=RowsDataset(encode(train_rows)),
                  eval_dataset=RowsDataset(encode(eval_rows)),
                  collator=DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8),
                  compute_metrics=compute_metrics, output_kind="classifier", labels=labels)


# -- chat -----------------------------------------------------------------------------------------
def _load_causal(base_path: Path, dtype):
    """The base's weights in PyTorch; a GGUF base is de-quantized into memory, never onto disk."""
    from transformers import AutoModelForCausalLM

    from models.loading import plain_model, pretrained_source

    source, extra = pretrained_source(base_path)
    return plain_model(AutoModelForCausalLM.from_pretrained(source, local_files_only=True, dtype=dtype, **extra),
                       dtype)


def _with_lora(model, hp):
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(r=int(hp.get("lora_r", 16)), lora_alpha=int(hp.get("lora_alpha", 32)),
                      lora_dropout=float(hp.get("lora_dropout", 0.05)), target_modules="all-linear",
                      task_type="CAUSAL_LM")
    return get_peft_model(model, lora)


def _chat(config, hp, tokenizer, base_path, train_rows, eval_rows, max_length) -> Recipe:
    from transformers import DataCollatorForSeq2Seq

    from models.finetune.chat_data import tokenize_chat

    lora = bool(hp.get("lora"))
    model = _load_causal(base_path, _torch_dtype(hp.get("precision", "fp32"), config["device"]) if lora else None)
    if lora:
        model = _with_lora(model, hp)

    def encode(rows):
        items = [tokenize_chat(tokenizer, row["messages"], max_length) for row in rows]
        return [item for item in items if any(label != -100 for label in item["labels"])]

    collator = DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100, padding=True, pad_to_multiple_of=8)
    return Recipe(model=model, tokenizer=tokenizer, train_dataset=RowsDataset(encode(train_rows)),
                  eval_dataset=RowsDataset(encode(eval_rows)), collator=collator, compute_metrics=None,
                  output_kind="chat", count_tokens=True, lora=lora)


# -- continued pre-training -----------------------------------------------------------------------
def text_blocks(tokenizer, rows: list[dict], block: int, special_tokens: bool) -> list[list[int]]:
    """Join the documents' tokens and cut them into blocks of `block` tokens (a short tail is kept alone)."""
    stream: list[int] = []
    for start in range(0, len(rows), 256):
        encoded = tokenizer([r["text"] for r in rows[start:start + 256]], add_special_tokens=special_tokens)
        for ids in encoded["input_ids"]:
            stream.extend(ids)
            if not special_tokens and tokenizer.eos_token_id is not None:
                stream.append(tokenizer.eos_token_id)
    blocks = [stream[i:i + block] for i in range(0, len(stream), block)]
    if len(blocks) > 1 and len(blocks[-1]) < block // 4:
        blocks.pop()
    return blocks


def _pretrain(config, hp, tokenizer, base_path, train_rows, eval_rows, max_length, objective) -> Recipe:
    from transformers import AutoModelForMaskedLM, DataCollatorForLanguageModeling

    if objective == "masked-lm":
        model = AutoModelForMaskedLM.from_pretrained(str(base_path), local_files_only=True,
                                                     use_safetensors=any(base_path.glob("*.safetensors")))
        collator = DataCollatorForLanguageModeling(tokenizer, mlm=True, mlm_probability=0.15,
                                                   pad_to_multiple_of=8)
        special, kind = True, "encoder"
    else:
        model = _load_causal(base_path, None)
        collator = DataCollatorForLanguageModeling(tokenizer, mlm=False, pad_to_multiple_of=8)
        special, kind = False, "chat"

    def encode(rows):
        return [{"input_ids": ids, "attention_mask": [1] * len(ids)}
                for ids in text_blocks(tokenizer, rows, max_length, special)]

    return Recipe(model=model, tokenizer=tokenizer, train_dataset=RowsDataset(encode(train_rows)),
                  eval_dataset=RowsDataset(encode(eval_rows)), collator=collator, compute_metrics=None,
                  output_kind=kind, count_tokens=True)


def perplexity(eval_loss: float) -> float:
    return math.exp(eval_loss) if eval_loss < 50 else float("inf")
