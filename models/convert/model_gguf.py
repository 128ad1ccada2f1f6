"""A transformers safetensors folder written as an unquantized (F16, BF16 or F32) GGUF model.

With `base_gguf` (a full fine-tune of a GGUF model) the base's metadata is kept as it is (tokenizer,
chat template, hyper-parameters) and the new weights must match the base's tensors one for one.
Without it, the metadata comes from config.json and the tokenizer files.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from models.convert import architectures
from models.convert.architectures import Architecture, supported_architecture
from models.convert.gguf_file import GgufFile, KeyValue, open_gguf
from models.convert.gguf_output import (OUTTYPES, PlannedTensor, float_type_for, planned_copy, planned_float,
                                        write_gguf)
from models.convert.hparams_metadata import hparams_metadata, llama3_rope_factors
from models.convert.safetensors_source import SourceTensor, safetensors_tensors
from models.convert.tokenizer_metadata import tokenizer_metadata
from models.errors import ModelError

__all__ = ["write_model_gguf", "supported_architecture"]

ProgressCallback = Callable[[float, str], None]

# keys of a base file that describe its old weights, not the new ones
STALE_KEYS = ("general.file_type", "general.quantization_version", "quantize.", "split.")


def read_config(hf_dir: Path) -> dict:
    from models.jsonfile import read_json

    config = read_json(Path(hf_dir) / "config.json", f"{hf_dir}: not a model folder (no config.json)")
    return config.get("text_config", config) if "hidden_size" not in config else config


def write_model_gguf(hf_dir: Path, out_file: Path, base_gguf: Path | None = None,
                     progress: ProgressCallback | None = None, *, outtype: str = "auto",
                     text_metadata: dict[str, str] | None = None) -> Path:
    """Write the model in `hf_dir` to `out_file` (atomically); returns `out_file`.

    `outtype` "auto" keeps bfloat16 weights in BF16 and writes the rest as F16; "F16", "BF16", "F32"
    force one type for all matrices (vectors and norms are always F32). `text_metadata` sets or
    replaces string keys, e.g. {"tokenizer.chat_template": ...}."""
    if outtype not in OUTTYPES:
        raise ValueError(f"outtype must be one of {OUTTYPES}")
    hf_dir = Path(hf_dir)
    report = progress or (lambda fraction, message: None)
    report(0.0, f"Reading {hf_dir.name}")
    config = read_config(hf_dir)
    reason = supported_architecture(config)
    if reason:
        raise ModelError(f"{hf_dir.name}: {reason}")
    arch = architectures.ARCHITECTURES[architectures.hf_architecture(config)]
    source = safetensors_tensors(hf_dir)
    if base_gguf is not None:
        base = open_gguf(Path(base_gguf))
        if base.architecture != arch.gguf_name:
            raise ModelError(f"{hf_dir.name} is a {arch.gguf_name} model but {base.path.name} is a "
                             f"{base.architecture} model; they cannot share metadata")
        tensors = plan_against_base(source, base, arch, config, outtype, hf_dir.name)
        metadata = base_metadata(base, file_type_of(tensors))
    else:
        tensors = plan_from_config(source, arch, config, outtype, hf_dir.name)
        name = str(config.get("_name_or_path") or "").rstrip("/").rsplit("/", 1)[-1] or hf_dir.name
        metadata = (hparams_metadata(config, arch, file_type_of(tensors), name)
                    + tokenizer_metadata(hf_dir, arch.gguf_name, int(config["vocab_size"])))
    if text_metadata:
        from gguf import GGUFValueType

        metadata = [item for item in metadata if item[0] not in text_metadata]
        metadata += [(key, text, GGUFValueType.STRING, None) for key, text in text_metadata.items()]
    return write_gguf(Path(out_file), arch.gguf_name, metadata, tensors, progress, span=(0.02, 1.0))


def base_metadata(base: GgufFile, file_type: int) -> list[KeyValue]:
    from gguf import GGUFValueType

    return base.metadata(skip=STALE_KEYS) + [("general.file_type", file_type, GGUFValueType.UINT32, None)]


def file_type_of(tensors: list[PlannedTensor]) -> int:
    """general.file_type for a file of float tensors: the type most matrices have."""
    from gguf import GGMLQuantizationType as T, LlamaFileType

    kinds = {t.ggml_type for t in tensors}
    if T.BF16 in kinds:
        return int(LlamaFileType.MOSTLY_BF16)
    if T.F16 in kinds:
        return int(LlamaFileType.MOSTLY_F16)
    return int(LlamaFileType.ALL_F32)


def converted(source: SourceTensor, gguf_name: str, arch: Architecture, config: dict, outtype: str,
              shape_from: SourceTensor | None = None) -> PlannedTensor:
    """`source` renamed to `gguf_name` and reshaped to llama.cpp's conventions, loaded when written."""
    heads = None
    if arch.rotary_pairs:
        n_head = int(config["num_attention_heads"])
        heads = architectures.rotary_heads(source.name, n_head, int(config.get("num_key_value_heads") or n_head))
    offset = arch.norm_offset if source.name.endswith("norm.weight") else 0.0

    def load():
        data = source.load()
        if heads:
            data = architectures.permute_rows(data, heads)
        return data + offset if offset else data

    ggml_type = float_type_for(gguf_name, len(source.shape), source.dtype, outtype)
    return planned_float(gguf_name, source.shape, ggml_type, load)


