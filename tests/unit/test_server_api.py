"""The local API against tiny models: the real server on a loopback port, the real openai client."""
import base64
import json
import math
import socket
import struct
import threading

import httpx
import openai
import pytest

from desktop.server import ServerConfig, ServerController, ServerError
from models.registry import Registry
from tests.server_setup import openai_client, register_tiny_models, running_server, wait_for

BODY_LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-models")
    registry = Registry(root=root / "registry")
    names = register_tiny_models(registry, root)
    return registry, names


@pytest.fixture(scope="module")
def server(tiny):
    registry, _ = tiny
    with running_server(registry=registry, max_body_bytes=BODY_LIMIT) as controller:
        yield controller


@pytest.fixture
def client(server):
    return openai_client(server)


def post(server, path, **kwargs):
    return httpx.post(server.address + path, timeout=60, **kwargs)


def assert_openai_error(response, status, code=None):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["message"] and error["type"]
    if code:
        assert error["code"] == code, error
    return error


def tokens_of(registry, name, messages=None, prompt=None):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(registry.get(name).path)
    if messages is not None:
        ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        return len(ids["input_ids"] if hasattr(ids, "keys") else ids)
    return len(tokenizer(prompt)["input_ids"])


# -- models ---------------------------------------------------------------------------------------
def test_models_lists_the_registry(client, tiny):
    _, names = tiny
    listed = {model.id: model for model in client.models.list()}
    assert {names["chat"], names["encoder"], "SmolLM2-135M-Instruct", "all-MiniLM-L6-v2"} <= set(listed)
    assert listed[names["chat"]].owned_by == "fireside"
    assert client.models.retrieve(names["encoder"]).id == names["encoder"]
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")


# -- chat -----------------------------------------------------------------------------------------
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say something."}]


def test_chat_completion_counts_its_tokens(client, tiny):
    registry, names = tiny
    reply = client.chat.completions.create(model=names["chat"], messages=MESSAGES, max_tokens=6, temperature=0)
    choice = reply.choices[0]
    assert reply.object == "chat.completion" and reply.model == names["chat"]
    assert choice.message.role == "assistant" and choice.message.content
    assert reply.usage.prompt_tokens == tokens_of(registry, names["chat"], MESSAGES)
    assert 1 <= reply.usage.completion_tokens <= 6
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    assert choice.finish_reason == ("length" if reply.usage.completion_tokens == 6 else "stop")


def test_stream_gives_the_same_reply_in_pieces(client, tiny):
    _, names = tiny
    whole = client.chat.completions.create(model=names["chat"], messages=MESSAGES, max_tokens=12, temperature=0)
    chunks = list(client.chat.completions.create(
        model=names["chat"], messages=MESSAGES, max_tokens=12, temperature=0, stream=True,
        stream_options={"include_usage": True},
    ))
    assert chunks[0].choices[0].delta.role == "assistant"
    pieces = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert len([p for p in pieces if p]) > 1
    assert "".join(pieces) == whole.choices[0].message.content
    finishing = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishing == [whole.choices[0].finish_reason]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert len({c.id for c in chunks}) == 1


def test_same_seed_same_sample(client, tiny):
    _, names = tiny
    replies = [
        client.chat.completions.create(model=names["chat"], messages=MESSAGES, max_tokens=10, temperature=1.5,
                                       top_p=1, seed=1234).choices[0].message.content
        for _ in range(2)
    ]
    assert replies[0] == replies[1]


@pytest.mark.parametrize("stream", [False, True])
def test_stop_sequence_ends_the_reply_before_it(client, tiny, stream):
    _, names = tiny
    full = client.chat.completions.create(model=names["chat"], messages=MESSAGES, max_tokens=24, temperature=0)
    text = full.choices[0].message.content
    middle = len(text) // 2
    stop = text[middle:middle + 3]
    assert stop.strip(), text
    expected = text[:text.index(stop)]
    request = dict(model=names["chat"], messages=MESSAGES, max_tokens=24, temperature=0, stop=[stop, "\u2603never"])
    if stream:
        chunks = list(client.chat.completions.create(stream=True, **request))
        content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason][0]
    else:
        reply = client.chat.completions.create(**request)
        content, finish = reply.choices[0].message.content, reply.choices[0].finish_reason
        assert reply.usage.completion_tokens < full.usage.completion_tokens
    assert content == expected and finish == "stop"


