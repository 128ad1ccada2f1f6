"""Reading, checking, splitting and freezing training data; chat rows into assistant-only labels."""
import pytest

from models.finetune.data import (JobRefused, check_rows, read_documents, read_labelled_file, snapshot_hash,
                                  split_rows, write_jsonl)
from tests.finetune_helpers import chat_rows, sentiment_rows, tiny_chat_model, write_csv


def test_reads_csv_and_sentence_tsv(tmp_path):
    rows = sentiment_rows(6)
    assert read_labelled_file(write_csv(tmp_path / "a.csv", rows)) == rows
    tsv = write_csv(tmp_path / "b.tsv", rows, delimiter="\t", text_column="sentence")
    assert read_labelled_file(tsv) == rows


def test_file_without_the_columns_is_refused(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("title,category\nx,y\n", encoding="utf-8")
    with pytest.raises(JobRefused, match="text,label"):
        read_labelled_file(path)


@pytest.mark.parametrize("rows, reason", [
    ([], "empty"),
    ([{"text": "  ", "label": "a"}], "empty"),
    ([{"text": "one", "label": "a"}, {"text": "two", "label": "a"}], "single label"),
])
def test_unusable_classification_data_is_refused(rows, reason):
    with pytest.raises(JobRefused, match=reason):
        check_rows("classifier", rows)


def test_chat_rows_need_an_assistant_reply():
    with pytest.raises(JobRefused, match="assistant"):
        check_rows("chat", [{"messages": [{"role": "user", "content": "hi"}]}])
    assert len(check_rows("chat", chat_rows(3))) == 3


def test_split_keeps_every_label_on_both_sides():
    rows = sentiment_rows(40)
    train, held = split_rows("classifier", rows, 0.2)
    assert len(train) + len(held) == 40
    assert {r["label"] for r in held} == {r["label"] for r in train} == {"positive", "negative"}


def test_snapshot_hash_changes_with_the_data(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", sentiment_rows(4))
    first = snapshot_hash(tmp_path / "a.jsonl")
    write_jsonl(tmp_path / "a.jsonl", sentiment_rows(5))
    assert snapshot_hash(tmp_path / "a.jsonl") != first and len(first) == 64


def test_documents_folder(tmp_path):
    (tmp_path / "a.txt").write_text("Some notes about otters.", encoding="utf-8")
    (tmp_path / "b.md").write_text("# Heading\nMore text.", encoding="utf-8")
    (tmp_path / "c.bin").write_bytes(b"\0\1")
    rows, skipped = read_documents(tmp_path)
    assert [r["source"] for r in rows] == ["a.txt", "b.md"] and skipped == ["c.bin"]


def test_loss_only_on_assistant_tokens(tmp_path):
    from models.finetune.chat_data import IGNORE, tokenize_chat
    from models.loading import load_tokenizer

    tokenizer = load_tokenizer(tiny_chat_model(tmp_path / "chat"))
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Colour of grass?"},
                {"role": "assistant", "content": "Green."}, {"role": "user", "content": "And the sky?"},
                {"role": "assistant", "content": "Blue."}]
    item = tokenize_chat(tokenizer, messages, max_length=256)
    learned = tokenizer.decode([t for t, label in zip(item["input_ids"], item["labels"]) if label != IGNORE])
    assert "green" in learned and "blue" in learned
    assert "grass" not in learned and "sky" not in learned and "brief" not in learned
    assert len(item["input_ids"]) == len(item["labels"]) == len(item["attention_mask"])
