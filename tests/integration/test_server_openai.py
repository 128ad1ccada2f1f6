"""The local API with the installed default models, through the real openai client and `fireside serve`."""
import math
import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import openai
import pytest

from models import bundled
from models.registry import Registry
from tests.server_setup import openai_client, running_server, wait_for

CHAT, ENCODER = bundled.CHAT_NAME, bundled.ENCODER_NAME
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def server(default_chat_path, tmp_path_factory):
    home = tmp_path_factory.mktemp("api-home")
    with running_server(registry=Registry(root=home / "models")) as controller:
        yield controller


@pytest.fixture
def client(server):
    return openai_client(server)


def test_lists_the_default_models(client):
    models = {m.id: m for m in client.models.list()}
    assert CHAT in models and ENCODER in models
    assert models[CHAT].model_extra["kind"] == "chat" and models[ENCODER].model_extra["kind"] == "encoder"


def test_streamed_chat_from_the_default_model(client):
    stream = client.chat.completions.create(
        model=CHAT, messages=[{"role": "user", "content": "Name the capital of France."}],
        max_tokens=12, temperature=0, stream=True, stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "Paris" in text
    usage = chunks[-1].usage
    assert usage.prompt_tokens > 5 and 1 <= usage.completion_tokens <= 12


def test_embeddings_from_the_default_encoder(client):
    texts = ["A cat sleeps on the sofa.", "A kitten naps on the couch.", "The tax return is due in April."]
    result = client.embeddings.create(model=ENCODER, input=texts)
    vectors = [item.embedding for item in result.data]
    assert all(len(v) == 384 for v in vectors)
    assert all(math.isclose(sum(x * x for x in v), 1.0, rel_tol=1e-4) for v in vectors)

    def cosine(a, b):
        return sum(x * y for x, y in zip(a, b))

    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2]) + 0.3
    assert result.usage.prompt_tokens > len(texts)


LONG_STORY = [{"role": "user", "content": "Write a very long story about a dragon who learns to bake bread."}]


def test_a_cancelled_stream_stops_its_generation(client, server):
    pool, before = server.state.pool, len(server.state.pool.history)
    stream = client.chat.completions.create(model=CHAT, messages=LONG_STORY, max_tokens=4000, stream=True)
    received = 0
    for chunk in stream:
        received += bool(chunk.choices and chunk.choices[0].delta.content)
        if received == 3:
            break
    listed = client.models.list()  # the server keeps answering while the model generates
    assert CHAT in {m.id for m in listed} and len(pool.history) == before and pool.pending(f"chat:{CHAT}") == 1
    stream.close()  # the client hangs up mid-reply
    closed = time.monotonic()
    job = wait_for(lambda: len(pool.history) > before and pool.history[before], timeout=60)
    assert job.stop_reason == "stopped"
    assert job.new_tokens < 200  # 4000 were asked for
    assert job.finished_at - closed < 10
    assert pool.pending(f"chat:{CHAT}") == 0
    entry = wait_for(lambda: [r for r in server.log.records() if r.outcome == "stopped by the client"])
    assert entry[-1].model == CHAT


def test_a_client_that_gives_up_waiting_stops_its_generation(server):
    pool, before = server.state.pool, len(server.state.pool.history)
    # The engine writes ~60 tokens a second here: leave early, long before a story can end by itself.
    impatient = openai.OpenAI(base_url=server.address, api_key="x", max_retries=0, timeout=0.75)
    with pytest.raises(openai.APITimeoutError):
        impatient.chat.completions.create(model=CHAT, messages=LONG_STORY, max_tokens=4000)
    job = wait_for(lambda: len(pool.history) > before and pool.history[before], timeout=60)
    assert job.stop_reason == "stopped" and job.new_tokens < 400


def test_fireside_serve_runs_until_ctrl_c(default_chat_path, tmp_path):
    env = dict(os.environ, FIRESIDE_HOME=str(tmp_path / "home"))
    process = subprocess.Popen(
        [sys.executable, "-m", "desktop", "serve", "--port", "0"], cwd=ROOT, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        first_line: list[str] = []
        reader = threading.Thread(target=lambda: first_line.append(process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(90)
        assert first_line and "listening on http://127.0.0.1:" in first_line[0], first_line
        address = first_line[0].split("listening on ")[1].split(";")[0].strip()
        assert address.startswith("http://127.0.0.1:")
        names = {m["id"] for m in httpx.get(address + "/models", timeout=30).json()["data"]}
        assert {CHAT, ENCODER} <= names
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert "GET /v1/models 200" in stderr and "stopped" in stderr


def test_fireside_serve_refuses_a_public_address_without_a_key(cli):
    result = cli("serve", "--host", "0.0.0.0", timeout=60)
    assert result.returncode == 2
    assert "API key" in result.stderr and result.stderr.strip().count("\n") == 0
