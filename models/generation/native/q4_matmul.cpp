// y = x @ W.T (+ bias) for 4-bit weights in groups of 32 along K (each group: w = d * q + m,
// q in 0..15, d and m float16), with the activations quantized to int8 in groups of 32 on each
// call, as llama.cpp does for its Q4_1 weights. The int8 dot products run on AVX-512 VNNI
// (vpdpbusd: 64 multiply-adds an instruction), so a decoding step is bound by reading the weights,
// not by unpacking them.
//
// Weights are held in blocks of 16 output rows, so that one 512-bit register holds one value per
// row and no horizontal sums are needed. packed [N/16, K/8, 64]: for the 8 weights k..k+7 of the
// block's 16 rows, 4 bytes a row; a row's byte i holds weight k+i in its low nibble and k+4+i in
// its high nibble. d and m: [N/16, K/32, 16] float16, a group's scale and minimum for each row.
#include <ATen/Parallel.h>
#include <torch/library.h>
#include <torch/types.h>

#include <immintrin.h>

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

// One row of x [K] -> int8 values in two parts, x ~= scale * (high + low / 128), with one scale and
// one (float) sum for each group of 32. One int8 part alone (llama.cpp's Q8_1) moved the default
// model's perplexity by +4% and changed 10 of 12 greedy replies; the second part brings the
// activations to ~14 bits.
void quantize_row(const float* x, int64_t k, int8_t* high, int8_t* low, float* scale, float* sum) {
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

// Blocks of rows a task takes: enough that the threads' fixed cost is small next to the work.
constexpr int64_t kBlockGrain = 4;

// With a LoRA adapter (down [K, r], up [r, N], float32: A and B transposed) each result also gets
// up.T @ (down.T @ x): a fine-tuned model runs as one call a layer, like the bundled one.
at::Tensor q4_linear(const at::Tensor& x, const at::Tensor& packed, const at::Tensor& d, const at::Tensor& m,
                     const std::optional<at::Tensor>& bias, const std::optional<at::Tensor>& down,
                     const std::optional<at::Tensor>& up) {
  TORCH_CHECK(x.dim() == 2 && x.scalar_type() == at::kFloat && x.is_contiguous(), "x: contiguous float32 [M, K]");
  TORCH_CHECK(packed.dim() == 3 && packed.scalar_type() == at::kByte && packed.is_contiguous() && packed.size(2) == 64,
              "packed: contiguous uint8 [N/16, K/8, 64]");
  TORCH_CHECK(d.scalar_type() == at::kHalf && m.scalar_type() == at::kHalf && d.is_contiguous() && m.is_contiguous(),
              "d, m: contiguous float16 [N/16, K/32, 16]");
  const int64_t rows = x.size(0), k = x.size(1), blocks = packed.size(0), n = blocks * kBlockRows;
  const int64_t groups = k / kGroup;
  TORCH_CHECK(k % kGroup == 0 && packed.size(1) * 8 == k, "x has ", k, " columns; the weights take ", packed.size(1) * 8);
  TORCH_CHECK(d.sizes() == at::IntArrayRef({blocks, groups, kBlockRows}) && m.sizes() == d.sizes(),
              "scales and minimums do not match the weights");
  TORCH_CHECK(!bias.has_value() || (bias->scalar_type() == at::kFloat && bias->numel() == n), "bias: float32 [N]");
  TORCH_CHECK(down.has_value() == up.has_value(), "an adapter needs both down and up");
  at::Tensor reduced;  // [M, r]: the adapter's down projection of x
  const float* upp = nullptr;
  const float* rp = nullptr;
  int64_t rank = 0;
  if (down.has_value()) {
    rank = down->size(1);
    TORCH_CHECK(down->scalar_type() == at::kFloat && down->size(0) == k, "down: float32 [K, r]");
    TORCH_CHECK(up->scalar_type() == at::kFloat && up->is_contiguous() && up->size(0) == rank && up->size(1) == n,
                "up: contiguous float32 [r, N]");
    reduced = at::mm(x, *down).contiguous();
    upp = up->data_ptr<float>();
    rp = reduced.data_ptr<float>();
  }
  std::vector<int8_t> high(rows * k), low(rows * k);
  std::vector<float> xscale(rows * groups), xsum(rows * groups);
  const float* xp = x.data_ptr<float>();
  for (int64_t r = 0; r < rows; ++r)
    quantize_row(xp + r * k, k, high.data() + r * k, low.data() + r * k, xscale.data() + r * groups,
                 xsum.data() + r * groups);
  at::Tensor out = at::empty({rows, n}, x.options());
  float* op = out.data_ptr<float>();
  const uint8_t* wp = packed.data_ptr<uint8_t>();
  const uint16_t* dp = reinterpret_cast<const uint16_t*>(d.data_ptr<at::Half>());
  const uint16_t* mp = reinterpret_cast<const uint16_t*>(m.data_ptr<at::Half>());
  const float* bp = bias.has_value() ? bias->data_ptr<float>() : nullptr;
  at::parallel_for(0, blocks, kBlockGrain, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const __m512 b16 = bp ? _mm512_loadu_ps(bp + b * kBlockRows) : _mm512_setzero_ps();
      for (int64_t r = 0; r < rows; ++r) {
        const __m512 y = block_dot(wp + b * (k / 8) * 64, dp + b * groups * kBlockRows, mp + b * groups * kBlockRows,
                                   groups, high.data() + r * k, low.data() + r * k, xscale.data() + r * groups, xsum.data() + r * groups);
        __m512 total = _mm512_add_ps(y, b16);
        for (int64_t j = 0; j < rank; ++j)
          total = _mm512_fmadd_ps(_mm512_loadu_ps(upp + j * n + b * kBlockRows),
                                  _mm512_set1_ps(rp[r * rank + j]), total);
        _mm512_storeu_ps(op + r * n + b * kBlockRows, total);
      }
    }
  });
  return out;
}

}  // namespace

TORCH_LIBRARY(fireside, library) {
  library.def(
      "q4_linear(Tensor x, Tensor packed, Tensor d, Tensor m, Tensor? bias, Tensor? down=None, Tensor? up=None) -> Tensor");
  library.impl("q4_linear", c10::DispatchKey::CPU, &q4_linear);
}
