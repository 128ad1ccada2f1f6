"""LoRA weights in llama.cpp's terms: for each base tensor, a pair (A, B) whose product, times
alpha / rank, is added to the base weight. Read from a peft adapter folder or a GGUF adapter file,
and checked against the base GGUF they are meant for.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.convert import architectures
from models.convert.gguf_file import GgufFile, open_gguf
from models.errors import ModelError

PEFT_KEY = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<which>[AB])(?:\.[^.]+)?\.weight$")
LAYER_INDEX = re.compile(r"\.layers\.(\d+)\.")
MODULE_WORDS = {
    "q_proj": "query projection", "k_proj": "key projection", "v_proj": "value projection",
    "o_proj": "attention output", "gate_proj": "gate projection", "up_proj": "up projection",
    "down_proj": "down projection", "lm_head": "output layer",
}


@dataclass
class LoraPair:
    target: str       # the base tensor it changes, e.g. blk.0.attn_q.weight
    a: np.ndarray     # (rank, inputs) float32
    b: np.ndarray     # (outputs, rank) float32, rows in llama.cpp's order

    @property
    def rank(self) -> int:
        return int(self.a.shape[0])


@dataclass
class LoraWeights:
    alpha: float  # adapter.lora.alpha: llama.cpp scales each pair by alpha / rank (by 1 when alpha is 0)
    pairs: list[LoraPair]

    def scale(self, pair: LoraPair) -> float:
        return llama_cpp_scale(self.alpha, pair.rank)

    def delta(self, pair: LoraPair) -> np.ndarray:
        """What the pair adds to its base tensor, rows first: scale * B @ A."""
        return self.scale(pair) * (pair.b @ pair.a)


def llama_cpp_scale(alpha: float, rank: int) -> float:
    return alpha / rank if alpha else 1.0


def _describe(module: str) -> str:
    layer = LAYER_INDEX.search(f".{module}.")
    kind = module.rsplit(".", 1)[-1]
    words = MODULE_WORDS.get(kind, kind)
    return f"layer {layer.group(1)} {words} ({kind})" if layer else f"{words} ({kind})"


def _pattern_value(patterns: dict, module: str, default):
    """peft's rank_pattern / alpha_pattern: a key matches a module whose name ends with it."""
    for key, value in (patterns or {}).items():
        if key == module or re.fullmatch(rf"(?:.*\.)?(?:{key})", module):
            return value
    return default


def read_adapter_config(peft_dir: Path) -> dict:
    from models.jsonfile import read_json

    config = read_json(Path(peft_dir) / "adapter_config.json",
                       f"{peft_dir}: not a LoRA adapter folder (no adapter_config.json)")
    if config.get("peft_type", "LORA") != "LORA":
        raise ModelError(f"{peft_dir}: a {config.get('peft_type')} adapter; only LoRA adapters can be converted")
    if config.get("use_dora"):
        raise ModelError(f"{peft_dir}: a DoRA adapter, which Fireside cannot convert (llama.cpp applies "
                         "plain LoRA only)")
    if config.get("modules_to_save"):
        raise ModelError(f"{peft_dir}: the adapter also retrains whole modules "
                         f"({', '.join(config['modules_to_save'])}), which Fireside cannot convert")
    return config


def _load_safetensors(peft_dir: Path) -> dict[str, np.ndarray]:
    weights = Path(peft_dir) / "adapter_model.safetensors"
    if not weights.is_file():
        if (Path(peft_dir) / "adapter_model.bin").is_file():
            raise ModelError(f"{peft_dir}: the adapter is saved as pickled adapter_model.bin, which Fireside does "
                             "not load; save it as safetensors")
        raise ModelError(f"{peft_dir}: no adapter_model.safetensors")
    from safetensors import safe_open

    tensors = {}
    with safe_open(str(weights), framework="pt") as handle:
        for key in handle.keys():
            tensors[key] = handle.get_tensor(key).float().numpy()
    return tensors


def read_peft_lora(peft_dir: Path, base: GgufFile) -> LoraWeights:
    """The adapter in `peft_dir` as llama.cpp pairs for `base`; ModelError if it does not fit the base."""
    peft_dir = Path(peft_dir)
    config = read_adapter_config(peft_dir)
    arch = architectures.for_gguf(base.architecture)
    if arch is None:
        raise ModelError(f"{base.path.name}: LoRA adapters for {base.architecture!r} models cannot be converted "
                         "by Fireside")
    halves: dict[str, dict[str, np.ndarray]] = {}
    unsupported = []
    for key, value in _load_safetensors(peft_dir).items():
        match = PEFT_KEY.match(key)
        if match is None:
            unsupported.append(key)
        else:
            halves.setdefault(match["module"], {})[match["which"]] = value
    if unsupported:
        raise ModelError(_unsupported_tensors(peft_dir, unsupported))

    alpha = float(config.get("lora_alpha", 8))
    pairs = [_pair(module, halves[module], base, config, alpha, peft_dir)
             for module in sorted(halves, key=_module_order)]
    if not pairs:
        raise ModelError(f"{peft_dir}: the adapter holds no LoRA weights")
    return LoraWeights(alpha=alpha, pairs=pairs)


