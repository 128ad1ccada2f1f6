// Fireside's own CPU kernels for decoding (built by models/generation/native_kernels.py):
//
// q4_linear: y = x @ W.T (+ bias) (+ a LoRA correction) for 4-bit weights in groups of 32 along K
// (each group: w = d * q + m, q in 0..15, d and m float16), with the activations quantized to int8
// on each call (see quantize_row). The int8 dot products run on AVX-512 VNNI (vpdpbusd: 64
// multiply-adds an instruction), so a decoding step is bound by reading the weights, not by
// unpacking them.
// Weights are held in blocks of 16 output rows, so that one 512-bit register holds one value per
// row and no horizontal sums are needed. packed [N/16, K/8, 64]: for the 8 weights k..k+7 of the
// block's 16 rows, 4 bytes a row; a row's byte i holds weight k+i in its low nibble and k+4+i in
// its high nibble. d and m: [N/16, K/32, 16] float16, a group's scale and minimum for each row.
//
// q8_linear: the same for 8-bit weights in groups of 32 with a float16 scale (llama.cpp's Q8_0).
//
// decode_attention: one query position against a layer's key/value cache.
#include <ATen/Parallel.h>
#include <torch/library.h>
#include <torch/types.h>

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {

constexpr int64_t kGroup = 32;
constexpr int64_t kBlockRows = 16;
constexpr int kLowBits = 7;
constexpr int kLowSteps = 1 << kLowBits;
// How far ahead of the weights being multiplied to ask for the next ones (measured: 4 KiB).
constexpr int64_t kPrefetchBytes = 4096;

// One row of x [K] -> int8 values in two parts, x ~= scale * (high + low / 128), with one scale, one
// float sum (for 4-bit minimums) and one integer sum of the parts (for 8-bit weights' +128) for
// each group of 32. One int8 part alone (llama.cpp's Q8_1) moved the default
// model's perplexity by +4% and changed 10 of 12 greedy replies; the second part brings the
// activations to ~14 bits.
void quantize_row(const float* x, int64_t k, int8_t* high, int8_t* low, float* scale, float* sum,
                  int32_t* parts_sum) {
  const __m512 fraction = _mm512_set1_ps(static_cast<float>(kLowSteps));
  for (int64_t g = 0; g < k / kGroup; ++g) {
    const float* v = x + g * kGroup;
    const __m512 a = _mm512_loadu_ps(v), b = _mm512_loadu_ps(v + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(a), _mm512_abs_ps(b)));
    const float d = amax / 127.0f;
    const __m512 inv = _mm512_set1_ps(d > 0.0f ? 1.0f / d : 0.0f);
    for (int half = 0; half < 2; ++half) {
      const __m512 scaled = _mm512_mul_ps(half ? b : a, inv);
      const __m512i whole = _mm512_cvtps_epi32(scaled);
      const __m512 rest = _mm512_mul_ps(_mm512_sub_ps(scaled, _mm512_cvtepi32_ps(whole)), fraction);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(high + g * kGroup + half * 16), _mm512_cvtsepi32_epi8(whole));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(low + g * kGroup + half * 16),
                       _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(rest)));
    }
    scale[g] = d;
    sum[g] = _mm512_reduce_add_ps(_mm512_add_ps(a, b));
    int32_t parts = 0;  // sum of high * 128 + low over the group
    for (int64_t i = 0; i < kGroup; ++i) parts += high[g * kGroup + i] * kLowSteps + low[g * kGroup + i];
    parts_sum[g] = parts;
  }
}