def test_model_without_chat_template_is_sent_to_completions(client, tiny):
    _, names = tiny
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=names["plain"], messages=MESSAGES, max_tokens=2)
    assert caught.value.code == "no_chat_template"
    reply = client.completions.create(model=names["plain"], prompt="once upon a time", max_tokens=3)
    assert reply.choices[0].text


def test_prompt_longer_than_the_context_is_refused(client, tiny):
    _, names = tiny  # the tiny model reads at most 256 tokens
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=names["chat"], messages=[{"role": "user", "content": "word " * 400}])
    assert caught.value.code == "context_length_exceeded" and "256" in caught.value.message
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=names["chat"], messages=MESSAGES, max_tokens=1000)


# -- completions ----------------------------------------------------------------------------------
def test_completions_one_choice_per_prompt(client, tiny):
    registry, names = tiny
    prompts = ["the weather today", "a list of fruit:"]
    reply = client.completions.create(model=names["chat"], prompt=prompts, temperature=0, echo=True)
    assert reply.object == "text_completion" and [c.index for c in reply.choices] == [0, 1]
    for prompt, choice in zip(prompts, reply.choices):
        assert choice.text.startswith(prompt) and len(choice.text) > len(prompt)
    assert reply.usage.prompt_tokens == sum(tokens_of(registry, names["chat"], prompt=p) for p in prompts)
    assert 2 <= reply.usage.completion_tokens <= 2 * 16  # OpenAI's default max_tokens for this endpoint


def test_streamed_completion(client, tiny):
    _, names = tiny
    whole = client.completions.create(model=names["chat"], prompt="one two three", max_tokens=8, temperature=0)
    chunks = list(client.completions.create(model=names["chat"], prompt="one two three", max_tokens=8,
                                            temperature=0, stream=True))
    assert "".join(c.choices[0].text for c in chunks if c.choices) == whole.choices[0].text


# -- embeddings -----------------------------------------------------------------------------------
def test_embeddings_are_unit_vectors_in_both_encodings(client, server, tiny):
    registry, names = tiny
    texts = ["a cat sat on the mat", "tax law", "a cat sat on the mat"]
    result = client.embeddings.create(model=names["encoder"], input=texts)  # the client asks for base64
    vectors = [item.embedding for item in result.data]
    assert [item.index for item in result.data] == [0, 1, 2]
    assert all(len(v) == 32 for v in vectors)
    assert all(math.isclose(math.sqrt(sum(x * x for x in v)), 1.0, rel_tol=1e-4) for v in vectors)
    assert vectors[0] == vectors[2] and vectors[0] != vectors[1]
    assert result.usage.prompt_tokens == sum(tokens_of(registry, names["encoder"], prompt=t) for t in texts)
    floats = post(server, "/embeddings", json={"model": names["encoder"], "input": texts[0]}).json()
    assert floats["data"][0]["embedding"] == pytest.approx(vectors[0], abs=1e-6)
    raw = post(server, "/embeddings", json={"model": names["encoder"], "input": texts[1],
                                            "encoding_format": "base64"}).json()["data"][0]["embedding"]
    decoded = struct.unpack("<32f", base64.b64decode(raw))
    assert list(decoded) == pytest.approx(vectors[1], abs=1e-6)


def test_embeddings_refuse_what_they_cannot_do(client, server, tiny):
    _, names = tiny
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model=names["chat"], input="hello")
    assert caught.value.code == "wrong_model_kind"
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model=names["encoder"], input="hello", dimensions=8)
    assert caught.value.param == "dimensions"
    assert_openai_error(post(server, "/embeddings", json={"model": names["encoder"], "input": [""]}), 400)
    assert_openai_error(post(server, "/embeddings", json={"model": names["encoder"], "input": [[1, 2]]}), 400)


