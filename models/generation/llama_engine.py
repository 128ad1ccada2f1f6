"""GGUF chat models on llama.cpp (through llama-cpp-python): the file is mapped as it is.

`LlamaModel` opens a GGUF (and, for a LoRA fine-tune, its GGUF adapter) and gives the generation
loop what the PyTorch runners give it: a tokenizer with the model's own chat template, and a
token stream that reuses the keys and values of the previous prompt's common prefix. Sampling
runs inside llama.cpp as a sampler chain in the order transformers applies its processors
(repetition penalty over the prompt and the reply, top-k, temperature, top-p, one draw).

A stop request is honoured inside a long prompt too: while the prompt is processed, llama.cpp
asks an abort callback between the operations of its graph. The callback is removed while
decoding, where it would cost a call into Python per operation; there the stop is checked
between tokens.

Prompt lookup (speculative decoding by n-grams): the tokens that followed the latest n-gram the
last time it appeared in the prompt or the reply are proposed as a draft, checked in one batch,
and kept as far as they agree with what the sampler chooses at each position. Every kept token
is the one the sampler chose given the tokens before it.
"""
from __future__ import annotations

import ctypes
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from models.errors import ModelError

log = logging.getLogger(__name__)

DEFAULT_CONTEXT = 4096  # tokens of context a model gets unless it was trained for fewer
BATCH = 512
DRAFT_TOKENS = 8  # drafted tokens checked at once at first (prompt lookup)
MAX_DRAFT_TOKENS = 16


def _build_record() -> Path:
    import sys

    return Path(sys.prefix) / "var" / "fireside" / "llama-cpp-build"


def installed_build() -> str | None:
    """What the set-up recorded of the installed llama.cpp: '<version>-<cpu|cuda>-<cpu signature>'."""
    try:
        return _build_record().read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def record_build(key: str) -> None:
    record = _build_record()
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(key + "\n", encoding="utf-8")


def available() -> str | None:
    """None when llama.cpp can run here, else why not (in words)."""
    global _problem
    if _problem is not False:
        return _problem
    from models.devices import cpu_signature

    build = installed_build()
    if build and not build.endswith("-" + cpu_signature()):
        # Compiled for another CPU's instructions (the folder moved to another machine): loading
        # it could end the process with an illegal instruction.
        _problem = "the installed llama.cpp was compiled for another CPU; run the set-up again to rebuild it"
        return _problem
    try:
        import llama_cpp  # noqa: F401
    except Exception as exc:  # ImportError, OSError from a library that does not load
        _problem = f"llama-cpp-python is not installed or does not load ({exc})"
        return _problem
    if os.environ.get("FIRESIDE_CHAT_ENGINE", "").lower() in ("torch", "pytorch"):
        _problem = "FIRESIDE_CHAT_ENGINE asks for PyTorch"
        return _problem
    _problem = None
    return None


_problem: str | None | bool = False  # not checked yet


def describe() -> dict:
    """Version, the CPU features its build uses, and whether it can offload to a GPU."""
    problem = available()
    if problem:
        return {"available": False, "reason": problem}
    import llama_cpp

    info = llama_cpp.llama_print_system_info().decode("utf-8", errors="replace")
    features = [part.split(":")[-1].split("=")[0].strip() for part in info.split("|")
                if part.strip().endswith("= 1")]
    return {"available": True, "version": llama_cpp.__version__, "cpu_features": features,
            "gpu_offload": bool(llama_cpp.llama_supports_gpu_offload())}


def default_threads() -> int:
    """The cores this process may use; on a machine with more than four, the physical ones only,
    since llama.cpp gains nothing from a core's second thread. (Small virtual machines often report
    a single physical core for two usable CPUs.)"""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    if usable <= 4:
        return usable
    try:
        import psutil

        physical = psutil.cpu_count(logical=False) or usable
    except Exception:  # noqa: BLE001 - a best guess is enough
        physical = usable
    return max(1, min(usable, physical))


