"""The generation engine on the real default chat model: stop, stats, sampling settings, stop strings."""
import threading
import time

from models.generation import GenerationSettings

LONG_TEXT = (
    "The lighthouse keeper wrote in his log every evening, noting the wind, the colour of the sea, "
    "the ships that passed and the birds that rested on the gallery rail. "
)


def ask(generator, question: str) -> list[int]:
    return generator.chat_prompt_ids([{"role": "user", "content": question}])


def run_in_thread(generator, ids, settings, stop, on_text=None):
    box = {}

    def work():
        box["result"] = generator.generate(ids, settings, on_text=on_text, stop_event=stop)
        box["returned_at"] = time.perf_counter()

    thread = threading.Thread(target=work)
    thread.start()
    return thread, box


def test_stop_during_a_long_prompt_returns_within_100_ms(chat_generator):
    ids = ask(chat_generator, "Summarise this log. " + LONG_TEXT * 60)
    assert len(ids) > 2000
    chat_generator.reset_cache()
    stop = threading.Event()
    thread, box = run_in_thread(chat_generator, ids, GenerationSettings(max_new_tokens=50), stop)
    time.sleep(0.5)  # well inside the prompt: it takes seconds here
    assert thread.is_alive()
    stopped_at = time.perf_counter()
    stop.set()
    thread.join(10)
    result = box["result"]
    assert box["returned_at"] - stopped_at < 0.1
    assert result.stats.stop_reason == "stopped"
    assert result.stats.new_tokens == 0 and result.text == ""
    assert result.stats.prompt_tokens == len(ids)


def test_stop_while_streaming_returns_within_100_ms_and_keeps_the_text(chat_generator):
    ids = ask(chat_generator, "Write a very long story about a dragon who learns to bake bread.")
    stop = threading.Event()
    pieces: list[str] = []
    first_piece = threading.Event()

    def on_text(piece):
        pieces.append(piece)
        first_piece.set()

    thread, box = run_in_thread(chat_generator, ids, GenerationSettings(temperature=0, max_new_tokens=4000), stop, on_text)
    assert first_piece.wait(30)
    time.sleep(0.2)
    stopped_at = time.perf_counter()
    stop.set()
    thread.join(10)
    result = box["result"]
    assert box["returned_at"] - stopped_at < 0.1
    assert result.stats.stop_reason == "stopped"
    assert 0 < result.stats.new_tokens < 4000
    assert result.text == "".join(pieces) and result.text.strip()


def test_greedy_answer_and_its_stats(chat_generator):
    ids = ask(chat_generator, "Name the capital of France.")
    pieces: list[str] = []
    started = time.perf_counter()
    result = chat_generator.generate(ids, GenerationSettings(temperature=0, max_new_tokens=40), on_text=pieces.append)
    elapsed = time.perf_counter() - started
    stats = result.stats
    assert "Paris" in result.text and result.text == "".join(pieces)
    assert stats.stop_reason == "eos"
    assert stats.prompt_tokens == len(ids) and 2 < stats.new_tokens < 40
    assert 0 < stats.ttft_s < stats.total_s <= elapsed
    decode_rate = (stats.new_tokens - 1) / (stats.total_s - stats.ttft_s)
    assert abs(stats.tokens_per_s - decode_rate) / decode_rate < 0.05
    again = chat_generator.generate(ids, GenerationSettings(temperature=-1, max_new_tokens=40))
    assert again.text == result.text  # greedy: the same every time
    assert again.stats.reused_prompt_tokens == len(ids) - 1


def test_length_limit(chat_generator):
    ids = ask(chat_generator, "Count from one to one hundred in words.")
    result = chat_generator.generate(ids, GenerationSettings(temperature=0, max_new_tokens=7))
    assert result.stats.new_tokens == 7 and result.stats.stop_reason == "length"


def test_stop_string_ends_the_reply_before_it(chat_generator):
    ids = ask(chat_generator, "Name the capital of France.")
    full = chat_generator.generate(ids, GenerationSettings(temperature=0, max_new_tokens=40))
    assert "Paris" in full.text
    cut = chat_generator.generate(ids, GenerationSettings(temperature=0, max_new_tokens=40, stop=["Paris"]))
    assert cut.stats.stop_reason == "stop_sequence"
    assert cut.text == full.text[: full.text.index("Paris")]


def test_seeded_sampling_repeats_and_seeds_differ(chat_generator):
    ids = ask(chat_generator, "Invent a name for a cat.")

    def sample(seed):
        settings = GenerationSettings(temperature=1.0, top_p=0.95, top_k=50, max_new_tokens=24, seed=seed)
        return chat_generator.generate(ids, settings).text

    first = sample(7)
    assert sample(7) == first
    assert len({first, sample(8), sample(9)}) > 1
