// CPU kernels of DCNv3: parallel over output pixels (at::parallel_for), and
// vectorised over the channels of a group, which channels-last keeps contiguous.
// The row kernels are compiled for the baseline instruction set and, on x86-64,
// for AVX2+FMA; the best one the processor supports runs.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <type_traits>
#include <bit>
#include <cmath>
#include <limits>
#include <vector>

#include "../dcnv3.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace dcnv3 {

// The tensors one call works on (channels-last; contiguous but for the offsets and mask,
// and their gradients, which lie as their PointLayout says).
template <typename scalar_t>
struct Tensors {
  const scalar_t* input;
  const scalar_t* offset;
  const scalar_t* mask;         // the mask, or with softmax_mask its logits
  const scalar_t* grad_output;  // backward only
  scalar_t* output;             // forward only
  scalar_t* grad_offset;        // backward only
  scalar_t* grad_mask;          // backward only
  PointLayout layout, grad_layout;
  bool softmax_mask;
};

template <typename scalar_t>
const scalar_t* offset_data(const PointTensors& p) { return p.offset.const_data_ptr<scalar_t>(); }
template <typename scalar_t>
const scalar_t* mask_data(const PointTensors& p) { return p.mask.const_data_ptr<scalar_t>() + p.mask_start; }

namespace cpu_baseline {
#define DCNV3_CPU_TARGET
#define DCNV3_CPU_AVX2 0
#include "dcnv3_cpu_kernels.inc"
#undef DCNV3_CPU_AVX2
#undef DCNV3_CPU_TARGET
}  // namespace cpu_baseline

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define DCNV3_HAVE_AVX2 1
namespace cpu_avx2 {
#define DCNV3_CPU_TARGET __attribute__((target("avx2,fma")))
#define DCNV3_CPU_AVX2 1
#include "dcnv3_cpu_kernels.inc"
#undef DCNV3_CPU_AVX2
#undef DCNV3_CPU_TARGET
}  // namespace cpu_avx2
#endif

bool cpu_supports_avx2() {
#ifdef DCNV3_HAVE_AVX2
  static const bool supported = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return supported;
#else
  return false;
#endif
}

namespace {

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

at::Tensor forward_cpu(const at::Tensor& input, const PointTensors& points, const Geometry& g, bool softmax_mask) {
  auto output = at::empty({g.batch, g.height_out, g.width_out, g.channels}, input.options());
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "dcnv3_forward_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    Tensors<scalar_t> t{input.const_data_ptr<scalar_t>(), offset_data<scalar_t>(points), mask_data<scalar_t>(points),
                        nullptr, output.mutable_data_ptr<scalar_t>(), nullptr, nullptr, points.layout,
                        points.layout, softmax_mask};
    const std::vector<acc_t> grid = scaled_grid<acc_t>(g);
    const bool avx2 = cpu_supports_avx2();
    at::parallel_for(0, g.batch * g.height_out * g.width_out, pixel_grain(g), [&](int64_t begin, int64_t end) {
#ifdef DCNV3_HAVE_AVX2
      if (avx2) {
        cpu_avx2::forward_range<scalar_t>(t, g, grid.data(), begin, end);
        return;
      }
#endif
      cpu_baseline::forward_range<scalar_t>(t, g, grid.data(), begin, end);
    });
  });
  return output;
}

