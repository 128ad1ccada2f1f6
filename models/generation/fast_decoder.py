"""A lean forward pass for Llama-family decoders (Llama, SmolLM, Mistral, Qwen2, Qwen3).

transformers' modules are general, and for a small model on a CPU their per-token Python work
costs as much as the arithmetic. This decoder takes the same weights from a loaded transformers
model and runs the same computation with fewer, larger operations:

* the q/k/v projections are one matmul, and so are gate/up;
* rotary embeddings are one complex multiplication: the q/k rows of each head are reordered at
  load time from the "two halves" layout into interleaved pairs (attention scores are unchanged by
  a permutation applied to both q and k);
* keys and values go into a preallocated cache that grows in large steps, and decoding attends
  to it with grouped query heads folded into the query length (no mask, no copies);
* on a CPU, one decoding step runs its own loop (`_decode`) with in-place operations on buffers
  allocated once: at ~20 small operations a layer, each costing microseconds whatever its size,
  the count of operations matters as much as the bytes of weights; where Fireside's native
  kernels are built, its attention is one call over the cache shared by the threads in chunks of
  positions (native/cpu_kernels.cpp);
* the weights may be held as int8 or 4-bit groups (see quantize.py); then the output layer's
  best candidates are scored again against exact rows, so that a near tie between two tokens is
  decided as the full-precision model decides it.

`forward(ids, start)` computes the positions start..start+len(ids)-1, writes their keys and values
to the cache, and returns the logits of the last position. The cache keeps what it holds, so a
prompt sharing a prefix with the previous one only computes the rest.
"""
from __future__ import annotations

from dataclasses import dataclass

from models.generation import native_kernels
from models.generation.quantize import DynamicInt8Linear, GroupInt8Rows, dynamic_int8_available, make_linear

SUPPORTED_TYPES = ("llama", "mistral", "qwen2", "qwen3")
STATIC_ROPE_TYPES = ("default", "linear", "llama3", "yarn")
CACHE_STEP = 512
# A quantized output layer ranks tokens approximately; the best this many are scored again exactly.
RESCORED_TOKENS = 64
SMOOTH_ALPHA = 0.3
# Ordinary text of several kinds, to measure the range of the final hidden state (see _smooth_head).
CALIBRATION_TEXT = (
    "The quick brown fox jumps over the lazy dog. Once upon a time, in a small village by the sea, "
    "there lived an old fisherman who told stories to the children every evening.\n"
    "def add(a, b):\n    return a + b\n"
    "What is the capital of France? The capital of France is Paris. 1, 2, 3, 4, 5!"
)


