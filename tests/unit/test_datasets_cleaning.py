"""Cleaning plans, splits, statistics, snapshots and rows made from chats and corrections."""
import hashlib
from collections import Counter

import pytest

from models.datasets.cleaning import normalize_text, plan_duplicates, plan_empty, plan_pii, plan_token_length
from models.datasets.errors import DatasetError
from models.datasets.snapshot import snapshot_hash, write_snapshot
from models.datasets.sources import rows_from_examples, rows_from_messages
from models.datasets.split import split_ids
from models.datasets.stats import add_token_lengths, compute_stats, histogram
from models.datasets.tokens import context_length_from_config, token_lengths


def chat(*pairs):
    return {"messages": [{"role": role, "content": content} for role, content in pairs]}


def test_exact_and_near_duplicates_keep_the_first():
    records = list(enumerate([
        {"text": "Hello, World!", "label": "a"},
        {"text": "Hello, World!", "label": "a"},      # exact copy of 0
        {"text": "hello   world", "label": "a"},      # near copy of 0
        {"text": "hello world", "label": "b"},        # same text, other label: kept
        {"text": "Ｈｅｌｌｏ world!!", "label": "a"},   # full-width letters fold to the same text
    ]))
    exact = plan_duplicates(records)
    assert exact.remove == [1] and exact.total == 5
    near = plan_duplicates(records, near=True)
    assert near.remove == [1, 2, 4]
    assert near.examples[0] == (2, "Hello, World!", "(removed: the same as row 1)")
    assert "3 of 5 rows would be removed" in near.summary()
    assert normalize_text("  Ça  va?\n") == "ça va"


def test_near_duplicate_chats_compare_roles_and_text():
    records = [(10, chat(("user", "Hi!"), ("assistant", "Hello."))),
               (11, chat(("user", "hi"), ("assistant", "hello"))),
               (12, chat(("system", "hi"), ("assistant", "hello")))]
    assert plan_duplicates(records, near=True).remove == [11]


def test_empty_rows():
    records = list(enumerate([
        {"text": "  ", "label": "a"}, {"text": "x", "label": ""}, {"text": "fine", "label": "a"},
        chat(("user", "q"), ("assistant", " ")), chat(("system", "s"), ("user", "q"), ("assistant", "a")),
    ]))
    assert plan_empty(records).remove == [0, 1, 3]


def test_token_length_plan_counts_both_ends():
    records = [(1, {"text": "a", "label": "x"}, 3), (2, {"text": "b", "label": "x"}, 50),
               (3, {"text": "c", "label": "x"}, 700)]
    plan = plan_token_length(records, min_tokens=5, max_tokens=512)
    assert plan.remove == [1, 3]
    assert plan.details == Counter({"too short": 1, "too long": 1})
    assert plan.examples[1][2] == "(removed: 700 tokens, too long)"


def test_pii_plan_replaces_rows_and_counts_kinds():
    records = [(1, {"text": "mail a@b.org", "label": "x"}), (2, {"text": "nothing here", "label": "x"})]
    plan = plan_pii(records)
    assert plan.replace == {1: {"text": "mail [EMAIL]", "label": "x"}} and plan.remove == []
    assert "1 e-mail addresses" in plan.summary()


def test_split_is_seeded_and_stratified():
    items = [(i, "big") for i in range(100)] + [(100 + i, "small") for i in range(10)] + [(200, "single")]
    train, validation = split_ids(items, 0.2, seed=7)
    assert sorted(train + validation) == sorted(i for i, _ in items)
    labels = dict(items)
    assert Counter(labels[i] for i in validation) == {"big": 20, "small": 2}
    assert split_ids(items, 0.2, seed=7) == (train, validation)
    assert split_ids(items, 0.2, seed=8) != (train, validation)
    assert len(split_ids([(1, None), (2, None)], 0.01)[1]) == 1  # at least one row to validate on
    with pytest.raises(DatasetError, match="between 0 and 1"):
        split_ids(items, 1.5)