// The 16 outputs of one block of rows for one quantized row of x.
__m512 block_dot(const uint8_t* w, const uint16_t* d, const uint16_t* m, int64_t groups, const int8_t* high,
                 const int8_t* low, const float* xscale, const float* xsum) {
  const __m512i low_mask = _mm512_set1_epi8(0x0F);
  const __m512 unit = _mm512_set1_ps(1.0f / kLowSteps);
  __m512 acc = _mm512_setzero_ps();
  __m512 minimum = _mm512_setzero_ps();
  const int32_t* high4 = reinterpret_cast<const int32_t*>(high);
  const int32_t* low4 = reinterpret_cast<const int32_t*>(low);
  for (int64_t g = 0; g < groups; ++g) {
    __m512i coarse = _mm512_setzero_si512(), coarse2 = _mm512_setzero_si512();
    __m512i fine = _mm512_setzero_si512(), fine2 = _mm512_setzero_si512();
    for (int s = 0; s < 4; ++s) {
      _mm_prefetch(reinterpret_cast<const char*>(w + (g * 4 + s) * 64 + kPrefetchBytes), _MM_HINT_T0);
      const __m512i v = _mm512_loadu_si512(w + (g * 4 + s) * 64);
      const __m512i first = _mm512_and_si512(v, low_mask);                         // weights k..k+3
      const __m512i second = _mm512_and_si512(_mm512_srli_epi16(v, 4), low_mask);  // weights k+4..k+7
      const int64_t at = g * 8 + s * 2;
      coarse = _mm512_dpbusd_epi32(coarse, first, _mm512_set1_epi32(high4[at]));
      coarse2 = _mm512_dpbusd_epi32(coarse2, second, _mm512_set1_epi32(high4[at + 1]));
      fine = _mm512_dpbusd_epi32(fine, first, _mm512_set1_epi32(low4[at]));
      fine2 = _mm512_dpbusd_epi32(fine2, second, _mm512_set1_epi32(low4[at + 1]));
    }
    const __m512i dots = _mm512_add_epi32(_mm512_slli_epi32(_mm512_add_epi32(coarse, coarse2), kLowBits),
                                          _mm512_add_epi32(fine, fine2));
    const __m512 dg = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(d + g * kBlockRows)));
    const __m512 mg = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(m + g * kBlockRows)));
    acc = _mm512_fmadd_ps(_mm512_mul_ps(dg, _mm512_set1_ps(xscale[g])), _mm512_cvtepi32_ps(dots), acc);
    minimum = _mm512_fmadd_ps(mg, _mm512_set1_ps(xsum[g]), minimum);
  }
  return _mm512_fmadd_ps(acc, unit, minimum);
}

// The same for 8-bit weights: packed [N/16, K/4, 64], a row's 4 bytes are weights k..k+3 plus 128
// (vpdpbusd takes unsigned weights; the 128s are taken off with the parts' sums); d: [N/16, K/32, 16].
__m512 block_dot8(const uint8_t* w, const uint16_t* d, int64_t groups, const int8_t* high, const int8_t* low,
                  const float* xscale, const int32_t* parts_sum) {
  const __m512 unit = _mm512_set1_ps(1.0f / kLowSteps);
  __m512 acc = _mm512_setzero_ps();
  const int32_t* high4 = reinterpret_cast<const int32_t*>(high);
  const int32_t* low4 = reinterpret_cast<const int32_t*>(low);
  for (int64_t g = 0; g < groups; ++g) {
    __m512i coarse = _mm512_setzero_si512(), fine = _mm512_setzero_si512();
    for (int s = 0; s < 8; ++s) {
      _mm_prefetch(reinterpret_cast<const char*>(w + (g * 8 + s) * 64 + kPrefetchBytes), _MM_HINT_T0);
      const __m512i v = _mm512_loadu_si512(w + (g * 8 + s) * 64);
      coarse = _mm512_dpbusd_epi32(coarse, v, _mm512_set1_epi32(high4[g * 8 + s]));
      fine = _mm512_dpbusd_epi32(fine, v, _mm512_set1_epi32(low4[g * 8 + s]));
    }
    const __m512i dots = _mm512_sub_epi32(_mm512_add_epi32(_mm512_slli_epi32(coarse, kLowBits), fine),
                                          _mm512_set1_epi32(128 * parts_sum[g]));
    const __m512 dg = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(d + g * kBlockRows)));
    acc = _mm512_fmadd_ps(_mm512_mul_ps(dg, _mm512_set1_ps(xscale[g])), _mm512_cvtepi32_ps(dots), acc);
  }
  return _mm512_mul_ps(acc, unit);
}

// Blocks of rows a task takes: enough that the threads' fixed cost is small next to the work.
constexpr int64_t kBlockGrain = 4;

