"""Fine-tuning speed: the engine against a plain transformers Trainer script, same data, same run.

    FIRESIDE_BENCH_FINETUNE_DATA=labelled.csv python -m pytest tests/benchmarks/bench_finetune.py -s

The data file is a CSV with a header `text,label` (or a TSV `sentence,label`), or a header-less
AG News style CSV `class,title,description`. It is split 80/20 (seeded). Both contenders fine-tune
the default encoder (all-MiniLM-L6-v2) and are timed from process start to the saved model with
its validation accuracy:

- reference: the usual Trainer script: batch 32, learning rate 5e-5, 3 epochs, dynamic padding,
  evaluation at the end, model saved;
- engine: `fireside finetune classifier --train ... --eval ...` with its automatic settings.

Target: at least the reference's validation accuracy in at most half its wall time. Both figures
are printed (and written to bench_finetune.json in pytest's temporary folder).
"""
from __future__ import annotations

import csv
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA_VARIABLE = "FIRESIDE_BENCH_FINETUNE_DATA"

REFERENCE_SCRIPT = r'''
import csv, json, sys
import numpy as np
from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                          TrainingArguments)
from models.bundled import encoder_dir

train_file, eval_file, out = sys.argv[1:4]
train = list(csv.DictReader(open(train_file, encoding="utf-8")))
held = list(csv.DictReader(open(eval_file, encoding="utf-8")))
labels = sorted({r["label"] for r in train})
index = {label: i for i, label in enumerate(labels)}
tokenizer = AutoTokenizer.from_pretrained(encoder_dir())
encode = lambda rows: [dict(tokenizer(r["text"], truncation=True), labels=index[r["label"]]) for r in rows]
model = AutoModelForSequenceClassification.from_pretrained(encoder_dir(), num_labels=len(labels))
args = TrainingArguments(output_dir=out, per_device_train_batch_size=32, per_device_eval_batch_size=32,
                         learning_rate=5e-5, num_train_epochs=3, save_strategy="no", report_to=[],
                         disable_tqdm=True, logging_strategy="no")
accuracy = lambda p: {"accuracy": float((np.argmax(p.predictions, -1) == p.label_ids).mean())}
trainer = Trainer(model=model, args=args, train_dataset=encode(train), eval_dataset=encode(held),
                  data_collator=DataCollatorWithPadding(tokenizer), compute_metrics=accuracy)
trainer.train()
metrics = trainer.evaluate()
trainer.save_model(out + "/final")
print(json.dumps({"accuracy": metrics["eval_accuracy"]}))
'''


def load_rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        first = handle.readline()
        handle.seek(0)
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
        header = [c.strip().lower() for c in next(csv.reader([first], delimiter=delimiter))]
        if "label" in header:
            text = "text" if "text" in header else "sentence"
            return [{"text": r[text], "label": r["label"]} for r in csv.DictReader(handle, delimiter=delimiter)]
        # AG News style: class, title, description
        return [{"text": f"{title}. {description}".replace("\\", " "), "label": label}
                for label, title, description in csv.reader(handle)]


def write(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["text", "label"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def timed(command: list[str], env: dict) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=7200)
    seconds = time.perf_counter() - started
    assert result.returncode == 0, result.stderr[-3000:]
    return seconds, result.stdout.strip().splitlines()[-1]


def test_engine_against_a_plain_trainer(tmp_path, encoder_path):
    source = os.environ.get(DATA_VARIABLE)
    if not source or not Path(source).is_file():
        pytest.skip(f"set {DATA_VARIABLE} to a labelled CSV/TSV file (text,label) to run this benchmark")
    rows = load_rows(Path(source))
    random.Random(0).shuffle(rows)
    cut = int(len(rows) * 0.8)
    train, held = write(tmp_path / "train.csv", rows[:cut]), write(tmp_path / "eval.csv", rows[cut:])
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    (tmp_path / "reference.py").write_text(REFERENCE_SCRIPT, encoding="utf-8")

    engine_s, engine_line = timed([sys.executable, "-m", "desktop", "finetune", "classifier", "--train", str(train),
                                   "--eval", str(held), "--output", "bench-engine"], env)
    reference_s, reference_line = timed([sys.executable, str(tmp_path / "reference.py"), str(train), str(held),
                                         str(tmp_path / "reference")], env)
    engine, reference = json.loads(engine_line), json.loads(reference_line)
    report = {
        "rows": {"train": cut, "eval": len(rows) - cut},
        "reference": {"wall_s": round(reference_s, 1), "accuracy": reference["accuracy"]},
        "engine": {"wall_s": round(engine_s, 1), "accuracy": engine["accuracy"], "macro_f1": engine["macro_f1"],
                   "train_seconds": engine["train_seconds"], "steps": engine["steps"]},
        "time_ratio": round(engine_s / reference_s, 3),
        "target_met": engine["accuracy"] >= reference["accuracy"] and engine_s <= 0.5 * reference_s,
    }
    (tmp_path / "bench_finetune.json").write_text(json.dumps(report, indent=2))
    print("\n" + json.dumps(report, indent=2))
