"""`fireside dataset ...` in a subprocess, on the data home of the test, with the default models."""
import json


def test_malformed_file_is_refused_whole_unless_bad_lines_are_skipped(cli, tmp_path):
    path = tmp_path / "chat.jsonl"
    path.write_text(
        json.dumps({"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]}) + "\n"
        + json.dumps({"conversations": [{"from": "robot", "value": "?"}]}) + "\n"
        + "not json\n"
        + json.dumps({"conversations": [{"from": "human", "value": "Bye"}, {"from": "gpt", "value": "Ciao"}]}) + "\n",
        encoding="utf-8")
    refused = cli("dataset", "import", str(path), "--name", "talks")
    assert refused.returncode == 1
    assert "line 2: turn 1 is from 'robot'" in refused.stderr and "line 3: not valid JSON" in refused.stderr
    assert "nothing was written" in refused.stderr
    assert json.loads(cli("dataset", "list", "--json").stdout) == []

    done = cli("dataset", "import", str(path), "--name", "talks", "--skip-bad-lines")
    assert done.returncode == 0, done.stderr
    assert "Imported 2 chat rows (sharegpt) into 'talks'" in done.stdout
    exported = cli("dataset", "export", "talks", "--format", "jsonl")
    rows = [json.loads(line) for line in exported.stdout.splitlines()]
    assert rows[1] == {"messages": [{"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Ciao"}]}


def test_csv_import_split_stats_clean_and_export(cli, tmp_path):
    path = tmp_path / "reviews.csv"
    lines = ["text,label"] + [f"Review number {i} of the product,{'good' if i % 3 else 'bad'}" for i in range(30)]
    lines += ["Review number 1 of the product,good", "write to me@example.com,good", ",bad",
              '"' + "very long " * 300 + '",good']
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert cli("dataset", "import", str(path), "--name", "reviews").returncode == 0

    split = cli("dataset", "split", "reviews", "--validation", "0.2", "--seed", "4")
    assert split.returncode == 0 and "27 train, 7 validation" in split.stdout

    stats = cli("dataset", "stats", "reviews", "--model", "all-MiniLM-L6-v2", "--json")
    assert stats.returncode == 0, stats.stderr
    figures = json.loads(stats.stdout)
    assert figures["rows"] == 34 and figures["label_counts"] == {"good": 23, "bad": 11}
    assert figures["split"] == {"train": 27, "validation": 7}
    assert (figures["context_length"], figures["truncated"]) == (512, 1)
    assert (figures["empty_rows"], figures["duplicate_rows"]) == (1, 1)

    dry = cli("dataset", "clean", "reviews", "--empty", "--duplicates", "--pii", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "Empty rows: 1 of 34 rows would be removed" in dry.stdout
    assert "Exact duplicates: 1 of 33 rows would be removed" in dry.stdout
    assert "would have 32 rows" in dry.stdout
    assert "34" in cli("dataset", "list").stdout

    clean = cli("dataset", "clean", "reviews", "--empty", "--duplicates", "--pii")
    assert clean.returncode == 0, clean.stderr
    assert "reviews has 32 rows" in clean.stdout
    csv_out = cli("dataset", "export", "reviews", "--format", "csv", "--split", "validation").stdout.splitlines()
    assert csv_out[0] == "text,label" and 1 < len(csv_out) <= 8
    everything = cli("dataset", "export", "reviews", "--format", "csv").stdout
    assert "write to [EMAIL],good" in everything

    missing = cli("dataset", "export", "nope")
    assert missing.returncode == 1 and "no dataset named 'nope'" in missing.stderr


def test_chat_rows_are_measured_through_the_chat_template(default_chat_path):
    from desktop.datasets.operations import TokenizerCache, dataset_statistics
    from desktop.store import open_database
    from desktop.store.datasets import import_rows
    from models.bundled import CHAT_NAME
    from models.registry import Registry

    rows = [{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello there"}]}]
    tokenizer, context = TokenizerCache(Registry()).get(CHAT_NAME)
    assert context == 8192
    db = open_database()
    dataset = import_rows(db, "c", "chat", rows)
    stats, (templated,) = dataset_statistics(db, dataset["id"], tokenizer, context)
    plain = len(tokenizer("Hi Hello there")["input_ids"])
    assert templated > plain + 4  # the template's role markers count too
    assert stats.tokens.maximum == templated and stats.truncated == 0
