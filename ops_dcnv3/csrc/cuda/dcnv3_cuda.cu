// CUDA kernels of DCNv3 and DCNv4 for float32, float16 and bfloat16 (float accumulation)
// and float64. They read offsets and mask through a PointLayout (dcnv3_sampling.h): DCNv3's
// two tensors, or DCNv4's one offset_mask row per pixel, and write their gradients likewise.
//
// Forward: where the group width allows, each thread computes a vector of consecutive channels
// of one group at one pixel (16 bytes: 4 floats, 8 halves) and loads each tap as one vector
// load, no atomics (DCNv4's memory-access design); otherwise (the same kernel with vectors of
// one) one thread per output element (pixel, group, channel). Threads of a warp walk consecutive channels either way, so reads of
// the input taps are coalesced. One thread per output vector or element, 256 per block: a
// launch that is valid for every shape.
// Backward: for group widths 16 and 32, one thread per output element with warp
// shuffles summing the offset and mask gradients over a group; otherwise one thread
// per sampling point, reducing over the group's channels in registers. Both scatter
// the input gradient with atomicAdd into a float buffer (cast at the end).
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAGuard.h>

#include "../dcnv3.h"
#include "launch.cuh"

namespace dcnv3 {
namespace {

// The forward with kVec channels per thread: the group width is a multiple of kVec and the input
// is aligned to the vector size (see forward_cuda), so every tap row is an aligned vector; kVec = 1
// serves any group width.
template <typename scalar_t, int kVec>
__global__ void forward_kernel(const scalar_t* __restrict__ input, const scalar_t* __restrict__ offset,
                                      const scalar_t* __restrict__ mask, scalar_t* __restrict__ output,
                                      const Geometry g, const PointLayout layout, int64_t total) {
  using acc_t = at::opmath_type<scalar_t>;
  using Vector = Channels<scalar_t, kVec>;
  const int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (idx >= total) return;  // idx = (pix * G + grp) * (Cg / kVec) + vector
  const int64_t vectors = g.group_channels / kVec;
  const int64_t grp = (idx / vectors) % g.group;
  const int64_t pix = idx / (vectors * g.group);
  const int64_t channel = grp * g.group_channels + (idx % vectors) * kVec;
  const int64_t j = pix % g.width_out, i = (pix / g.width_out) % g.height_out;
  const int64_t n = pix / (g.width_out * g.height_out);
  const scalar_t* image = input + n * g.height_in * g.width_in * g.channels + channel;
  const scalar_t* off = offset + layout.offset_at(pix, grp, 0);
  const scalar_t* msk = mask + layout.mask_at(pix, grp, 0);
  const acc_t scale = static_cast<acc_t>(g.offset_scale);
  acc_t cx, cy;
  grid_centre<acc_t>(g, i, j, cx, cy);
  acc_t acc[kVec];
#pragma unroll
  for (int e = 0; e < kVec; ++e) acc[e] = acc_t(0);
  for (int64_t k = 0; k < g.points; ++k) {
    acc_t gx, gy, px, py;
    scaled_grid_point<acc_t>(g, k, gx, gy);
    sampling_position<acc_t>(cx, cy, gx, gy, acc_t(off[2 * k]), acc_t(off[2 * k + 1]), scale, px, py);
    const BilinearTaps<acc_t> t = bilinear_taps<acc_t>(px, py, g.height_in, g.width_in);
    if (!t.any) continue;
    const acc_t m = acc_t(msk[k]);
#pragma unroll
    for (int tap = 0; tap < 4; ++tap) {
      if (t.index[tap] < 0) continue;
      const Vector v = *reinterpret_cast<const Vector*>(image + t.index[tap] * g.channels);
      const acc_t w = m * t.weight[tap];
#pragma unroll
      for (int e = 0; e < kVec; ++e) acc[e] += w * acc_t(v.v[e]);
    }
  }
  Vector out;
#pragma unroll
  for (int e = 0; e < kVec; ++e) out.v[e] = scalar_t(acc[e]);
  *reinterpret_cast<Vector*>(output + pix * g.channels + channel) = out;
}

template <typename scalar_t>
__global__ void backward_kernel(const scalar_t* __restrict__ grad_output, const scalar_t* __restrict__ input,
                                const scalar_t* __restrict__ offset, const scalar_t* __restrict__ mask,
                                at::opmath_type<scalar_t>* __restrict__ grad_input,
                                scalar_t* __restrict__ grad_offset, scalar_t* __restrict__ grad_mask,
                                const Geometry g, const PointLayout layout, const PointLayout grad_layout,
                                int64_t total) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (idx >= total) return;  // idx = (pix * G + grp) * P + k
  const int64_t k = idx % g.points;
  const int64_t grp = (idx / g.points) % g.group;
  const int64_t pix = idx / (g.points * g.group);
  const int64_t j = pix % g.width_out, i = (pix / g.width_out) % g.height_out;
  const int64_t n = pix / (g.width_out * g.height_out);
  const acc_t scale = static_cast<acc_t>(g.offset_scale);
  acc_t cx, cy, gx, gy, px, py;
  grid_centre<acc_t>(g, i, j, cx, cy);
  scaled_grid_point<acc_t>(g, k, gx, gy);
  const int64_t o = layout.offset_at(pix, grp, k), go = grad_layout.offset_at(pix, grp, k);
  const int64_t gm = grad_layout.mask_at(pix, grp, k);
  sampling_position<acc_t>(cx, cy, gx, gy, acc_t(offset[o]), acc_t(offset[o + 1]), scale, px, py);
  const BilinearTaps<acc_t> t = bilinear_taps<acc_t>(px, py, g.height_in, g.width_in);
  if (!t.any) {
    grad_offset[go] = grad_offset[go + 1] = grad_mask[gm] = scalar_t(0);
    return;
  }
  const acc_t m = acc_t(mask[layout.mask_at(pix, grp, k)]);
  const int64_t image_base = n * g.height_in * g.width_in * g.channels + grp * g.group_channels;
  const scalar_t* gout = grad_output + pix * g.channels + grp * g.group_channels;
  const acc_t lx = t.lx, ly = t.ly, hx = acc_t(1) - lx, hy = acc_t(1) - ly;
  acc_t g_mask = 0, g_x = 0, g_y = 0;
  for (int64_t c = 0; c < g.group_channels; ++c) {
    acc_t v[4];
#pragma unroll
    for (int tap = 0; tap < 4; ++tap) {
      v[tap] = t.index[tap] >= 0 ? acc_t(input[image_base + t.index[tap] * g.channels + c]) : acc_t(0);
    }
    const acc_t gc = acc_t(gout[c]);
    g_mask += gc * (t.weight[0] * v[0] + t.weight[1] * v[1] + t.weight[2] * v[2] + t.weight[3] * v[3]);
    g_x += gc * (hy * (v[1] - v[0]) + ly * (v[3] - v[2]));
    g_y += gc * (hx * (v[2] - v[0]) + lx * (v[3] - v[1]));
#pragma unroll
    for (int tap = 0; tap < 4; ++tap) {
      if (t.index[tap] >= 0) {
        atomicAdd(grad_input + image_base + t.index[tap] * g.channels + c, m * t.weight[tap] * gc);
      }
    }
  }
  grad_mask[gm] = scalar_t(g_mask);
  grad_offset[go] = scalar_t(g_x * m * scale);
  grad_offset[go + 1] = scalar_t(g_y * m * scale);
}

// Backward for group widths that divide the warp (16 and 32 in every published model): one
// thread per (pixel, group, channel), as the forward. The input gradient is scattered with
// atomics coalesced over channels; the offset and mask gradients are summed over the group's
// lanes with warp shuffles and written once, without atomics.
template <typename scalar_t, int kCg>
__global__ void backward_warp_kernel(const scalar_t* __restrict__ grad_output, const scalar_t* __restrict__ input,
                                     const scalar_t* __restrict__ offset, const scalar_t* __restrict__ mask,
                                     at::opmath_type<scalar_t>* __restrict__ grad_input,
                                     scalar_t* __restrict__ grad_offset, scalar_t* __restrict__ grad_mask,
                                     const Geometry g, const PointLayout layout, const PointLayout grad_layout,
                                     int64_t total) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  const bool active = idx < total;  // inactive lanes still take part in the shuffles
  const int64_t safe = active ? idx : total - 1;
  const int64_t c = safe % kCg;
  const int64_t grp = (safe / kCg) % g.group;
  const int64_t pix = safe / g.channels;
  const int64_t j = pix % g.width_out, i = (pix / g.width_out) % g.height_out;
  const int64_t n = pix / (g.width_out * g.height_out);
  const int64_t image_base = n * g.height_in * g.width_in * g.channels + grp * kCg + c;
  const acc_t gc = active ? acc_t(grad_output[safe]) : acc_t(0);
  const acc_t scale = static_cast<acc_t>(g.offset_scale);
  acc_t cx, cy;
  grid_centre<acc_t>(g, i, j, cx, cy);
  for (int64_t k = 0; k < g.points; ++k) {
    const int64_t o = layout.offset_at(pix, grp, k);
    acc_t gx, gy, px, py;
    scaled_grid_point<acc_t>(g, k, gx, gy);
    sampling_position<acc_t>(cx, cy, gx, gy, acc_t(offset[o]), acc_t(offset[o + 1]), scale, px, py);
    const BilinearTaps<acc_t> t = bilinear_taps<acc_t>(px, py, g.height_in, g.width_in);
    const acc_t m = acc_t(mask[layout.mask_at(pix, grp, k)]);
    acc_t v[4];
#pragma unroll
    for (int tap = 0; tap < 4; ++tap) {
      v[tap] = t.index[tap] >= 0 ? acc_t(input[image_base + t.index[tap] * g.channels]) : acc_t(0);
      if (active && t.index[tap] >= 0) {
        atomicAdd(grad_input + image_base + t.index[tap] * g.channels, m * t.weight[tap] * gc);
      }
    }
    acc_t g_mask = gc * (t.weight[0] * v[0] + t.weight[1] * v[1] + t.weight[2] * v[2] + t.weight[3] * v[3]);
    acc_t g_x = gc * ((acc_t(1) - t.ly) * (v[1] - v[0]) + t.ly * (v[3] - v[2]));
    acc_t g_y = gc * ((acc_t(1) - t.lx) * (v[2] - v[0]) + t.lx * (v[3] - v[1]));
#pragma unroll
    for (int width = kCg / 2; width > 0; width /= 2) {
      g_mask += __shfl_xor_sync(0xffffffff, g_mask, width);
      g_x += __shfl_xor_sync(0xffffffff, g_x, width);
      g_y += __shfl_xor_sync(0xffffffff, g_y, width);
    }
    if (active && c == 0) {
      const int64_t go = grad_layout.offset_at(pix, grp, k);
      grad_mask[grad_layout.mask_at(pix, grp, k)] = scalar_t(t.any ? g_mask : acc_t(0));
      grad_offset[go] = scalar_t(t.any ? g_x * m * scale : acc_t(0));
      grad_offset[go + 1] = scalar_t(t.any ? g_y * m * scale : acc_t(0));
    }
  }
}

}  // namespace

