"""Conversations in the real SQLite file: branches, streaming saves, recovery, search, export."""
import json
import subprocess
import sys

import pytest

from desktop.store import open_database
from desktop.store import conversations as store
from desktop.store import conversation_export as export


@pytest.fixture
def db(fireside_home):
    database = open_database()
    yield database
    database.close()


def roles_and_texts(db, conversation_id):
    return [(m["role"], m["content"]) for m in store.active_messages(db, conversation_id)]


def test_a_conversation_grows_and_is_titled_after_its_first_question(db):
    cid = store.create_conversation(db, system_prompt="Answer briefly.", model="m")
    question = store.add_user_message(db, cid, "  What is   the capital of France?\nThanks")
    reply = store.start_reply(db, cid, question, "m")
    assert store.get_message(db, reply)["status"] == "streaming"
    store.save_partial(db, reply, "Par")
    store.finish_reply(db, reply, "Paris.", "complete", {"new_tokens": 3})
    assert roles_and_texts(db, cid) == [
        ("system", "Answer briefly."), ("user", "  What is   the capital of France?\nThanks"), ("assistant", "Paris.")]
    messages = store.active_messages(db, cid)
    assert messages[2]["stats"] == {"new_tokens": 3} and messages[2]["rating"] == 0
    assert messages[2]["ideal_content"] is None and messages[2]["status"] == "complete"
    assert store.get_conversation(db, cid)["title"] == "What is the capital of France? Thanks"


def test_empty_message_is_refused_and_nothing_is_written(db):
    cid = store.create_conversation(db)
    with pytest.raises(ValueError):
        store.add_user_message(db, cid, "  \n ")
    assert store.active_messages(db, cid) == []


def test_partial_saves_are_committed_for_other_connections(db, fireside_home):
    cid = store.create_conversation(db)
    reply = store.start_reply(db, cid, store.add_user_message(db, cid, "hi"), None)
    store.save_partial(db, reply, "Once upon")
    other = open_database()
    try:
        row = other.one("SELECT content, status FROM messages WHERE id = ?", (reply,))
        assert (row["content"], row["status"]) == ("Once upon", "streaming")
    finally:
        other.close()


def test_regenerate_keeps_the_old_reply_as_an_alternative(db):
    cid = store.create_conversation(db)
    question = store.add_user_message(db, cid, "Tell me a joke")
    first = store.start_reply(db, cid, question, "m")
    store.finish_reply(db, first, "joke one", "complete")
    second = store.start_reply(db, cid, question, "m")
    store.finish_reply(db, second, "joke two", "complete")
    assert roles_and_texts(db, cid)[-1] == ("assistant", "joke two")
    shown = store.transcript(db, cid)[-1]
    assert (shown["alternative"], shown["alternatives"]) == (2, 2)
    assert store.sibling_ids(db, second) == [first, second]
    store.select_alternative(db, first)
    assert roles_and_texts(db, cid)[-1] == ("assistant", "joke one")
    assert store.transcript(db, cid)[-1]["alternative"] == 1


def test_edit_and_resend_replaces_later_turns_and_keeps_the_old_branch(db):
    cid = store.create_conversation(db)
    q1 = store.add_user_message(db, cid, "first question")
    a1 = store.start_reply(db, cid, q1, None)
    store.finish_reply(db, a1, "first answer", "complete")
    q2 = store.add_user_message(db, cid, "second question")
    a2 = store.start_reply(db, cid, q2, None)
    store.finish_reply(db, a2, "second answer", "complete")

    edited = store.edit_user_message(db, q1, "first question, better")
    reply = store.start_reply(db, cid, edited, None)
    store.finish_reply(db, reply, "better answer", "complete")
    assert roles_and_texts(db, cid) == [("user", "first question, better"), ("assistant", "better answer")]

    store.select_alternative(db, q1)  # flip back: the whole old branch returns
    assert [t for _, t in roles_and_texts(db, cid)] == [
        "first question", "first answer", "second question", "second answer"]
    # New messages continue the branch that is shown.
    store.add_user_message(db, cid, "third")
    assert roles_and_texts(db, cid)[-1] == ("user", "third") and len(roles_and_texts(db, cid)) == 5


def test_notices_hang_on_a_reply_and_stay_out_of_active_messages(db):
    cid = store.create_conversation(db)
    reply = store.start_reply(db, cid, store.add_user_message(db, cid, "long"), None)
    store.add_notice(db, reply, "The 4 oldest messages were left out")
    store.finish_reply(db, reply, "ok", "complete")
    assert [m["role"] for m in store.active_messages(db, cid)] == ["user", "assistant"]
    assert store.transcript(db, cid)[-1]["notices"] == ["The 4 oldest messages were left out"]


def test_rating_and_ideal_answer_are_stored(db):
    cid = store.create_conversation(db)
    reply = store.start_reply(db, cid, store.add_user_message(db, cid, "2+2?"), None)
    store.finish_reply(db, reply, "5", "complete")
    store.set_rating(db, reply, -1)
    store.set_ideal_content(db, reply, "4")
    last = store.active_messages(db, cid)[-1]
    assert (last["rating"], last["ideal_content"]) == (-1, "4")
    with pytest.raises(ValueError):
        store.set_rating(db, reply, 5)
    store.set_ideal_content(db, reply, "  ")
    assert store.active_messages(db, cid)[-1]["ideal_content"] is None