def _mapped(source: dict[str, SourceTensor], arch: Architecture, blocks: int, folder: str) -> dict[str, SourceTensor]:
    mapped = {}
    for name, tensor in source.items():
        if name.endswith(architectures.IGNORED_SUFFIXES) or (name == "lm_head.weight" and not arch.writes_output):
            continue
        target = architectures.gguf_tensor_name(arch.gguf_name, blocks, name)
        if target is None:
            raise ModelError(f"{folder}: the weights hold {name}, which llama.cpp's {arch.gguf_name} models "
                             "do not have; this model keeps running through transformers")
        mapped[target] = tensor
    return mapped


def _order(name: str):
    parts = name.split(".")
    if parts[0] == "blk":
        return (1, int(parts[1]), name)
    return (0 if name.startswith("token_embd") else 2, 0, name)


def plan_from_config(source: dict[str, SourceTensor], arch: Architecture, config: dict, outtype: str,
                     folder: str) -> list[PlannedTensor]:
    mapped = _mapped(source, arch, int(config["num_hidden_layers"]), folder)
    if "token_embd.weight" not in mapped:
        raise ModelError(f"{folder}: the weights hold no token embeddings")
    if "output.weight" not in mapped and arch.writes_output and config.get("tie_word_embeddings") is False:
        raise ModelError(f"{folder}: the weights hold no output layer (lm_head) and the config does not tie it "
                         "to the embeddings")
    planned = [converted(mapped[name], name, arch, config, outtype) for name in sorted(mapped, key=_order)]
    factors = llama3_rope_factors(config)
    if factors is not None:
        from gguf import GGMLQuantizationType

        planned.insert(0, planned_float("rope_freqs.weight", tuple(factors.shape), GGMLQuantizationType.F32,
                                        lambda: factors))
    return planned


def plan_against_base(source: dict[str, SourceTensor], base: GgufFile, arch: Architecture, config: dict,
                      outtype: str, folder: str) -> list[PlannedTensor]:
    """The base's tensors, in the base's order, each taken from the new weights."""
    if int(config["num_hidden_layers"]) != base.block_count:
        raise ModelError(f"the weights in {folder} do not fit {base.path.name}: {config['num_hidden_layers']} layers "
                         f"against the base's {base.block_count}")
    n_head = int(config["num_attention_heads"])
    heads = (n_head, int(config.get("num_key_value_heads") or n_head))
    if heads != (base.head_count, base.head_count_kv):
        raise ModelError(f"the weights in {folder} do not fit {base.path.name}: {heads[0]} attention heads "
                         f"({heads[1]} for keys and values) against the base's {base.head_count} "
                         f"({base.head_count_kv})")
    mapped = _mapped(source, arch, base.block_count, folder)
    if "output.weight" in mapped and "output.weight" not in base.tensors:
        if config.get("tie_word_embeddings") is False:
            raise ModelError(f"the weights in {folder} have their own output layer, while {base.path.name} shares "
                             "it with the token embeddings; the base's metadata cannot describe them")
        del mapped["output.weight"]
    embedding = mapped.get("token_embd.weight")
    planned = []
    for name, reader_tensor in base.tensors.items():
        tensor = mapped.pop(name, None)
        if tensor is None and name == "output.weight":
            tensor = embedding  # tied in the new weights, separate in the base
        if tensor is None:
            if name == "rope_freqs.weight":
                planned.append(planned_copy(name, reader_tensor))
                continue
            raise ModelError(f"the weights in {folder} do not fit {base.path.name}: they lack the base's {name}")
        expected = tuple(reversed(base.tensor_ne(name)))
        if tuple(tensor.shape) != expected:
            raise ModelError(f"the weights in {folder} do not fit {base.path.name}: {tensor.name} has shape "
                             f"{tuple(tensor.shape)}, the base's {name} {expected}")
        planned.append(converted(tensor, name, arch, config, outtype))
    if mapped:
        raise ModelError(f"the weights in {folder} do not fit {base.path.name}: the base has no "
                         f"{', '.join(sorted(mapped))}")
    return planned


def write_quantized_model(hf_dir: Path, out_file: Path, quant: str, base_gguf: Path | None = None,
                          progress: ProgressCallback | None = None) -> Path:
    """`write_model_gguf` into a float file beside `out_file`, then llama.cpp's quantizer to `quant`;
    the float file is removed whatever happens. Returns `out_file`."""
    from models.convert.quantize import quantize_gguf

    report = progress or (lambda fraction, message: None)
    out_file = Path(out_file)
    wide = out_file.parent / f".{out_file.stem}.f16.gguf"
    try:
        write_model_gguf(hf_dir, wide, base_gguf, lambda f, m: report(0.6 * f, m))
        return quantize_gguf(wide, out_file, quant, lambda f, m: report(0.6 + 0.4 * f, m))
    finally:
        wide.unlink(missing_ok=True)
