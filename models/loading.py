"""Load registered models with transformers, always from local files and never with remote code."""
from __future__ import annotations

import threading
from pathlib import Path

from models.errors import ModelError
from models.gc_pauses import collector_paused
from models.home import force_offline
from models.quiet import quiet_libraries


# transformers imports its classes lazily, and that is not safe from two threads at once: a chat
# model loading while the start-up import ran failed with "cannot import name
# 'AutoModelForCausalLM' from 'transformers'". Every import of it here takes this lock.
_importing = threading.RLock()


def transformers_class(name: str):
    """A class of transformers (AutoTokenizer, AutoModelForCausalLM, ...), imported safely."""
    with _importing:
        quiet_libraries()
        import transformers

        return getattr(transformers, name)


def _has_safetensors(path: Path) -> bool:
    return any(Path(path).glob("*.safetensors"))


def pretrained_source(path: Path) -> tuple[str, dict]:
    """(what to pass to from_pretrained, extra keywords) for a model folder or a GGUF file.

    A GGUF file is read by transformers' own GGUF support: its weights are de-quantized into
    memory (float32, or the dtype asked for), never written to disk."""
    path = Path(path)
    if path.is_file() and path.suffix.lower() == ".gguf":
        return str(path.parent), {"gguf_file": path.name}
    return str(path), {"use_safetensors": _has_safetensors(path)}


def plain_model(model, dtype=None):
    """A model transformers read from a GGUF is flagged as GGUF-quantized, which the Trainer and
    save_pretrained refuse, though its weights are plain floats by then: the flag is taken off."""
    if getattr(model, "hf_quantizer", None) is None and not getattr(model, "is_quantized", False):
        return model
    model.hf_quantizer = None
    model.is_quantized = False
    model.quantization_method = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    return model


@collector_paused()
def load_tokenizer(path: Path):
    force_offline()
    try:
        source, extra = pretrained_source(path)
        extra.pop("use_safetensors", None)
        return transformers_class("AutoTokenizer").from_pretrained(source, local_files_only=True, **extra)
    except Exception as exc:
        raise ModelError(f"{path}: tokenizer could not be loaded ({exc})") from exc


@collector_paused()
def load_causal_lm(path: Path, device: str = "cpu", dtype=None):
    """(model, tokenizer) for a chat model folder, in eval mode on `device`."""
    force_offline()
    tokenizer = load_tokenizer(path)
    try:
        source, extra = pretrained_source(path)
        model = plain_model(transformers_class("AutoModelForCausalLM").from_pretrained(
            source, local_files_only=True, dtype=dtype or "auto", **extra
        ), dtype)
    except Exception as exc:
        raise ModelError(f"{path}: model could not be loaded ({exc})") from exc
    return model.to(device).eval(), tokenizer


@collector_paused()
def load_encoder(path: Path, device: str = "cpu"):
    """(model, tokenizer) for a BERT-style encoder folder (AutoModel, no task head)."""
    force_offline()
    tokenizer = load_tokenizer(path)
    try:
        model = transformers_class("AutoModel").from_pretrained(
            str(path), local_files_only=True, use_safetensors=_has_safetensors(path)
        )
    except Exception as exc:
        raise ModelError(f"{path}: encoder could not be loaded ({exc})") from exc
    return model.to(device).eval(), tokenizer


@collector_paused()
def load_sequence_classifier(path: Path, device: str = "cpu"):
    force_offline()
    tokenizer = load_tokenizer(path)
    try:
        model = transformers_class("AutoModelForSequenceClassification").from_pretrained(
            str(path), local_files_only=True, use_safetensors=_has_safetensors(path)
        )
    except Exception as exc:
        raise ModelError(f"{path}: classifier could not be loaded ({exc})") from exc
    return model.to(device).eval(), tokenizer


def import_model_stack() -> None:
    """Import what loading the default models needs (torch, transformers and the modules loading
    pulls in later), with the collector paused and the result frozen: run once in the background
    at start-up, it leaves later loads little to import and the collector little to walk."""
    with _importing, collector_paused(freeze=True):
        import torch  # noqa: F401
        import torch.ao.quantization  # noqa: F401 - the encoder's int8 layers (pulls in torch.fx and sympy)
        import transformers.models.bert.modeling_bert  # noqa: F401 - the default encoder
        import transformers.models.llama.modeling_llama  # noqa: F401 - the default chat model
        from sklearn.linear_model import LogisticRegression  # noqa: F401 - few-shot classification
        from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer  # noqa: F401