// With a LoRA adapter (down [K, r]: A transposed; up [N/16, r, 16]: B by blocks of 16 rows; both
// float32) each result also gets B @ (A @ x): a fine-tuned model runs as one call a layer, like
// the bundled one.
at::Tensor quantized_linear(int bits, const at::Tensor& x, const at::Tensor& packed, const at::Tensor& d,
                            const at::Tensor* m, const std::optional<at::Tensor>& bias,
                            const std::optional<at::Tensor>& down, const std::optional<at::Tensor>& up) {
  TORCH_CHECK(x.dim() == 2 && x.scalar_type() == at::kFloat && x.is_contiguous(), "x: contiguous float32 [M, K]");
  TORCH_CHECK(packed.dim() == 3 && packed.scalar_type() == at::kByte && packed.is_contiguous() && packed.size(2) == 64,
              "packed: contiguous uint8 [N/16, K * bits / 32, 64]");
  TORCH_CHECK(d.scalar_type() == at::kHalf && d.is_contiguous(), "d: contiguous float16 [N/16, K/32, 16]");
  TORCH_CHECK(!m || (m->scalar_type() == at::kHalf && m->is_contiguous() && m->sizes() == d.sizes()),
              "m: contiguous float16 [N/16, K/32, 16]");
  const int64_t rows = x.size(0), k = x.size(1), blocks = packed.size(0), n = blocks * kBlockRows;
  const int64_t groups = k / kGroup, per_unit = 32 / bits;  // weights in a row's 4 bytes
  TORCH_CHECK(k % kGroup == 0 && packed.size(1) * per_unit == k, "x has ", k, " columns; the weights take ",
              packed.size(1) * per_unit);
  TORCH_CHECK(d.sizes() == at::IntArrayRef({blocks, groups, kBlockRows}), "scales do not match the weights");
  TORCH_CHECK(!bias.has_value() || (bias->scalar_type() == at::kFloat && bias->numel() == n), "bias: float32 [N]");
  TORCH_CHECK(down.has_value() == up.has_value(), "an adapter needs both down and up");
  at::Tensor reduced;  // [M, r]: the adapter's down projection of x
  const float* upp = nullptr;
  const float* rp = nullptr;
  int64_t rank = 0;
  if (down.has_value()) {
    rank = down->size(1);
    TORCH_CHECK(down->scalar_type() == at::kFloat && down->size(0) == k, "down: float32 [K, r]");
    TORCH_CHECK(up->scalar_type() == at::kFloat && up->is_contiguous() &&
                    up->sizes() == at::IntArrayRef({blocks, rank, kBlockRows}),
                "up: contiguous float32 [N/16, r, 16]");
    reduced = at::mm(x, *down).contiguous();
    upp = up->data_ptr<float>();
    rp = reduced.data_ptr<float>();
  }
  std::vector<int8_t> high(rows * k), low(rows * k);
  std::vector<float> xscale(rows * groups), xsum(rows * groups);
  std::vector<int32_t> parts(rows * groups);
  const float* xp = x.data_ptr<float>();
  for (int64_t r = 0; r < rows; ++r)
    quantize_row(xp + r * k, k, high.data() + r * k, low.data() + r * k, xscale.data() + r * groups,
                 xsum.data() + r * groups, parts.data() + r * groups);
  at::Tensor out = at::empty({rows, n}, x.options());
  float* op = out.data_ptr<float>();
  const uint8_t* wp = packed.data_ptr<uint8_t>();
  const uint16_t* dp = reinterpret_cast<const uint16_t*>(d.data_ptr<at::Half>());
  const uint16_t* mp = m ? reinterpret_cast<const uint16_t*>(m->data_ptr<at::Half>()) : nullptr;
  const float* bp = bias.has_value() ? bias->data_ptr<float>() : nullptr;
  const int64_t block_bytes = k * bits * kBlockRows / 8;
  at::parallel_for(0, blocks, kBlockGrain, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const __m512 b16 = bp ? _mm512_loadu_ps(bp + b * kBlockRows) : _mm512_setzero_ps();
      const uint16_t* db = dp + b * groups * kBlockRows;
      for (int64_t r = 0; r < rows; ++r) {
        const int8_t* hr = high.data() + r * k;
        const int8_t* lr = low.data() + r * k;
        const float* sr = xscale.data() + r * groups;
        const uint8_t* wb = wp + b * block_bytes;
        const __m512 y = bits == 4
            ? block_dot(wb, db, mp + b * groups * kBlockRows, groups, hr, lr, sr, xsum.data() + r * groups)
            : block_dot8(wb, db, groups, hr, lr, sr, parts.data() + r * groups);
        __m512 total = _mm512_add_ps(y, b16);
        for (int64_t j = 0; j < rank; ++j)
          total = _mm512_fmadd_ps(_mm512_loadu_ps(upp + (b * rank + j) * kBlockRows),
                                  _mm512_set1_ps(rp[r * rank + j]), total);
        _mm512_storeu_ps(op + r * n + b * kBlockRows, total);
      }
    }
  });
  return out;
}

