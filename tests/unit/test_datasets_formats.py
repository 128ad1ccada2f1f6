"""Reading training data files: format detection, conversion, malformed lines with their numbers."""
import json

import pytest

from models.datasets.errors import DatasetError
from models.datasets.folder import parse_folder
from models.datasets.formats import parse_file
from models.datasets.tables import guess_mapping, write_table


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_openai_chat_is_detected_and_content_parts_are_joined(tmp_path):
    path = write_jsonl(tmp_path / "chat.jsonl", [
        {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                      {"role": "assistant", "content": "Hello.", "weight": 1}]},
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "Two "}, {"type": "text", "text": "parts"}]},
                      {"role": "assistant", "content": "ok"}]},
    ])
    result = parse_file(path)
    assert (result.format, result.kind, result.bad_lines) == ("openai", "chat", [])
    assert result.rows[0] == {"messages": [{"role": "system", "content": "Be brief."},
                                           {"role": "user", "content": "Hi"},
                                           {"role": "assistant", "content": "Hello."}]}
    assert result.rows[1]["messages"][0]["content"] == "Two parts"


def test_sharegpt_roles_and_system_become_messages(tmp_path):
    path = write_jsonl(tmp_path / "share.jsonl", [
        {"system": "You are kind.", "conversations": [{"from": "human", "value": "Q1"}, {"from": "gpt", "value": "A1"},
                                                      {"from": "human", "value": "Q2"}, {"from": "gpt", "value": "A2"}]},
    ])
    result = parse_file(path)
    assert result.format == "sharegpt"
    assert [(m["role"], m["content"]) for m in result.rows[0]["messages"]] == [
        ("system", "You are kind."), ("user", "Q1"), ("assistant", "A1"), ("user", "Q2"), ("assistant", "A2")]


def test_alpaca_instruction_and_input_make_the_question(tmp_path):
    path = write_jsonl(tmp_path / "alpaca.jsonl", [
        {"instruction": "Translate to French", "input": "cat", "output": "chat"},
        {"instruction": "Say hi", "input": "", "output": "hi", "history": [["Q0", "A0"]]},
    ])
    result = parse_file(path)
    assert result.format == "alpaca" and result.kind == "chat"
    assert result.rows[0]["messages"] == [{"role": "user", "content": "Translate to French\n\ncat"},
                                          {"role": "assistant", "content": "chat"}]
    assert [m["content"] for m in result.rows[1]["messages"]] == ["Q0", "A0", "Say hi", "hi"]


def test_a_json_array_is_read_and_errors_name_the_item(tmp_path):
    path = tmp_path / "alpaca.json"
    path.write_text(json.dumps([{"instruction": "a", "output": "b"}, {"instruction": "c"}]))
    result = parse_file(path)
    assert len(result.rows) == 1
    assert [str(b) for b in result.bad_lines] == ['item 2: has none of the keys "instruction" and "output"; '
                                                  'the file is Alpaca (instruction / input / output)']


def test_malformed_lines_are_reported_with_their_numbers(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        '{"text": "good", "label": "a"}\n'
        "\n"
        '{"text": "broken", "label": \n'
        '{"text": "no label"}\n'
        '["a list"]\n'
        '{"text": "fine too", "label": 3}\n',
        encoding="utf-8",
    )
    result = parse_file(path)
    assert result.format == "classification"
    assert result.rows == [{"text": "good", "label": "a"}, {"text": "fine too", "label": "3"}]
    assert [b.number for b in result.bad_lines] == [3, 4, 5]
    assert "not valid JSON" in result.bad_lines[0].message
    assert result.bad_lines_summary().startswith("3 malformed lines: line 3: not valid JSON")


def test_unknown_records_give_one_clear_error(tmp_path):
    path = write_jsonl(tmp_path / "other.jsonl", [{"foo": 1}, {"bar": 2}])
    with pytest.raises(DatasetError, match='no record looks like a known format'):
        parse_file(path)


