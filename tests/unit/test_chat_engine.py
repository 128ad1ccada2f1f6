"""The chat engine on a tiny model built from a config: presets, context fitting, streaming, stop."""
import threading

import pytest

from models.chat import PRESETS, ChatSettings, fit_prompt, respond
from models.chat.settings import CUSTOM, preset
from tests.chat_support import CHATML
from tests.tiny_models import make_tiny_chat_model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from models.generation import Generator

    folder = make_tiny_chat_model(tmp_path_factory.mktemp("tiny") / "tiny-chat", CHATML)
    return Generator.load(folder, name="tiny-chat")


@pytest.fixture(scope="module")
def tiny_without_template(tmp_path_factory):
    from models.generation import Generator

    folder = make_tiny_chat_model(tmp_path_factory.mktemp("plain") / "tiny-plain", None)
    return Generator.load(folder, name="tiny-plain")


def turns(n, words=30):
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i} " + "word " * words} for i in range(n)]


def test_presets_differ_and_changing_a_value_makes_custom():
    assert set(PRESETS) == {"Precise", "Balanced", "Creative"}
    assert PRESETS["Precise"]["temperature"] < PRESETS["Balanced"]["temperature"] < PRESETS["Creative"]["temperature"]
    balanced = preset("Balanced", ChatSettings(max_new_tokens=99, seed=7, temperature=0.1))
    assert (balanced.max_new_tokens, balanced.seed, balanced.preset) == (99, 7, "Balanced")
    assert balanced.with_values(temperature=1.3).preset == CUSTOM
    assert ChatSettings(temperature=0).preset == CUSTOM  # the name always follows the values
    assert balanced.with_values(**PRESETS["Creative"]).preset == "Creative"
    assert ChatSettings.from_dict({"preset": "Creative", "temperature": 0.7}).preset == "Balanced"
    with pytest.raises(ValueError, match="no preset named"):
        preset("Wild")


def test_settings_are_clamped_and_read_tolerantly():
    settings = ChatSettings.from_dict({"temperature": "9", "top_p": 0, "max_new_tokens": -5, "seed": "12",
                                       "top_k": "many", "unknown": 1})
    assert settings.temperature == 5.0 and settings.top_p == 0.01 and settings.max_new_tokens == 1
    assert settings.seed == 12 and settings.top_k == ChatSettings().top_k
    generation = ChatSettings(temperature=0).generation()
    assert generation.temperature == 0 and generation.max_new_tokens == 512


def test_a_short_conversation_goes_in_whole(tiny):
    messages = [{"role": "system", "content": "Be brief."}] + turns(3)
    fitted = fit_prompt(tiny, messages, max_new_tokens=32)
    assert fitted.messages == messages and fitted.notices == [] and fitted.dropped_messages == 0
    assert fitted.prompt_ids == tiny.chat_prompt_ids(messages)


def test_oldest_turns_are_dropped_the_system_prompt_kept_and_the_user_told(tiny):
    messages = [{"role": "system", "content": "Be brief."}] + turns(21)
    fitted = fit_prompt(tiny, messages, max_new_tokens=64)
    assert tiny.context_length == 256
    assert len(fitted.prompt_ids) <= 256 - 64
    assert fitted.messages[0] == messages[0] and fitted.messages[-1] == messages[-1]
    assert fitted.messages[1]["role"] == "user"  # the kept history starts at a user turn
    assert fitted.dropped_messages == len(messages) - len(fitted.messages) > 0
    # as much history as fits: one more turn pair (user + assistant) would not
    one_more = [messages[0]] + messages[len(messages) - len(fitted.messages) - 1:]
    assert len(tiny.chat_prompt_ids(one_more)) > 256 - 64
    assert "oldest messages were left out" in fitted.notices[0] and "system prompt was kept" in fitted.notices[0]


def test_a_megabyte_paste_is_cut_to_the_context_with_a_notice(tiny):
    paste = "START " + "lorem ipsum dolor sit amet " * 38_000 + " END?"
    assert len(paste) > 1_000_000
    fitted = fit_prompt(tiny, turns(4) + [{"role": "user", "content": paste}], max_new_tokens=64)
    assert len(fitted.prompt_ids) <= 256 - 64 and fitted.shortened
    seen = fitted.messages[-1]["content"]
    assert seen.lower().startswith("start") and seen.lower().rstrip().endswith("end?")
    assert fitted.dropped_messages == 4 and len(fitted.messages) == 1
    assert any(f"{len(paste):,} characters" in n for n in fitted.notices)


def test_max_new_tokens_is_lowered_to_the_room_left(tiny):
    fitted = fit_prompt(tiny, [{"role": "user", "content": "hi"}], max_new_tokens=10_000)
    assert len(fitted.prompt_ids) + fitted.max_new_tokens == 256


def test_a_model_without_a_chat_template_gets_a_plain_transcript(tiny_without_template):
    fitted = fit_prompt(tiny_without_template, [{"role": "user", "content": "hello there"}], 16)
    text = tiny_without_template.tokenizer.decode(fitted.prompt_ids)
    assert "user : hello there" in text.lower() and text.lower().rstrip().endswith("assistant :")


def test_reply_streams_pieces_that_add_up_to_the_text(tiny):
    pieces = []
    reply = respond(tiny, [{"role": "user", "content": "hi"}], ChatSettings(max_new_tokens=12, seed=1),
                    on_text=pieces.append)
    assert pieces and "".join(pieces) == reply.text
    assert reply.stats.new_tokens == 12 and reply.stats.stop_reason == "length" and reply.stats.model == "tiny-chat"
    assert reply.stats.prompt_tokens == len(reply.fitted.prompt_ids)


def test_same_seed_same_reply_and_temperature_zero_is_greedy(tiny):
    question = [{"role": "user", "content": "hi"}]
    a = respond(tiny, question, ChatSettings(max_new_tokens=8, seed=3, temperature=1.0)).text
    b = respond(tiny, question, ChatSettings(max_new_tokens=8, seed=3, temperature=1.0)).text
    assert a == b
    g1 = respond(tiny, question, ChatSettings(max_new_tokens=8, temperature=0, seed=1)).text
    g2 = respond(tiny, question, ChatSettings(max_new_tokens=8, temperature=0, seed=2)).text
    assert g1 == g2


def test_stop_during_decoding_ends_the_reply_as_stopped(tiny):
    stop = threading.Event()
    pieces = []

    def on_text(text):
        pieces.append(text)
        if len(pieces) == 3:
            stop.set()

    reply = respond(tiny, [{"role": "user", "content": "hi"}], ChatSettings(max_new_tokens=150), on_text=on_text,
                    stop_event=stop)
    assert reply.stopped and reply.stats.new_tokens < 150 and reply.text.startswith("".join(pieces[:3]))


def test_stop_before_the_prompt_is_processed_returns_at_once(tiny):
    stop = threading.Event()
    stop.set()
    notices = []
    reply = respond(tiny, turns(21), ChatSettings(max_new_tokens=64), stop_event=stop, on_notice=notices.append)
    assert reply.stopped and reply.text == "" and notices == reply.notices and notices