class LlamaTokenizer:
    """The part of a transformers tokenizer the chat code uses, answered by llama.cpp's vocabulary."""

    def __init__(self, llm, chat_template: str | None):
        import llama_cpp

        self._llama_cpp = llama_cpp
        self._vocab = llama_cpp.llama_model_get_vocab(llm.model)
        self.chat_template = chat_template
        self.bos_token_id = self._special(llama_cpp.llama_vocab_bos(self._vocab))
        self.eos_token_id = self._special(llama_cpp.llama_vocab_eos(self._vocab))
        self.bos_token = self._text(self.bos_token_id)
        self.eos_token = self._text(self.eos_token_id)
        self.add_bos = bool(llama_cpp.llama_vocab_get_add_bos(self._vocab))
        self.sentencepiece = llama_cpp.llama_vocab_type(self._vocab) == llama_cpp.LLAMA_VOCAB_TYPE_SPM
        self.vocab_size = int(llama_cpp.llama_vocab_n_tokens(self._vocab))
        self._pieces: dict[tuple[int, bool], bytes] = {}
        self._buffer = ctypes.create_string_buffer(256)
        self._formatter = None

    @staticmethod
    def _special(token: int) -> int | None:
        return None if token < 0 else int(token)

    def _text(self, token: int | None) -> str:
        if token is None:
            return ""
        return self._llama_cpp.llama_vocab_get_text(self._vocab, token).decode("utf-8", errors="replace")

    def end_of_generation_ids(self) -> set[int]:
        ids = {i for i in range(self.vocab_size) if self._llama_cpp.llama_vocab_is_eog(self._vocab, i)}
        return ids or ({self.eos_token_id} if self.eos_token_id is not None else set())

    # -- text <-> ids ---------------------------------------------------------------------------
    def tokenize(self, text: str, add_bos: bool, special: bool) -> list[int]:
        data = text.encode("utf-8")
        room = len(data) + 16
        while True:
            out = (self._llama_cpp.llama_token * room)()
            count = self._llama_cpp.llama_tokenize(self._vocab, data, len(data), out, room, add_bos, special)
            if count >= 0:
                return list(out[:count])
            room = -count

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return self.tokenize(text, add_bos=add_special_tokens and self.add_bos, special=False)

    def piece(self, token: int, special: bool = False) -> bytes:
        key = (token, special)
        found = self._pieces.get(key)
        if found is None:
            count = self._llama_cpp.llama_token_to_piece(self._vocab, token, self._buffer, len(self._buffer), 0,
                                                         special)
            if count < 0:
                bigger = ctypes.create_string_buffer(-count)
                count = self._llama_cpp.llama_token_to_piece(self._vocab, token, bigger, -count, 0, special)
                found = bigger.raw[:count]
            else:
                found = self._buffer.raw[:count]
            self._pieces[key] = found
        return found

    def decode(self, ids, skip_special_tokens: bool = True, **_ignored) -> str:
        data = b"".join(self.piece(int(t), special=not skip_special_tokens) for t in ids)
        return data.decode("utf-8", errors="replace")

    # -- chat template --------------------------------------------------------------------------
    def apply_chat_template(self, messages: list[dict], add_generation_prompt: bool = True, tokenize: bool = True,
                            **_ignored):
        if not self.chat_template:
            raise ModelError("this model has no chat template")
        if self._formatter is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            self._formatter = Jinja2ChatFormatter(self.chat_template, eos_token=self.eos_token,
                                                  bos_token=self.bos_token, add_generation_prompt=True)
        try:
            text = self._formatter._environment.render(
                messages=messages, bos_token=self.bos_token, eos_token=self.eos_token,
                add_generation_prompt=add_generation_prompt, raise_exception=_raise,
                strftime_now=self._formatter.strftime_now)
        except Exception as exc:  # jinja2 errors and the template's own raise_exception
            raise ModelError(f"the model's chat template failed: {exc}") from exc
        if not tokenize:
            return text
        # As transformers does: the template writes the special tokens it wants, BOS included.
        add_bos = self.add_bos and not (self.bos_token and text.startswith(self.bos_token))
        return self.tokenize(text, add_bos=add_bos, special=True)


def _raise(message: str):
    raise ValueError(message)


@dataclass
class LoadedFiles:
    model: Path
    adapter: Path | None = None


