"""A lean forward pass for Llama-family decoders (Llama, SmolLM, Mistral, Qwen2, Qwen3) on NVIDIA GPUs.

For a small model a GPU spends more time launching transformers' many small kernels than running
them. This decoder takes the weights of a loaded transformers model (bfloat16 on the GPU) and
runs the same computation with fewer, larger operations, then captures a decoding step as a CUDA
graph (`capture_graph`), which launches them all at once:

* the q/k/v projections are one matmul, and so are gate/up;
* rotary embeddings are one complex multiplication: the q/k rows of each head are reordered at
  load time from the "two halves" layout into interleaved pairs (attention scores are unchanged by
  a permutation applied to both q and k);
* keys and values go into a preallocated cache; a decoding step keeps every shape static
  (`static_step`), which is what a graph needs.

`forward(ids, start)` computes the positions start..start+len(ids)-1, writes their keys and values
to the cache, and returns the logits of the last position. The cache keeps what it holds, so a
prompt sharing a prefix with the previous one only computes the rest.
"""
from __future__ import annotations

from dataclasses import dataclass

SUPPORTED_TYPES = ("llama", "mistral", "qwen2", "qwen3")
STATIC_ROPE_TYPES = ("default", "linear", "llama3", "yarn")
CACHE_STEP = 512


def unsupported_reason(config) -> str | None:
    """Why this decoder cannot run a model with `config`, or None if it can."""
    model_type = getattr(config, "model_type", "")
    if model_type not in SUPPORTED_TYPES:
        return f"architecture {model_type!r}"
    rope = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {}
    rope_type = rope.get("rope_type", rope.get("type", "default")) if isinstance(rope, dict) else "default"
    if rope_type not in STATIC_ROPE_TYPES:
        return f"rope type {rope_type!r}"
    if getattr(config, "sliding_window", None) and getattr(config, "use_sliding_window", True):
        window = config.sliding_window
        if window < getattr(config, "max_position_embeddings", 0):
            return "sliding-window attention"
    if getattr(config, "hidden_act", "silu") != "silu":
        return f"activation {config.hidden_act!r}"
    if getattr(config, "mlp_bias", False) or (model_type in ("llama", "mistral") and getattr(config, "attention_bias", False)):
        return "biases in the projections"
    return None


@dataclass
class _Layer:
    attn_norm: object
    qkv: object
    qkv_bias: object
    q_norm: object
    k_norm: object
    out: object
    mlp_norm: object
    gate_up: object
    down: object