def native_attention(heads: int, kv_heads: int, head_dim: int):
    """Fireside's one-query attention over a float32 cache (native/cpu_kernels.cpp), or None where
    it is not built or cannot take these heads (then scaled_dot_product_attention)."""
    import torch

    if native_kernels.available() and head_dim % 16 == 0 and head_dim <= 256 and heads // kv_heads <= 16:
        return torch.ops.fireside.decode_attention
    return None


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
    def __init__(self, hf_model, scheme: str = "none", device: str = "cpu", dtype=None, portable: bool = False,
                 head_scheme: str | None = None, calibration_ids: list[int] | None = None):
        import torch

        config = hf_model.config
        reason = unsupported_reason(config)
        if reason:
            raise ValueError(f"the fast decoder does not run {reason}")
        self.device = torch.device(device)
        self.dtype = dtype or (torch.float32 if scheme == "none" and self.device.type == "cpu" else torch.bfloat16)
        if scheme != "none" and self.device.type == "cpu":
            # PyTorch's packed CPU kernels take bfloat16 activations, Fireside's own float32.
            native = not portable and native_kernels.available()
            self.dtype = torch.float32 if native else torch.bfloat16
        self.scheme = scheme
        # On a CPU, attention over a float32 cache is faster than over bfloat16 (no conversions).
        self.cache_dtype = torch.float32 if self.device.type == "cpu" else self.dtype
        self.n_heads = config.num_attention_heads
        self.n_kv = getattr(config, "num_key_value_heads", None) or self.n_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // self.n_heads
        self.hidden = config.hidden_size
        self.inner = config.intermediate_size
        self.eps = config.rms_norm_eps
        self.context_length = int(getattr(config, "max_position_embeddings", 2048))
        self.vocab_size = config.vocab_size
        self.scale = self.head_dim ** -0.5

        self.cache = None  # [layers, 2 * key/value heads (keys, then values), capacity, head_dim]
        self.capacity = 0
        self.plan = None  # what `_decode` needs, bound once (see _decode_plan)
        self.positions = torch.arange(self.context_length, device=self.device)
        self.static = self.device.type == "cuda"  # decode with static shapes (see static_step)
        self.graph = None
        with torch.inference_mode():
            self._build(hf_model, portable, head_scheme)
            self.freqs = self._rope_table(hf_model)
            if self.lm_head is None:
                self._smooth_head(hf_model.lm_head.weight.detach().float(), calibration_ids)

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
    def _build(self, hf_model, portable: bool, head_scheme: str | None) -> None:
        import torch

        base = hf_model.model
        dtype, dev, h, kv, hd = self.dtype, self.device, self.n_heads, self.n_kv, self.head_dim

        def norm(module):
            return None if module is None else module.weight.detach().to(dev, torch.float32)

        def linear(weight, bias=None):
            return make_linear(weight.to(dev), None if bias is None else bias.to(dev), self.scheme, dtype, portable)

        self.layers = []
        for block in base.layers:
            attn, mlp = block.self_attn, block.mlp
            q = _interleave_rows(attn.q_proj.weight.detach().float(), h, hd)
            k = _interleave_rows(attn.k_proj.weight.detach().float(), kv, hd)
            v = attn.v_proj.weight.detach().float()
            bias = None
            if getattr(attn.q_proj, "bias", None) is not None:
                bias = torch.cat([
                    _interleave_rows(attn.q_proj.bias.detach().float(), h, hd),
                    _interleave_rows(attn.k_proj.bias.detach().float(), kv, hd),
                    attn.v_proj.bias.detach().float(),
                ]).to(dev, dtype)
            q_norm = getattr(attn, "q_norm", None)
            k_norm = getattr(attn, "k_norm", None)
            self.layers.append(_Layer(
                attn_norm=norm(block.input_layernorm),
                qkv=linear(torch.cat([q, k, v])),
                qkv_bias=bias,
                q_norm=None if q_norm is None else _interleave_rows(norm(q_norm), 1, hd),
                k_norm=None if k_norm is None else _interleave_rows(norm(k_norm), 1, hd),
                out=linear(attn.o_proj.weight.detach().float()),
                mlp_norm=norm(block.post_attention_layernorm),
                gate_up=linear(torch.cat([mlp.gate_proj.weight.detach().float(), mlp.up_proj.weight.detach().float()])),
                down=linear(mlp.down_proj.weight.detach().float()),
            ))
        self.final_norm = self.head_norm = norm(base.norm)
        head_weight = hf_model.lm_head.weight.detach().float()
        # The output layer is the largest single matrix (a fifth of a 135M model); int8 per row keeps
        # its ranking of tokens close where 4 bits would not, and the exact rows settle the rest.
        if head_scheme is None:
            head_scheme = "int8" if self.scheme in ("int8", "int4") else "none"
        if head_scheme == "int8" and dev.type == "cpu" and not portable and dynamic_int8_available():
            self.lm_head = None  # a smoothed DynamicInt8Linear, built by _smooth_head once the layers can run
        else:
            self.lm_head = make_linear(head_weight.to(dev), None, head_scheme, dtype, portable)
        tied = hf_model.lm_head.weight.data_ptr() == base.embed_tokens.weight.data_ptr()
        self.exact_head = None
        if head_scheme != "none":
            self.exact_head = GroupInt8Rows(head_weight.to(dev))
        if self.scheme == "none":
            table = base.embed_tokens.weight.detach().to(dev, dtype)
            self.embed = lambda ids: table[ids]
        elif tied and self.exact_head is not None:
            self.embed = self.exact_head.rows
        else:
            self.embed = GroupInt8Rows(base.embed_tokens.weight.to(dev)).rows

    def add_adapter(self, adapter) -> None:
        """Add a LoRA fine-tune's adapters (models.generation.lora.Adapter) to the base layers."""
        from models.generation.lora import WithAdapter, stacked

        h, kv, hd = self.n_heads, self.n_kv, self.head_dim
        for index, layer in enumerate(self.layers):
            def part(module, heads=None):
                pair = adapter.pair(index, module)
                if pair is None or heads is None:
                    return pair
                return pair[0], _interleave_rows(pair[1], heads, hd)  # as the q/k rows were reordered

            fused = {
                "qkv": stacked([part("q_proj", h), part("k_proj", kv), part("v_proj")], [h * hd, kv * hd, kv * hd]),
                "out": stacked([part("o_proj")], [self.hidden]),
                "gate_up": stacked([part("gate_proj"), part("up_proj")], [self.inner, self.inner]),
                "down": stacked([part("down_proj")], [self.hidden]),
            }
            for name, low_rank in fused.items():
                if low_rank is not None:
                    down, up = low_rank
                    setattr(layer, name, WithAdapter(getattr(layer, name), down.to(self.device), up.to(self.device)))
        self.plan = None

    def _smooth_head(self, weight, calibration_ids: list[int] | None) -> None:
        """The output layer as fbgemm int8, with its input smoothed first (SmoothQuant).

        fbgemm quantizes each activation row to int8 with one scale, and a few channels of the
        final hidden state are ten times larger than the rest, which would cost the others their
        precision. A short calibration text measures each channel's range; dividing the
        activation by s (folded into the final norm) and multiplying the weight's columns by s
        (alpha 0.3) evens them out. On the default model this takes the perplexity cost of the
        int8 output layer from +7% to about +0.6%.
        """
        import torch

        captured = []
        norm = self.final_norm
        self.final_norm = torch.ones_like(norm)
        self.lm_head = lambda x: captured.append(x.float()) or torch.zeros(x.shape[0], 1)
        ids = calibration_ids or list(range(100, 164))
        self.forward(torch.tensor(ids[: self.context_length], dtype=torch.long), 0, all_positions=True)
        self.release()
        activation = captured[0].abs().amax(dim=0).clamp(min=1e-5)
        folded = weight * norm[None, :]
        smooth = activation ** SMOOTH_ALPHA / folded.abs().amax(dim=0).clamp(min=1e-5) ** (1 - SMOOTH_ALPHA)
        self.lm_head = DynamicInt8Linear(folded * smooth[None, :])
        self.final_norm = 1.0 / smooth

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
        cache = torch.zeros(shape, dtype=self.cache_dtype, device=self.device)
        if self.cache is not None:
            cache[:, :, : self.capacity] = self.cache
        self.cache, self.capacity = cache, capacity

    def release(self) -> None:
        self.cache, self.capacity = None, 0

    @property
    def weight_bytes(self) -> int:
        total = self.lm_head.nbytes
        for layer in self.layers:
            total += layer.qkv.nbytes + layer.out.nbytes + layer.gate_up.nbytes + layer.down.nbytes
        return total

    # -- the forward pass --------------------------------------------------------------------
    def forward(self, ids, start: int, all_positions: bool = False):
        """Logits [vocab] (float32) of the last of `ids` (a 1-D LongTensor) placed at `start`;
        [len(ids), vocab] for every position with `all_positions` (to score a text)."""
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

        return self._run(ids.to(self.device), self.freqs[start:end, None, :], store, attend, all_positions)

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
        if self.device.type == "cpu":
            return self._decode(token, position)
        return self.forward(torch.tensor([token], dtype=torch.long), position)

    def _decode_plan(self):
        """Buffers and per-layer tuples for `_decode`, made on first use (and again after add_adapter)."""
        import torch

        h, kv, hd, dim = self.n_heads, self.n_kv, self.head_dim, self.hidden
        qkv = torch.zeros(1, (h + 2 * kv) * hd)
        pad = torch.zeros(dim)
        residual = torch.zeros(1, 2 * dim)
        self.plan = {
            "qkv": qkv,
            "rotated": torch.view_as_complex(qkv[0, : (h + kv) * hd].view(h + kv, hd // 2, 2)),
            "q": qkv[0, : h * hd].view(1, kv, h // kv, hd),
            "q_heads": qkv[0, : h * hd].view(h, hd),
            "k_heads": qkv[0, h * hd: (h + kv) * hd].view(kv, hd),
            "new_kv": qkv[0, h * hd:].view(2 * kv, hd),
            "residual": residual,
            "pair": residual.view(2, dim),
            "signs": torch.tensor([[1.0], [-1.0]]),
            "attention": native_attention(h, kv, hd),
            "layers": [
                (torch.cat([layer.attn_norm, pad]), layer.qkv, layer.qkv_bias, layer.q_norm, layer.k_norm, layer.out,
                 torch.cat([layer.mlp_norm, pad]), layer.gate_up, layer.down)
                for layer in self.layers
            ],
        }
        return self.plan

    def _decode(self, token: int, position: int):
        """`forward` of one token on a CPU, with fewer and cheaper operations:

        * the residual stream is held as the pair [x, -x], whose mean is zero, so that layer_norm
          (one fused kernel) computes RMS normalisation (rms_norm is six kernels on a CPU); a
          layer's output o is added as [o, -o] with one addcmul_;
        * q, k and v are copied into one float32 buffer, q and k rotated in place through a
          complex view of it, and the new key and value heads copied to the cache in one copy.
        """
        import torch
        import torch.nn.functional as F

        self.reserve(position + 1)
        plan = self.plan or self._decode_plan()
        kv, hd, dim, eps, end = self.n_kv, self.head_dim, self.hidden, self.eps, position + 1
        qkv_buffer, rotated, new_kv, q = plan["qkv"], plan["rotated"], plan["new_kv"], plan["q"]
        residual, pair, signs = plan["residual"], plan["pair"], plan["signs"]
        q_heads, k_heads, attention = plan["q_heads"], plan["k_heads"], plan["attention"]
        pair.copy_(self.embed(torch.tensor([token])).float() * signs)
        rotation = self.freqs[position]
        width = 2 * dim
        layers = zip(self.cache, plan["layers"])
        for cache, (attn_norm, qkv, bias, q_norm, k_norm, out, mlp_norm, gate_up, down) in layers:
            qkv_buffer.copy_(qkv(F.layer_norm(residual, (width,), attn_norm, None, eps)[:, :dim].to(self.dtype)))
            if bias is not None:
                qkv_buffer.add_(bias)
            if q_norm is not None:
                for heads, weight in ((q_heads, q_norm), (k_heads, k_norm)):
                    heads.copy_(F.rms_norm(heads, (hd,), weight, eps))
            rotated.mul_(rotation)
            cache[:, position].copy_(new_kv)
            if attention is not None:
                attended = attention(q_heads, cache, end, self.scale)
            else:
                keys, values = cache[None, :kv, :end], cache[None, kv:, :end]
                attended = F.scaled_dot_product_attention(q, keys, values, scale=self.scale)
            pair.addcmul_(signs, out(attended.view(1, dim).to(self.dtype)))
            both = gate_up(F.layer_norm(residual, (width,), mlp_norm, None, eps)[:, :dim].to(self.dtype))
            pair.addcmul_(signs, down(F.silu(both[:, : self.inner]).mul_(both[:, self.inner:])))
        return self._head(F.layer_norm(residual, (width,), None, None, eps)[:, :dim])

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
            cache.index_copy_(1, position, torch.cat([k, v.to(cache.dtype)], 1).transpose(0, 1))

        def attend(cache, q):
            out = F.scaled_dot_product_attention(
                q.reshape(1, kv, h // kv, hd).to(cache.dtype), cache[None, :kv], cache[None, kv:], attn_mask=visible,
                scale=self.scale,
            )
            return out.reshape(1, h * hd)

        return self._run(ids, self.freqs.index_select(0, position)[:, None, :], store, attend)

    def _run(self, ids, freqs, store, attend, all_positions: bool = False):
        import torch
        import torch.nn.functional as F

        n = ids.shape[0]
        h, kv, hd, dim, eps = self.n_heads, self.n_kv, self.head_dim, self.hidden, self.eps
        qk_heads = h + kv
        qk_width = qk_heads * hd
        x = self.embed(ids).float()  # the residual stream stays in float32
        for index, layer in enumerate(self.layers):
            cache = self.cache[index]
            y = F.rms_norm(x, (dim,), layer.attn_norm, eps)
            qkv = layer.qkv(y)
            if layer.qkv_bias is not None:
                qkv = qkv + layer.qkv_bias
            qk = qkv[:, :qk_width].reshape(n, qk_heads, hd)
            if layer.q_norm is not None:
                qk = torch.cat([F.rms_norm(qk[:, :h].float(), (hd,), layer.q_norm, eps),
                                F.rms_norm(qk[:, h:].float(), (hd,), layer.k_norm, eps)], 1)
            qk = torch.view_as_real(torch.view_as_complex(qk.float().reshape(n, qk_heads, hd // 2, 2)) * freqs)
            qk = qk.reshape(n, qk_heads, hd).to(cache.dtype)
            store(cache, qk[:, h:], qkv[:, qk_width:].reshape(n, kv, hd))
            x = x + layer.out(attend(cache, qk[:, :h]))
            y = F.rms_norm(x, (dim,), layer.mlp_norm, eps)
            gate_up = layer.gate_up(y)
            width = gate_up.shape[1] // 2
            x = x + layer.down(F.silu(gate_up[:, :width]) * gate_up[:, width:])
        if all_positions:
            return self.lm_head(F.rms_norm(x, (dim,), self.final_norm, eps)).float()
        return self._head(F.rms_norm(x[-1:], (dim,), None, eps))

    def _head(self, normalized):
        """Logits [vocab] from the last position's hidden state, normalised but not yet weighted
        by the final norm."""
        logits = self.lm_head(normalized * self.final_norm)[0].float()
        if self.exact_head is not None:
            best = logits.topk(min(RESCORED_TOKENS, logits.shape[0])).indices
            logits[best] = self.exact_head.rows(best) @ (normalized[0] * self.head_norm)
        return logits


class CudaGraphStep:
    """A decoding step captured once as a CUDA graph and replayed per token.

    For a small model a GPU spends more time launching hundreds of small kernels than running
    them; a graph launches them all at once. The cache is allocated at its full size first
    (capturing fixes every address), and a step beyond it falls back to the eager path.
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