at::Tensor q4_linear(const at::Tensor& x, const at::Tensor& packed, const at::Tensor& d, const at::Tensor& m,
                     const std::optional<at::Tensor>& bias, const std::optional<at::Tensor>& down,
                     const std::optional<at::Tensor>& up) {
  return quantized_linear(4, x, packed, d, &m, bias, down, up);
}

// 8-bit weights in groups of 32, each with a float16 scale (llama.cpp's Q8_0 grouping).
at::Tensor q8_linear(const at::Tensor& x, const at::Tensor& packed, const at::Tensor& d,
                     const std::optional<at::Tensor>& bias, const std::optional<at::Tensor>& down,
                     const std::optional<at::Tensor>& up) {
  return quantized_linear(8, x, packed, d, nullptr, bias, down, up);
}

// exp(x) for 16 floats: 2^(x log2 e) as 2^n * 2^f, f in [-0.5, 0.5], with a degree-6 polynomial
// for 2^f (relative error ~1e-7) and vscalefps for the power of two.
__m512 exp16(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
  const __m512 t = _mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f));
  const __m512 n = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_mul_ps(_mm512_sub_ps(t, n), _mm512_set1_ps(0.69314718055994531f));
  __m512 p = _mm512_set1_ps(1.0f / 720);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f / 120));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f / 24));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f / 6));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

// Positions of the cache one task reads: the work of a long context is shared by the threads even
// when there are fewer key/value heads than threads.
constexpr int64_t kChunk = 128;
constexpr int64_t kMaxGroup = 16;  // query heads sharing one key/value head
constexpr int64_t kMaxHeadDim = 256;

