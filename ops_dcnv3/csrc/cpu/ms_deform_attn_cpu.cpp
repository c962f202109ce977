// CPU kernels of multi-scale deformable attention: forward parallel over queries, backward
// over (image, head) pairs and, where the threads outnumber them, query chunks of those;
// vectorised over a head's channels with DCNv3's channel loops (sampling_taps.inc) and its
// bilinear taps (dcnv3_sampling.h). Built for the baseline instruction set and, on x86-64, for
// AVX2+FMA; the best one the processor supports runs.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include "../dcnv3.h"
#include "../ms_deform_attn.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace dcnv3 {

// The tensors of one call, contiguous, in the layouts of ms_deform_attn.h.
template <typename scalar_t>
struct MsdaTensors {
  const scalar_t* value;
  const scalar_t* locations;
  const scalar_t* weights;
  const scalar_t* grad_output;  // backward only
  scalar_t* output;             // forward only
  scalar_t* grad_locations;     // backward only
  scalar_t* grad_weights;       // backward only
};

namespace msda_baseline {
#define DCNV3_CPU_TARGET
#define DCNV3_CPU_AVX2 0
#include "ms_deform_attn_cpu_kernels.inc"
#undef DCNV3_CPU_AVX2
#undef DCNV3_CPU_TARGET
}  // namespace msda_baseline

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define MSDA_HAVE_AVX2 1
namespace msda_avx2 {
#define DCNV3_CPU_TARGET __attribute__((target("avx2,fma")))
#define DCNV3_CPU_AVX2 1
#include "ms_deform_attn_cpu_kernels.inc"
#undef DCNV3_CPU_AVX2
#undef DCNV3_CPU_TARGET
}  // namespace msda_avx2
#endif

at::Tensor ms_deform_attn_forward_cpu(const at::Tensor& value, const MsdaLevels& levels,
                                      const at::Tensor& sampling_locations, const at::Tensor& attention_weights,
                                      const MsdaGeometry& g) {
  auto output = at::empty({g.batch, g.queries, g.heads * g.channels}, value.options());
  if (output.numel() == 0) return output;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, value.scalar_type(), "ms_deform_attn_forward_cpu", [&] {
    const MsdaTensors<scalar_t> t{value.const_data_ptr<scalar_t>(), sampling_locations.const_data_ptr<scalar_t>(),
                                  attention_weights.const_data_ptr<scalar_t>(), nullptr,
                                  output.mutable_data_ptr<scalar_t>(), nullptr, nullptr};
    const bool avx2 = cpu_supports_avx2();
    // Enough work per task to amortise the parallel region.
    const int64_t work_per_query = g.heads * g.levels * g.points * (g.channels + 16);
    const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, work_per_query));
    at::parallel_for(0, g.batch * g.queries, grain, [&](int64_t begin, int64_t end) {
#ifdef MSDA_HAVE_AVX2
      if (avx2) return msda_avx2::msda_forward_range<scalar_t>(t, g, levels, begin, end);
#endif
      msda_baseline::msda_forward_range<scalar_t>(t, g, levels, begin, end);
    });
  });
  return output;
}

int64_t ms_deform_attn_backward_chunks(const MsdaGeometry& g, int64_t threads) {
  // One image of DINO has 8 (image, head) pairs: 8 busy threads however many the machine has.
  // Where the threads outnumber the pairs, each pair's queries are cut into chunks, every chunk
  // but the first accumulating its value gradient in a buffer of its own (the value's size),
  // added after in chunk order. A buffer costs zeroing fresh memory and an addition (about
  // 7 ms for DINO's 23 MB, against a 130 ms backward on 2 threads), so chunks must also hold
  // several sampling points per key (not DINO's decoder: 900 queries on 22,000 keys). Results
  // are the same for any thread count up to batch x heads; above, the value gradient's sums
  // are grouped by chunk (float rounding).
  constexpr int64_t kMaxChunks = 16, kPointsPerKey = 4;
  const int64_t pairs = g.batch * g.heads;
  if (pairs == 0 || threads <= pairs) return 1;
  const int64_t by_points = g.queries * g.levels * g.points / std::max<int64_t>(1, kPointsPerKey * g.keys);
  return std::clamp<int64_t>(std::min((threads + pairs - 1) / pairs, by_points), 1, kMaxChunks);
}

