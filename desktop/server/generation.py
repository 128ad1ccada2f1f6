"""POST /v1/chat/completions and POST /v1/completions.

A request becomes a `GenerationJob` on its model's queue. The model thread loads the model if
needed, builds the prompt, checks it fits, then streams text back to the event loop through an
asyncio queue. A client that goes away sets the job's stop event, which ends the generation
within a token (or before it starts, if it was still waiting in the queue).
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from desktop.server import responses as r
from desktop.server.errors import APIError
from desktop.server.runtime import JobRecord, ModelPool
from desktop.server.schemas import ChatCompletionRequest, CompletionRequest, SamplingParameters
from desktop.server.stop_text import StopTrimmer
from models.errors import ModelError
from models.generation import GenerationSettings
from models.registry import ModelEntry

log = logging.getLogger(__name__)
router = APIRouter()

DEFAULT_MAX_TOKENS = 2048  # when a chat request names no limit: the rest of the context, at most this
DISCONNECT_POLL_S = 0.25


class ClientGone(Exception):
    """The client closed the connection before its answer was ready."""


@dataclass
class GenerationJob:
    entry: ModelEntry
    settings: GenerationSettings
    max_tokens: int | None
    stops: list[str]
    loop: asyncio.AbstractEventLoop
    messages: list[dict] | None = None
    prompt: str | None = None
    after: Callable[["GenerationJob"], None] | None = None  # runs on the model thread when done
    events: asyncio.Queue = field(default_factory=asyncio.Queue)
    stop_event: threading.Event = field(default_factory=threading.Event)
    pieces: list[str] = field(default_factory=list)
    prompt_tokens: int = 0
    result: object = None
    stop_hit: bool = False
    finished: bool = False
    queued_at: float = field(default_factory=time.monotonic)
    client_checked_at: float = 0.0  # event-loop time of the last look at whether the client is still there

    def emit(self, kind: str, value=None) -> None:
        try:
            self.loop.call_soon_threadsafe(self.events.put_nowait, (kind, value))
        except RuntimeError:  # the event loop is closed: nobody is listening any more
            self.stop_event.set()

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def completion_tokens(self) -> int:
        return self.result.stats.new_tokens if self.result else 0

    @property
    def finish_reason(self) -> str:
        if self.result is not None and self.result.stats.stop_reason == "length" and not self.stop_hit:
            return "length"
        return "stop"


# -- on the model's thread ------------------------------------------------------------------------
def _prompt_ids(generator, job: GenerationJob) -> list[int]:
    if job.messages is not None:
        if not getattr(generator.tokenizer, "chat_template", None):
            raise APIError(400, f"'{job.entry.name}' has no chat template; use /v1/completions with a plain prompt.",
                           code="no_chat_template", param="model")
        try:
            return generator.chat_prompt_ids(job.messages)
        except Exception as exc:  # jinja raises TemplateError for messages a template refuses
            raise APIError(400, f"The chat template of '{job.entry.name}' refused these messages: {exc}",
                           param="messages", code="invalid_messages") from exc
    ids = list(generator.tokenizer(job.prompt or "")["input_ids"])
    if not ids:
        bos = generator.tokenizer.bos_token_id
        if bos is None:
            raise APIError(400, "The prompt is empty.", param="prompt", code="empty_prompt")
        ids = [bos]
    return ids


def _fit_to_context(generator, job: GenerationJob, prompt_tokens: int) -> None:
    context = generator.context_length
    room = context - prompt_tokens
    limit = job.max_tokens if job.max_tokens is not None else min(max(room, 0), DEFAULT_MAX_TOKENS)
    if room < 1 or limit > room:
        raise APIError(
            400,
            f"This model's maximum context length is {context} tokens; the prompt has {prompt_tokens} and "
            f"{limit} more were asked for. Shorten the prompt or lower max_tokens.",
            param="messages" if job.messages is not None else "prompt", code="context_length_exceeded",
        )
    job.settings.max_new_tokens = limit


def run_job(pool: ModelPool, job: GenerationJob) -> None:
    started = time.monotonic()
    try:
        if job.stop_event.is_set():
            job.emit("error", ClientGone())
            return
        generator = pool.generator(job.entry)
        prompt_ids = _prompt_ids(generator, job)
        job.prompt_tokens = len(prompt_ids)
        _fit_to_context(generator, job, len(prompt_ids))
        job.emit("ready")
        trimmer = StopTrimmer(job.stops)

        def on_text(piece: str) -> None:
            text = trimmer.feed(piece)
            if trimmer.hit:
                job.stop_hit = True
                job.stop_event.set()  # the engine stops within a token
            if text:
                job.pieces.append(text)
                job.emit("text", text)

        job.result = generator.generate(prompt_ids, job.settings, on_text=on_text, stop_event=job.stop_event)
        tail = trimmer.flush()
        if tail:
            job.pieces.append(tail)
            job.emit("text", tail)
        pool.history.append(JobRecord(
            model=job.entry.name, queued_at=job.queued_at, started_at=started, finished_at=time.monotonic(),
            prompt_tokens=job.prompt_tokens, new_tokens=job.result.stats.new_tokens,
            stop_reason="stop_sequence" if job.stop_hit else job.result.stats.stop_reason,
        ))
        if job.after is not None:
            try:
                job.after(job)
            except Exception:  # recording is a side matter: the reply still goes out
                log.exception("local API: could not record the exchange")
        job.emit("done")
    except APIError as exc:
        job.emit("error", exc)
    except ModelError as exc:
        job.emit("error", APIError(500, str(exc), code="model_unavailable", param="model"))
    except Exception as exc:  # noqa: BLE001 - the client gets a message, the log the traceback
        log.exception("local API generation failed")
        job.emit("error", APIError(500, f"Generation failed: {exc}", code="generation_failed"))
    finally:
        job.finished = True


# -- on the event loop ----------------------------------------------------------------------------
def settings_from(body: SamplingParameters) -> tuple[GenerationSettings, list[str]]:
    """The engine's settings and the stop sequences.

    Stop sequences stay out of the engine's settings: transformers builds a table over the whole
    vocabulary for them on every call (over half a second), while StopTrimmer finds them in the
    streamed text and ends the generation through the stop event within a token.
    """
    settings = GenerationSettings(stop=[])
    if body.temperature is not None:
        settings.temperature = body.temperature
    if body.top_p is not None:
        if body.top_p == 0:
            settings.temperature = 0.0
        else:
            settings.top_p = body.top_p
    if body.top_k is not None:
        settings.top_k = body.top_k
    if body.repetition_penalty is not None:
        settings.repetition_penalty = body.repetition_penalty
    if body.seed is not None:
        settings.seed = body.seed
    return settings, body.stop_sequences


def submit(state, job: GenerationJob) -> None:
    state.pool.track(job.stop_event)
    future = state.pool.submit(f"chat:{job.entry.name}", run_job, state.pool, job)

    def settled(f):
        state.pool.untrack(job.stop_event)
        if f.cancelled():  # the server stopped before the job's turn came
            job.emit("error", APIError(503, "The server stopped before this request was served.",
                                       code="server_stopping"))

    future.add_done_callback(settled)


async def next_event(request: Request, job: GenerationJob):
    """The job's next event, giving up (and stopping the job) if the client goes away meanwhile.

    The client is checked at least every DISCONNECT_POLL_S, also while events keep arriving
    faster than that (a fast model streaming into a non-streamed reply).
    """
    loop = asyncio.get_running_loop()
    while True:
        if loop.time() - job.client_checked_at >= DISCONNECT_POLL_S:
            job.client_checked_at = loop.time()
            if await request.is_disconnected():
                job.stop_event.set()
                raise ClientGone()
        try:
            return await asyncio.wait_for(job.events.get(), DISCONNECT_POLL_S)
        except TimeoutError:
            continue


async def wait_until_ready(request: Request, job: GenerationJob) -> None:
    kind, value = await next_event(request, job)
    if kind == "error":
        raise value
    assert kind == "ready", kind


async def wait_until_done(request: Request, job: GenerationJob) -> None:
    while True:
        kind, value = await next_event(request, job)
        if kind == "error":
            raise value
        if kind == "done":
            return


OUTCOMES = {"stop": "done", "length": "reached max_tokens"}


def note(request: Request, prompt_tokens: int, completion_tokens: int, outcome: str) -> None:
    """What the request log shows for this request."""
    request.state.prompt_tokens = prompt_tokens
    request.state.completion_tokens = completion_tokens
    request.state.outcome = OUTCOMES.get(outcome, outcome)


class GenerationStream(StreamingResponse):
    """A streamed reply whose generations stop however the stream ends (finished, dropped, cancelled)."""

    def __init__(self, content, jobs: list[GenerationJob]):
        super().__init__(content, media_type="text/event-stream",
                         headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self.jobs = jobs

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        finally:
            for job in self.jobs:
                job.stop_event.set()  # no-op for finished jobs


def _new_job(request: Request, entry: ModelEntry, body: SamplingParameters, max_tokens: int | None,
             record: Callable | None, **what) -> GenerationJob:
    settings, stops = settings_from(body)
    return GenerationJob(entry=entry, settings=settings, stops=stops, max_tokens=max_tokens,
                         loop=asyncio.get_running_loop(), after=record, **what)


# -- chat -----------------------------------------------------------------------------------------
@router.post("/v1/chat/completions")
async def chat_completions(body: ChatCompletionRequest, request: Request):
    state = request.app.state.fireside
    entry = state.pool.resolve(body.model, ("chat",), "a chat completion")
    request.state.model = entry.name
    messages = [m.as_template_message() for m in body.messages]
    job = _new_job(request, entry, body, body.token_limit, state.recorder_for("chat.completions", body),
                   messages=messages)
    submit(state, job)
    try:
        await wait_until_ready(request, job)
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            return GenerationStream(_chat_events(request, job, include_usage), [job])
        await wait_until_done(request, job)
    except ClientGone:
        note(request, job.prompt_tokens, 0, "cancelled by the client")
        return Response(status_code=499)
    note(request, job.prompt_tokens, job.completion_tokens, job.finish_reason)
    usage = r.usage(job.prompt_tokens, job.completion_tokens)
    return r.chat_completion(r.new_id("chatcmpl"), r.now(), entry.name, job.text, job.finish_reason, usage)


async def _chat_events(request: Request, job: GenerationJob, include_usage: bool):
    id_, created, model = r.new_id("chatcmpl"), r.now(), job.entry.name
    note(request, job.prompt_tokens, 0, "stopped by the client")
    yield r.sse(r.chat_chunk(id_, created, model, {"role": "assistant", "content": ""}))
    while True:
        kind, value = await job.events.get()
        if kind == "text":
            yield r.sse(r.chat_chunk(id_, created, model, {"content": value}))
        elif kind == "done":
            yield r.sse(r.chat_chunk(id_, created, model, {}, finish_reason=job.finish_reason))
            if include_usage:
                yield r.sse(r.chat_chunk(id_, created, model, None,
                                         usage_=r.usage(job.prompt_tokens, job.completion_tokens)))
            note(request, job.prompt_tokens, job.completion_tokens, job.finish_reason)
            yield r.SSE_DONE
            return
        elif kind == "error":
            note(request, job.prompt_tokens, 0, f"failed: {value}")
            yield r.sse(value.body() if isinstance(value, APIError) else {"error": {"message": str(value)}})
            return


# -- plain completions ----------------------------------------------------------------------------
@router.post("/v1/completions")
async def completions(body: CompletionRequest, request: Request):
    state = request.app.state.fireside
    entry = state.pool.resolve(body.model, ("chat",), "a completion")
    request.state.model = entry.name
    record = state.recorder_for("completions", body)
    jobs = [_new_job(request, entry, body, body.token_limit, record, prompt=prompt) for prompt in body.prompts]
    for job in jobs:
        submit(state, job)
    try:
        await wait_until_ready(request, jobs[0])
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            return GenerationStream(_completion_events(request, jobs, body.echo, include_usage), jobs)
        for index, job in enumerate(jobs):
            if index:
                await wait_until_ready(request, job)
            await wait_until_done(request, job)
    except ClientGone:
        for job in jobs:
            job.stop_event.set()
        note(request, sum(j.prompt_tokens for j in jobs), 0, "cancelled by the client")
        return Response(status_code=499)
    except APIError:
        for job in jobs:
            job.stop_event.set()
        raise
    prompt_tokens = sum(j.prompt_tokens for j in jobs)
    completion_tokens = sum(j.completion_tokens for j in jobs)
    note(request, prompt_tokens, completion_tokens, jobs[-1].finish_reason)
    choices = [((job.prompt if body.echo else "") + job.text, job.finish_reason) for job in jobs]
    return r.text_completion(r.new_id("cmpl"), r.now(), entry.name, choices, r.usage(prompt_tokens, completion_tokens))


async def _completion_events(request: Request, jobs: list[GenerationJob], echo: bool, include_usage: bool):
    id_, created, model = r.new_id("cmpl"), r.now(), jobs[0].entry.name
    note(request, jobs[0].prompt_tokens, 0, "stopped by the client")
    for index, job in enumerate(jobs):
        if echo:
            yield r.sse(r.text_chunk(id_, created, model, index, job.prompt or ""))
        while True:
            kind, value = await job.events.get()
            if kind == "text":
                yield r.sse(r.text_chunk(id_, created, model, index, value))
            elif kind == "done":
                yield r.sse(r.text_chunk(id_, created, model, index, "", finish_reason=job.finish_reason))
                break
            elif kind == "error":
                note(request, job.prompt_tokens, 0, f"failed: {value}")
                yield r.sse(value.body() if isinstance(value, APIError) else {"error": {"message": str(value)}})
                return
    prompt_tokens = sum(j.prompt_tokens for j in jobs)
    completion_tokens = sum(j.completion_tokens for j in jobs)
    if include_usage:
        yield r.sse(r.text_chunk(id_, created, model, None, usage_=r.usage(prompt_tokens, completion_tokens)))
    note(request, prompt_tokens, completion_tokens, jobs[-1].finish_reason)
    yield r.SSE_DONE