# -- classify -------------------------------------------------------------------------------------
def test_classify_checks_its_body_first(server):
    assert_openai_error(post(server, "/classify", json={"input": ["hello"]}), 400)
    assert_openai_error(post(server, "/classify", json={"input": ["x"], "labels": ["a", "a"]}), 400)


# -- bad requests ---------------------------------------------------------------------------------
def test_malformed_json_is_a_400(server):
    error = assert_openai_error(post(server, "/chat/completions", content=b'{"model": "x", "messages": ['),
                                400, "invalid_json")
    assert "JSON" in error["message"]
    assert_openai_error(post(server, "/chat/completions", content=b"[1, 2]"), 400, "invalid_json")
    assert_openai_error(post(server, "/chat/completions", content=b""), 400, "invalid_json")


@pytest.mark.parametrize("change, param", [
    ({"temperature": 2.5}, "temperature"), ({"top_p": 1.5}, "top_p"), ({"max_tokens": 0}, "max_tokens"),
    ({"n": 3}, "n"), ({"stop": ["a", "b", "c", "d", "e"]}, "stop"), ({"seed": 2**70}, "seed"),
    ({"messages": []}, "messages"), ({"messages": [{"role": "robot", "content": "hi"}]}, "messages.0.role"),
    ({"temperature": "warm"}, "temperature"),
])
def test_out_of_range_parameters_are_400_naming_the_parameter(client, tiny, change, param):
    _, names = tiny
    request = {"model": names["chat"], "messages": MESSAGES, **change}
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(**request)
    assert caught.value.param == param and param.split(".")[0] in caught.value.message


def test_unknown_model_is_a_404(client):
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-17", messages=MESSAGES)
    assert caught.value.code == "model_not_found" and "gpt-17" in caught.value.message


def test_oversized_body_is_a_413_announced_or_streamed(server, tiny):
    _, names = tiny
    big = json.dumps({"model": names["chat"], "messages": [{"role": "user", "content": "x" * (BODY_LIMIT * 2)}]})
    assert_openai_error(post(server, "/chat/completions", content=big), 413, "request_too_large")

    def chunked():
        for start in range(0, len(big), 8192):
            yield big[start:start + 8192].encode()

    assert_openai_error(post(server, "/chat/completions", content=chunked()), 413, "request_too_large")
    assert post(server, "/embeddings", json={"model": names["encoder"], "input": "still serving"}).status_code == 200


def test_unknown_paths_and_methods(server):
    assert_openai_error(httpx.get(server.address + "/engines"), 404)
    assert_openai_error(httpx.get(server.address + "/chat/completions"), 405)


# -- queue, log, recording -------------------------------------------------------------------------
def test_requests_to_one_model_are_served_in_order(client, server, tiny):
    _, names = tiny
    before = len(server.state.pool.history)
    stream = client.chat.completions.create(model=names["chat"], messages=MESSAGES, max_tokens=150, stream=True)
    next(iter(stream))  # the first request is generating now
    second: dict = {}

    def ask():
        second["reply"] = client.chat.completions.create(model=names["chat"], messages=MESSAGES, max_tokens=3)

    thread = threading.Thread(target=ask)
    thread.start()
    wait_for(lambda: server.state.pool.pending(f"chat:{names['chat']}") == 2, timeout=10)
    rest = list(stream)
    thread.join(60)
    assert second["reply"].choices[0].message.content and rest
    first_job, second_job = list(server.state.pool.history)[before:before + 2]
    assert first_job.new_tokens > 3 and second_job.new_tokens <= 3
    assert second_job.started_at >= first_job.finished_at


def test_request_log_records_each_request(client, server, tiny):
    _, names = tiny
    seen = []
    server.log.subscribe(seen.append)
    try:
        client.chat.completions.create(model=names["chat"], messages=MESSAGES, max_tokens=4)
        post(server, "/chat/completions", content=b"{")
        wait_for(lambda: len(seen) >= 2, timeout=10)
    finally:
        server.log.unsubscribe(seen.append)
    ok, bad = seen[:2]
    assert (ok.method, ok.path, ok.status, ok.model) == ("POST", "/v1/chat/completions", 200, names["chat"])
    assert ok.prompt_tokens > 0 and 1 <= ok.completion_tokens <= 4 and ok.duration_s > 0
    assert bad.status == 400 and "JSON" in bad.outcome and bad.client == "127.0.0.1"


