"""Request bodies in the OpenAI shapes, with the ranges OpenAI documents.

Unknown fields are accepted and ignored (clients send many), out-of-range values are refused
with a 400 naming the parameter. Responses are built in desktop.server.responses.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_STOP_SEQUENCES = 4
MAX_INPUTS = 2048
SEED_RANGE = dict(ge=-(2**63), le=2**63 - 1)


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


def _check_stop(value):
    if value is None:
        return None
    stops = [value] if isinstance(value, str) else list(value)
    if len(stops) > MAX_STOP_SEQUENCES:
        raise ValueError(f"at most {MAX_STOP_SEQUENCES} stop sequences")
    if any(not s for s in stops):
        raise ValueError("a stop sequence cannot be empty")
    return stops


def _check_inputs(value):
    texts = [value] if isinstance(value, str) else value
    if len(texts) > MAX_INPUTS:
        raise ValueError(f"at most {MAX_INPUTS} inputs per request")
    if any(not text for text in texts):
        raise ValueError("an input cannot be an empty string")
    return value


class SamplingParameters(_Body):
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)  # 0 means greedy
    top_k: int | None = Field(None, ge=0)  # Fireside's own, 0 = no limit
    repetition_penalty: float | None = Field(None, gt=0, le=10)  # Fireside's own
    presence_penalty: float | None = Field(None, ge=-2, le=2)  # accepted, not used
    frequency_penalty: float | None = Field(None, ge=-2, le=2)  # accepted, not used
    max_tokens: int | None = Field(None, ge=1)
    seed: int | None = Field(None, **SEED_RANGE)
    stop: str | list[str] | None = None
    n: int | None = Field(None, ge=1, le=1, description="only one choice per request")
    stream: bool = False
    stream_options: "StreamOptions | None" = None
    user: str | None = None

    @field_validator("stop")
    @classmethod
    def valid_stop(cls, value):
        return _check_stop(value)

    @property
    def stop_sequences(self) -> list[str]:
        return list(self.stop or [])


class StreamOptions(_Body):
    include_usage: bool = False


class ContentPart(_Body):
    type: str
    text: str | None = None

    @model_validator(mode="after")
    def only_text(self):
        if self.type != "text":
            raise ValueError(f"content parts of type {self.type!r} are not supported; send text")
        if self.text is None:
            raise ValueError("a text part needs 'text'")
        return self


class ChatMessage(_Body):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text or "" for part in self.content)

    def as_template_message(self) -> dict:
        role = {"developer": "system", "tool": "user"}.get(self.role, self.role)
        return {"role": role, "content": self.text()}


class ChatCompletionRequest(SamplingParameters):
    model: str = Field(min_length=1)
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    logprobs: bool | None = None

    @model_validator(mode="after")
    def supported(self):
        if self.logprobs:
            raise ValueError("logprobs are not supported")
        return self

    @property
    def token_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class CompletionRequest(SamplingParameters):
    model: str = Field(min_length=1)
    prompt: str | list[str] = Field(min_length=1)
    echo: bool = False
    suffix: str | None = None
    logprobs: int | None = None
    best_of: int | None = Field(None, ge=1, le=1)

    @model_validator(mode="after")
    def supported(self):
        if self.suffix:
            raise ValueError("suffix (fill-in-the-middle) is not supported")
        if self.logprobs:
            raise ValueError("logprobs are not supported")
        return self

    @property
    def prompts(self) -> list[str]:
        return [self.prompt] if isinstance(self.prompt, str) else list(self.prompt)

    @property
    def token_limit(self) -> int:
        return self.max_tokens or 16  # OpenAI's default for this endpoint


class EmbeddingRequest(_Body):
    model: str = Field(min_length=1)
    input: str | list[str] = Field(min_length=1)
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1)
    user: str | None = None

    @field_validator("input", mode="before")
    @classmethod
    def text_only(cls, value):
        if isinstance(value, list) and value and not isinstance(value[0], str):
            raise ValueError("input must be a string or a list of strings (token ids are not supported)")
        return value

    @field_validator("input")
    @classmethod
    def not_empty(cls, value):
        return _check_inputs(value)

    @property
    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else list(self.input)


class ClassifyRequest(_Body):
    """Fireside's own endpoint: `classifier` (a saved classifier) or ad-hoc `labels` (zero-shot).

    Without `labels`, `model` may name the classifier instead of `classifier`; with `labels`,
    `model` names the encoder to use (the default encoder if left out).
    """

    input: str | list[str] = Field(min_length=1)
    classifier: str | None = None
    model: str | None = None
    labels: list[str] | None = Field(None, min_length=2, max_length=100)
    descriptions: dict[str, str] | None = None

    @field_validator("input")
    @classmethod
    def not_empty(cls, value):
        return _check_inputs(value)

    @field_validator("labels")
    @classmethod
    def distinct_labels(cls, value):
        if value is not None:
            if any(not label.strip() for label in value):
                raise ValueError("a label cannot be empty")
            if len(set(value)) != len(value):
                raise ValueError("labels must be distinct")
        return value

    @model_validator(mode="after")
    def one_source(self):
        if self.labels is None and not (self.classifier or self.model):
            raise ValueError("name a classifier ('classifier') or give 'labels' for zero-shot classification")
        if self.labels is not None and self.classifier:
            raise ValueError("give either 'classifier' or 'labels', not both")
        return self

    @property
    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else list(self.input)


SamplingParameters.model_rebuild()
ChatCompletionRequest.model_rebuild()
CompletionRequest.model_rebuild()
