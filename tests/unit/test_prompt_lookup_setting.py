"""The Models page's "Speculative decoding (prompt lookup)" choice is stored where the chat reads it."""
from desktop.app import build_context
from desktop.pages.models_page import ModelsPage
from desktop.store.settings import PROMPT_LOOKUP_KEY, get_setting, prompt_lookup, set_setting


def test_prompt_lookup_choice_is_saved_and_shown_again(qtbot):
    context = build_context()
    set_setting(context.db, "generation.quantization", "int4")  # an earlier version's setting: ignored
    page = ModelsPage(context)
    qtbot.addWidget(page)
    assert not page.prompt_lookup.isChecked() and prompt_lookup(context.db) is False
    assert "rewrites, summaries, code edits" in page.prompt_lookup.toolTip()
    page.prompt_lookup.setChecked(True)
    assert get_setting(context.db, PROMPT_LOOKUP_KEY) is True and prompt_lookup(context.db) is True
    assert "next reply" in page.message.text()
    again = ModelsPage(context)
    qtbot.addWidget(again)
    assert again.prompt_lookup.isChecked()
    again.prompt_lookup.setChecked(False)
    assert prompt_lookup(context.db) is False


def test_without_a_database_prompt_lookup_is_off():
    assert prompt_lookup(None) is False