namespace {

// A backward task: output pixels [pixel_begin, pixel_end) and the input rows their samples
// can reach, [row_begin, row_end) counted over the batch (row n * H_in + y).
struct Task {
  int64_t pixel_begin, pixel_end, row_begin, row_end;
};

// The input rows a task's samples can reach, bounded from the extreme y offsets of its
// pixels (positions are monotone in the offset, in any precision), plus a row of margin.
template <typename scalar_t>
void reachable_rows(const Tensors<scalar_t>& t, const Geometry& g, const at::opmath_type<scalar_t>* grid,
                    Task& task) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t HW = g.height_out * g.width_out;
  acc_t lo = std::numeric_limits<acc_t>::infinity(), hi = -lo;  // NaN offsets sample nothing: skipped
  for (int64_t pix = task.pixel_begin; pix < task.pixel_end; ++pix) {
    for (int64_t grp = 0; grp < g.group; ++grp) {
      const scalar_t* off = t.offset + t.layout.offset_at(pix, grp, 0);
      for (int64_t k = 0; k < g.points; ++k) {
        const acc_t oy = acc_t(off[2 * k + 1]);
        lo = oy < lo ? oy : lo;
        hi = oy > hi ? oy : hi;
      }
    }
  }
  const int64_t first = task.pixel_begin, last = task.pixel_end - 1;
  if (!(lo <= hi)) {  // every offset NaN: nothing is sampled
    task.row_begin = task.row_end = (first / HW) * g.height_in;
    return;
  }
  acc_t grid_lo = grid[1], grid_hi = grid[1];
  for (int64_t k = 1; k < g.points; ++k) {
    grid_lo = std::min(grid_lo, grid[2 * k + 1]);
    grid_hi = std::max(grid_hi, grid[2 * k + 1]);
  }
  const acc_t scale = static_cast<acc_t>(g.offset_scale);
  const acc_t shift_lo = std::min(lo * scale, hi * scale), shift_hi = std::max(lo * scale, hi * scale);
  acc_t cx, cy_first, cy_last;
  grid_centre<acc_t>(g, (first / g.width_out) % g.height_out, 0, cx, cy_first);
  grid_centre<acc_t>(g, (last / g.width_out) % g.height_out, 0, cx, cy_last);
  // Tap rows are floor(py) and floor(py) + 1; clamp in floating point, then convert.
  double y_lo = std::floor(static_cast<double>(cy_first + grid_lo + shift_lo)) - 1;
  double y_hi = std::floor(static_cast<double>(cy_last + grid_hi + shift_hi)) + 2;
  if (std::isnan(y_lo) || std::isnan(y_hi)) y_lo = 0, y_hi = g.height_in - 1;  // e.g. inf x offset_scale 0
  const auto clamp_row = [&](double y) {
    return static_cast<int64_t>(std::min<double>(std::max<double>(y, 0), g.height_in - 1));
  };
  task.row_begin = (first / HW) * g.height_in + clamp_row(y_lo);
  task.row_end = std::max(task.row_begin, (last / HW) * g.height_in + clamp_row(y_hi) + 1);
}

}  // namespace

