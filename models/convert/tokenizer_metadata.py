"""A transformers tokenizer described in llama.cpp's terms (tokenizer.ggml.*), where it can be.

llama.cpp re-implements tokenizers rather than running the Hugging Face one, so only families it knows
can be described: byte-level BPE (GPT-2, Llama 3, Qwen 2/3, SmolLM), whose pre-tokenizer is recognised
from tokenizer.json, and SentencePiece models when the `sentencepiece` package is installed. Anything
else raises ModelError: such a model keeps running through transformers.
"""
from __future__ import annotations

import json
from pathlib import Path

from models.convert.gguf_file import KeyValue
from models.convert.metadata_collector import collect
from models.errors import ModelError

# The split expressions of tokenizer.json pre-tokenizers, and the name llama.cpp knows each by
# (tokenizer.ggml.pre); llama.cpp carries its own copy of each expression.
_CONTRACTIONS = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|"
_SPACES = r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
SPLIT_PATTERNS = {
    _CONTRACTIONS + r"\p{N}{1,3}" + _SPACES: "llama-bpe",  # numbers split in threes
    _CONTRACTIONS + r"\p{N}" + _SPACES: "qwen2",           # digit by digit
}


def _cannot(folder: Path, why: str) -> ModelError:
    return ModelError(f"{folder.name}: {why}, which llama.cpp cannot reproduce; this model keeps running "
                      "through transformers")


def tokenizer_metadata(folder: Path, architecture: str, vocab_size: int) -> list[KeyValue]:
    folder = Path(folder)
    tokenizer_file = folder / "tokenizer.json"
    if tokenizer_file.is_file():
        tokenizer = json.loads(tokenizer_file.read_text(encoding="utf-8"))
        model = tokenizer.get("model") or {}
        if model.get("type") == "BPE" and not model.get("byte_fallback") \
                and (tokenizer.get("decoder") or {}).get("type") == "ByteLevel":
            return _byte_level_bpe(folder, tokenizer, architecture, vocab_size)
    if (folder / "tokenizer.model").is_file():
        return _sentencepiece(folder, architecture, vocab_size)
    if tokenizer_file.is_file():
        raise _cannot(folder, "its tokenizer is of a kind Fireside cannot describe to llama.cpp")
    raise ModelError(f"{folder}: no tokenizer.json or tokenizer.model")


def bpe_pre_tokenizer(pre: dict | None) -> str | None:
    """llama.cpp's name for a byte-level BPE pre-tokenizer from tokenizer.json, or None if unknown."""
    if not pre:
        return None
    steps = pre.get("pretokenizers", []) if pre.get("type") == "Sequence" else [pre]
    kinds = [step.get("type") for step in steps]
    if kinds == ["ByteLevel"] and steps[0].get("use_regex", True):
        return "gpt-2"
    if kinds == ["Digits", "ByteLevel"] and steps[0].get("individual_digits") and steps[1].get("use_regex", True):
        return "smollm"
    if kinds == ["Split", "ByteLevel"] and not steps[1].get("use_regex", True):
        return SPLIT_PATTERNS.get((steps[0].get("pattern") or {}).get("Regex"))
    return None


def _byte_level_bpe(folder: Path, tokenizer: dict, architecture: str, vocab_size: int) -> list[KeyValue]:
    import gguf

    pre = bpe_pre_tokenizer(tokenizer.get("pre_tokenizer"))
    if pre is None:
        raise _cannot(folder, "its tokenizer splits text in a way Fireside does not recognise")
    by_id: dict[int, tuple[str, int]] = {i: (text, gguf.TokenType.NORMAL)
                                         for text, i in tokenizer["model"]["vocab"].items()}
    for added in tokenizer.get("added_tokens") or []:
        kind = gguf.TokenType.CONTROL if added.get("special") else gguf.TokenType.USER_DEFINED
        by_id[int(added["id"])] = (added["content"], kind)
    size = max(vocab_size, max(by_id) + 1)
    tokens, types = [], []
    for i in range(size):
        text, kind = by_id.get(i, (f"[PAD{i}]", gguf.TokenType.UNUSED))
        tokens.append(text)
        types.append(int(kind))
    special = gguf.SpecialVocab(folder, load_merges=True, n_vocab=size)
    if not special.merges:
        raise _cannot(folder, "its BPE tokenizer lists no merges")

    def fill(w):
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre(pre)
        w.add_token_list(tokens)
        w.add_token_types(types)
        special.add_to_gguf(w, quiet=True)
        if "bos" not in special.add_special_token:
            w.add_add_bos_token(False)

    return collect(architecture, fill)


def _sentencepiece(folder: Path, architecture: str, vocab_size: int) -> list[KeyValue]:
    import gguf

    try:
        vocab = gguf.SentencePieceVocab(folder)
    except (RuntimeError, ImportError):
        raise _cannot(folder, "its SentencePiece tokenizer needs the sentencepiece package to be read") from None
    except (OSError, ValueError) as exc:
        raise _cannot(folder, f"its SentencePiece tokenizer could not be read ({exc})") from exc
    tokens, scores, types = [], [], []
    for text, score, kind in vocab.all_tokens():
        tokens.append(text)
        scores.append(score)
        types.append(int(kind))
    for i in range(len(tokens), vocab_size):
        tokens.append(f"[PAD{i}]".encode())
        scores.append(-1000.0)
        types.append(int(gguf.TokenType.UNUSED))
    special = gguf.SpecialVocab(folder, load_merges=False, n_vocab=len(tokens))

    def fill(w):
        w.add_tokenizer_model("llama")
        w.add_tokenizer_pre("default")
        w.add_token_list(tokens)
        w.add_token_scores(scores)
        w.add_token_types(types)
        special.add_to_gguf(w, quiet=True)

    return collect(architecture, fill)
