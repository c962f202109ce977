// CUDA kernels of multi-scale deformable attention (ms_deform_attn.h) for float32, float16 and
// bfloat16 (float accumulation) and float64.
//
// Memory access (the design of DCNv4's FlashDeformAttn, written for this layout): no im2col
// buffer; a (query, head) pair is served by ``lanes`` consecutive threads, each owning kVec
// consecutive channels of the head (16 bytes where the head width allows: 4 floats, 8 halves), so
// each bilinear tap is one vector load per thread and a warp's loads of a tap are contiguous.
// A thread walks every level and point of its head with its accumulators in registers; the
// lanes of a pair read the same location and weight (one cached line). Level shapes and starts
// are read once per block into shared memory.
//
// Backward: the same threads; value gradients are scattered with atomicAdd (into a float
// buffer for 16-bit types), the location and weight gradients of a point are summed over the
// pair's lanes with warp shuffles and written by its first lane (atomicAdd when the lanes are
// not a power of two up to 32). As with mmcv's kernel, float atomics make the value gradient's
// summation order, hence its last bits, vary from run to run.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <initializer_list>

#include "../dcnv3_sampling.h"
#include "../ms_deform_attn.h"
#include "launch.cuh"

namespace dcnv3 {
namespace {

// Thread idx serves query nq = idx / (heads * lanes), head (idx / lanes) % heads, channels
// [lane * kVec, (lane + 1) * kVec) of the head.
struct MsdaThread {
  int64_t nq, head, lane;
  __device__ MsdaThread(int64_t idx, int64_t heads, int64_t lanes)
      : nq(idx / (heads * lanes)), head((idx / lanes) % heads), lane(idx % lanes) {}
};

// H, W and start of every level, copied into shared memory by the block.
__device__ inline void load_levels(const int64_t* shapes, const int64_t* starts, int64_t levels, int64_t* shared) {
  for (int64_t l = threadIdx.x; l < levels; l += blockDim.x) {
    shared[3 * l] = shapes[2 * l];
    shared[3 * l + 1] = shapes[2 * l + 1];
    shared[3 * l + 2] = starts[l];
  }
  __syncthreads();
}

// grid_sample(align_corners=False)'s pixel position of normalised ``location`` on ``size`` pixels.
template <typename acc_t>
__device__ inline acc_t position(acc_t location, int64_t size) {
  return (acc_t(2) * location - acc_t(1) + acc_t(1)) * (acc_t(size) / acc_t(2)) - acc_t(0.5);
}

template <typename scalar_t, int kVec>
__device__ inline void load_vector(const scalar_t* p, at::opmath_type<scalar_t>* out) {
  const Channels<scalar_t, kVec> v = *reinterpret_cast<const Channels<scalar_t, kVec>*>(p);
#pragma unroll
  for (int e = 0; e < kVec; ++e) out[e] = at::opmath_type<scalar_t>(v.v[e]);
}

template <typename scalar_t, int kVec>
__global__ void msda_forward_kernel(const scalar_t* __restrict__ value, const int64_t* __restrict__ shapes,
                                    const int64_t* __restrict__ starts, const scalar_t* __restrict__ locations,
                                    const scalar_t* __restrict__ weights, scalar_t* __restrict__ output,
                                    const MsdaGeometry g, int64_t lanes, int64_t total) {
  using acc_t = at::opmath_type<scalar_t>;
  extern __shared__ int64_t levels[];
  load_levels(shapes, starts, g.levels, levels);
  const int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (idx >= total) return;
  const MsdaThread t(idx, g.heads, lanes);
  const int64_t C = g.heads * g.channels;
  const scalar_t* image = value + (t.nq / g.queries) * g.keys * C + t.head * g.channels + t.lane * kVec;
  const int64_t first = (t.nq * g.heads + t.head) * g.levels * g.points;
  acc_t acc[kVec], tap_value[kVec];
#pragma unroll
  for (int e = 0; e < kVec; ++e) acc[e] = acc_t(0);
  for (int64_t l = 0; l < g.levels; ++l) {
    const int64_t height = levels[3 * l], width = levels[3 * l + 1];
    const scalar_t* level = image + levels[3 * l + 2] * C;
    for (int64_t k = first + l * g.points; k < first + (l + 1) * g.points; ++k) {
      const BilinearTaps<acc_t> taps = bilinear_taps<acc_t>(position<acc_t>(acc_t(locations[2 * k]), width),
                                                            position<acc_t>(acc_t(locations[2 * k + 1]), height),
                                                            height, width);
      if (!taps.any) continue;
      const acc_t m = acc_t(weights[k]);
#pragma unroll
      for (int tap = 0; tap < 4; ++tap) {
        if (taps.index[tap] < 0) continue;
        load_vector<scalar_t, kVec>(level + taps.index[tap] * C, tap_value);
        const acc_t w = m * taps.weight[tap];
#pragma unroll
        for (int e = 0; e < kVec; ++e) acc[e] += w * tap_value[e];
      }
    }
  }
  Channels<scalar_t, kVec> out;
#pragma unroll
  for (int e = 0; e < kVec; ++e) out.v[e] = scalar_t(acc[e]);
  *reinterpret_cast<Channels<scalar_t, kVec>*>(output + t.nq * C + t.head * g.channels + t.lane * kVec) = out;
}

// Sum of ``v`` over the ``lanes`` (a power of two <= 32) consecutive threads of a pair.
template <typename acc_t>
__device__ inline acc_t sum_over_lanes(acc_t v, int64_t lanes) {
  for (int offset = static_cast<int>(lanes) / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// Every thread of the grid runs the loops (threads past ``total`` with zero gradients), so
// that whole warps reach the shuffles.
template <typename scalar_t, int kVec>
__global__ void msda_backward_kernel(const scalar_t* __restrict__ grad_output, const scalar_t* __restrict__ value,
                                     const int64_t* __restrict__ shapes, const int64_t* __restrict__ starts,
                                     const scalar_t* __restrict__ locations, const scalar_t* __restrict__ weights,
                                     at::opmath_type<scalar_t>* __restrict__ grad_value,
                                     at::opmath_type<scalar_t>* __restrict__ grad_locations,
                                     at::opmath_type<scalar_t>* __restrict__ grad_weights, const MsdaGeometry g,
                                     int64_t lanes, bool shuffle, int64_t total) {
  using acc_t = at::opmath_type<scalar_t>;
  extern __shared__ int64_t levels[];
  load_levels(shapes, starts, g.levels, levels);
  const int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  const bool active = idx < total;
  const MsdaThread t(active ? idx : 0, g.heads, lanes);
  const int64_t C = g.heads * g.channels, channel = t.head * g.channels + t.lane * kVec;
  const int64_t image = (t.nq / g.queries) * g.keys * C + channel;
  const int64_t first = (t.nq * g.heads + t.head) * g.levels * g.points;
  acc_t go[kVec], tap_value[kVec];
  if (active) {
    load_vector<scalar_t, kVec>(grad_output + t.nq * C + channel, go);
  } else {
#pragma unroll
    for (int e = 0; e < kVec; ++e) go[e] = acc_t(0);
  }
  for (int64_t l = 0; l < g.levels; ++l) {
    const int64_t height = levels[3 * l], width = levels[3 * l + 1], start = levels[3 * l + 2];
    for (int64_t k = first + l * g.points; k < first + (l + 1) * g.points; ++k) {
      const BilinearTaps<acc_t> taps = bilinear_taps<acc_t>(position<acc_t>(acc_t(locations[2 * k]), width),
                                                            position<acc_t>(acc_t(locations[2 * k + 1]), height),
                                                            height, width);
      const acc_t m = acc_t(weights[k]);
      acc_t dot[4] = {acc_t(0), acc_t(0), acc_t(0), acc_t(0)};  // this thread's channels of go . tap
      if (active && taps.any) {
#pragma unroll
        for (int tap = 0; tap < 4; ++tap) {
          if (taps.index[tap] < 0) continue;
          const int64_t offset = image + (start + taps.index[tap]) * C;
          load_vector<scalar_t, kVec>(value + offset, tap_value);
          const acc_t w = m * taps.weight[tap];
#pragma unroll
          for (int e = 0; e < kVec; ++e) {
            dot[tap] += go[e] * tap_value[e];
            atomicAdd(grad_value + offset + e, w * go[e]);
          }
        }
      }
      // Taps outside have dot 0; the position moves by width (height) pixels per unit of x (y).
      const acc_t lx = taps.lx, ly = taps.ly, hx = acc_t(1) - lx, hy = acc_t(1) - ly;
      acc_t g_weight = hy * (hx * dot[0] + lx * dot[1]) + ly * (hx * dot[2] + lx * dot[3]);
      acc_t g_x = (hy * (dot[1] - dot[0]) + ly * (dot[3] - dot[2])) * m * acc_t(width);
      acc_t g_y = (hx * (dot[2] - dot[0]) + lx * (dot[3] - dot[1])) * m * acc_t(height);
      if (shuffle) {
        g_weight = sum_over_lanes(g_weight, lanes);
        g_x = sum_over_lanes(g_x, lanes);
        g_y = sum_over_lanes(g_y, lanes);
        if (active && t.lane == 0) {
          grad_weights[k] = g_weight;
          grad_locations[2 * k] = g_x;
          grad_locations[2 * k + 1] = g_y;
        }
      } else if (active) {
        atomicAdd(grad_weights + k, g_weight);
        atomicAdd(grad_locations + 2 * k, g_x);
        atomicAdd(grad_locations + 2 * k + 1, g_y);
      }
    }
  }
}

// Channels per thread: 16 bytes' worth where the head width and the pointers' alignment allow, else 1.
template <typename scalar_t>
bool vectorised(int64_t channels, std::initializer_list<const void*> pointers) {
  constexpr int kVec = 16 / sizeof(scalar_t);
  for (const void* p : pointers) {
    if (reinterpret_cast<uintptr_t>(p) % 16 != 0) return false;
  }
  return channels % kVec == 0;
}

template <typename scalar_t, int kVec>
void launch_forward(const at::Tensor& value, const at::Tensor& shapes, const at::Tensor& starts,
                    const at::Tensor& locations, const at::Tensor& weights, at::Tensor& output, const MsdaGeometry& g) {
  const int64_t lanes = g.channels / kVec, total = g.batch * g.queries * g.heads * lanes;
  msda_forward_kernel<scalar_t, kVec><<<blocks_for(total), kThreads, 3 * g.levels * sizeof(int64_t),
                                        c10::cuda::getCurrentCUDAStream()>>>(
      value.const_data_ptr<scalar_t>(), shapes.const_data_ptr<int64_t>(), starts.const_data_ptr<int64_t>(),
      locations.const_data_ptr<scalar_t>(), weights.const_data_ptr<scalar_t>(), output.mutable_data_ptr<scalar_t>(),
      g, lanes, total);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

template <typename scalar_t, int kVec>
void launch_backward(const at::Tensor& grad_output, const at::Tensor& value, const at::Tensor& shapes,
                     const at::Tensor& starts, const at::Tensor& locations, const at::Tensor& weights,
                     at::Tensor& grad_value, at::Tensor& grad_locations, at::Tensor& grad_weights,
                     const MsdaGeometry& g) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t lanes = g.channels / kVec, total = g.batch * g.queries * g.heads * lanes;
  const bool shuffle = lanes <= 32 && (lanes & (lanes - 1)) == 0;  // the pairs' lanes tile the warps
  msda_backward_kernel<scalar_t, kVec><<<blocks_for(total), kThreads, 3 * g.levels * sizeof(int64_t),
                                         c10::cuda::getCurrentCUDAStream()>>>(
      grad_output.const_data_ptr<scalar_t>(), value.const_data_ptr<scalar_t>(), shapes.const_data_ptr<int64_t>(),
      starts.const_data_ptr<int64_t>(), locations.const_data_ptr<scalar_t>(), weights.const_data_ptr<scalar_t>(),
      grad_value.mutable_data_ptr<acc_t>(), grad_locations.mutable_data_ptr<acc_t>(),
      grad_weights.mutable_data_ptr<acc_t>(), g, lanes, shuffle, total);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace

at::Tensor ms_deform_attn_forward_cuda(const at::Tensor& value, const at::Tensor& spatial_shapes,
                                       const at::Tensor& level_start_index, const at::Tensor& sampling_locations,
                                       const at::Tensor& attention_weights, const MsdaGeometry& g) {
  const c10::cuda::CUDAGuard guard(value.device());
  auto output = at::empty({g.batch, g.queries, g.heads * g.channels}, value.options());
  if (output.numel() == 0) return output;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, value.scalar_type(), "ms_deform_attn_forward_cuda", [&] {
    if (vectorised<scalar_t>(g.channels, {value.const_data_ptr(), output.const_data_ptr()})) {
      launch_forward<scalar_t, 16 / sizeof(scalar_t)>(value, spatial_shapes, level_start_index, sampling_locations,
                                                      attention_weights, output, g);
    } else {
      launch_forward<scalar_t, 1>(value, spatial_shapes, level_start_index, sampling_locations, attention_weights,
                                  output, g);
    }
  });
  return output;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> ms_deform_attn_backward_cuda(
    const at::Tensor& grad_output, const at::Tensor& value, const at::Tensor& spatial_shapes,
    const at::Tensor& level_start_index, const at::Tensor& sampling_locations, const at::Tensor& attention_weights,
    const MsdaGeometry& g) {
  const c10::cuda::CUDAGuard guard(value.device());
  // The value gradient is scattered with float atomics: its summation order varies.
  at::globalContext().alertNotDeterministic("ms_deform_attn_backward_cuda");
  const auto acc = value.options().dtype(at::toOpMathType(value.scalar_type()));
  auto grad_value = at::zeros(value.sizes(), acc);
  auto grad_locations = at::zeros(sampling_locations.sizes(), acc);
  auto grad_weights = at::zeros(attention_weights.sizes(), acc);
  if (grad_weights.numel() > 0) {
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, value.scalar_type(), "ms_deform_attn_backward_cuda",
                                    [&] {
      if (vectorised<scalar_t>(g.channels, {value.const_data_ptr(), grad_output.const_data_ptr()})) {
        launch_backward<scalar_t, 16 / sizeof(scalar_t)>(grad_output, value, spatial_shapes, level_start_index,
                                                         sampling_locations, attention_weights, grad_value,
                                                         grad_locations, grad_weights, g);
      } else {
        launch_backward<scalar_t, 1>(grad_output, value, spatial_shapes, level_start_index, sampling_locations,
                                     attention_weights, grad_value, grad_locations, grad_weights, g);
      }
    });
  }
  const auto type = value.scalar_type();
  return {grad_value.to(type), grad_locations.to(type), grad_weights.to(type)};
}

}  // namespace dcnv3
