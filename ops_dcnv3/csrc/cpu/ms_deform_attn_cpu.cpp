// CPU kernels of multi-scale deformable attention: forward parallel over queries, backward
// over (image, head) pairs, vectorised over a head's channels with DCNv3's channel loops
// (sampling_taps.inc) and its bilinear taps (dcnv3_sampling.h). Built for the baseline
// instruction set and, on x86-64, for AVX2+FMA; the best one the processor supports runs.
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

// Value gradients accumulate in the output itself for float and double, in a float buffer
// converted at the end for half and bfloat16.
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
    at::Tensor accumulator = kAccumulateInOutput ? grad_value : at::zeros(value.sizes(), value.options().dtype(
                                                                              at::toOpMathType(value.scalar_type())));
    acc_t* grad = accumulator.mutable_data_ptr<acc_t>();
    const bool avx2 = cpu_supports_avx2();
    const int64_t image = g.keys * g.heads * g.channels;
    at::parallel_for(0, g.batch * g.heads, 1, [&](int64_t begin, int64_t end) {
      for (int64_t task = begin; task < end; ++task) {
        const int64_t n = task / g.heads, h = task % g.heads;
#ifdef MSDA_HAVE_AVX2
        if (avx2) {
          msda_avx2::msda_backward_head<scalar_t>(t, g, levels, n, h, grad + n * image);
          continue;
        }
#endif
        msda_baseline::msda_backward_head<scalar_t>(t, g, levels, n, h, grad + n * image);
      }
    });
    if constexpr (!kAccumulateInOutput) grad_value.copy_(accumulator);
  });
  return {grad_value, grad_locations, grad_weights};
}

}  // namespace dcnv3
