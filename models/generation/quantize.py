"""Weight-only quantization of linear layers, for decoding that reads fewer bytes per token.

Decoding one token reads every weight once, so on a CPU its speed is bounded by memory bandwidth:
4-bit weights move a quarter of the bytes of float32 ones. Three kinds of layer share one calling
convention, `layer(x) -> x @ W.T + b` for a 2-D activation `x`:

* `DenseLinear`  - the weights as they are (float32 or bfloat16);
* `Int8Linear`   - int8 weights with one scale per output row (symmetric);
* `Int4Linear`   - 4-bit weights in groups of 32 along the input dimension, each group with its own
  scale and minimum. This is the grouping of llama.cpp's Q4_1, so a model converted from a Q4_1
  GGUF file is held again with no further loss (only the scales are rounded to bfloat16).

On the CPU the quantized layers call PyTorch's own packed kernels (`_weight_int8pack_mm`,
`_weight_int4pack_mm_for_cpu`), which take bfloat16 activations. Where Fireside's own kernels are
built (native_kernels.py), `NativeInt4Linear` and `NativeInt8Linear` hold the weights for them
instead, in groups of 32 with float16 scales (llama.cpp's Q4_1 and Q8_0 groupings). On other
devices the layers keep the compact weights and expand one layer at a time before a plain matmul
(`portable=True`), which is correct everywhere and is how these layers are tested against the
packed kernels.
"""
from __future__ import annotations

GROUP_SIZE = 32
QUANTIZATIONS = ("auto", "none", "int8", "int4")


def resolve_quantization(quantization: str, device: str, four_bit_source: bool = False) -> str:
    """The scheme 'auto' stands for on `device`.

    A GPU has the bandwidth to spare and fast bfloat16 matmuls, so it keeps every bit; a CPU is
    bound by how many bytes each token reads. There, weights that came from a 4-bit GGUF go back
    to 4 bits with nothing lost; any other weights (a fine-tuned model above all, whose changes
    are often smaller than a 4-bit step) get 8 bits, which keeps what the training taught.
    """
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"unknown quantization {quantization!r}; choose one of {', '.join(QUANTIZATIONS)}")
    if quantization != "auto":
        return quantization
    if device != "cpu":
        return "none"
    return "int4" if four_bit_source else "int8"


def converted_from_4bit_gguf(folder) -> bool:
    """Whether a model folder holds weights Fireside converted from a 4-bit (Q4_*) GGUF file."""
    import json
    from pathlib import Path

    marker = Path(folder) / "fireside-converted.json"
    try:
        source = json.loads(marker.read_text(encoding="utf-8")).get("source", "")
    except (OSError, ValueError):
        return False
    return ".Q4_" in Path(source).name.upper().replace("-Q4_", ".Q4_")


class DenseLinear:
    kind = "none"

    def __init__(self, weight, bias=None):
        self.weight, self.bias = weight, bias

    def __call__(self, x):
        import torch.nn.functional as F

        return F.linear(x.to(self.weight.dtype), self.weight, self.bias)

    @property
    def nbytes(self) -> int:
        return self.weight.numel() * self.weight.element_size()


class Int8Linear:
    """int8 weights, one scale per output row: w ~= q * scale."""

    kind = "int8"

    def __init__(self, weight, bias=None, dtype=None, portable: bool = False):
        import torch

        dtype = dtype or torch.bfloat16
        weight = weight.detach().float()
        scale = weight.abs().amax(dim=1).clamp(min=1e-12) / 127.0
        scale = scale.to(dtype)
        self.qweight = torch.clamp(torch.round(weight / scale.float()[:, None]), -127, 127).to(torch.int8)
        self.scale = scale
        self.bias = None if bias is None else bias.detach().to(dtype)
        self.portable = portable or weight.device.type != "cpu"

    def dequantize(self):
        return self.qweight.to(self.scale.dtype) * self.scale[:, None]

    def __call__(self, x):
        import torch
        import torch.nn.functional as F

        x = x.to(self.scale.dtype)
        if self.portable:
            return F.linear(x, self.dequantize(), self.bias)
        out = torch.ops.aten._weight_int8pack_mm(x, self.qweight, self.scale)
        return out if self.bias is None else out + self.bias

    @property
    def nbytes(self) -> int:
        return self.qweight.numel() + self.scale.numel() * self.scale.element_size()