// One query position against positions 0..end-1 of a layer's cache, for decoding.
// q [heads, head_dim]; cache [2 * kv_heads, capacity, head_dim] (key heads, then value heads), all
// float32. Each task scores its chunk of positions for the query heads of one key/value head and
// keeps its own maximum, sum and weighted values; the chunks are combined at the end (as in
// flash-decoding). Returns [heads, head_dim].
at::Tensor decode_attention(const at::Tensor& q, const at::Tensor& cache, int64_t end, double scale) {
  TORCH_CHECK(q.dim() == 2 && q.scalar_type() == at::kFloat && q.is_contiguous(), "q: contiguous float32 [heads, dim]");
  TORCH_CHECK(cache.dim() == 3 && cache.scalar_type() == at::kFloat && cache.is_contiguous(),
              "cache: contiguous float32 [2 * kv heads, capacity, dim]");
  const int64_t heads = q.size(0), dim = q.size(1), kv = cache.size(0) / 2, capacity = cache.size(1);
  TORCH_CHECK(cache.size(2) == dim && dim % 16 == 0 && dim <= kMaxHeadDim,
              "head size must be a multiple of 16, at most 256");
  TORCH_CHECK(kv > 0 && heads % kv == 0 && heads / kv <= kMaxGroup,
              "query heads must be a multiple of key/value heads");
  TORCH_CHECK(end >= 1 && end <= capacity, "positions 1..capacity");
  const int64_t group = heads / kv, chunks = (end + kChunk - 1) / kChunk, vectors = dim / 16;
  // Per task and query head: the chunk's maximum score, its sum of exp(score - maximum), and the
  // values weighted by those exps.
  std::vector<float> maxima(kv * chunks * group), sums(kv * chunks * group), weighted(kv * chunks * group * dim);
  const float* qp = q.data_ptr<float>();
  const float* cp = cache.data_ptr<float>();
  const float qscale = static_cast<float>(scale);
  at::parallel_for(0, kv * chunks, 1, [&](int64_t begin, int64_t stop) {
    float scores[kMaxGroup][kChunk];
    for (int64_t task = begin; task < stop; ++task) {
      const int64_t head = task / chunks, chunk = task % chunks;
      const int64_t first = chunk * kChunk, count = std::min(kChunk, end - first);
      const float* keys = cp + (head * capacity + first) * dim;
      const float* values = cp + ((kv + head) * capacity + first) * dim;
      for (int64_t g = 0; g < group; ++g) {
        const float* query = qp + (head * group + g) * dim;
        __m512 qv[kMaxHeadDim / 16];
        for (int64_t v = 0; v < vectors; ++v)
          qv[v] = _mm512_mul_ps(_mm512_loadu_ps(query + v * 16), _mm512_set1_ps(qscale));
        float best = -INFINITY;
        for (int64_t t = 0; t < count; ++t) {
          __m512 acc = _mm512_mul_ps(qv[0], _mm512_loadu_ps(keys + t * dim));
          for (int64_t v = 1; v < vectors; ++v)
            acc = _mm512_fmadd_ps(qv[v], _mm512_loadu_ps(keys + t * dim + v * 16), acc);
          scores[g][t] = _mm512_reduce_add_ps(acc);
          best = std::max(best, scores[g][t]);
        }
        __m512 total = _mm512_setzero_ps();
        int64_t t = 0;
        for (; t + 16 <= count; t += 16) {
          const __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(scores[g] + t), _mm512_set1_ps(best)));
          _mm512_storeu_ps(scores[g] + t, e);
          total = _mm512_add_ps(total, e);
        }
        if (t < count) {
          const __mmask16 rest = static_cast<__mmask16>((1u << (count - t)) - 1);
          const __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(rest, scores[g] + t), _mm512_set1_ps(best)));
          _mm512_mask_storeu_ps(scores[g] + t, rest, e);
          total = _mm512_add_ps(total, _mm512_maskz_mov_ps(rest, e));
        }
        const int64_t slot = task * group + g;
        maxima[slot] = best;
        sums[slot] = _mm512_reduce_add_ps(total);
      }
      for (int64_t v = 0; v < vectors; ++v) {
        __m512 acc[kMaxGroup];
        for (int64_t g = 0; g < group; ++g) acc[g] = _mm512_setzero_ps();
        for (int64_t t = 0; t < count; ++t) {
          const __m512 value = _mm512_loadu_ps(values + t * dim + v * 16);
          for (int64_t g = 0; g < group; ++g) acc[g] = _mm512_fmadd_ps(_mm512_set1_ps(scores[g][t]), value, acc[g]);
        }
        for (int64_t g = 0; g < group; ++g)
          _mm512_storeu_ps(weighted.data() + (task * group + g) * dim + v * 16, acc[g]);
      }
    }
  });
  at::Tensor out = at::empty({heads, dim}, q.options());
  float* op = out.data_ptr<float>();
  for (int64_t head = 0; head < kv; ++head) {
    for (int64_t g = 0; g < group; ++g) {
      float best = -INFINITY;
      for (int64_t c = 0; c < chunks; ++c) best = std::max(best, maxima[(head * chunks + c) * group + g]);
      float total = 0.0f;
      std::vector<float> acc(dim, 0.0f);
      for (int64_t c = 0; c < chunks; ++c) {
        const int64_t slot = (head * chunks + c) * group + g;
        const float weight = std::exp(maxima[slot] - best);
        total += weight * sums[slot];
        for (int64_t i = 0; i < dim; ++i) acc[i] += weight * weighted[slot * dim + i];
      }
      float* row = op + (head * group + g) * dim;
      for (int64_t i = 0; i < dim; ++i) row[i] = acc[i] / total;
    }
  }
  return out;
}

}  // namespace

TORCH_LIBRARY(fireside, library) {
  library.def(
      "q4_linear(Tensor x, Tensor packed, Tensor d, Tensor m, Tensor? bias, Tensor? down=None, Tensor? up=None)"
      " -> Tensor");
  library.impl("q4_linear", c10::DispatchKey::CPU, &q4_linear);
  library.def(
      "q8_linear(Tensor x, Tensor packed, Tensor d, Tensor? bias, Tensor? down=None, Tensor? up=None) -> Tensor");
  library.impl("q8_linear", c10::DispatchKey::CPU, &q8_linear);
  library.def("decode_attention(Tensor q, Tensor cache, int end, float scale) -> Tensor");
  library.impl("decode_attention", c10::DispatchKey::CPU, &decode_attention);
}