def test_statistics_and_histogram():
    rows = [{"text": "one", "label": "a"}, {"text": "one", "label": "a"}, {"text": "ONE!", "label": "b"},
            {"text": "", "label": "b"}, {"text": "three", "label": "b"}]
    stats = compute_stats("classification", rows)
    assert stats.rows == 5 and stats.label_counts == {"b": 3, "a": 2}
    assert list(stats.label_counts) == ["b", "a"]
    assert (stats.empty_rows, stats.duplicate_rows, stats.conflicting_texts) == (1, 1, 1)
    add_token_lengths(stats, [3, 10, 600, 512, 513], context_length=512)
    assert stats.truncated == 2 and stats.tokens.maximum == 600
    counts, edges = histogram([1, 2, 2, 3, 100], bins=10)
    assert sum(counts) == 5 and len(edges) == len(counts) + 1
    chats = compute_stats("chat", [chat(("user", "a"), ("assistant", "b")), chat(("user", "a"), ("assistant", "b"),
                                                                                  ("user", "c"), ("assistant", "d"))])
    assert chats.message_count_rows == {2: 1, 4: 1} and chats.label_counts == {}


def test_snapshot_is_canonical_and_hashed(tmp_path):
    rows = [{"label": "a", "text": "é"}, {"messages": [{"content": "x", "role": "user"}]}]
    sha, count = write_snapshot(rows, tmp_path / "data" / "train.jsonl")
    data = (tmp_path / "data" / "train.jsonl").read_bytes()
    assert data == ('{"label":"a","text":"é"}\n{"messages":[{"content":"x","role":"user"}]}\n').encode()
    assert sha == hashlib.sha256(data).hexdigest() and count == 2
    reordered = [{"text": "é", "label": "a"}, {"messages": [{"role": "user", "content": "x"}]}]
    assert snapshot_hash(reordered) == (sha, 2)
    assert snapshot_hash(reordered[:1])[0] != sha
    assert not list((tmp_path / "data").glob(".*"))  # no partial file left behind


MESSAGES = [
    {"id": 1, "role": "system", "content": "Be kind.", "status": "complete", "rating": 0, "ideal_content": None},
    {"id": 2, "role": "user", "content": "Q1", "status": "complete", "rating": 0, "ideal_content": None},
    {"id": 3, "role": "assistant", "content": "A1", "status": "complete", "rating": 1, "ideal_content": None},
    {"id": 4, "role": "user", "content": "Q2", "status": "complete", "rating": 0, "ideal_content": None},
    {"id": 5, "role": "assistant", "content": "bad", "status": "complete", "rating": -1, "ideal_content": "A2 ideal"},
    {"id": 6, "role": "user", "content": "Q3", "status": "complete", "rating": 0, "ideal_content": None},
    {"id": 7, "role": "assistant", "content": "half", "status": "stopped", "rating": 0, "ideal_content": None},
]


def test_rows_from_a_conversation_in_each_mode():
    (whole,) = rows_from_messages(MESSAGES, "conversation")
    assert [(m["role"], m["content"]) for m in whole["messages"]] == [
        ("system", "Be kind."), ("user", "Q1"), ("assistant", "A1"), ("user", "Q2"), ("assistant", "A2 ideal")]
    (liked,) = rows_from_messages(MESSAGES, "thumbs_up")
    assert [m["content"] for m in liked["messages"]] == ["Be kind.", "Q1", "A1"]
    (ideal,) = rows_from_messages(MESSAGES, "ideal")
    assert [m["content"] for m in ideal["messages"]] == ["Be kind.", "Q1", "A1", "Q2", "A2 ideal"]
    assert rows_from_messages(MESSAGES[:2], "conversation") == []


def test_rows_from_classifier_examples():
    examples = [{"text": "a", "label": "x", "source": "correction"}, {"text": "b", "label": "y", "source": "example"},
                {"text": " ", "label": "y", "source": "example"}]
    assert rows_from_examples(examples) == [{"text": "a", "label": "x"}, {"text": "b", "label": "y"}]
    assert rows_from_examples(examples, ("correction",)) == [{"text": "a", "label": "x"}]


def test_token_lengths_with_a_real_tokenizer(encoder_path):
    from models.loading import load_tokenizer

    tokenizer = load_tokenizer(encoder_path)
    rows = [{"text": "hello world", "label": "a"}, {"text": "hello " * 600, "label": "a"}]
    lengths = token_lengths(rows, tokenizer)
    assert lengths == [4, 602]  # [CLS] hello world [SEP]
    assert context_length_from_config({"max_position_embeddings": 512}) == 512
    assert context_length_from_config({"text_config": {"n_positions": 1024}}) == 1024