def quantize_int4(weight, group_size: int = GROUP_SIZE, dtype=None):
    """(q, scale, minimum) of `weight` [N, K]: q in 0..15, w ~= q * scale + minimum per group.

    Scale and minimum are rounded to `dtype` first and q is chosen against the rounded values, so
    what the kernel reconstructs is the nearest grid point it can represent.
    """
    import torch

    dtype = dtype or torch.bfloat16
    n, k = weight.shape
    groups = weight.detach().float().reshape(n, k // group_size, group_size)
    low = groups.amin(dim=-1, keepdim=True)
    high = groups.amax(dim=-1, keepdim=True)
    scale = ((high - low) / 15.0).to(dtype).float().clamp(min=torch.finfo(dtype).tiny)
    low = low.to(dtype).float()
    q = torch.clamp(torch.round((groups - low) / scale), 0, 15).to(torch.int32)
    return q.reshape(n, k), scale.reshape(n, -1), low.reshape(n, -1)


def _neighbours(values, dtype):
    """`values` rounded to `dtype`, and the representable values just below and above."""
    import torch

    rounded = values.to(dtype)
    bits = rounded.view(torch.int16)
    return [rounded.float(), (bits - 1).view(dtype).float(), (bits + 1).view(dtype).float()]


def quantize_int4_for_kernel(weight, group_size: int = GROUP_SIZE, dtype=None):
    """(q, scale, zero) of `weight` [N, K] for the packed kernel, which computes (q - 8) * scale + zero
    with scale and zero held in `dtype` (bfloat16).

    Rounding a group's scale and zero to 8 significant bits moves every weight of the group. The
    zero is rounded to nearest and q chosen against it; of the nearest representable scale and
    its two neighbours, each group keeps the one that reconstructs its weights best. On the
    default model this halves the average distance to the 4-bit grid the weights were converted
    from, which is what keeps the greedy replies of the 4-bit model those of full precision
    (11 of 12 prompts where rounding alone agreed on 9).
    """
    import torch

    dtype = dtype or torch.bfloat16
    n, k = weight.shape
    groups = weight.detach().float().reshape(n, k // group_size, group_size)
    low = groups.amin(dim=-1, keepdim=True)
    scale = ((groups.amax(dim=-1, keepdim=True) - low) / 15.0).clamp(min=1e-12)
    zero = (low + 8 * scale).to(dtype).float()
    best = None
    for s in _neighbours(scale, dtype):
        s = s.clamp(min=torch.finfo(dtype).tiny)
        q = torch.clamp(torch.round((groups - zero) / s + 8), 0, 15)
        error = ((q - 8) * s + zero - groups).square().sum(dim=-1, keepdim=True)
        if best is None:
            best = [error, q, s]
            continue
        better = error < best[0]
        best = [torch.where(better, new, old) for new, old in zip((error, q, s), best)]
    _, q, s = best
    return q.to(torch.int32).reshape(n, k), s.reshape(n, -1), zero.reshape(n, -1)


def int4_supported(weight, group_size: int = GROUP_SIZE) -> bool:
    n, k = weight.shape
    return k % group_size == 0 and n % 16 == 0 and k >= group_size


class Int4Linear:
    """4-bit weights in groups along the input dimension, each with a scale and a minimum."""

    kind = "int4"

    def __init__(self, weight, bias=None, dtype=None, group_size: int = GROUP_SIZE, portable: bool = False):
        import torch

        dtype = dtype or torch.bfloat16
        self.group_size = group_size
        self.out_features, self.in_features = weight.shape
        self.bias = None if bias is None else bias.detach().to(dtype)
        self.portable = portable or weight.device.type != "cpu"
        if self.portable:
            # Two 4-bit values per byte, expanded on the fly.
            q, scale, low = quantize_int4(weight, group_size, dtype)
            self.packed = (q[:, 0::2] | (q[:, 1::2] << 4)).to(torch.uint8)
            self.scale, self.low = scale.to(dtype), low.to(dtype)
        else:
            q, scale, zero = quantize_int4_for_kernel(weight, group_size, dtype)
            self.scales_and_zeros = torch.stack([scale, zero], dim=-1).transpose(0, 1).contiguous().to(dtype)
            self.packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(q.contiguous(), 1)

    def dequantize(self):
        import torch

        if not self.portable:
            eye = torch.eye(self.in_features, dtype=self.scales_and_zeros.dtype)
            return self._packed_matmul(eye).T.contiguous()
        q = torch.stack([self.packed & 0x0F, self.packed >> 4], dim=-1).reshape(self.out_features, self.in_features)
        groups = q.float().reshape(self.out_features, -1, self.group_size)
        weight = groups * self.scale.float()[..., None] + self.low.float()[..., None]
        return weight.reshape(self.out_features, self.in_features)

    def _packed_matmul(self, x):
        import torch

        return torch.ops.aten._weight_int4pack_mm_for_cpu(x, self.packed, self.group_size, self.scales_and_zeros)

    def __call__(self, x):
        import torch.nn.functional as F

        if self.portable:
            x = x.to(self.scale.dtype)
            return F.linear(x, self.dequantize().to(x.dtype), self.bias)
        out = self._packed_matmul(x.to(self.scales_and_zeros.dtype))
        return out if self.bias is None else out + self.bias

    @property
    def nbytes(self) -> int:
        if self.portable:
            return self.packed.numel() + 2 * self.scale.numel() * self.scale.element_size()
        return self.packed.numel() + self.scales_and_zeros.numel() * self.scales_and_zeros.element_size()


# Output rows the native kernel keeps together: one 512-bit register holds one result for each.
BLOCK_ROWS = 16


class _NativeLinear:
    """What the native kernel's layers share: float32 in and out, a LoRA correction in the same call."""

    kind = ""

    def __init__(self, weight, bias):
        from models.generation import native_kernels

        if not native_kernels.load():
            raise ValueError("Fireside's CPU kernels are not built on this machine")
        self.out_features, self.in_features = weight.shape
        self.bias = None if bias is None else bias.detach().float().contiguous()

    @staticmethod
    def supports(weight) -> bool:
        n, k = weight.shape
        return weight.device.type == "cpu" and n % BLOCK_ROWS == 0 and k % GROUP_SIZE == 0

    def _run(self, x, down=None, up=None):
        raise NotImplementedError

    def __call__(self, x):
        return self._run(x.float().contiguous())

    def with_adapter(self, down_t, up_t):
        """The layer plus a LoRA correction, x -> layer(x) + (x @ down_t) @ up_t, in one call."""
        rank = up_t.shape[0]
        # by blocks of output rows, so that each block reads its part of B in one run of memory
        up = up_t.float().reshape(rank, -1, BLOCK_ROWS).transpose(0, 1).contiguous()
        down = down_t.float().contiguous()
        return lambda x: self._run(x.float().contiguous(), down, up)

    @staticmethod
    def _by_blocks(units):
        """[N, count, width] -> [N/16, count, 16 * width]: the 16 rows of a block side by side."""
        n, count, width = units.shape
        blocks = units.reshape(n // BLOCK_ROWS, BLOCK_ROWS, count, width).transpose(1, 2)
        return blocks.reshape(n // BLOCK_ROWS, count, BLOCK_ROWS * width).contiguous()


class NativeInt4Linear(_NativeLinear):
    """4-bit weights in llama.cpp's Q4_1 grouping (a float16 scale and minimum for each group of
    32), multiplied by Fireside's own kernel (native_kernels.py, native/cpu_kernels.cpp):
    activations are quantized to int8 per group of 32 on each call and the dot products run on int8
    instructions. Weights converted from a Q4_1 GGUF are held exactly, scales included.
    """

    kind = "int4"

    def __init__(self, weight, bias=None):
        import torch

        super().__init__(weight, bias)
        q, scale, low = quantize_int4(weight, GROUP_SIZE, torch.float16)
        if not (torch.isfinite(scale).all() and torch.isfinite(low).all()):
            raise ValueError("weights beyond the range of float16 scales")
        n, k = q.shape
        # 8 weights in 4 bytes: weights k..k+3 in the low nibbles, k+4..k+7 in the high ones
        nibbles = q.reshape(n, k // 8, 2, 4)
        self.packed = self._by_blocks((nibbles[:, :, 0] | (nibbles[:, :, 1] << 4)).to(torch.uint8))
        self.scale = self._by_blocks(scale.to(torch.float16).reshape(n, -1, 1))
        self.low = self._by_blocks(low.to(torch.float16).reshape(n, -1, 1))

    def dequantize(self):
        import torch

        n, k = self.out_features, self.in_features
        pairs = self.packed.reshape(n // BLOCK_ROWS, k // 8, BLOCK_ROWS, 4).transpose(1, 2)
        q = torch.stack([pairs & 0x0F, pairs >> 4], dim=3).reshape(n, k // GROUP_SIZE, GROUP_SIZE).float()
        scale, low = (values.transpose(1, 2).reshape(n, -1, 1).float() for values in (self.scale, self.low))
        return (q * scale + low).reshape(n, k)

    def _run(self, x, down=None, up=None):
        import torch

        return torch.ops.fireside.q4_linear(x, self.packed, self.scale, self.low, self.bias, down, up)

    @property
    def nbytes(self) -> int:
        return self.packed.numel() + 2 * self.scale.numel() * self.scale.element_size()


class NativeInt8Linear(_NativeLinear):
    """int8 weights in groups of 32 with a float16 scale each (llama.cpp's Q8_0 grouping), on
    Fireside's own kernel like NativeInt4Linear. Per group, the 8-bit grid is fine enough to hold
    a 4-bit model's weights and a fine-tune's small changes."""

    kind = "int8"

    def __init__(self, weight, bias=None):
        import torch

        super().__init__(weight, bias)
        n, k = weight.shape
        groups = weight.detach().float().reshape(n, k // GROUP_SIZE, GROUP_SIZE)
        scale = (groups.abs().amax(dim=-1, keepdim=True) / 127.0).to(torch.float16).float()
        if not torch.isfinite(scale).all():
            raise ValueError("weights beyond the range of float16 scales")
        scale = scale.clamp(min=torch.finfo(torch.float16).tiny)
        # stored plus 128: the kernel's int8 instruction takes unsigned weights
        q = (torch.round(groups / scale).clamp(-127, 127) + 128).to(torch.uint8)
        self.packed = self._by_blocks(q.reshape(n, k // 4, 4))
        self.scale = self._by_blocks(scale.to(torch.float16).reshape(n, -1, 1))

    def dequantize(self):
        n, k = self.out_features, self.in_features
        q = self.packed.reshape(n // BLOCK_ROWS, k // 4, BLOCK_ROWS, 4).transpose(1, 2).reshape(n, k).float() - 128
        scale = self.scale.transpose(1, 2).reshape(n, -1, 1).float()
        return (q.reshape(n, -1, GROUP_SIZE) * scale).reshape(n, k)

    def _run(self, x, down=None, up=None):
        import torch

        return torch.ops.fireside.q8_linear(x, self.packed, self.scale, self.bias, down, up)

    @property
    def nbytes(self) -> int:
        return self.packed.numel() + self.scale.numel() * self.scale.element_size()


class GroupInt8Rows:
    """A table of rows (an embedding, or the output layer read one token at a time) as int8 in
    groups of 32 along each row, each group with a float32 scale.

    This is llama.cpp's Q8_0 grouping, so the default model's embedding (stored as Q8_0) comes back
    exactly, at a quarter of float32's memory.
    """

    def __init__(self, weight, group_size: int = GROUP_SIZE):
        import torch

        weight = weight.detach().float()
        self.shape = tuple(weight.shape)
        self.group_size = group_size if weight.shape[1] % group_size == 0 else weight.shape[1]
        groups = weight.reshape(self.shape[0], -1, self.group_size)
        self.scale = (groups.abs().amax(dim=-1, keepdim=True) / 127.0).clamp(min=1e-30)
        self.q = torch.round(groups / self.scale).clamp(-127, 127).to(torch.int8)

    def rows(self, ids):
        return (self.q[ids].float() * self.scale[ids]).reshape(*ids.shape, self.shape[1])

    @property
    def nbytes(self) -> int:
        return self.q.numel() + self.scale.numel() * 4


def cpu_has_vnni() -> bool:
    from models.devices import cpu_flags

    return bool(cpu_flags() & {"avx512_vnni", "avx_vnni"})


def dynamic_int8_available() -> bool:
    """Whether PyTorch's fbgemm int8 kernels are here (x86 builds; quantizes activations per call)."""
    import torch

    return "fbgemm" in torch.backends.quantized.supported_engines


class DynamicInt8Linear:
    """int8 weights (one scale per row) times activations quantized to int8 on each call (fbgemm).

    The fastest int8 matmul PyTorch has on x86 CPUs, for one token and for many.
    """

    kind = "int8"

    def __init__(self, weight, bias=None):
        import warnings

        import torch

        weight = weight.detach().float().contiguous()
        scale = (weight.abs().amax(dim=1).clamp(min=1e-12) / 127.0).double()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # quantized tensors are deprecated for new code, not yet removed
            qweight = torch.quantize_per_channel(weight, scale, torch.zeros_like(scale, dtype=torch.long), 0, torch.qint8)
            self.packed = torch.ops.quantized.linear_prepack(qweight, None if bias is None else bias.detach().float())
        self.shape = tuple(weight.shape)
        self.has_bias = bias is not None
        # 7-bit activations avoid int16 overflow in fbgemm's AVX2 path; with VNNI 8 bits are exact.
        self.reduce_range = not cpu_has_vnni()

    def __call__(self, x):
        import torch

        return torch.ops.quantized.linear_dynamic(x.float(), self.packed, self.reduce_range)

    @property
    def nbytes(self) -> int:
        return self.shape[0] * self.shape[1] + self.shape[0] * 4


def _native(kind, weight, bias, portable: bool):
    from models.generation import native_kernels

    if portable or not native_kernels.available() or not _NativeLinear.supports(weight):
        return None
    try:
        return kind(weight, bias)
    except ValueError:
        return None


def make_linear(weight, bias, scheme: str, dtype, portable: bool = False):
    """A layer for `weight` [N, K] under `scheme` ('none', 'int8', 'int4'): Fireside's own kernels
    where they are built, PyTorch's otherwise.

    A shape the 4-bit kernel cannot take (input size not a multiple of the group) gets int8.
    """
    if scheme == "int4" and int4_supported(weight):
        native = _native(NativeInt4Linear, weight, bias, portable)
        return native or Int4Linear(weight, bias, dtype=dtype, portable=portable)
    if scheme in ("int4", "int8"):
        native = _native(NativeInt8Linear, weight, bias, portable)
        return native or Int8Linear(weight, bias, dtype=dtype, portable=portable)
    return DenseLinear(weight.detach().to(dtype).contiguous(), None if bias is None else bias.detach().to(dtype))