def _pair(module: str, half: dict[str, np.ndarray], base: GgufFile, config: dict, alpha: float,
          peft_dir: Path) -> LoraPair:
    """One module's A and B, checked against the base, rows reordered and scale folded as llama.cpp needs."""
    if set(half) != {"A", "B"}:
        raise ModelError(f"{peft_dir}: the adapter's {_describe(module)} lacks its lora_{'B' if 'A' in half else 'A'} "
                         "weights; the adapter file is incomplete")
    a, b = half["A"], half["B"]
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[1]:
        raise ModelError(f"{peft_dir}: the adapter's {_describe(module)} has malformed weights "
                         f"(A {tuple(a.shape)}, B {tuple(b.shape)})")
    target = _target_name(module, base, peft_dir)
    ne = base.tensor_ne(target)
    if len(ne) != 2 or a.shape[1] != ne[0] or b.shape[0] != ne[1]:
        raise ModelError(
            f"the adapter in {peft_dir.name} does not fit {base.path.name}: its {_describe(module)} takes "
            f"{a.shape[1]} inputs and gives {b.shape[0]} outputs, but the base model's takes {ne[0]} and gives "
            f"{ne[-1]}; it was trained on a different base model")
    rank = a.shape[0]
    heads = architectures.rotary_heads(module + ".weight", base.head_count, base.head_count_kv)
    if architectures.for_gguf(base.architecture).rotary_pairs and heads:
        b = architectures.permute_rows(b, heads)
    module_alpha = float(_pattern_value(config.get("alpha_pattern"), module, alpha))
    wanted = module_alpha / (math.sqrt(rank) if config.get("use_rslora") else rank)
    given = llama_cpp_scale(alpha, rank)
    if not math.isclose(wanted, given, rel_tol=1e-6):
        b = b * (wanted / given)  # llama.cpp knows one alpha per file: fold the rest into B
    return LoraPair(target=target, a=np.ascontiguousarray(a, np.float32), b=np.ascontiguousarray(b, np.float32))


def _module_order(module: str):
    """Layer by layer, each in the order its modules run (MODULE_WORDS); modules outside layers last."""
    layer = LAYER_INDEX.search(f".{module}.")
    kinds = list(MODULE_WORDS)
    kind = module.rsplit(".", 1)[-1]
    kind_index = kinds.index(kind) if kind in kinds else len(kinds)
    return (0, int(layer.group(1)), kind_index, module) if layer else (1, 0, kind_index, module)


def _target_name(module: str, base: GgufFile, peft_dir: Path) -> str:
    blocks = base.block_count
    layer = LAYER_INDEX.search(f".{module}.")
    if layer and int(layer.group(1)) >= blocks:
        raise ModelError(f"the adapter in {peft_dir.name} does not fit {base.path.name}: it changes layer "
                         f"{layer.group(1)}, but the base model has only {blocks} layers; "
                         "it was trained on a different base model")
    target = architectures.gguf_tensor_name(base.architecture, blocks, module + ".weight")
    if target is None:
        raise ModelError(f"{peft_dir.name}: the adapter changes {module}, which llama.cpp's "
                         f"{base.architecture} models do not have")
    if target not in base.tensors:
        if target == "output.weight":
            raise ModelError(f"{peft_dir.name}: the adapter changes the output layer, which {base.path.name} shares "
                             "with its token embeddings; a LoRA adapter cannot change one without the other")
        raise ModelError(f"the adapter in {peft_dir.name} does not fit {base.path.name}: the base model has no "
                         f"{target}; it was trained on a different base model")
    return target


def _unsupported_tensors(peft_dir: Path, keys: list[str]) -> str:
    if any("lora_embedding" in key for key in keys):
        return (f"{peft_dir.name}: the adapter trains the token embeddings, which Fireside cannot convert "
                "to a llama.cpp adapter")
    if biases := [key for key in keys if key.endswith(".bias")]:
        return (f"{peft_dir.name}: the adapter trains biases ({biases[0]}), which a llama.cpp LoRA adapter "
                "cannot hold")
    return f"{peft_dir.name}: the adapter holds tensors Fireside cannot convert ({', '.join(keys[:3])})"


def read_gguf_lora(adapter_file: Path, base: GgufFile) -> LoraWeights:
    """A GGUF LoRA adapter file (as written by `lora_gguf.write_lora_adapter` or llama.cpp's converter)."""
    adapter = open_gguf(adapter_file)
    if adapter.general_type != "adapter" or adapter.value("adapter.type") != "lora":
        raise ModelError(f"{adapter_file}: not a GGUF LoRA adapter")
    if adapter.architecture != base.architecture:
        raise ModelError(f"{adapter_file.name} is an adapter for {adapter.architecture} models, "
                         f"but {base.path.name} is a {base.architecture} model")
    pairs = []
    for name in sorted(adapter.tensors):
        if not name.endswith(".lora_a"):
            continue
        target = name[: -len(".lora_a")]
        if target == "token_embd.weight":
            raise ModelError(f"{adapter_file.name}: adapters on the token embeddings cannot be merged by Fireside")
        if target + ".lora_b" not in adapter.tensors:
            raise ModelError(f"{adapter_file.name}: {target} lacks its lora_b half; the adapter file is incomplete")
        a, b = adapter.float_tensor(name), adapter.float_tensor(target + ".lora_b")
        ne = base.tensor_ne(target)
        if ne is None or ne[0] != a.shape[1] or ne[1] != b.shape[0]:
            raise ModelError(f"{adapter_file.name} does not fit {base.path.name}: {target} has another shape "
                             "in the base model; it was made for a different base model")
        pairs.append(LoraPair(target=target, a=a, b=b))
    return LoraWeights(alpha=float(adapter.value("adapter.lora.alpha", 0.0)), pairs=pairs)
