"""Small data and tiny models for the fine-tuning tests."""
from __future__ import annotations

import csv
import json
import random
from pathlib import Path

POSITIVE = ["a great and wonderful film", "what a lovely happy day", "excellent superb dinner tonight",
            "fantastic show, I loved it", "a delightful charming story", "brilliant acting and a joyful end"]
NEGATIVE = ["a terrible and awful film", "what a sad horrible day", "disgusting bad dinner tonight",
            "boring show, I hated it", "a dreadful miserable story", "awful acting and a painful end"]
CHAT_TEMPLATE = (
    "{% for message in messages %}<{{ message['role'] }}> {{ message['content'] }} </s>{% endfor %}"
    "{% if add_generation_prompt %}<assistant> {% endif %}"
)


def sentiment_rows(count: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        label = "positive" if i % 2 == 0 else "negative"
        rows.append({"text": rng.choice(POSITIVE if label == "positive" else NEGATIVE), "label": label})
    return rows


def topic_rows(copies: int = 3) -> list[tuple[str, str]]:
    """(text, label) pairs of two easily told apart topics, sport and cooking."""
    sport = ["the striker scored twice", "a late goal won the final", "the keeper saved a penalty",
             "the team lost the away match", "fans cheered the home side"]
    food = ["simmer the sauce slowly", "bake the bread until golden", "chop the onions finely",
            "whisk the eggs with sugar", "season the soup with salt"]
    return [(f"{text} ({i})", label) for i in range(copies) for label, texts in (("sport", sport), ("cooking", food))
            for text in texts]


def write_csv(path: Path, rows: list[dict], delimiter: str = ",", text_column: str = "text") -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow([text_column, "label"])
        for row in rows:
            writer.writerow([row["text"], row["label"]])
    return path


def chat_rows(count: int) -> list[dict]:
    colours = ["red", "blue", "green", "yellow", "purple", "orange"]
    rows = []
    for i in range(count):
        colour = colours[i % len(colours)]
        rows.append({"messages": [
            {"role": "user", "content": f"Which colour is number {i}?"},
            {"role": "assistant", "content": f"Number {i} is {colour}."},
        ]})
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def tiny_chat_model(folder: Path) -> Path:
    """A tiny Llama with the encoder's tokenizer and a simple chat template."""
    from tests.tiny_models import make_tiny_chat_model

    return make_tiny_chat_model(folder, CHAT_TEMPLATE)


def tiny_encoder(folder: Path) -> Path:
    from tests.tiny_models import make_tiny_bert

    folder.mkdir(parents=True, exist_ok=True)
    return make_tiny_bert(folder)


def read_lines(text: str) -> list[dict]:
    events = []
    for line in text.splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events