def test_csv_with_a_header_guesses_text_and_label(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text('id,review,stars\n1,"Great, really great",5\n2,"Line one\nline two",1\n3,too,many,fields\n'
                    "4,Fine,3\n", encoding="utf-8")
    result = parse_file(path)
    assert result.mapping == {"text": "review", "label": "stars"}
    assert result.rows == [{"text": "Great, really great", "label": "5"}, {"text": "Line one\nline two", "label": "1"},
                           {"text": "Fine", "label": "3"}]
    # The quoted field spans lines 3-4, so the bad record starts on line 5.
    assert [(b.number, b.message) for b in result.bad_lines] == [(5, "has 4 fields; expected 3")]


def test_headerless_csv_uses_the_values_to_guess(tmp_path):
    path = tmp_path / "news.csv"
    path.write_text('"3","Oil up","Crude prices rose again on Monday in Asia"\n'
                    '"2","Win","The home team won the final after extra time"\n'
                    '"3","Stocks","Shares fell on worries about the economy today"\n', encoding="utf-8")
    result = parse_file(path)
    assert result.header is False
    assert result.mapping == {"text": "column 3", "label": "column 1"}
    assert [r["label"] for r in result.rows] == ["3", "2", "3"]


def test_tsv_prompt_response_becomes_chat_and_mapping_can_be_given(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("question\tanswer\tnote\nWhat is 2+2?\t4\tmath\n", encoding="utf-8")
    result = parse_file(path)
    assert result.kind == "chat"
    assert result.rows[0]["messages"] == [{"role": "user", "content": "What is 2+2?"},
                                          {"role": "assistant", "content": "4"}]
    as_labels = parse_file(path, mapping={"text": "question", "label": "note"})
    assert as_labels.rows == [{"text": "What is 2+2?", "label": "math"}]
    with pytest.raises(DatasetError, match="column 'nope'"):
        parse_file(path, mapping={"text": "nope", "label": "note"})


def test_guess_mapping_prefers_known_names():
    assert guess_mapping(["messages"]) == {"messages": "messages"}
    assert guess_mapping(["system", "instruction", "output"]) == {"prompt": "instruction", "response": "output",
                                                                 "system": "system"}
    assert guess_mapping(["sentence", "category", "x"]) == {"text": "sentence", "label": "category"}


def test_multi_turn_chat_goes_to_csv_as_a_messages_column(tmp_path):
    import io

    rows = [{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                          {"role": "user", "content": "c"}, {"role": "assistant", "content": "d"}]}]
    buffer = io.StringIO()
    write_table(rows, "chat", buffer)
    assert buffer.getvalue().splitlines()[0] == "messages"
    path = tmp_path / "multi.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    assert parse_file(path).rows == rows


def test_latin1_files_are_decoded(tmp_path):
    path = tmp_path / "old.csv"
    path.write_bytes("text,label\nCafé crème très bon,positif\n".encode("latin-1"))
    assert parse_file(path).rows == [{"text": "Café crème très bon", "label": "positif"}]


def test_folder_subfolders_are_labels_and_unreadable_files_are_reported(tmp_path):
    for label, name, text in (("spam", "a.txt", "Win money now"), ("ham", "b.md", "# Lunch\nAt noon?"),
                              ("ham", "c.txt", "See you")):
        (tmp_path / label).mkdir(exist_ok=True)
        (tmp_path / label / name).write_text(text, encoding="utf-8")
    (tmp_path / "spam" / "scan.xyz").write_bytes(b"\x00\x01")
    result = parse_folder(tmp_path)  # the document reader when installed, else the plain-text one
    assert result.kind == "classification"
    found = sorted((r["label"], r["text"]) for r in result.rows)
    assert [label for label, _ in found] == ["ham", "ham", "spam"]
    assert "Lunch" in found[0][1] and "At noon?" in found[0][1]  # Markdown may come back as plain text
    assert found[1:] == [("ham", "See you"), ("spam", "Win money now")]
    assert len(result.bad_lines) == 1 and "scan.xyz" in result.bad_lines[0].message
    assert str(result.bad_lines[0]).startswith("file 4: spam/scan.xyz: ")
    with pytest.raises(DatasetError, match="no sub-folders"):
        parse_folder(tmp_path / "ham")