def _interleave_rows(weight, n_heads: int, head_dim: int):
    """Reorder each head's rows from [x0..x(h/2-1), y0..] (two halves) to [x0, y0, x1, y1, ...]."""
    rest = weight.shape[1:]
    w = weight.reshape(n_heads, 2, head_dim // 2, *rest).transpose(1, 2)
    return w.reshape(n_heads * head_dim, *rest)


class FastDecoder:
    """The model's weights in `dtype` (default: bfloat16 on a GPU, float32 elsewhere, where the
    decoder only runs to be checked against transformers)."""

    def __init__(self, hf_model, device: str = "cuda", dtype=None):
        import torch

        config = hf_model.config
        reason = unsupported_reason(config)
        if reason:
            raise ValueError(f"the fast decoder does not run {reason}")
        self.device = torch.device(device)
        self.dtype = dtype or (torch.bfloat16 if self.device.type == "cuda" else torch.float32)
        self.n_heads = config.num_attention_heads
        self.n_kv = getattr(config, "num_key_value_heads", None) or self.n_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // self.n_heads
        self.hidden = config.hidden_size
        self.eps = config.rms_norm_eps
        self.context_length = int(getattr(config, "max_position_embeddings", 2048))
        self.scale = self.head_dim ** -0.5

        self.cache = None  # [layers, 2 * key/value heads (keys, then values), capacity, head_dim]
        self.capacity = 0
        self.positions = torch.arange(self.context_length, device=self.device)
        self.static = self.device.type == "cuda"  # decode with static shapes (see static_step)
        self.graph = None
        with torch.inference_mode():
            self._build(hf_model)
            self.freqs = self._rope_table(hf_model)

    def capture_graph(self, capacity: int = 4096) -> bool:
        """Capture the decoding step as a CUDA graph; False (and eager decoding) if that fails."""
        import logging

        try:
            self.graph = CudaGraphStep(self, min(capacity, self.context_length))
        except Exception:  # noqa: BLE001 - a graph is an optimisation; eager decoding still works
            logging.getLogger(__name__).warning("CUDA graph capture failed; decoding eagerly", exc_info=True)
            self.graph = None
        return self.graph is not None

    # -- building ----------------------------------------------------------------------------
    def _build(self, hf_model) -> None:
        import torch

        base = hf_model.model
        dtype, dev, h, kv, hd = self.dtype, self.device, self.n_heads, self.n_kv, self.head_dim

        def norm(module):
            return None if module is None else module.weight.detach().to(dev, torch.float32)

        def weight(*parts):
            return torch.cat([part.detach().float() for part in parts]).to(dev, dtype)

        self.layers = []
        for block in base.layers:
            attn, mlp = block.self_attn, block.mlp
            bias = None
            if getattr(attn.q_proj, "bias", None) is not None:
                bias = weight(_interleave_rows(attn.q_proj.bias, h, hd), _interleave_rows(attn.k_proj.bias, kv, hd),
                              attn.v_proj.bias)
            q_norm = getattr(attn, "q_norm", None)
            k_norm = getattr(attn, "k_norm", None)
            self.layers.append(_Layer(
                attn_norm=norm(block.input_layernorm),
                qkv=weight(_interleave_rows(attn.q_proj.weight, h, hd), _interleave_rows(attn.k_proj.weight, kv, hd),
                           attn.v_proj.weight),
                qkv_bias=bias,
                q_norm=None if q_norm is None else _interleave_rows(norm(q_norm), 1, hd),
                k_norm=None if k_norm is None else _interleave_rows(norm(k_norm), 1, hd),
                out=weight(attn.o_proj.weight),
                mlp_norm=norm(block.post_attention_layernorm),
                gate_up=weight(mlp.gate_proj.weight, mlp.up_proj.weight),
                down=weight(mlp.down_proj.weight),
            ))
        self.final_norm = norm(base.norm)
        self.embed = base.embed_tokens.weight.detach().to(dev, dtype)
        tied = hf_model.lm_head.weight.data_ptr() == base.embed_tokens.weight.data_ptr()
        self.lm_head = self.embed if tied else weight(hf_model.lm_head.weight)

    def _rope_table(self, hf_model):
        """Complex rotations e^(i * angle) for every position, [positions, head_dim / 2]."""
        import torch

        rotary = hf_model.model.rotary_emb
        positions = torch.arange(self.context_length, dtype=torch.long)[None]
        probe = torch.zeros(1, dtype=torch.float32)
        cos, sin = rotary(probe, positions)
        half = self.head_dim // 2
        return torch.complex(cos[0, :, :half].float(), sin[0, :, :half].float()).to(self.device)

    # -- cache -------------------------------------------------------------------------------
    def reserve(self, length: int) -> None:
        """Make room in the cache for `length` positions (grown in steps, old contents kept)."""
        import torch

        if length <= self.capacity:
            return
        if self.graph is not None:
            self.graph = None  # a graph holds the old cache's addresses
        capacity = min(self.context_length, max(length, self.capacity * 2, CACHE_STEP))
        shape = (len(self.layers), 2 * self.n_kv, capacity, self.head_dim)
        cache = torch.zeros(shape, dtype=self.dtype, device=self.device)
        if self.cache is not None:
            cache[:, :, : self.capacity] = self.cache
        self.cache, self.capacity = cache, capacity

    # -- the forward pass --------------------------------------------------------------------
    def forward(self, ids, start: int):
        """Logits [vocab] (float32) of the last of `ids` (a 1-D LongTensor) placed at `start`."""
        import torch
        import torch.nn.functional as F

        n = ids.shape[0]
        end = start + n
        if end > self.context_length:
            raise ValueError(f"{end} tokens exceed the model's context of {self.context_length}")
        self.reserve(end)
        h, kv, hd = self.n_heads, self.n_kv, self.head_dim
        mask = None
        if n > 1 and start > 0:
            mask = torch.ones(n, end, dtype=torch.bool, device=self.device).tril(start)

        def store(cache, k, v):
            cache[:kv, start:end] = k.transpose(0, 1)
            cache[kv:, start:end] = v.transpose(0, 1)

        def attend(cache, q):
            keys, values = cache[None, :kv, :end], cache[None, kv:, :end]
            if n == 1:
                # One position: each key/value head serves its group of query heads as "queries".
                out = F.scaled_dot_product_attention(q.reshape(1, kv, h // kv, hd), keys, values, scale=self.scale)
                return out.reshape(1, h * hd)
            out = F.scaled_dot_product_attention(
                q[None].transpose(1, 2), keys, values, attn_mask=mask, is_causal=mask is None,
                scale=self.scale, enable_gqa=kv != h,
            )
            return out[0].transpose(0, 1).reshape(n, h * hd)

        return self._run(ids.to(self.device), self.freqs[start:end, None, :], store, attend)

    def step(self, token: int, position: int):
        """Logits after one more token at `position` (a CUDA graph replays this where there is one)."""
        import torch

        if self.graph is not None and position < self.capacity:
            return self.graph(token, position)
        if self.static:
            self.reserve(position + 1)
            ids = torch.tensor([token], dtype=torch.long, device=self.device)
            where = torch.tensor([position], dtype=torch.long, device=self.device)
            return self.static_step(ids, where)
        return self.forward(torch.tensor([token], dtype=torch.long), position)

    def static_step(self, ids, position):
        """One decoding step whose tensors all keep their shapes: the position is a tensor, the
        keys and values are written with index_copy_ and attention covers the whole cache under a
        mask. This is what a CUDA graph captures; on a CPU it is the same arithmetic as `forward`.
        """
        import torch
        import torch.nn.functional as F

        h, kv, hd = self.n_heads, self.n_kv, self.head_dim
        visible = (self.positions[: self.capacity] <= position)[None, None, None, :]

        def store(cache, k, v):
            cache.index_copy_(1, position, torch.cat([k, v], 1).transpose(0, 1))

        def attend(cache, q):
            out = F.scaled_dot_product_attention(
                q.reshape(1, kv, h // kv, hd), cache[None, :kv], cache[None, kv:], attn_mask=visible, scale=self.scale,
            )
            return out.reshape(1, h * hd)

        return self._run(ids, self.freqs.index_select(0, position)[:, None, :], store, attend)

    def _run(self, ids, freqs, store, attend):
        import torch
        import torch.nn.functional as F

        n = ids.shape[0]
        h, kv, hd, dim, eps, dtype = self.n_heads, self.n_kv, self.head_dim, self.hidden, self.eps, self.dtype
        qk_heads = h + kv
        qk_width = qk_heads * hd
        x = self.embed[ids].float()  # the residual stream stays in float32
        for index, layer in enumerate(self.layers):
            cache = self.cache[index]
            qkv = F.linear(F.rms_norm(x, (dim,), layer.attn_norm, eps).to(dtype), layer.qkv, layer.qkv_bias)
            qk = qkv[:, :qk_width].float().reshape(n, qk_heads, hd)
            if layer.q_norm is not None:
                qk = torch.cat([F.rms_norm(qk[:, :h], (hd,), layer.q_norm, eps),
                                F.rms_norm(qk[:, h:], (hd,), layer.k_norm, eps)], 1)
            qk = torch.view_as_real(torch.view_as_complex(qk.reshape(n, qk_heads, hd // 2, 2)) * freqs)
            qk = qk.reshape(n, qk_heads, hd).to(dtype)
            store(cache, qk[:, h:], qkv[:, qk_width:].reshape(n, kv, hd))
            x = x + F.linear(attend(cache, qk[:, :h]), layer.out)
            gate_up = F.linear(F.rms_norm(x, (dim,), layer.mlp_norm, eps).to(dtype), layer.gate_up)
            width = gate_up.shape[1] // 2
            x = x + F.linear(F.silu(gate_up[:, :width]) * gate_up[:, width:], layer.down)
        last = F.rms_norm(x[-1:], (dim,), self.final_norm, eps).to(dtype)
        return F.linear(last, self.lm_head)[0].float()


class CudaGraphStep:
    """A decoding step captured once as a CUDA graph and replayed per token.

    The cache is allocated at its full size first (capturing fixes every address), and a step
    beyond it falls back to the eager path.
    """

    def __init__(self, decoder, capacity: int):
        import torch

        decoder.reserve(capacity)
        self.decoder = decoder
        device = decoder.device
        self.ids = torch.zeros(1, dtype=torch.long, device=device)
        self.position = torch.zeros(1, dtype=torch.long, device=device)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side), torch.inference_mode():
            for _ in range(3):  # warm-up runs outside the graph, as capturing requires
                decoder.static_step(self.ids, self.position)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph), torch.inference_mode():
            self.logits = decoder.static_step(self.ids, self.position)

    def __call__(self, token: int, position: int):
        self.ids.fill_(token)
        self.position.fill_(position)
        self.graph.replay()
        return self.logits.cpu()