def test_list_is_most_recent_first_and_rename_delete_work(db):
    a = store.create_conversation(db, "alpha")
    b = store.create_conversation(db, "beta")
    store.add_user_message(db, a, "bump alpha")
    assert [c["id"] for c in store.list_conversations(db)] == [a, b]
    assert {"id", "title", "updated"} <= set(store.list_conversations(db)[0])
    store.rename_conversation(db, b, "  gamma  ray ")
    assert store.get_conversation(db, b)["title"] == "gamma ray"
    with pytest.raises(ValueError):
        store.rename_conversation(db, b, " ")
    store.delete_conversation(db, a)
    assert [c["id"] for c in store.list_conversations(db)] == [b]
    assert db.one("SELECT COUNT(*) AS n FROM messages WHERE conversation_id = ?", (a,))["n"] == 0


def test_full_text_search_follows_inserts_updates_and_deletes(db):
    paris = store.create_conversation(db)
    reply = store.start_reply(db, paris, store.add_user_message(db, paris, "capital of France?"), None)
    store.save_partial(db, reply, "The capital is Par")
    assert [c["id"] for c in store.search_conversations(db, "Paris")] == []
    store.finish_reply(db, reply, "The capital is Paris, on the Seine.", "complete")
    other = store.create_conversation(db)
    store.add_user_message(db, other, "Rezept für Crème brûlée")

    hits = store.search_conversations(db, "seine")
    assert [c["id"] for c in hits] == [paris] and "[Seine]" in hits[0]["snippet"]
    assert [c["id"] for c in store.search_conversations(db, "creme brul")] == [other]  # diacritics, prefixes
    assert store.search_conversations(db, 'AND "unbalanced (') == []  # user text is never FTS syntax
    assert len(store.search_conversations(db, "")) == 2
    store.rename_conversation(db, other, "Dessert ideas")
    assert [c["id"] for c in store.search_conversations(db, "dessert")] == [other]  # titles match too
    store.delete_conversation(db, paris)
    assert store.search_conversations(db, "seine") == []
    assert db.one("SELECT COUNT(*) AS n FROM messages_fts WHERE messages_fts MATCH 'seine'")["n"] == 0


def test_replies_of_a_dead_process_become_interrupted_with_their_text(db):
    cid = store.create_conversation(db)
    question = store.add_user_message(db, cid, "story please")
    dead = store.start_reply(db, cid, question, None)
    store.save_partial(db, dead, "Once upon a time")
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    db.execute("UPDATE messages SET writer_pid = ? WHERE id = ?", (int(finished.stdout), dead))
    live = store.start_reply(db, cid, question, None)  # written by this (living) process

    assert store.recover_interrupted(db) == 1
    assert store.get_message(db, dead)["status"] == "interrupted"
    assert store.get_message(db, dead)["content"] == "Once upon a time"
    assert store.get_message(db, live)["status"] == "streaming"


def test_settings_survive_reopening_and_unknown_keys_are_tolerated(db, fireside_home):
    from models.chat import ChatSettings

    cid = store.create_conversation(db, settings={"temperature": 0.3, "from_a_newer_version": True})
    db.close()
    again = open_database()
    try:
        settings = ChatSettings.from_dict(store.get_conversation(again, cid)["settings"])
        assert settings.temperature == 0.3 and settings.top_k == ChatSettings().top_k
    finally:
        again.close()


def test_export_markdown_and_json_and_import_round_trip(db):
    cid = store.create_conversation(db, system_prompt="Be terse.", model="m")
    q = store.add_user_message(db, cid, "Show code")
    reply = store.start_reply(db, cid, q, "m")
    store.finish_reply(db, reply, "```python\nprint(1)\n```", "complete")

    markdown = export.export(db, cid, "md")
    assert markdown.startswith("# Show code") and "## You\n\nShow code" in markdown
    assert "## Assistant (m)" in markdown and "```python\nprint(1)\n```" in markdown

    data = json.loads(export.export(db, cid, "json"))
    assert data["messages"] == [
        {"role": "system", "content": "Be terse."}, {"role": "user", "content": "Show code"},
        {"role": "assistant", "content": "```python\nprint(1)\n```"}]

    copy = export.import_json(db, json.dumps(data))
    assert roles_and_texts(db, copy) == roles_and_texts(db, cid)
    assert store.get_conversation(db, copy)["title"] == "Show code"
    bare = export.import_json(db, json.dumps([{"role": "user", "content": [{"type": "text", "text": "hi"}]}]))
    assert roles_and_texts(db, bare) == [("user", "hi")]


@pytest.mark.parametrize("text, message", [
    ("{not json", "not valid JSON"),
    ('{"messages": []}', "non-empty"),
    ('[{"role": "wizard", "content": "x"}]', "unknown role"),
    ('[{"role": "system", "content": "only a system prompt"}]', "no user or assistant"),
    ('[{"role": "user", "content": 5}]', "content must be text"),
])
def test_bad_import_is_one_clear_line_and_writes_nothing(db, text, message):
    with pytest.raises(ValueError, match=message):
        export.import_json(db, text)
    assert store.list_conversations(db) == []


def test_export_of_a_missing_conversation_says_so(db):
    with pytest.raises(ValueError, match="no conversation with id 42"):
        export.export(db, 42, "md")