at::Tensor forward_cuda(const at::Tensor& input, const PointTensors& points, const Geometry& g) {
  const c10::cuda::CUDAGuard guard(input.device());
  auto output = at::empty({g.batch, g.height_out, g.width_out, g.channels}, input.options());
  const int64_t total = output.numel();
  if (total == 0) return output;
  auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "dcnv3_forward_cuda", [&] {
    constexpr int kVec = 16 / sizeof(scalar_t);  // one 16-byte load per tap
    const scalar_t* in = input.const_data_ptr<scalar_t>();
    const scalar_t* off = points.offset.const_data_ptr<scalar_t>();
    const scalar_t* msk = points.mask.const_data_ptr<scalar_t>() + points.mask_start;
    scalar_t* out = output.mutable_data_ptr<scalar_t>();  // a fresh allocation: aligned
    const bool aligned = reinterpret_cast<uintptr_t>(in) % (sizeof(scalar_t) * kVec) == 0;
    if (g.group_channels % kVec == 0 && aligned) {
      const int64_t vectors = total / kVec;
      forward_kernel<scalar_t, kVec><<<blocks_for(vectors), kThreads, 0, stream>>>(
          in, off, msk, out, g, points.layout, vectors);
    } else {
      forward_kernel<scalar_t, 1><<<blocks_for(total), kThreads, 0, stream>>>(in, off, msk, out, g, points.layout,
                                                                             total);
    }
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return output;
}

at::Tensor backward_cuda(const at::Tensor& grad_output, const at::Tensor& input, const PointTensors& points,
                         const PointTensors& grads, const Geometry& g) {
  const c10::cuda::CUDAGuard guard(input.device());
  // Both kernels scatter the input gradient with float atomics: its summation order varies.
  at::globalContext().alertNotDeterministic("dcnv3_backward_cuda (DCNv3 / DCNv4 backward on CUDA)");
  auto grad_input = at::zeros(input.sizes(), input.options().dtype(at::toOpMathType(input.scalar_type())));
  const int64_t total = g.batch * g.height_out * g.width_out * g.group * g.points;  // sampling points
  if (total > 0) {
    auto stream = c10::cuda::getCurrentCUDAStream();
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "dcnv3_backward_cuda", [&] {
      const scalar_t* go = grad_output.const_data_ptr<scalar_t>();
      const scalar_t* in = input.const_data_ptr<scalar_t>();
      const scalar_t* off = points.offset.const_data_ptr<scalar_t>();
      const scalar_t* msk = points.mask.const_data_ptr<scalar_t>() + points.mask_start;
      auto* gi = grad_input.mutable_data_ptr<at::opmath_type<scalar_t>>();
      scalar_t* goff = grads.offset.mutable_data_ptr<scalar_t>();
      scalar_t* gmsk = grads.mask.mutable_data_ptr<scalar_t>() + grads.mask_start;
      const int64_t elements = grad_output.numel();
      const PointLayout in_layout = points.layout, grad_layout = grads.layout;
      if (g.group_channels == 16) {
        backward_warp_kernel<scalar_t, 16><<<blocks_for(elements), kThreads, 0, stream>>>(
            go, in, off, msk, gi, goff, gmsk, g, in_layout, grad_layout, elements);
      } else if (g.group_channels == 32) {
        backward_warp_kernel<scalar_t, 32><<<blocks_for(elements), kThreads, 0, stream>>>(
            go, in, off, msk, gi, goff, gmsk, g, in_layout, grad_layout, elements);
      } else {
        backward_kernel<scalar_t><<<blocks_for(total), kThreads, 0, stream>>>(
            go, in, off, msk, gi, goff, gmsk, g, in_layout, grad_layout, total);
      }
    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  return grad_input.to(input.scalar_type());
}

}  // namespace dcnv3
