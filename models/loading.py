"""Load registered models with transformers, always from local files and never with remote code."""
from __future__ import annotations

from pathlib import Path

from models.errors import ModelError
from models.home import force_offline
from models.quiet import quiet_libraries


def _has_safetensors(path: Path) -> bool:
    return any(Path(path).glob("*.safetensors"))


def load_tokenizer(path: Path):
    force_offline()
    quiet_libraries()
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except Exception as exc:
        raise ModelError(f"{path}: tokenizer could not be loaded ({exc})") from exc


def load_causal_lm(path: Path, device: str = "cpu", dtype=None):
    """(model, tokenizer) for a chat model folder, in eval mode on `device`."""
    force_offline()
    from transformers import AutoModelForCausalLM

    tokenizer = load_tokenizer(path)
    try:
        model = AutoModelForCausalLM.from_pretrained(
            str(path), local_files_only=True, use_safetensors=_has_safetensors(path), dtype=dtype or "auto"
        )
    except Exception as exc:
        raise ModelError(f"{path}: model could not be loaded ({exc})") from exc
    return model.to(device).eval(), tokenizer


def load_encoder(path: Path, device: str = "cpu"):
    """(model, tokenizer) for a BERT-style encoder folder (AutoModel, no task head)."""
    force_offline()
    from transformers import AutoModel

    tokenizer = load_tokenizer(path)
    try:
        model = AutoModel.from_pretrained(str(path), local_files_only=True, use_safetensors=_has_safetensors(path))
    except Exception as exc:
        raise ModelError(f"{path}: encoder could not be loaded ({exc})") from exc
    return model.to(device).eval(), tokenizer


def load_sequence_classifier(path: Path, device: str = "cpu"):
    force_offline()
    from transformers import AutoModelForSequenceClassification

    tokenizer = load_tokenizer(path)
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            str(path), local_files_only=True, use_safetensors=_has_safetensors(path)
        )
    except Exception as exc:
        raise ModelError(f"{path}: classifier could not be loaded ({exc})") from exc
    return model.to(device).eval(), tokenizer
