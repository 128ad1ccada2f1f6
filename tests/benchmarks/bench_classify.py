"""Documents per second: Fireside's classification engine against a plain transformers loop.

Same model (the default encoder), same texts, same label prompts, same run. The plain loop is
what one writes first: batches of 32 in the given order, padded to the longest, float32,
`torch.no_grad`, mean pooling. The engine is ZeroShotClassifier.predict (token windows,
length-sorted batches, `inference_mode`, int8 on CPU / fp16 on GPU). Accuracy is zero-shot
accuracy on the labelled texts, and few-shot accuracy (logistic regression trained on the first
half of the embeddings, tested on the second half), for both.

Data: a CSV in the AG News layout (class 1-4 = World, Sports, Business, Sci/Tech; title;
description), named by the environment variable FIRESIDE_BENCH_DATA or, run as a script, by
--data. Without it the benchmark is skipped.

    FIRESIDE_BENCH_DATA=news.csv python -m pytest tests/benchmarks/bench_classify.py -s
    python -m tests.benchmarks.bench_classify --data news.csv [--rounds 3] [--limit 600]
"""
from __future__ import annotations

import argparse
import csv
import os
import statistics
import time

import numpy as np

LABELS = ["World", "Sports", "Business", "Sci/Tech"]
ENV = "FIRESIDE_BENCH_DATA"


def load_news(path: str, limit: int | None = None) -> tuple[list[str], np.ndarray]:
    texts, truth = [], []
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.reader(handle):
            if len(row) < 3 or not row[0].strip().isdigit():
                continue
            texts.append(f"{row[1].strip()}. {row[2].replace(chr(92), ' ').strip()}")
            truth.append(int(row[0]) - 1)
    if limit:
        texts, truth = texts[:limit], truth[:limit]
    return texts, np.array(truth)


class PlainLoop:
    """The reference: straight transformers, batch 32, pad to longest, float32."""

    def __init__(self, path):
        from transformers import AutoModel, AutoTokenizer

        from models.quiet import quiet_libraries

        quiet_libraries()

        self.tokenizer = AutoTokenizer.from_pretrained(str(path))
        self.model = AutoModel.from_pretrained(str(path)).eval()

    def embed(self, texts: list[str]) -> np.ndarray:
        import torch

        vectors = []
        with torch.no_grad():
            for start in range(0, len(texts), 32):
                batch = self.tokenizer(texts[start:start + 32], padding=True, truncation=True, return_tensors="pt")
                hidden = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).float()
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                vectors.append(torch.nn.functional.normalize(pooled, dim=-1))
        return torch.cat(vectors).numpy()


def few_shot_accuracy(vectors: np.ndarray, truth: np.ndarray) -> float:
    from sklearn.linear_model import LogisticRegression

    half = len(truth) // 2
    model = LogisticRegression(C=10.0, max_iter=2000).fit(vectors[:half], truth[:half])
    return float((model.predict(vectors[half:]) == truth[half:]).mean())


def run(data: str, rounds: int = 3, limit: int | None = None) -> dict:
    import torch

    from models.bundled import encoder_dir
    from models.classify import ZeroShotClassifier
    from models.classify.encoder import Encoder
    from models.classify.zero_shot import label_prompts

    texts, truth = load_news(data, limit)
    path = encoder_dir()
    plain = PlainLoop(path)
    engine = ZeroShotClassifier(Encoder.load(path, device="cpu"), LABELS)
    prompts = [label_prompts(label, None)[0] for label in LABELS]
    plain_labels = plain.embed(prompts)
    plain.embed(texts[:32])
    engine.predict(texts[:32])  # warm both up

    plain_times, engine_times = [], []
    for _ in range(rounds):  # interleaved, so that a busy moment of the machine hits both sides
        started = time.perf_counter()
        plain_vectors = plain.embed(texts)
        plain_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        predictions = engine.predict(texts)
        engine_times.append(time.perf_counter() - started)

    plain_zero = float(((plain_vectors @ plain_labels.T).argmax(1) == truth).mean())
    engine_zero = float(np.mean([LABELS.index(p.label) == t for p, t in zip(predictions, truth)]))
    engine_vectors = engine.encoder.embed(texts)
    report = {
        "texts": len(texts), "threads": torch.get_num_threads(), "engine_precision": engine.encoder.precision,
        "plain_docs_s": len(texts) / min(plain_times), "engine_docs_s": len(texts) / min(engine_times),
        "speedup_best": min(plain_times) / min(engine_times),
        "speedup_median": statistics.median(p / e for p, e in zip(plain_times, engine_times)),
        "plain_zero_shot": plain_zero, "engine_zero_shot": engine_zero,
        "plain_few_shot": few_shot_accuracy(plain_vectors, truth),
        "engine_few_shot": few_shot_accuracy(engine_vectors, truth),
    }
    return report


def print_report(report: dict) -> None:
    print(f"\n{report['texts']} texts, {report['threads']} threads, engine precision {report['engine_precision']}")
    print(f"  plain loop : {report['plain_docs_s']:7.1f} documents/s   zero-shot {report['plain_zero_shot']:.1%}"
          f"   few-shot {report['plain_few_shot']:.1%}")
    print(f"  engine     : {report['engine_docs_s']:7.1f} documents/s   zero-shot {report['engine_zero_shot']:.1%}"
          f"   few-shot {report['engine_few_shot']:.1%}")
    print(f"  speed-up   : {report['speedup_best']:.2f}x (best of each), {report['speedup_median']:.2f}x (median of rounds)")


def test_engine_against_plain_loop():
    import pytest

    data = os.environ.get(ENV)
    if not data:
        pytest.skip(f"set {ENV} to a CSV in the AG News layout (class, title, description) to run this benchmark")
    report = run(data, rounds=int(os.environ.get("FIRESIDE_BENCH_ROUNDS", "3")))
    print_report(report)
    # The engine's own answers are the zero-shot ones: within one point, the target. The few-shot
    # figure is tested on half the texts (one text is a third of a point on 581), so it gets two.
    assert abs(report["engine_zero_shot"] - report["plain_zero_shot"]) <= 0.01
    assert abs(report["engine_few_shot"] - report["plain_few_shot"]) <= 0.02


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get(ENV), help=f"AG News-style CSV (or set {ENV})")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    if not args.data:
        parser.exit(0, f"skipped: give --data or set {ENV} to a CSV in the AG News layout\n")
    print_report(run(args.data, args.rounds, args.limit))