class LlamaModel:
    """One GGUF model in llama.cpp, with one context (one conversation's keys and values)."""

    name = "llama.cpp"

    def __init__(self, files: LoadedFiles, n_ctx: int | None = None, n_threads: int | None = None,
                 gpu_layers: int = 0, speculative: bool = False):
        problem = available()
        if problem:
            raise ModelError(problem)
        import llama_cpp
        from llama_cpp import _internals

        self._llama_cpp = llama_cpp
        self._internals = _internals
        threads = n_threads or default_threads()
        self.files = files
        self.speculative = speculative
        from models.gguf_check import read_header

        self.header = read_header(files.model)
        with _loading:
            self.llm = self._open(files, n_ctx, threads, gpu_layers)
        self.n_ctx = int(self.llm.n_ctx())
        self.tokenizer = LlamaTokenizer(self.llm, self.header.metadata.get("tokenizer.chat_template"))
        self.eos_ids = self.tokenizer.end_of_generation_ids()
        self.cached: list[int] = []  # tokens whose keys and values are in the context, in order
        self.reused_tokens = 0
        self._batch = _internals.LlamaBatch(n_tokens=max(BATCH, DRAFT_TOKENS + 1), embd=0, n_seq_max=1)
        self._memory = llama_cpp.llama_get_memory(self.llm.ctx)
        self._stop_check: Callable[[], bool] = lambda: False
        self._abort = llama_cpp.ggml_abort_callback(lambda _data: bool(self._stop_check()))
        self._no_abort = llama_cpp.ggml_abort_callback()

    def _open(self, files: LoadedFiles, n_ctx, threads, gpu_layers):
        from llama_cpp import Llama

        from models.gguf_check import check_adapter_fits, check_data

        check_data(files.model, self.header)
        if files.adapter is not None:
            check_adapter_fits(files.adapter, files.model, self.header)

        # Flash attention: the tokens of one batch then read each other's keys and values as float16,
        # as the cache holds them for a token decoded alone. Without it, logits for the same position
        # came out up to 0.6 apart between a batch (a prompt, a prompt-lookup draft) and one token,
        # enough to turn a greedy reply; about 0.2 remains, from the matrix kernels. Prompts are
        # processed a little faster with it, and decoding is as fast.
        n_ctx = n_ctx or min(self.header.context_length or DEFAULT_CONTEXT, DEFAULT_CONTEXT)
        try:
            return Llama(model_path=str(files.model), n_ctx=n_ctx, n_batch=BATCH, n_ubatch=BATCH,
                         n_threads=threads, n_threads_batch=threads, n_gpu_layers=gpu_layers, flash_attn=True,
                         lora_path=str(files.adapter) if files.adapter else None,
                         verbose=False)
        except (ValueError, RuntimeError, OSError) as exc:
            what = f"{files.model.name} with the adapter {files.adapter.name}" if files.adapter else files.model.name
            raise ModelError(f"llama.cpp could not load {what} ({exc})") from exc

    @property
    def context_length(self) -> int:
        return self.n_ctx

    def close(self) -> None:
        self.llm.close()

    # -- the cache ---------------------------------------------------------------------------------
    def reset(self) -> None:
        self._truncate(0)

    def _truncate(self, length: int) -> None:
        self._llama_cpp.llama_memory_seq_rm(self._memory, -1, length, -1)
        del self.cached[length:]

    def _decode(self, tokens: list[int], all_logits: bool) -> int:
        self._batch.set_batch(tokens, n_past=len(self.cached), logits_all=all_logits)
        code = self._llama_cpp.llama_decode(self.llm.ctx, self._batch.batch)
        if code == 0:
            self.cached.extend(tokens)
        return code

    def _prefill(self, prompt_ids: list[int], should_stop: Callable[[], bool]) -> bool:
        """Process the prompt after its cached prefix; False when stopped on the way."""
        from models.generation.backends import common_prefix

        keep = min(common_prefix(self.cached, prompt_ids), len(prompt_ids) - 1)
        self._truncate(keep)
        self.reused_tokens = keep
        self._stop_check = should_stop
        self._llama_cpp.llama_set_abort_callback(self.llm.ctx, self._abort, None)
        try:
            for start in range(keep, len(prompt_ids), BATCH):
                if should_stop():
                    return False
                code = self._decode(prompt_ids[start:start + BATCH], all_logits=False)
                if code == 2:  # aborted: what the batch wrote is taken out again
                    self._truncate(len(self.cached))
                    return False
                if code != 0:
                    self._truncate(len(self.cached))
                    raise ModelError(_decode_error(code, len(prompt_ids), self.n_ctx))
        finally:
            self._llama_cpp.llama_set_abort_callback(self.llm.ctx, self._no_abort, None)
            self._stop_check = lambda: False
        return True

    def _sampler(self, settings):
        import random

        chain = self._internals.LlamaSampler()
        penalty = float(settings.repetition_penalty or 1.0)
        if penalty != 1.0:
            chain.add_penalties(n_vocab=self.tokenizer.vocab_size, penalty_last_n=self.n_ctx,
                                penalty_repeat=penalty, penalty_freq=0.0, penalty_present=0.0)
        temperature = float(settings.temperature)
        if temperature <= 0:
            chain.add_greedy()
            return chain
        if settings.top_k and int(settings.top_k) > 0:
            chain.add_top_k(int(settings.top_k))
        chain.add_temp(temperature)
        top_p = float(settings.top_p if settings.top_p is not None else 1.0)
        if top_p < 1.0:
            chain.add_top_p(top_p, 1)
        seed = int(settings.seed) if settings.seed is not None else random.getrandbits(32)
        chain.add_dist(seed & 0xFFFFFFFF)
        return chain

    def tokens(self, prompt_ids: list[int], settings, should_stop: Callable[[], bool]) -> Iterator[int]:
        """The reply's tokens, one at a time, until the caller stops asking (or `should_stop`)."""
        if not self._prefill(prompt_ids, should_stop):
            return
        chain = self._sampler(settings)
        try:
            for token in prompt_ids:  # the repetition penalty counts the prompt, as transformers does
                chain.accept(token)
            token = chain.sample(self.llm._ctx, -1)
            lookup = PromptLookup(prompt_ids) if self.speculative else None
            while True:
                yield token
                if should_stop():
                    return
                draft = []
                if lookup is not None:
                    lookup.add(token)
                    draft = lookup.draft()[: max(0, self.n_ctx - len(self.cached) - 1)]
                before = len(self.cached)
                code = self._decode([token] + draft, all_logits=bool(draft))
                if code != 0:
                    raise ModelError(_decode_error(code, len(self.cached) + 1, self.n_ctx))
                accepted = []
                for index in range(len(draft) + 1):
                    chosen = chain.sample(self.llm._ctx, index)
                    if index < len(draft) and chosen == draft[index]:
                        accepted.append(chosen)
                        continue
                    break
                if draft:
                    self._truncate(before + 1 + len(accepted))
                    lookup.checked(len(draft), len(accepted))
                for kept in accepted:
                    yield kept
                    lookup.add(kept)
                    if should_stop():
                        return
                token = chosen
        finally:
            chain.close()


