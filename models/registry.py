"""The catalogue of models the user can chat with, classify with, or fine-tune.

Each registered model is a folder under the data home's `models/` holding `fireside-model.json`
(its metadata) and, for converted or fine-tuned models, the weights themselves. An imported
Hugging Face folder stays where the user keeps it; the metadata file points at it. The two
bundled models are never written to disk as entries: they are listed from the installed packages.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import struct
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from models import bundled
from models.errors import ModelError
from models.home import models_dir

METADATA_FILE = "fireside-model.json"
KINDS = ("chat", "encoder", "classifier")
SOURCES = ("bundled", "folder", "gguf", "hub", "fine-tuned")


@dataclass
class ModelEntry:
    name: str
    kind: str
    architecture: str
    parameters: int
    size_bytes: int
    source: str
    path: str
    created: str
    base_model: str | None = None
    provenance: dict = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)
    original_file: str | None = None

    @property
    def bundled(self) -> bool:
        return self.source == "bundled"

    def to_dict(self) -> dict:
        return asdict(self)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _slug(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")
    return slug or "model"


def folder_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def safetensors_parameters(folder: Path) -> int:
    """Count parameters from safetensors headers without loading any tensor."""
    total = 0
    for file in folder.glob("*.safetensors"):
        with open(file, "rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(length))
        for key, info in header.items():
            if key == "__metadata__":
                continue
            count = 1
            for dim in info["shape"]:
                count *= dim
            total += count
    return total


def _read_config(folder: Path) -> dict:
    from models.jsonfile import read_json

    config_file = folder / "config.json"
    config = read_json(config_file, f"{folder}: not a model folder (no config.json)")
    if "model_type" not in config:
        raise ModelError(f"{config_file}: config.json names no model_type")
    return config


def kind_from_config(config: dict) -> str:
    architectures = config.get("architectures") or []
    arch = architectures[0] if architectures else ""
    if arch.endswith("ForCausalLM") or arch.endswith("LMHeadModel"):
        return "chat"
    if arch.endswith("ForSequenceClassification"):
        return "classifier"
    return "encoder"


def check_model_folder(folder: Path, allow_pickle: bool = False) -> dict:
    """Validate a Hugging Face model folder; returns its config or raises ModelError."""
    if not folder.is_dir():
        raise ModelError(f"{folder}: not a folder")
    config = _read_config(folder)
    has_safetensors = any(folder.glob("*.safetensors"))
    has_pickle = any(folder.glob("*.bin")) or any(folder.glob("*.pt"))
    if not has_safetensors:
        if has_pickle and not allow_pickle:
            raise ModelError(
                f"{folder}: weights are pickled .bin files, which can run code when loaded; "
                "import with --allow-pickle if you trust their source"
            )
        if not has_pickle:
            raise ModelError(f"{folder}: no weights (*.safetensors) found")
    tokenizer_files = ("tokenizer.json", "tokenizer.model", "vocab.txt", "vocab.json")
    if not any((folder / name).exists() for name in tokenizer_files):
        raise ModelError(f"{folder}: no tokenizer (tokenizer.json, tokenizer.model, vocab.txt or vocab.json)")
    return config


class Registry:
    def __init__(self, root: Path | None = None):
        self.root = root or models_dir()
        self.root.mkdir(parents=True, exist_ok=True)

    # -- listing ---------------------------------------------------------------------------
    def bundled_entries(self) -> list[ModelEntry]:
        files = bundled.locate()
        entries = []
        if files.chat_gguf is not None:
            entries.append(
                ModelEntry(
                    name=bundled.CHAT_NAME, kind="chat", architecture="LlamaForCausalLM",
                    parameters=134_515_008, size_bytes=files.chat_gguf.stat().st_size, source="bundled",
                    path=str(files.chat_gguf), created="", original_file=str(files.chat_gguf),
                    provenance={"package": bundled.CHAT_PACKAGE, "format": "GGUF Q4_1"},
                )
            )
        if files.encoder_dir is not None:
            entries.append(
                ModelEntry(
                    name=bundled.ENCODER_NAME, kind="encoder", architecture="BertModel",
                    parameters=safetensors_parameters(files.encoder_dir),
                    size_bytes=folder_size(files.encoder_dir / "model.safetensors"), source="bundled",
                    path=str(files.encoder_dir), created="",
                    provenance={"package": bundled.ENCODER_PACKAGE},
                )
            )
        return entries

    def stored_entries(self) -> list[ModelEntry]:
        entries = []
        for meta in sorted(self.root.glob(f"*/{METADATA_FILE}")):
            try:
                data = json.loads(meta.read_text(encoding="utf-8"))
                entry = ModelEntry(**data)
            except (json.JSONDecodeError, TypeError, UnicodeDecodeError):
                continue  # a damaged entry is skipped, not fatal: the rest still list
            entries.append(self._migrated(entry, meta.parent))
        return entries

    def _migrated(self, entry: ModelEntry, folder: Path) -> ModelEntry:
        """An imported GGUF that an earlier version converted to float32 is loaded from its own file
        again, and the float copy is deleted; without the original file the copy stays in use."""
        weights = Path(entry.path)
        original = Path(entry.original_file) if entry.original_file else None
        if (entry.source == "gguf" and weights.is_dir() and weights.parent == folder
                and original is not None and original.is_file()):
            entry.path = str(original)
            entry.provenance = {**entry.provenance, "upgraded": "loaded in place; the float32 copy was removed"}
            self._write_entry(entry, folder)
            shutil.rmtree(weights, ignore_errors=True)
        return entry

    def list(self, kind: str | None = None) -> list[ModelEntry]:
        entries = self.bundled_entries() + self.stored_entries()
        return [e for e in entries if kind is None or e.kind == kind]

    def get(self, name: str) -> ModelEntry:
        for entry in self.list():
            if entry.name == name:
                return entry
        raise ModelError(f"no model named {name!r} (see `fireside models list`)")

    def default(self, kind: str) -> ModelEntry:
        name = bundled.CHAT_NAME if kind == "chat" else bundled.ENCODER_NAME
        return self.get(name)

    def local_path(self, entry: ModelEntry, progress: bundled.ProgressCallback | None = None) -> Path:
        """What to load `entry` from: a GGUF file, a fine-tune folder or a transformers folder."""
        if entry.bundled and entry.kind == "chat":
            return bundled.chat_model_file()
        path = Path(entry.path)
        if not path.exists():
            raise ModelError(f"{path}: the files of model {entry.name!r} are gone (moved or deleted)")
        if entry.kind == "chat" and entry.source == "fine-tuned" and path.is_dir():
            self._upgrade_fine_tune(entry, path, progress)
        return path

    def _upgrade_fine_tune(self, entry: ModelEntry, folder: Path, progress) -> None:
        """A chat fine-tune of a GGUF model made by an earlier version (PyTorch weights only) gets its
        llama.cpp form once: its LoRA adapter as GGUF, or its full weights as a Q8_0 GGUF. Where that
        cannot be done it keeps running through PyTorch, as before."""
        import logging

        from models.generation.loaders import FULL_MODEL_FILE, PEFT_FOLDER, gguf_files

        if gguf_files(folder)[0] is not None or not entry.base_model:
            return
        try:
            base_file = gguf_files(self.local_path(self.get(entry.base_model)))[0]
            if base_file is None:
                return
            report = progress or (lambda fraction, message: None)
            if (folder / PEFT_FOLDER / "adapter_config.json").is_file():
                from models.convert.lora_gguf import write_lora_fine_tune

                report(-1, f"Writing {entry.name}'s adapter for llama.cpp (once)")
                write_lora_fine_tune(folder, base_file)
            elif any(folder.glob("*.safetensors")):
                from models.convert.model_gguf import write_quantized_model

                write_quantized_model(folder, folder / FULL_MODEL_FILE, "Q8_0", base_gguf=base_file, progress=report)
        except ModelError as exc:
            logging.getLogger(__name__).warning("%s keeps running through PyTorch: %s", entry.name, exc)

    # -- changing --------------------------------------------------------------------------
    def _check_new_name(self, name: str) -> None:
        if not name.strip():
            raise ModelError("a model needs a name")
        if any(e.name == name for e in self.list()):
            raise ModelError(f"a model named {name!r} already exists; choose another name")
        if (self.root / _slug(name)).exists():
            raise ModelError(f"{self.root / _slug(name)}: folder already exists; choose another name")

    def _write_entry(self, entry: ModelEntry, folder: Path) -> ModelEntry:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".meta-")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(entry.to_dict(), handle, indent=2)
        os.replace(tmp, folder / METADATA_FILE)
        return entry

    def import_folder(self, path: Path, name: str | None = None, allow_pickle: bool = False,
                      progress: bundled.ProgressCallback | None = None, quant: str = "Q8_0") -> ModelEntry:
        """Register a transformers model folder where it is. A chat model that llama.cpp can run is
        also written once as GGUF (`quant`: Q8_0 by default, Q4_K_M on request) and chats from it."""
        path = Path(path).expanduser().resolve()
        name = name or path.name
        self._check_new_name(name)
        return self._import_folder_into(path, name, self.root / _slug(name), allow_pickle, progress, quant)

    def _import_folder_into(self, path: Path, name: str, folder: Path, allow_pickle: bool,
                            progress: bundled.ProgressCallback | None, quant: str | None) -> ModelEntry:
        config = check_model_folder(path, allow_pickle=allow_pickle)
        kind = kind_from_config(config)
        labels = []
        if kind == "classifier" and isinstance(config.get("id2label"), dict):
            labels = [config["id2label"][k] for k in sorted(config["id2label"], key=lambda k: int(k))]
        entry = ModelEntry(
            name=name, kind=kind, architecture=(config.get("architectures") or [config["model_type"]])[0],
            parameters=safetensors_parameters(path), size_bytes=folder_size(path), source="folder",
            path=str(path), created=_now(), labels=labels,
        )
        if kind == "chat" and quant:
            gguf_file, note = self._as_gguf(path, folder, quant, progress)
            if gguf_file is not None:
                entry.path, entry.original_file = str(gguf_file), str(path)
                entry.size_bytes = gguf_file.stat().st_size
            entry.provenance = {**entry.provenance, "engine": note}
        return self._write_entry(entry, folder)

    @staticmethod
    def _as_gguf(path: Path, folder: Path, quant: str, progress) -> tuple[Path | None, str]:
        """Write a chat model folder as a quantized GGUF in `folder`: (file, note), or (None, why not)."""
        from models.convert.model_gguf import read_config, supported_architecture
        from models.generation.llama_engine import available

        reason = available() or supported_architecture(read_config(path))
        if reason:
            return None, f"runs through transformers ({reason})"
        from models.convert.atomic import DiskFullError
        from models.convert.model_gguf import write_quantized_model

        folder.mkdir(parents=True, exist_ok=True)
        try:
            target = write_quantized_model(path, folder / f"model.{quant}.gguf", quant, progress=progress)
        except DiskFullError:
            raise
        except ModelError as exc:
            return None, f"runs through transformers ({exc})"
        return target, f"written as GGUF {quant} for llama.cpp"

    def import_gguf(self, path: Path, name: str | None = None,
                    progress: bundled.ProgressCallback | None = None) -> ModelEntry:
        """Register a GGUF chat model where it is: checked, never copied or converted."""
        path = Path(path).expanduser().resolve()
        report = progress or (lambda fraction, message: None)
        report(0.0, f"Checking {path.name}")
        if not path.is_file():
            raise ModelError(f"{path}: no such file")
        from models.gguf_check import check_gguf

        header = check_gguf(path)
        name = name or path.stem
        self._check_new_name(name)
        entry = ModelEntry(
            name=name, kind="chat", architecture=header.architecture, parameters=header.parameters(),
            size_bytes=path.stat().st_size, source="gguf", path=str(path), created=_now(), original_file=str(path),
            provenance={"format": f"GGUF {header.file_type}"},
        )
        entry = self._write_entry(entry, self.root / _slug(name))
        report(1.0, "Registered")
        return entry

    def download(self, hub_id: str, name: str | None = None, allow_pickle: bool = False) -> ModelEntry:
        """Fetch a model from the Hugging Face hub. The only place Fireside goes online, on request."""
        name = name or hub_id.split("/")[-1]
        self._check_new_name(name)
        folder = self.root / _slug(name)
        from huggingface_hub import constants, snapshot_download

        patterns = ["*.json", "*.safetensors", "*.txt", "*.model", "*.jinja"] + (["*.bin"] if allow_pickle else [])
        offline = constants.HF_HUB_OFFLINE
        constants.HF_HUB_OFFLINE = False  # the user asked for this download; everything else stays offline
        try:
            snapshot_download(hub_id, local_dir=folder / "weights", allow_patterns=patterns)
        except Exception as exc:
            shutil.rmtree(folder, ignore_errors=True)
            first_line = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]
            raise ModelError(f"{hub_id}: download failed ({first_line})") from exc
        finally:
            constants.HF_HUB_OFFLINE = offline
        try:
            entry = self._import_folder_into(folder / "weights", name, folder, allow_pickle, None, "Q8_0")
        except ModelError:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        entry.source, entry.provenance = "hub", {**entry.provenance, "hub_id": hub_id}
        return self._write_entry(entry, folder)

    def register(self, weights: Path, name: str, kind: str, source: str = "fine-tuned",
                 base_model: str | None = None, provenance: dict | None = None,
                 labels: list[str] | None = None) -> ModelEntry:
        """Add a model whose weights Fireside wrote itself (a fine-tuning result)."""
        from models.generation.loaders import gguf_files

        weights = Path(weights).resolve()
        model_file, adapter_file = gguf_files(weights)
        if model_file is not None:
            from models.gguf_check import read_header

            header = read_header(model_file)
            architecture, parameters = header.architecture, header.parameters()
        else:
            config = _read_config(weights)
            architecture = (config.get("architectures") or [config["model_type"]])[0]
            parameters = safetensors_parameters(weights)
        self._check_new_name(name)
        entry = ModelEntry(
            name=name, kind=kind, architecture=architecture, parameters=parameters,
            size_bytes=folder_size(weights), source=source, path=str(weights), created=_now(),
            base_model=base_model, provenance=provenance or {}, labels=labels or [],
        )
        return self._write_entry(entry, self.root / _slug(name))

    def remove(self, name: str) -> None:
        entry = self.get(name)
        if entry.bundled:
            raise ModelError(f"{name!r} is bundled with Fireside and cannot be removed")
        folder = self.root / _slug(name)
        shutil.rmtree(folder, ignore_errors=True)  # an imported folder elsewhere is left untouched
