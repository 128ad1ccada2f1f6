"""The Models page's "Generation precision" choice is stored where the chat reads it."""
from desktop.app import build_context
from desktop.pages.models_page import ModelsPage
from desktop.store.settings import GENERATION_PRECISION_KEY, generation_precision, get_setting


def test_precision_choice_is_saved_and_shown_again(qtbot):
    context = build_context()
    page = ModelsPage(context)
    qtbot.addWidget(page)
    assert page.precision.currentData() == "auto"
    assert [page.precision.itemData(i) for i in range(page.precision.count())] == ["auto", "none", "int8", "int4"]
    page.precision.setCurrentIndex(page.precision.findData("int8"))
    assert get_setting(context.db, GENERATION_PRECISION_KEY) == "int8"
    assert generation_precision(context.db) == "int8"
    assert "int8" in page.message.text()
    again = ModelsPage(context)
    qtbot.addWidget(again)
    assert again.precision.currentText() == "int8"
