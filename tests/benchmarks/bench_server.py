"""What the local API costs on top of the engine: the same greedy generation direct and through the server.

Run: python -m pytest tests/benchmarks/bench_server.py -s
Rounds alternate (direct, then through the API) so a busy machine slows both alike. Prints tokens
per second both ways and their ratio (1.0 = no overhead), the time to the first streamed token,
and how long GET /v1/models takes while a generation runs.
"""
import statistics
import threading
import time

from models import bundled
from models.generation import GenerationSettings
from models.registry import Registry
from tests.server_setup import openai_client, running_server

MESSAGES = [{"role": "user", "content": "Write a short poem about the sea."}]
TOKENS, ROUNDS = 64, 4


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _direct(generator, ids) -> float:
    started = time.perf_counter()
    result = generator.generate(ids, GenerationSettings(temperature=0, max_new_tokens=TOKENS))
    return result.stats.new_tokens / (time.perf_counter() - started)


def _served(client, first_token: list, listing: list) -> float:
    started = time.perf_counter()
    count, first = 0, None
    probe = threading.Thread(target=lambda: listing.append(_timed(client.models.list)))
    stream = client.chat.completions.create(model=bundled.CHAT_NAME, messages=MESSAGES, max_tokens=TOKENS,
                                            temperature=0, stream=True, stream_options={"include_usage": True})
    for chunk in stream:
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter() - started
            probe.start()
        if chunk.usage:
            count = chunk.usage.completion_tokens
    probe.join()
    first_token.append(first)
    return count / (time.perf_counter() - started)


def test_api_overhead(chat_generator, tmp_path):
    ids = chat_generator.chat_prompt_ids(MESSAGES)
    with running_server(registry=Registry(root=tmp_path / "models")) as server:
        client = openai_client(server)
        client.chat.completions.create(model=bundled.CHAT_NAME, messages=MESSAGES, max_tokens=4, temperature=0)
        chat_generator.generate(ids, GenerationSettings(temperature=0, max_new_tokens=4))
        direct, served, first_token, listing = [], [], [], []
        for _ in range(ROUNDS):
            direct.append(_direct(chat_generator, ids))
            served.append(_served(client, first_token, listing))
    print("\nrounds, direct:", [round(x, 1) for x in direct], "served:", [round(x, 1) for x in served])
    d, s = statistics.median(direct), statistics.median(served)
    print(f"\ndirect {d:.1f} tok/s, through the API {s:.1f} tok/s, ratio {s / d:.2f}; "
          f"first token {statistics.median(first_token) * 1000:.0f} ms; "
          f"GET /v1/models during generation {statistics.median(listing) * 1000:.0f} ms")
    assert s > 0 and d > 0
