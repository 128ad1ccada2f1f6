"""Chat speed, as ratios against a reference measured in the same run.

    python -m pytest tests/benchmarks/bench_chat.py -s

* Stop latency during decoding, against the time one token takes: a ratio near 1 means Stop
  lands at the next token.
* Tokens per second while the window streams the reply (Markdown rendering, saving, the list
  model), against the same reply generated with no window.
"""
import statistics
import threading
import time

from models.chat import ChatSettings, respond

STORY = [{"role": "user", "content": "Write a long story about a dragon who learns to cook."}]


def test_stop_latency_against_one_token(chat_generator):
    reference = respond(chat_generator, STORY, ChatSettings(temperature=0, max_new_tokens=64))
    per_token = 1 / reference.stats.tokens_per_s
    latencies = []
    for _ in range(5):
        stop = threading.Event()
        pieces = []
        asked = []

        def on_text(text):
            pieces.append(text)
            if len(pieces) == 10 and not asked:
                asked.append(time.perf_counter())
                stop.set()

        respond(chat_generator, STORY, ChatSettings(temperature=0, max_new_tokens=400), on_text=on_text, stop_event=stop)
        latencies.append(time.perf_counter() - asked[0])
    median = statistics.median(latencies)
    print(f"\none token: {per_token * 1000:.0f} ms; stop during decoding: median {median * 1000:.0f} ms, "
          f"max {max(latencies) * 1000:.0f} ms; ratio {median / per_token:.2f} tokens")


def test_window_streaming_against_no_window(main_window, qtbot, chat_generator):
    settings = ChatSettings(temperature=0, max_new_tokens=160)
    page = main_window.show_page("Chat")
    page.controller.apply_settings(settings, "")
    bare, windowed = [], []
    for _ in range(2):
        bare.append(respond(chat_generator, STORY, settings).stats.tokens_per_s)
        page.new_conversation()
        page.prompt.setPlainText(STORY[0]["content"])
        with qtbot.waitSignal(page.controller.reply_finished, timeout=600_000) as finished:
            page.send()
        from desktop.store import conversations as store

        windowed.append(store.get_message(page.context.db, finished.args[0])["stats"]["tokens_per_s"])
    ratio = statistics.median(windowed) / statistics.median(bare)
    print(f"\nno window: {statistics.median(bare):.1f} tok/s; streaming in the window: "
          f"{statistics.median(windowed):.1f} tok/s; ratio {ratio:.2f}")
