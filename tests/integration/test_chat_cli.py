"""`fireside chat` and `fireside export` with the installed default model, as a user runs them."""
import json
import os
import signal
import subprocess
import sys
import time

from desktop.store import conversations as store
from desktop.store import open_database
from models import bundled
from tests.conftest import ROOT


def test_chat_answers_paris_then_continues_as_json(cli, default_chat_path):
    first = cli("chat", "--temperature", "0", "Name the capital of France.")
    assert first.returncode == 0, first.stderr
    assert "Paris" in first.stdout
    assert "conversation 1" in first.stderr  # the stats line goes to stderr, the answer alone to stdout

    second = cli("chat", "--json", "-c", "1", "--temperature", "0", "--max-new-tokens", "24",
                 "And what is the capital of Germany?")
    assert second.returncode == 0, second.stderr
    answer = json.loads(second.stdout)  # exactly one JSON object, no stream around it
    assert {"reply", "model", "prompt_tokens", "new_tokens", "ttft_s", "tokens_per_s", "conversation_id"} <= set(answer)
    assert answer["conversation_id"] == 1 and answer["model"] == bundled.CHAT_NAME
    assert "Berlin" in answer["reply"]
    assert 0 < answer["new_tokens"] <= 24 and answer["prompt_tokens"] > 30  # the first turn is in the prompt

    listing = cli("chat", "--list")
    assert "Name the capital of France." in listing.stdout
    exported = cli("export", "1", "--format", "md")
    assert exported.returncode == 0 and exported.stdout.count("## You") == 2 and "Paris" in exported.stdout

    db = open_database()
    messages = store.active_messages(db, 1)
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[-1]["status"] == "complete" and messages[-1]["stats"]["new_tokens"] == answer["new_tokens"]


def wait_for(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    return None


def test_sigkill_mid_reply_leaves_the_partial_reply_in_the_database(default_chat_path, fireside_home):
    process = subprocess.Popen(
        [sys.executable, "-m", "desktop", "chat", "--temperature", "0", "--max-new-tokens", "2000",
         "Write a long story about a dragon who learns to cook."],
        cwd=ROOT, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        db = open_database()

        def partial():
            row = db.one("SELECT id, content FROM messages WHERE role = 'assistant' AND status = 'streaming' "
                         "AND length(content) > 40")
            return dict(row) if row else None

        seen = wait_for(partial, timeout=240)
        assert seen, "the reply never reached the database while streaming"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL

    reopened = open_database()  # as the next start of the app or the CLI does
    assert store.recover_interrupted(reopened) == 1
    reply = store.get_message(reopened, seen["id"])
    assert reply["status"] == "interrupted"
    assert reply["content"].startswith(seen["content"]) and len(reply["content"]) > 40
    assert [m["role"] for m in store.active_messages(reopened, reply["conversation_id"])] == ["user", "assistant"]


def test_unknown_model_is_one_line_and_writes_nothing(cli):
    result = cli("chat", "--model", "no-such-model", "hello")
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "no model named 'no-such-model'" in result.stderr
    assert store.list_conversations(open_database()) == []


def test_empty_prompt_is_not_sent(cli):
    result = cli("chat", "   ")
    assert result.returncode == 1 and "nothing to send" in result.stderr
    assert store.list_conversations(open_database()) == []


def test_export_json_and_import_from_the_command_line(cli, tmp_path):
    db = open_database()
    cid = store.create_conversation(db, system_prompt="Be kind.")
    reply = store.start_reply(db, cid, store.add_user_message(db, cid, "Hello there"), None)
    store.finish_reply(db, reply, "Hi! How can I help?", "complete")

    target = tmp_path / "chat.json"
    exported = cli("export", str(cid), "--format", "json", "-o", str(target))
    assert exported.returncode == 0, exported.stderr
    assert json.loads(target.read_text())["messages"][0] == {"role": "system", "content": "Be kind."}

    imported = cli("chat", "--import", str(target))
    assert imported.returncode == 0 and "imported conversation 2" in imported.stdout
    assert [m["content"] for m in store.active_messages(db, 2)] == ["Be kind.", "Hello there", "Hi! How can I help?"]

    missing = cli("export", "99")
    assert missing.returncode == 1 and "no conversation with id 99" in missing.stderr
    searched = cli("chat", "--search", "help")
    assert "Hello there" in searched.stdout and "[help]" in searched.stdout


def test_ctrl_c_stops_the_reply_and_keeps_what_was_written(default_chat_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "desktop", "chat", "--temperature", "0", "--max-new-tokens", "2000",
         "Write a long poem about the moon."],
        cwd=ROOT, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as in a terminal
    )
    try:
        db = open_database()
        seen = wait_for(lambda: db.one("SELECT id FROM messages WHERE status = 'streaming' AND length(content) > 20"),
                        timeout=240)
        assert seen, "the reply never reached the database while streaming"
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130 and "the partial reply is saved" in err
    reply = store.get_message(db, seen["id"])
    assert reply["status"] == "stopped" and len(reply["content"]) > 20
    assert out.startswith(reply["content"][:20])  # what was streamed is what was saved
