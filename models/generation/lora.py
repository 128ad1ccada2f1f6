"""Run a LoRA fine-tune on its 4-bit base with the adapters kept apart.

A fine-tune's change to each weight is often smaller than one 4-bit step, so quantizing the
merged weights to 4 bits erases what the training taught. A LoRA job writes its adapters beside
the merged model (the `adapter` folder, in peft's format). When those adapters are there and the
base came from a 4-bit GGUF, the decoder holds the base at 4 bits exactly as it holds the bundled
model and adds each adapter's low-rank product in float32: the fine-tune's own replies, at close
to the bundled model's speed.
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

ADAPTER_FOLDER = "adapter"
_KEY = re.compile(r"layers\.(\d+)\.(?:self_attn|mlp)\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
                  r"\.lora_([AB])\.weight$")

log = logging.getLogger(__name__)


@dataclass
class Adapter:
    base_path: Path
    scaling: float
    # (layer index, module name) -> (A [rank, in], B [out, rank])
    weights: dict[tuple[int, str], tuple] = field(default_factory=dict)

    def pair(self, layer: int, module: str):
        """(A, B * scaling) of one module, or None where the adapter leaves it alone."""
        found = self.weights.get((layer, module))
        return None if found is None else (found[0], found[1] * self.scaling)


def find_adapter(model_dir: Path) -> Adapter | None:
    """The LoRA adapters saved with a fine-tuned model, if they can be run on their base apart."""
    folder = Path(model_dir) / ADAPTER_FOLDER
    try:
        config = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    why = _unsupported(config)
    base = Path(config.get("base_model_name_or_path") or "")
    if why is None and not (base / "config.json").is_file():
        why = f"its base {base} is not on this computer"
    weights_file = folder / "adapter_model.safetensors"
    if why is None and not weights_file.is_file():
        why = "adapter_model.safetensors is missing"
    if why:
        log.info("%s: adapters not used apart (%s)", model_dir, why)
        return None
    from safetensors.torch import load_file

    weights: dict[tuple[int, str], list] = {}
    for key, tensor in load_file(str(weights_file)).items():
        match = _KEY.search(key)
        if match is None:
            log.info("%s: adapters not used apart (adapter on %s)", model_dir, key)
            return None
        layer, module, which = int(match[1]), match[2], match[3]
        weights.setdefault((layer, module), [None, None])["AB".index(which)] = tensor.float()
    if any(a is None or b is None for a, b in weights.values()):
        return None
    rank, alpha = int(config.get("r", 8)), float(config.get("lora_alpha", 8))
    scaling = alpha / rank ** 0.5 if config.get("use_rslora") else alpha / rank
    return Adapter(base, scaling, {k: (a, b) for k, (a, b) in weights.items()})


def _unsupported(config: dict) -> str | None:
    if config.get("peft_type") != "LORA":
        return f"peft type {config.get('peft_type')!r}"
    for option in ("use_dora", "modules_to_save", "rank_pattern", "alpha_pattern", "layers_to_transform"):
        if config.get(option):
            return f"{option} is set"
    if config.get("bias", "none") != "none":
        return "trained biases"
    return None


class WithAdapter:
    """A quantized layer plus a low-rank float32 correction: y = base(x) + (x @ A.T) @ B.T."""

    def __init__(self, base, down, up):
        # Held transposed: for one token, x @ A.T is a third faster from a [in, rank] matrix.
        self.base, self.down_t, self.up_t = base, down.T.contiguous(), up.T.contiguous()
        self.kind = base.kind
        # a layer that can add the correction in its own call
        self.fused = base.with_adapter(self.down_t, self.up_t) if hasattr(base, "with_adapter") else None

    def __call__(self, x):
        import torch

        if self.fused is not None:
            return self.fused(x)
        return torch.addmm(self.base(x).float(), x.float() @ self.down_t, self.up_t)

    @property
    def nbytes(self) -> int:
        return self.base.nbytes + 4 * (self.down_t.numel() + self.up_t.numel())


def stacked(pairs: list, out_widths: list[int]):
    """One (A, B) for layers fused along their outputs: A stacked, B block-diagonal.

    `pairs[i]` is (A, B) of the i-th fused part or None; None if no part has an adapter.
    """
    import torch

    present = [p for p in pairs if p is not None]
    if not present:
        return None
    rank = sum(a.shape[0] for a, _ in present)
    up = torch.zeros(sum(out_widths), rank, dtype=torch.float32)
    row = column = 0
    for pair, width in zip(pairs, out_widths):
        if pair is not None:
            a, b = pair
            up[row:row + width, column:column + a.shape[0]] = b
            column += a.shape[0]
        row += width
    return torch.cat([a for a, _ in present]), up
