"""From chat and From classify on the Datasets page, through the chat and classifier stores."""
import pytest

from desktop.store import datasets as store


@pytest.fixture
def page(main_window):
    return main_window.show_page("Datasets")


def test_rows_from_chat_conversations(page, qtbot):
    from desktop.store import conversations

    db = page.db
    first = conversations.create_conversation(db, "Capitals", system_prompt="Answer in one word.")
    conversations.add_user_message(db, first, "Capital of France?")
    liked = conversations.add_message(db, first, "assistant", "Paris.")
    conversations.set_rating(db, liked, 1)
    conversations.add_user_message(db, first, "Capital of Spain?")
    corrected = conversations.add_message(db, first, "assistant", "Barcelona.")
    conversations.set_ideal_content(db, corrected, "Madrid.")
    other = conversations.create_conversation(db, "Small talk")
    conversations.add_user_message(db, other, "Hi")
    conversations.add_message(db, other, "assistant", "Hello!")

    assert page.from_chat_button.isEnabled()
    dialog = page.open_from_chat()
    dialog.set_checked([first])
    assert dialog.count.text() == "1 row from 1 conversation."
    dialog.mode.setCurrentIndex(dialog.mode.findData("ideal"))
    assert dialog.rows() == [{"messages": [
        {"role": "system", "content": "Answer in one word."}, {"role": "user", "content": "Capital of France?"},
        {"role": "assistant", "content": "Paris."}, {"role": "user", "content": "Capital of Spain?"},
        {"role": "assistant", "content": "Madrid."}]}]
    dialog.mode.setCurrentIndex(dialog.mode.findData("thumbs_up"))
    dialog.set_checked([first, other])
    dialog.target.setCurrentText("Good answers")
    dialog.accept()
    qtbot.waitUntil(lambda: page.dataset is not None and page.dataset["name"] == "Good answers", timeout=10_000)
    (row,) = store.iter_rows(db, page.dataset["id"])
    assert [m["content"] for m in row["messages"]] == ["Answer in one word.", "Capital of France?", "Paris."]


def test_rows_from_a_classifiers_corrections_and_examples(page, qtbot):
    from desktop.store import classifiers

    db = page.db
    spam = classifiers.create_classifier(db, "Spam filter", ["spam", "ham"])
    classifiers.add_example(db, spam, "Win a free cruise now", "spam", "example")
    classifiers.add_example(db, spam, "Lunch at noon?", "ham", "correction")
    classifiers.add_example(db, spam, "Cheap pills", "spam", "correction")

    assert page.from_classify_button.isEnabled()
    dialog = page.open_from_classify()
    dialog.classifier.setCurrentIndex(dialog.classifier.findText("Spam filter"))
    assert dialog.target.currentText() == "Spam filter"
    assert dialog.count.text() == "3 rows (spam 2, ham 1)."
    dialog.examples.setChecked(False)
    assert sorted(r["text"] for r in dialog.rows()) == ["Cheap pills", "Lunch at noon?"]
    dialog.accept()
    qtbot.waitUntil(lambda: page.dataset is not None and page.dataset["name"] == "Spam filter", timeout=10_000)
    assert page.dataset["kind"] == "classification"
    assert sorted(store.iter_rows(db, page.dataset["id"]), key=lambda r: r["text"]) == [
        {"text": "Cheap pills", "label": "spam"}, {"text": "Lunch at noon?", "label": "ham"}]


def test_without_those_stores_the_entries_say_why(page):
    assert page.from_chat_button.isEnabled() == store.chat_source_available()
    assert page.from_classify_button.isEnabled() == store.classify_source_available()
    if not store.chat_source_available():
        assert "conversation store" in page.from_chat_button.toolTip()
    if not store.classify_source_available():
        assert "classifier store" in page.from_classify_button.toolTip()