_loading = threading.Lock()  # llama.cpp's model loading is not meant to run twice at once


def _decode_error(code: int, position: int, n_ctx: int) -> str:
    if code == 1:
        return f"llama.cpp found no room for the tokens in its context of {n_ctx} (at token {position})"
    return f"llama.cpp could not compute the next token (error {code})"


class PromptLookup:
    """Drafts for speculative decoding: what followed the latest earlier occurrence of the last
    n tokens (3, else 2) in the prompt and the reply so far. The draft grows while drafts are
    taken whole and shrinks while they are refused, so replies that do not repeat their prompt
    pay little for it."""

    SIZES = (3, 2)

    def __init__(self, history: list[int]):
        self.history: list[int] = []
        self.seen: dict[tuple[int, ...], int] = {}  # n-gram -> the position after its latest occurrence
        self.length = DRAFT_TOKENS
        for token in history:
            self.add(token)

    def add(self, token: int) -> None:
        end = len(self.history)  # n-grams ending before the new token become findable now
        for size in self.SIZES:
            if end >= size:
                self.seen[tuple(self.history[end - size:end])] = end
        self.history.append(token)

    def draft(self) -> list[int]:
        for size in self.SIZES:
            if len(self.history) > size:
                found = self.seen.get(tuple(self.history[-size:]))
                if found is not None:
                    return self.history[found:found + self.length]
        return []

    def checked(self, drafted: int, accepted: int) -> None:
        if drafted and accepted == drafted:
            self.length = min(self.length * 2, MAX_DRAFT_TOKENS)
        elif accepted == 0:
            self.length = max(self.length // 2, 1)