// Value gradients accumulate in the output itself for float and double, in a float buffer
// converted at the end for half and bfloat16; query chunks after the first in buffers of
// their own (one per chunk, the layout of the value), added in chunk order.
std::tuple<at::Tensor, at::Tensor, at::Tensor> ms_deform_attn_backward_cpu(
    const at::Tensor& grad_output, const at::Tensor& value, const MsdaLevels& levels,
    const at::Tensor& sampling_locations, const at::Tensor& attention_weights, const MsdaGeometry& g) {
  auto grad_value = at::zeros_like(value);
  auto grad_locations = at::empty_like(sampling_locations);
  auto grad_weights = at::empty_like(attention_weights);
  if (grad_weights.numel() == 0) return {grad_value, grad_locations.zero_(), grad_weights};
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, value.scalar_type(), "ms_deform_attn_backward_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    constexpr bool kAccumulateInOutput = std::is_same_v<acc_t, scalar_t>;
    const MsdaTensors<scalar_t> t{value.const_data_ptr<scalar_t>(), sampling_locations.const_data_ptr<scalar_t>(),
                                  attention_weights.const_data_ptr<scalar_t>(), grad_output.const_data_ptr<scalar_t>(),
                                  nullptr, grad_locations.mutable_data_ptr<scalar_t>(),
                                  grad_weights.mutable_data_ptr<scalar_t>()};
    const auto acc_options = value.options().dtype(at::toOpMathType(value.scalar_type()));
    at::Tensor accumulator = kAccumulateInOutput ? grad_value : at::zeros(value.sizes(), acc_options);
    acc_t* grad = accumulator.mutable_data_ptr<acc_t>();
    const int64_t chunks = ms_deform_attn_backward_chunks(g, at::get_num_threads()), size = value.numel();
    at::Tensor chunk_buffers = at::zeros({chunks - 1, size}, acc_options);
    acc_t* buffers = chunk_buffers.mutable_data_ptr<acc_t>();
    const bool avx2 = cpu_supports_avx2();
    const int64_t image = g.keys * g.heads * g.channels;
    at::parallel_for(0, g.batch * g.heads * chunks, 1, [&](int64_t begin, int64_t end) {
      for (int64_t task = begin; task < end; ++task) {
        const int64_t pair = task / chunks, chunk = task % chunks, n = pair / g.heads, h = pair % g.heads;
        const int64_t q_begin = g.queries * chunk / chunks, q_end = g.queries * (chunk + 1) / chunks;
        acc_t* target = (chunk == 0 ? grad : buffers + (chunk - 1) * size) + n * image;
#ifdef MSDA_HAVE_AVX2
        if (avx2) {
          msda_avx2::msda_backward_head<scalar_t>(t, g, levels, n, h, q_begin, q_end, target);
          continue;
        }
#endif
        msda_baseline::msda_backward_head<scalar_t>(t, g, levels, n, h, q_begin, q_end, target);
      }
    });
    if (chunks > 1) {
      at::parallel_for(0, size, 16384, [&](int64_t begin, int64_t end) {
        for (int64_t chunk = 1; chunk < chunks; ++chunk) {
          const acc_t* from = buffers + (chunk - 1) * size;
          for (int64_t i = begin; i < end; ++i) grad[i] += from[i];
        }
      });
    }
    if constexpr (!kAccumulateInOutput) grad_value.copy_(accumulator);
  });
  return {grad_value, grad_locations, grad_weights};
}

}  // namespace dcnv3
