"""One GGUF file for LM Studio, Ollama or llama.cpp, with an Ollama Modelfile beside it.

The source can be a GGUF model (copied, or re-quantized), a transformers folder (written as GGUF, then
quantized), or a LoRA fine-tune: a GGUF base with a peft adapter folder or a GGUF adapter, merged into
the base's weights. Intermediate files live in a temporary folder beside the target and are removed.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from models.convert.atomic import atomic_file, scratch_folder
from models.convert.gguf_file import GgufFile, open_gguf, token_text
from models.convert.gguf_rewrite import write_merged_gguf, write_with_metadata
from models.convert.lora_weights import read_adapter_config, read_gguf_lora, read_peft_lora
from models.convert.model_gguf import write_model_gguf
from models.convert.modelfile import modelfile_text
from models.convert.quantize import LLAMA_FTYPES, check_quant, estimated_size, quantize_file
from models.errors import ModelError
from models.gguf_check import file_type_name

ProgressCallback = Callable[[float, str], None]
CHAT_TEMPLATE_KEY = "tokenizer.chat_template"
MODELFILE = "Modelfile"


@dataclass
class ExportResult:
    gguf_file: Path
    modelfile: Path
    quant: str
    size_bytes: int
    source_kind: str  # "gguf", "transformers" or "lora"
    notes: list[str] = field(default_factory=list)  # things the user should know about the result


def _step(progress: ProgressCallback | None, start: float, end: float, message: str) -> ProgressCallback:
    """A callback for one step: its fractions mapped into [start, end], its message the step's."""
    report = progress or (lambda fraction, text: None)
    report(start, message)
    return lambda fraction, text: report(start + (end - start) * fraction, message)


def peft_folder(source: Path) -> Path | None:
    for folder in (source, source / "adapter"):
        if (folder / "adapter_config.json").is_file():
            return folder
    return None


def export_chat_model(source: Path, out_file: Path, quant: str, *, base_gguf: Path | None = None,
                      adapter_gguf: Path | None = None, chat_template: str | None = None,
                      settings: dict | None = None, progress: ProgressCallback | None = None) -> ExportResult:
    """Write `source` as `out_file` quantized to `quant` (see quantize.QUANTS), plus a Modelfile beside it.

    `source` is a .gguf file (with `adapter_gguf`, a GGUF LoRA adapter merged into it), a transformers
    folder (`base_gguf`: the GGUF it was fine-tuned from, whose metadata it keeps), or a peft adapter
    folder or a folder holding `adapter/` (`base_gguf` required). `chat_template` replaces the model's
    own; `settings` (temperature, top_p, top_k, repetition_penalty, max_new_tokens, system_prompt)
    become the Modelfile's defaults."""
    check_quant(quant)
    source, out_file = Path(source).expanduser(), Path(out_file).expanduser()
    if not source.exists():
        raise ModelError(f"{source}: no such file or folder")
    if out_file.exists() and out_file.resolve() == source.resolve():
        raise ModelError(f"{out_file}: the export would overwrite its own source; choose another file name")
    if out_file.is_dir():
        raise ModelError(f"{out_file} is a folder; give the name of the .gguf file to write")
    changes = {CHAT_TEMPLATE_KEY: chat_template} if chat_template else {}
    notes: list[str] = []
    with scratch_folder(out_file) as work:
        if source.is_file():
            kind = "gguf"
            described = _export_gguf(source, out_file, quant, adapter_gguf, changes, work, notes, progress)
        elif adapter_gguf is not None:
            raise ModelError("a GGUF adapter is merged into a GGUF base: give the base's .gguf file as the source")
        elif (adapter := peft_folder(source)) is not None:
            kind = "lora"
            described = _export_lora(adapter, out_file, quant, base_gguf, changes, work, progress)
        elif (source / "config.json").is_file():
            kind = "transformers"
            described = _export_transformers(source, out_file, quant, base_gguf, changes, work, progress)
        else:
            raise ModelError(f"{source}: neither a GGUF file, a model folder (config.json) nor a LoRA adapter "
                             "(adapter_config.json)")
    report = _step(progress, 0.97, 1.0, "Writing the Ollama Modelfile")
    modelfile = out_file.parent / MODELFILE
    text = modelfile_text(out_file.name, chat_template or described.value(CHAT_TEMPLATE_KEY), settings,
                          token_text(described, described.value("tokenizer.ggml.eos_token_id")))
    with atomic_file(modelfile) as temporary:
        temporary.write_text(text, encoding="utf-8")
    report(1.0, "")
    (progress or (lambda f, m: None))(1.0, f"Exported {out_file.name}")
    return ExportResult(gguf_file=out_file, modelfile=modelfile, quant=quant, size_bytes=out_file.stat().st_size,
                        source_kind=kind, notes=notes)