def test_conversations_are_recorded_only_when_asked(tiny, tmp_path):
    from desktop.store import Database
    from desktop.store.conversations import list_conversations

    registry, names = tiny
    db = Database(tmp_path / "fireside.db")
    with running_server(registry=registry, db=db) as plain:
        openai_client(plain).chat.completions.create(model=names["chat"], messages=MESSAGES, max_tokens=3)
    assert list_conversations(db) == []


# -- keys and addresses ---------------------------------------------------------------------------
def test_api_key_is_required_on_every_request_once_set(tiny):
    registry, names = tiny
    with running_server(registry=registry, api_key="right-key") as server:
        with pytest.raises(openai.AuthenticationError) as caught:
            openai_client(server, api_key="wrong-key").models.list()
        assert caught.value.code == "invalid_api_key"
        for path in ("/models", "/nothing-here"):
            response = httpx.get(server.address + path)
            assert_openai_error(response, 401, "invalid_api_key")
        models = openai_client(server, api_key="right-key").models.list()
        assert names["chat"] in {m.id for m in models}


def test_other_addresses_need_a_key():
    with pytest.raises(ServerError, match="API key"):
        ServerController().start(ServerConfig(host="0.0.0.0", port=0))
    for host in ("127.0.0.1", "localhost", "::1"):
        ServerConfig(host=host).check()
    ServerConfig(host="0.0.0.0", api_key="k").check()  # allowed, but never started by the tests


def test_a_port_in_use_is_a_clear_error(tiny):
    registry, _ = tiny
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        with pytest.raises(ServerError, match="in use"):
            ServerController(registry=registry).start(ServerConfig(port=taken.getsockname()[1]))
    finally:
        taken.close()


def test_stopped_server_refuses_connections(tiny):
    registry, names = tiny
    with running_server(registry=registry) as server:
        address = server.address
        openai_client(server).models.list()
    assert not server.running
    with pytest.raises(httpx.ConnectError):
        httpx.get(address + "/models", timeout=5)


def test_web_pages_cannot_drive_the_models(server, tiny):
    _, names = tiny
    body = {"model": names["encoder"], "input": "hello"}
    foreign = post(server, "/embeddings", json=body, headers={"Origin": "https://example.com"})
    assert_openai_error(foreign, 403, "foreign_origin")
    rebound = post(server, "/embeddings", json=body, headers={"Host": "attacker.example:8765"})
    assert_openai_error(rebound, 403, "foreign_host")
    local_page = post(server, "/embeddings", json=body, headers={"Origin": "http://localhost:3000"})
    assert local_page.status_code == 200


def test_least_recently_used_models_are_unloaded(tiny):
    from desktop.server.runtime import ModelPool

    registry, names = tiny
    pool = ModelPool(registry, device="cpu", max_loaded=1)
    chat = pool.generator(registry.get(names["chat"]))
    assert pool.loaded_names() == [f"chat:{names['chat']}"]
    pool.loaded("tokenizer:x", lambda: "light")
    pool.encoder(registry.get(names["encoder"]))
    assert pool.loaded_names() == ["tokenizer:x", f"encoder:{names['encoder']}"]
    assert pool.generator(registry.get(names["chat"])) is not chat  # loaded again when asked
    pool.close()


def test_recorded_conversations_appear_in_the_chat_history(tiny, tmp_path):
    from desktop.store import Database
    from desktop.store.conversations import active_messages, list_conversations

    registry, names = tiny
    db = Database(tmp_path / "fireside.db")
    with running_server(registry=registry, db=db, record=True) as server:
        reply = openai_client(server).chat.completions.create(model=names["chat"], messages=MESSAGES, max_tokens=3)
    [conversation] = list_conversations(db)
    assert conversation["title"].startswith("API: Say something")
    kept = [(m["role"], m["content"]) for m in active_messages(db, conversation["id"])]
    assert kept[-2:] == [("user", "Say something."), ("assistant", reply.choices[0].message.content)]