// Input gradients scatter to arbitrary pixels, so the output pixels are split into one task
// per thread, and each task accumulates into rows it owns, covering the input rows its
// samples can reach: no data race, no atomics, deterministic for a given thread count. A row
// reachable from one task only is the output's own row when the output is in the
// accumulation type (float, double); rows that several tasks reach (a few at each task
// boundary, offsets being small) and rows of lower-precision outputs go to private buffers,
// summed row by row in task order at the end.
at::Tensor backward_cpu(const at::Tensor& grad_output, const at::Tensor& input, const PointTensors& points,
                        const PointTensors& grads, const Geometry& g, bool softmax_mask) {
  auto grad_input = at::empty_like(input);
  const int64_t pixels = g.batch * g.height_out * g.width_out;
  const int64_t task_count = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), pixels));
  const int64_t row_numel = g.width_in * g.channels, rows = g.batch * g.height_in;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "dcnv3_backward_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    constexpr bool kAccumulateInOutput = std::is_same_v<acc_t, scalar_t>;
    Tensors<scalar_t> t{input.const_data_ptr<scalar_t>(), offset_data<scalar_t>(points), mask_data<scalar_t>(points),
                        grad_output.const_data_ptr<scalar_t>(), nullptr,
                        grads.offset.mutable_data_ptr<scalar_t>(),
                        grads.mask.mutable_data_ptr<scalar_t>() + grads.mask_start, points.layout, grads.layout,
                        softmax_mask};
    const std::vector<acc_t> grid = scaled_grid<acc_t>(g);
    const bool avx2 = cpu_supports_avx2();

    std::vector<Task> tasks(task_count);
    const int64_t chunk = (pixels + task_count - 1) / task_count;
    for (int64_t i = 0; i < task_count; ++i) {
      tasks[i].pixel_begin = std::min(pixels, i * chunk);
      tasks[i].pixel_end = std::min(pixels, (i + 1) * chunk);
    }
    at::parallel_for(0, task_count, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        if (tasks[i].pixel_begin < tasks[i].pixel_end) {
          reachable_rows<scalar_t>(t, g, grid.data(), tasks[i]);
        } else {
          tasks[i].row_begin = tasks[i].row_end = 0;
        }
      }
    });
    // How many tasks reach each row; a row reached by one task alone can be the output's.
    std::vector<int32_t> reach(rows, 0);
    for (const Task& task : tasks) {
      for (int64_t r = task.row_begin; r < task.row_end; ++r) ++reach[r];
    }
    const auto buffered = [&](int64_t r) { return !kAccumulateInOutput || reach[r] > 1; };
    // Every task reaching a buffered row has its own copy of it.
    int64_t buffer_numel = 0;
    for (int64_t r = 0; r < rows; ++r) buffer_numel += buffered(r) ? reach[r] * row_numel : 0;
    const auto acc_options = input.options().dtype(at::toOpMathType(input.scalar_type()));
    auto buffer = at::empty({std::max<int64_t>(buffer_numel, 1)}, acc_options);
    acc_t* buffer_data = buffer.mutable_data_ptr<acc_t>();
    scalar_t* out = grad_input.mutable_data_ptr<scalar_t>();
    acc_t* const out_acc = reinterpret_cast<acc_t*>(out);  // used only when kAccumulateInOutput

    // Each task's rows: grad_rows[task][r - row_begin], zeroed by the task before it accumulates.
    std::vector<std::vector<acc_t*>> grad_rows(task_count);
    acc_t* next = buffer_data;  // the buffered rows, laid out task after task
    for (int64_t i = 0; i < task_count; ++i) {
      const Task& task = tasks[i];
      for (int64_t r = task.row_begin; r < task.row_end; ++r) {
        if (buffered(r)) {
          grad_rows[i].push_back(next);
          next += row_numel;
        } else {
          grad_rows[i].push_back(out_acc + r * row_numel);
        }
      }
    }
    at::parallel_for(0, task_count, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const Task& task = tasks[i];
        for (acc_t* r : grad_rows[i]) std::fill(r, r + row_numel, acc_t(0));
#ifdef DCNV3_HAVE_AVX2
        if (avx2) {
          cpu_avx2::backward_range<scalar_t>(t, g, grid.data(), grad_rows[i].data(), task.row_begin,
                                             task.pixel_begin, task.pixel_end);
          continue;
        }
#endif
        cpu_baseline::backward_range<scalar_t>(t, g, grid.data(), grad_rows[i].data(), task.row_begin,
                                               task.pixel_begin, task.pixel_end);
      }
    });

    // The rows no task owned alone: the sum, in task order, of the buffers covering them (0 if none).
    at::parallel_for(0, rows, std::max<int64_t>(1, 32768 / row_numel), [&](int64_t begin, int64_t end) {
      std::vector<acc_t> sum(row_numel);
      for (int64_t r = begin; r < end; ++r) {
        if (reach[r] > 0 && !buffered(r)) continue;
        bool any = false;
        for (int64_t i = 0; i < task_count; ++i) {
          const Task& task = tasks[i];
          if (r < task.row_begin || r >= task.row_end) continue;
          const acc_t* src = grad_rows[i][r - task.row_begin];
          if (!any) {
            std::copy(src, src + row_numel, sum.data());
          } else {
            for (int64_t e = 0; e < row_numel; ++e) sum[e] += src[e];
          }
          any = true;
        }
        scalar_t* dst = out + r * row_numel;
        if (!any) {
          std::fill(dst, dst + row_numel, scalar_t(0));
        } else {
          for (int64_t e = 0; e < row_numel; ++e) dst[e] = scalar_t(sum[e]);
        }
      }
    });
  });
  return grad_input;
}

}  // namespace dcnv3