# Each _export_* writes out_file and returns a GGUF file whose tokenizer metadata the export shares
# (reading a GGUF's metadata takes seconds, so the one already open is reused for the Modelfile).

def _export_gguf(source: Path, out_file: Path, quant: str, adapter_gguf: Path | None, changes: dict,
                 work: Path, notes: list[str], progress) -> GgufFile:
    base = _model_gguf(source)
    if adapter_gguf is not None:
        _merge_and_quantize(base, read_gguf_lora(Path(adapter_gguf), base), out_file, quant, changes, work, progress)
        return base
    current = file_type_name(base.file_type)
    if changes and any(base.value(key) != text for key, text in changes.items()):
        source = write_with_metadata(source, work / "retemplated.gguf", changes,
                                     _step(progress, 0.0, 0.3, "Setting the chat template"))
    if current == quant:
        report = _step(progress, 0.3, 0.97, f"Copying (already {quant})")
        with atomic_file(out_file) as temporary:
            if source.parent == work:
                os.replace(source, temporary)
            else:
                shutil.copyfile(source, temporary)
        report(1.0, "")
        return base
    if current and _bits(current) < _bits(quant):
        notes.append(f"the source is {current}: re-quantizing to {quant} makes the file bigger "
                     "but cannot bring back the precision it lost")
    quantize_file(source, out_file, quant, estimated_size(base, quant),
                  _step(progress, 0.3, 0.97, f"Quantizing to {quant}"))
    return base


def _export_lora(adapter: Path, out_file: Path, quant: str, base_gguf: Path | None, changes: dict,
                 work: Path, progress) -> GgufFile:
    if base_gguf is None:
        base_name = read_adapter_config(adapter).get("base_model_name_or_path") or "its base model"
        raise ModelError(f"{adapter}: a LoRA adapter exports merged into {base_name}; give the base's GGUF file")
    base = _model_gguf(Path(base_gguf))
    _merge_and_quantize(base, read_peft_lora(adapter, base), out_file, quant, changes, work, progress)
    return base


def _merge_and_quantize(base: GgufFile, lora, out_file: Path, quant: str, changes: dict, work: Path,
                        progress) -> None:
    merged = write_merged_gguf(base, lora, work / "merged.gguf",
                               _step(progress, 0.0, 0.4, "Merging the adapter into the base weights"), changes)
    quantize_file(merged, out_file, quant, estimated_size(base, quant),
                  _step(progress, 0.4, 0.97, f"Quantizing to {quant}"))


def _export_transformers(folder: Path, out_file: Path, quant: str, base_gguf: Path | None, changes: dict,
                         work: Path, progress) -> GgufFile:
    written = write_model_gguf(folder, work / "model.gguf", base_gguf,
                               _step(progress, 0.0, 0.5, "Writing the weights as GGUF"),
                               outtype="F16" if quant == "F16" else "auto", text_metadata=changes)
    described = open_gguf(Path(base_gguf) if base_gguf is not None else written)
    if quant == "F16":
        with atomic_file(out_file) as temporary:
            shutil.copyfile(written, temporary)  # a copy: `described` may map the written file
        return described
    needed = int(written.stat().st_size * LLAMA_FTYPES[quant][1] / 16)
    quantize_file(written, out_file, quant, needed, _step(progress, 0.5, 0.97, f"Quantizing to {quant}"))
    return described


def _model_gguf(path: Path) -> GgufFile:
    model = open_gguf(path)
    if model.general_type == "adapter":
        raise ModelError(f"{path.name} is a LoRA adapter, not a model")
    return model


def _bits(quant_name: str) -> float:
    digits = "".join(ch for ch in quant_name.split("_")[0] if ch.isdigit())
    return float(digits) if digits else 32.0


def export_registered(registry, name: str, out_file: Path, quant: str, settings: dict | None = None,
                      progress: ProgressCallback | None = None) -> ExportResult:
    """Export the registry's chat model `name`: a GGUF as it is or requantized, a LoRA fine-tune merged
    into its base, a transformers folder written as GGUF."""
    from models.generation.loaders import gguf_files

    entry = registry.get(name)
    if entry.kind != "chat":
        raise ModelError(f"{name!r} is a {entry.kind} model; only chat models are exported as GGUF")
    path = registry.local_path(entry)
    model_file, adapter_file = gguf_files(path)
    if model_file is not None:
        return export_chat_model(model_file, out_file, quant, adapter_gguf=adapter_file, settings=settings,
                                 progress=progress)
    base_file = None
    if entry.base_model:
        try:
            base_file, _ = gguf_files(registry.local_path(registry.get(entry.base_model)))
        except ModelError:
            base_file = None
    return export_chat_model(path, out_file, quant, base_gguf=base_file, settings=settings, progress=progress)
