// CPU kernels of DCNv3: parallel over output pixels (at::parallel_for), and
// vectorised over the channels of a group, which channels-last keeps contiguous.
// The row kernels are compiled for the baseline instruction set and, on x86-64,
// for AVX2+FMA; the best one the processor supports runs.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

#include "../dcnv3.h"

namespace dcnv3 {

// The tensors one call works on (contiguous, channels-last).
template <typename scalar_t>
struct Tensors {
  const scalar_t* input;
  const scalar_t* offset;
  const scalar_t* mask;
  const scalar_t* grad_output;  // backward only
  scalar_t* output;             // forward only
  scalar_t* grad_offset;        // backward only
  scalar_t* grad_mask;          // backward only
};

namespace cpu_baseline {
#define DCNV3_CPU_TARGET
#include "dcnv3_cpu_kernels.inc"
#undef DCNV3_CPU_TARGET
}  // namespace cpu_baseline

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define DCNV3_HAVE_AVX2 1
namespace cpu_avx2 {
#define DCNV3_CPU_TARGET __attribute__((target("avx2,fma")))
#include "dcnv3_cpu_kernels.inc"
#undef DCNV3_CPU_TARGET
}  // namespace cpu_avx2
#endif

namespace {

bool use_avx2() {
#ifdef DCNV3_HAVE_AVX2
  static const bool supported = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return supported;
#else
  return false;
#endif
}

// Enough work per task to amortise the parallel region.
int64_t pixel_grain(const Geometry& g) {
  const int64_t work_per_pixel = g.group * g.points * (g.group_channels + 16);
  return std::max<int64_t>(1, 16384 / work_per_pixel);
}

// (x, y) of every point's scaled regular-grid position, computed once per call.
template <typename acc_t>
std::vector<acc_t> scaled_grid(const Geometry& g) {
  std::vector<acc_t> grid(2 * g.points);
  for (int64_t k = 0; k < g.points; ++k) scaled_grid_point<acc_t>(g, k, grid[2 * k], grid[2 * k + 1]);
  return grid;
}

}  // namespace

at::Tensor forward_cpu(const at::Tensor& input, const at::Tensor& offset, const at::Tensor& mask,
                       const Geometry& g) {
  auto output = at::empty({g.batch, g.height_out, g.width_out, g.channels}, input.options());
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "dcnv3_forward_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    Tensors<scalar_t> t{input.const_data_ptr<scalar_t>(), offset.const_data_ptr<scalar_t>(),
                                      mask.const_data_ptr<scalar_t>(), nullptr,
                                      output.mutable_data_ptr<scalar_t>(), nullptr, nullptr};
    const std::vector<acc_t> grid = scaled_grid<acc_t>(g);
    const bool avx2 = use_avx2();
    at::parallel_for(0, g.batch * g.height_out * g.width_out, pixel_grain(g), [&](int64_t begin, int64_t end) {
#ifdef DCNV3_HAVE_AVX2
      if (avx2) {
        cpu_avx2::forward_range<scalar_t>(t, g,
                                          grid.data(), begin, end);
        return;
      }
#endif
      cpu_baseline::forward_range<scalar_t>(t, g, grid.data(), begin, end);
    });
  });
  return output;
}

// Input gradients scatter to arbitrary pixels, so each thread accumulates into
// a private buffer and the buffers are summed at the end: no data race, no
// atomics, deterministic for a given thread count.
std::tuple<at::Tensor, at::Tensor, at::Tensor> backward_cpu(
    const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& offset,
    const at::Tensor& mask, const Geometry& g) {
  auto grad_offset = at::empty_like(offset);
  auto grad_mask = at::empty_like(mask);
  const int64_t buffer_count = std::max<int64_t>(1, at::get_num_threads());
  auto buffers = at::zeros({buffer_count, g.batch, g.height_in, g.width_in, g.channels},
                           input.options().dtype(at::toOpMathType(input.scalar_type())));
  const int64_t input_numel = input.numel();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "dcnv3_backward_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    Tensors<scalar_t> t{input.const_data_ptr<scalar_t>(), offset.const_data_ptr<scalar_t>(),
                                      mask.const_data_ptr<scalar_t>(), grad_output.const_data_ptr<scalar_t>(),
                                      nullptr, grad_offset.mutable_data_ptr<scalar_t>(),
                                      grad_mask.mutable_data_ptr<scalar_t>()};
    const std::vector<acc_t> grid = scaled_grid<acc_t>(g);
    acc_t* buffer_data = buffers.mutable_data_ptr<acc_t>();
    const bool avx2 = use_avx2();
    at::parallel_for(0, g.batch * g.height_out * g.width_out, pixel_grain(g), [&](int64_t begin, int64_t end) {
      acc_t* grad_in = buffer_data + (at::get_thread_num() % buffer_count) * input_numel;
#ifdef DCNV3_HAVE_AVX2
      if (avx2) {
        cpu_avx2::backward_range<scalar_t>(t, g,
                                           grid.data(), grad_in, begin, end);
        return;
      }
#endif
      cpu_baseline::backward_range<scalar_t>(t, g, grid.data(), grad_in, begin, end);
    });
  });
  auto grad_input = buffer_count == 1 ? buffers[0] : buffers.sum(0);
  return {grad_input.to(input.scalar_type()), grad_offset, grad_mask};
}

}  // namespace dcnv3
